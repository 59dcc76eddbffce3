"""A workspace: where commands write records, run folders and the rendered pages.

``--workspace PATH``, else ``$MSA_BENCH_HOME``, else ``./msa_bench_runs`` (git-ignored). Layout::

    <workspace>/records/              result records (<dataset>/<model>/seed<N>.json + predictions)
    <workspace>/records-staging/      seeds of entries not committed yet
    <workspace>/records-superseded/   records moved aside by --replace (never deleted)
    <workspace>/runs/                 checkpoints; an interrupted run resumes from here
    <workspace>/LEADERBOARD.md, site/index.html   the rendered board

The committed boards of the repository (``leaderboard/``, ``leaderboard/real/``) are workspaces
with the same layout; commands write into them only when told so (``--workspace leaderboard``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENT_VARIABLE = "MSA_BENCH_HOME"
DEFAULT_FOLDER = "msa_bench_runs"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def resolve(cls, path: str | Path | None = None) -> Workspace:
        """``path``, else ``$MSA_BENCH_HOME``, else ``./msa_bench_runs``."""
        chosen = path or os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_FOLDER
        return cls(Path(chosen).expanduser())

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def markdown(self) -> Path:
        return self.root / "LEADERBOARD.md"

    @property
    def page(self) -> Path:
        return self.root / "site" / "index.html"
