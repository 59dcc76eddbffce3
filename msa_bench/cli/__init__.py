"""The ``msa-bench`` command line. Each command is a thin wrapper over the Python API."""

from msa_bench.cli import board, data, extract, models, runs  # noqa: F401  (each module registers its commands)
from msa_bench.cli.app import app

__all__ = ["app"]
