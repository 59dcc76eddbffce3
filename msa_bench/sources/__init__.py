"""Readers for the formats CMU-MOSI, CMU-MOSEI and RAVDESS are held in.

Each reader is independent of ``datasets``: it turns files into :class:`Segment` records and
numpy arrays; the builders in :mod:`msa_bench.builders` map those to the unified schema.
"""

from msa_bench.sources.common import DataNotFoundError, Segment, SourceFileError

__all__ = ["DataNotFoundError", "Segment", "SourceFileError"]
