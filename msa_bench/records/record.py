"""Result records: one JSON file per (model, dataset, seed), its test predictions beside it.

Layout under a records folder::

    <dataset>/<model>/seed<seed>.json                  the ResultRecord
    <dataset>/<model>/seed<seed>.predictions.parquet   the predictions table (msa_bench.scoring.metrics)

Records are sealed (:mod:`msa_bench.records.seal`): a record states the sha256 of its predictions
file and of its model code, and ``record_hash`` over all its other fields; a record whose hash
does not match its content is refused when read. They are written by :mod:`msa_bench.records.store`
(staged, then committed per entry). JSON is stable: sorted keys, two-space indent, NaN written
as ``null``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
import re
import subprocess
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from msa_bench.records.names import check_entry_name
from msa_bench.records.seal import FORMAT_VERSION, record_hash
from msa_bench.scoring.metrics import validate_predictions

KINDS: tuple[str, ...] = ("full", "predictions_only")

#: Fields that legitimately differ between two runs of the same configuration and seed.
VOLATILE_FIELDS: tuple[str, ...] = ("wall_time_s", "created", "peak_memory_mb", "environment", "record_hash")

#: Model and dataset names become folder names: keep them to safe characters.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
PREDICTIONS_SUFFIX = ".predictions.parquet"


def check_name(field_name: str, value: object) -> None:
    """Model and dataset names become folder names: letters, digits and ``. _ + -`` only."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value):
        raise ValueError(f"{field_name} must be a name of letters, digits and . _ + - (got {value!r})")


def config_hash(config: dict) -> str:
    """sha256 of the canonical JSON of ``config`` (sorted keys, no whitespace)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def current_git_commit(path: str | Path | None = None) -> str | None:
    """The commit checked out at ``path`` (default: this package's folder), or ``None``."""
    folder = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


#: What decides a result: the library, the baselines, the dataset scripts and the package
#: metadata. Outputs written into the checkout (``leaderboard/records`` by the main job) are not.
CODE_PATHS: tuple[str, ...] = ("msa_bench", "baselines", "datasets_scripts", "pyproject.toml")


def _git_tree_dirty(folder: Path) -> bool | None:
    """Whether the checkout at ``folder`` has uncommitted changes to :data:`CODE_PATHS`
    (``None`` outside git)."""
    try:
        result = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
            cwd=Path(folder).resolve().parent, capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(result.stdout.strip()) if result.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str = "cpu") -> dict:
    """Where a record was produced: library versions, threads, CPU and GPU, and whether the
    working tree differed from the recorded commit."""
    import datasets
    import torch
    import transformers

    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "datasets": datasets.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "cpu": _cpu_model(),
        "gpu": gpu,
        "dirty_tree": _git_tree_dirty(Path(__file__).resolve().parents[1]),
    }


