"""Dataset builders, registered by name (lazy, so each builder's readers import only when used)."""

from msa_bench.util.registry import Registry

DATASETS: Registry = Registry("dataset")
DATASETS.register("synthetic", "msa_bench.builders.synthetic:Synthetic")
DATASETS.register("mosi", "msa_bench.builders.mosi:MOSI")
DATASETS.register("mosei", "msa_bench.builders.mosei:MOSEI")
DATASETS.register("ravdess", "msa_bench.builders.ravdess:RAVDESS")
