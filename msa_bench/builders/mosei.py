"""CMU-MOSEI: the CMU builder (see :mod:`msa_bench.builders.mosi`) with MOSEI's files and its
six emotion intensities (SDK "All Labels": sentiment, happy, sad, anger, surprise, disgust, fear)."""

from __future__ import annotations

from msa_bench.builders.mosi import CMUBuilder


class MOSEI(CMUBuilder):
    """CMU-MOSEI: 23,259 labelled segments of 3,293 YouTube videos; sentiment and six emotions."""

    DATASET = "mosei"
    TITLE = "CMU-MOSEI"
    HOMEPAGE = "http://multicomp.cs.cmu.edu/resources/cmu-mosei-dataset/"
    CITATION = """@inproceedings{zadeh2018mosei,
  title={Multimodal Language Analysis in the Wild: {CMU-MOSEI} Dataset and Interpretable Dynamic Fusion Graph},
  author={Zadeh, AmirAli Bagher and Liang, Paul Pu and Poria, Soujanya and Cambria, Erik and Morency, Louis-Philippe},
  booktitle={Proceedings of the 56th Annual Meeting of the Association for Computational Linguistics},
  pages={2236--2246},
  year={2018}
}"""
    SDK_BASE_URL = "http://immortal.multicomp.cs.cmu.edu/CMU-MOSEI"
    SDK_LABELS = "CMU_MOSEI_Labels.csd"
    SDK_WORDS = "CMU_MOSEI_TimestampedWords.csd"
    SDK_FEATURES = {
        "glove": ("text", "CMU_MOSEI_TimestampedWordVectors.csd"),
        "covarep": ("audio", "CMU_MOSEI_COVAREP.csd"),
        "facet42": ("vision", "CMU_MOSEI_VisualFacet42.csd"),
        "openface2": ("vision", "CMU_MOSEI_VisualOpenFace2.csd"),
    }
    DEFAULT_FEATURES = {"text": ("glove",), "audio": ("covarep",), "vision": ("facet42", "openface2")}
    LABEL_TABLES = ("labels.csv", "label.csv")
    CLIP_BASE = 0
