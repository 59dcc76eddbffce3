"""``msa-bench verify``: re-run a recorded seed through the submission boundary and compare.

A record names everything its training needs: the model's code by hash (a built-in model's
module and the model library, or a submission's archived files beside the records), the configs,
the seed, the dataset by fingerprint, the device and the torch thread count that shape the
numbers. :func:`verify_record` trains the same seed again in a sandboxed worker with those, on
the dataset the caller loads (its fingerprint must match), and compares the new test predictions
with the recorded ones: ``identical`` (every prediction equal) or ``differs`` (with the largest
difference). The result is written beside the records as a verification entry
(``<entry>/verified/seed<N>.json``: who, where, when, the result and the re-run's hashes), which
the board shows as "re-run ✓" while the record is unchanged.

Predictions-only entries and reference rows ran no model through the protocol: they cannot be
verified, and say so.
"""

from __future__ import annotations

import getpass
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from msa_bench.features.checkpoints import local_config
from msa_bench.harness.entry_spec import EntrySpec, builtin_code
from msa_bench.harness.protocol import load_for_run, run_seed
from msa_bench.harness.sandbox import ReadAccess
from msa_bench.harness.training import dataset_fingerprint, run_identity
from msa_bench.models import builtin_model_names, get_model_class
from msa_bench.records.record import ResultRecord, environment, load_predictions, load_record
from msa_bench.records.seal import code_identity, json_safe
from msa_bench.records.verification import verification_path
from msa_bench.records.store import CODE_FOLDER, predictions_digest
from msa_bench.scoring.metrics import PREDICTION_COLUMNS
from msa_bench.util.atomic import write_text
from msa_bench.util.errors import UserError

RESULTS: tuple[str, ...] = ("identical", "differs")


class CannotVerify(UserError):
    """A record that cannot be re-run (predictions only, a reference row, changed code, other data)."""


@dataclass(frozen=True)
class Verification:
    record: Path
    result: str
    max_abs_difference: float
    entry: dict

    @property
    def path(self) -> Path:
        return verification_path(self.record)


def _spec(record: ResultRecord, record_file: Path) -> EntrySpec:
    """What to run for ``record``: its model code, checked against the recorded hash."""
    code = record.code
    if record.kind != "full" or record.config.get("reference") or code.get("kind") not in ("builtin", "submission"):
        raise CannotVerify(
            f"{record_file}: a {'reference row' if record.config.get('reference') else record.kind.replace('_', '-') + ' record'} "
            "ran no model through the protocol, so it cannot be verified by re-running"
        )
    if code["kind"] == "builtin":
        name = code["entry"]
        if name not in builtin_model_names():
            raise CannotVerify(f"{record_file}: the built-in model {name!r} does not exist in this msa_bench")
        current = builtin_code(get_model_class(name))
        if current["hash"] != code["hash"]:
            changed = sorted(f for f in set(current["files"]) | set(code["files"]) if current["files"].get(f) != code["files"].get(f))
            raise CannotVerify(
                f"{record_file}: the code of {name} changed since this record ({', '.join(changed)} differ); check out "
                f"commit {record.git_commit or 'of the record'} to verify it"
            )
        model, access, files = name, ReadAccess(), {}
    else:
        folder = record_file.parent / CODE_FOLDER
        files = {name: folder / name for name in code["files"]}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise CannotVerify(f"{record_file}: the archived code is incomplete (missing {', '.join(missing)})")
        archived = code_identity("submission", files, code["package"], code["entry"])
        if archived["hash"] != code["hash"]:
            raise CannotVerify(f"{record_file}: the archived code in {folder} does not match the record's code hash")
        entry_file, _, attribute = code["entry"].rpartition(":")
        model, access = f"{(folder / entry_file).resolve()}:{attribute}", ReadAccess((folder.resolve(),))  # the archive alone
    return EntrySpec(
        model=model, name=record.model, track=record.config.get("track", "default"), builtin=code["kind"] == "builtin",
        model_config=local_config(record.config["model"]), train_config=record.config["train"], schedule=record.config.get("schedule", ""),
        code=code, code_files=files, access=access,
    )


def compare(recorded: pd.DataFrame, rerun: pd.DataFrame) -> tuple[str, float]:
    """``("identical", 0.0)`` when every prediction is equal, else ``("differs", largest difference)``."""
    columns = [c for c in PREDICTION_COLUMNS if c.startswith(("sentiment_pred", "emotions_pred", "emotion_pred"))]
    a = recorded.set_index("id").sort_index()[columns].to_numpy(dtype=np.float64)
    b = rerun.set_index("id").sort_index()[columns].to_numpy(dtype=np.float64)
    if a.shape != b.shape:
        return "differs", float("inf")
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if same.all():
        return "identical", 0.0
    return "differs", float(np.nanmax(np.abs(a - b)))


def verify_record(
    record_file: str | Path,
    *,
    data: datasets.DatasetDict | None = None,
    data_dir: str | Path | None = None,
    dataset_options: dict | None = None,
    run_root: str | Path | None = None,
    threads: int | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> Verification:
    """Re-run one recorded seed and write its verification entry (see the module docstring).
    ``threads``: another torch thread count than the record's (to measure its effect)."""
    record_file = Path(record_file)
    try:
        record = load_record(record_file)
    except ValueError as err:
        raise CannotVerify(f"{err}; only a sealed record can be verified") from None
    spec = _spec(record, record_file)
    data = data if data is not None else load_for_run(record.dataset, data_dir, dataset_options)
    if dataset_fingerprint(data) != record.dataset_fingerprint:
        raise CannotVerify(
            f"{record_file}: the dataset given has fingerprint {dataset_fingerprint(data)}, the record's is "
            f"{record.dataset_fingerprint}; pass the --data-dir and --dataset-option the record was made with "
            f"(its data: {json.dumps(record.config.get('data', {}), sort_keys=True)})"
        )
    recorded_threads = int(record.environment.get("threads") or 1)
    nproc = int(record.config.get("distributed", {}).get("nproc", 1))
    echo(f"re-running {record.model} seed {record.seed} on {record.dataset} ({threads or recorded_threads} thread(s))")
    run = run_seed(spec, data, record.dataset, record.seed, run_identity(data, spec.code["hash"]), None, run_root,
                    record.device, threads or recorded_threads, progress, nproc)
    result, difference = compare(load_predictions(record_file), run.test_predictions)
    entry = {
        "record": record_file.name,
        "record_hash": record.record_hash,
        "result": result,
        "max_abs_difference": difference,
        "rerun": {"predictions_digest": predictions_digest(run.test_predictions), "metrics": run.metrics,
                  "isolation": run.isolation, "threads": run.threads, "device": run.device},
        "who": f"{getpass.getuser()}@{platform.node()}",
        "where": environment(run.device),
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recorded": {"predictions_sha256": record.predictions_sha256, "threads": recorded_threads, "cpu": record.environment.get("cpu")},
    }
    path = verification_path(record_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(json_safe(entry), indent=2, sort_keys=True) + "\n")
    return Verification(record_file, result, difference, entry)
