"""msa_bench: a reproducible benchmark suite for multimodal sentiment analysis."""

from msa_bench.inputs.batching import Batch, ModalityBatch, collate
from msa_bench.inputs.loader import make_dataloader
from msa_bench.loading.load import load_dataset
from msa_bench.data.schema import MSAMetadata, msa_metadata, unified_features
from msa_bench.data.targets import Targets

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "MSAMetadata",
    "ModalityBatch",
    "Targets",
    "__version__",
    "collate",
    "msa_metadata",
    "load_dataset",
    "make_dataloader",
    "unified_features",
]
