"""Dataset builders, registered by name (lazy, so each builder's readers import only when used),
and the one-line description of every dataset name msa_bench accepts."""

from msa_bench.util.registry import Registry

DATASETS: Registry = Registry("dataset")
DATASETS.register("synthetic", "msa_bench.builders.synthetic:Synthetic")
DATASETS.register("mosi", "msa_bench.builders.mosi:MOSI")
DATASETS.register("mosei", "msa_bench.builders.mosei:MOSEI")
DATASETS.register("ravdess", "msa_bench.builders.ravdess:RAVDESS")

#: Names ``msa-bench extract`` knows besides the registered builders: their datasets exist only as
#: an extract output folder, which ``load_dataset(name, data_dir=folder)`` then reads.
EXTRACT_ONLY: tuple[str, ...] = ("moud",)

#: Datasets made in code: they read no ``data_dir``.
GENERATED: tuple[str, ...] = ("synthetic",)

#: One line per dataset name, shown by ``msa-bench datasets`` (no builder is imported for it).
DESCRIPTIONS: dict[str, str] = {
    "synthetic": "generated clips (text, audio, vision; sentiment and emotions), no files needed; for quick runs",
    "mosi": "CMU-MOSI: 2,199 segments of 93 movie-review videos, sentiment in [-3, 3]",
    "mosei": "CMU-MOSEI: 23,259 segments of 3,293 videos, sentiment and six emotion intensities",
    "ravdess": "RAVDESS: 24 actors speaking and singing in eight emotions, split by actor",
    "moud": "MOUD: Spanish opinion videos, utterance sentiment; read from an `msa-bench extract moud` output",
}

#: What ``msa-bench datasets`` says about every other name: ``extract`` writes any name.
OTHER_NAMES = "other names: `msa-bench extract NAME` on clips with a label.csv, then --data-dir its output folder"


def dataset_names() -> list[str]:
    """Every dataset name ``load_dataset`` and ``extract`` know, in the order of :data:`DESCRIPTIONS`."""
    return [*DESCRIPTIONS, *(name for name in DATASETS.names() if name not in DESCRIPTIONS)]
