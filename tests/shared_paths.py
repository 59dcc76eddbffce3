"""Where the project's real data and official fixtures live: one environment variable,
``MSA_BENCH_SHARED_DATA`` (default ``../shared/data`` beside the checkout), names the data folder;
the official fixtures sit beside it in ``fixtures/``. Any of them may be absent (a user's clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("MSA_BENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
#: The official forward fixtures, one folder per fixture.
FIXTURES = SHARED_DATA.parent / "fixtures" / "official"
#: The official training-step fixtures, one folder per fixture.
TRAIN_FIXTURES = SHARED_DATA.parent / "fixtures" / "official_train"


def fixture_folder(folder: Path, what: str) -> Path:
    """``folder``, or skip the calling test with the reason when it is absent."""
    if not folder.is_dir():
        pytest.skip(f"{what} {folder} is absent (official fixtures sit in fixtures/ beside MSA_BENCH_SHARED_DATA)")
    return folder
