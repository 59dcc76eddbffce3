"""The dataset front door: load a dataset by name, split it again, check it can train, export it,
summarise it."""

from msa_bench.loading.trainable import UntrainableDataError, check_trainable

__all__ = ["UntrainableDataError", "check_trainable"]
