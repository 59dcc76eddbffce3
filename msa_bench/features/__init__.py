"""Feature extraction from raw media: openSMILE, transformers encoders, py-feat and Haar face
crops behind one :class:`Extractor` interface, and the pipeline to the unified dataset."""

from msa_bench.features.base import EXTRACTORS, CheckpointError, Extractor, ExtractorConfig, Failure, build_extractor
from msa_bench.features.pipeline import ExtractionResult, extract, load_extracted

__all__ = [
    "EXTRACTORS",
    "CheckpointError",
    "ExtractionResult",
    "Extractor",
    "ExtractorConfig",
    "Failure",
    "build_extractor",
    "extract",
    "load_extracted",
]
