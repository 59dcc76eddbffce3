"""Where the project's real data and official fixtures live: one environment variable,
``MSA_BENCH_SHARED_DATA`` (default ``../shared/data`` beside the checkout), names the data folder;
the official fixtures sit beside it in ``fixtures/``. Any of them may be absent (a user's clone)."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("MSA_BENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
OFFICIAL_FIXTURES = SHARED_DATA.parent / "fixtures" / "official"
OFFICIAL_TRAIN_FIXTURES = SHARED_DATA.parent / "fixtures" / "official_train"