def _package_version() -> str:
    from msa_bench import __version__

    return __version__


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ResultRecord:
    """Everything needed to trust, compare and re-run one (model, dataset, seed) result.

    ``metrics`` maps metric names (``msa_bench.scoring.metrics.METRICS``) to test values; ``ci`` maps
    them to ``[low, high]`` 95% bootstrap intervals. ``robustness`` follows the format in the
    README (empty for ``kind="predictions_only"``). ``paper_results`` is the model's published
    numbers for this dataset: ``{"source": "...", metric: value}``. ``environment`` is
    :func:`environment` where the run happened; ``training`` the epochs trained, the selected
    (best validation) epoch and the schedule name. ``config_hash`` is always
    :func:`config_hash` of ``config`` (a different value given is replaced, with a warning; a
    record file whose hash does not match its config is refused on load).
    """

    model: str
    dataset: str
    seed: int
    kind: str
    metrics: dict[str, float]
    ci: dict[str, list[float]] = field(default_factory=dict)
    robustness: dict = field(default_factory=dict)
    dataset_fingerprint: str = ""
    config: dict = field(default_factory=dict)
    config_hash: str = ""
    msa_bench_version: str = field(default_factory=_package_version)
    git_commit: str | None = None
    device: str = "cpu"
    wall_time_s: float | None = None
    n_parameters: int | None = None
    peak_memory_mb: float | None = None
    paper_results: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    created: str = field(default_factory=_now)
    format_version: int = FORMAT_VERSION
    #: The model's code (:func:`msa_bench.records.seal.code_identity`); empty on an unsealed record.
    code: dict = field(default_factory=dict)
    predictions_sha256: str = ""
    #: Where the model ran: ``"sandbox"``, ``"process"`` or ``"none"`` (:mod:`msa_bench.harness.sandbox`).
    isolation: str = "none"
    record_hash: str = ""

    def __post_init__(self) -> None:
        check_entry_name(self.model)
        check_name("dataset", self.dataset)
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        self.seed = int(self.seed)
        self.ci, self.robustness, self.paper_results = self.ci or {}, self.robustness or {}, self.paper_results or {}
        self.metrics = {str(k): _as_float(v) for k, v in self.metrics.items()}
        self.ci = {str(k): [_as_float(low), _as_float(high)] for k, (low, high) in self.ci.items()}
        expected = config_hash(self.config)
        if self.config_hash and self.config_hash != expected:
            warnings.warn(
                f"config_hash {self.config_hash!r} is not msa_bench.records.record.config_hash(config); "
                f"the record uses {expected}",
                stacklevel=3,
            )
        self.config_hash = expected

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def code_hash(self) -> str:
        return str(self.code.get("hash", ""))

    def entry_identity(self) -> tuple[str, str, str, str]:
        """What makes records seeds of one entry: (kind, name, config hash, code hash)."""
        return (self.kind, self.model, self.config_hash, self.code_hash)

    def sealed(self) -> ResultRecord:
        """This record with ``record_hash`` computed over its other fields."""
        return dataclasses.replace(self, record_hash=record_hash(_nan_to_none(self.to_dict())))

    def to_json(self) -> str:
        """Stable JSON: sorted keys, two-space indent, NaN and infinities as ``null``."""
        return json.dumps(_nan_to_none(self.to_dict()), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "record") -> ResultRecord:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{source}: not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown, missing = sorted(set(data) - known), sorted(f for f in ("model", "dataset", "seed", "kind", "metrics") if f not in data)
        if unknown or missing:
            raise ValueError(f"{source}: unknown fields {unknown}, missing fields {missing}")
        if data.get("config_hash") != config_hash(data.get("config") or {}):
            raise ValueError(f"{source}: config_hash does not match the config (edited or corrupted record)")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{source}: record format version {data.get('format_version', 1)}, this msa_bench reads version "
                f"{FORMAT_VERSION} (sealed records); re-run the entry to record it again"
            )
        if data.get("record_hash") != record_hash(data):
            raise ValueError(f"{source}: record_hash does not match the record's content: it was edited after it was sealed")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None

    def identity(self) -> dict:
        """The record without its volatile fields: equal for two runs of the same config and seed."""
        return {k: v for k, v in _nan_to_none(self.to_dict()).items() if k not in VOLATILE_FIELDS}


def _as_float(value) -> float:
    return math.nan if value is None else float(value)


def _nan_to_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


# --- files --------------------------------------------------------------------------------------


def record_path(records_dir: str | Path, dataset: str, model: str, seed: int) -> Path:
    return Path(records_dir) / dataset / model / f"seed{seed}.json"


def predictions_path(record_file: str | Path) -> Path:
    """The predictions file saved beside a record file."""
    record_file = Path(record_file)
    return record_file.with_name(record_file.name.removesuffix(".json") + PREDICTIONS_SUFFIX)


def load_record(path: str | Path) -> ResultRecord:
    path = Path(path)
    return ResultRecord.from_json(path.read_text(encoding="utf-8"), source=str(path))


def record_files(records_dir: str | Path) -> list[Path]:
    """Record files under ``records_dir``, sorted (empty when the folder does not exist)."""
    return sorted(Path(records_dir).glob("*/*/seed*.json"))


def load_records(records_dir: str | Path) -> list[ResultRecord]:
    """Every record under ``records_dir``, sorted by dataset, model and seed."""
    records = [load_record(path) for path in record_files(records_dir)]
    return sorted(records, key=lambda r: (r.dataset, r.model, r.seed))


def load_predictions(record_file: str | Path) -> pd.DataFrame:
    """The predictions table saved beside ``record_file``, validated."""
    path = predictions_path(record_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no predictions file beside {record_file}")
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable parquet ({err})") from None
    validate_predictions(table, source=str(path))
    return table


# --- aggregation over seeds ---------------------------------------------------------------------


class MetricSummary(NamedTuple):
    """A metric over seeds: mean, sample standard deviation (NaN for one seed) and seed count."""

    mean: float
    std: float
    n: int


def summarize(per_seed: list[dict[str, float]]) -> dict[str, MetricSummary]:
    """Each metric's mean ± sample std over the seeds (one metrics dict each) that report it."""
    summary = {}
    for name in sorted({name for metrics in per_seed for name in metrics}):
        values = np.array([m[name] for m in per_seed if name in m], dtype=np.float64)
        std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        summary[name] = MetricSummary(float(np.mean(values)), std, len(values))
    return summary
