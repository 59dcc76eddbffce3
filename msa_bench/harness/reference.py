"""Reference rows of a board: a plain baseline's test predictions (e.g. a scikit-learn script)
turned into a :class:`~msa_bench.records.record.ResultRecord` scored by the protocol's own scorer, so the
row is comparable with the models' rows and tagged ``reference`` on the leaderboard."""

from __future__ import annotations

from pathlib import Path

import datasets
import pandas as pd

from msa_bench import __version__
from msa_bench.records.seal import code_identity
from msa_bench.scoring.metrics import bootstrap_ci, compute_metrics
from msa_bench.records.record import ResultRecord, current_git_commit, environment
from msa_bench.harness.training import data_provenance, dataset_fingerprint


def make_reference_record(
    name: str,
    dataset_name: str,
    board: datasets.DatasetDict,
    table: pd.DataFrame,
    model: dict,
    wall_time_s: float,
    data: datasets.DatasetDict | None = None,
    script: str | Path | None = None,
) -> ResultRecord:
    """The record of a deterministic reference whose test predictions are ``table``
    (:func:`~msa_bench.scoring.metrics.predictions_frame`). ``board`` is the dataset the models ran on
    (its fingerprint, and its test ids, which ``table`` must match in order); ``data`` the
    dataset the reference read, when it read other features (default: ``board``); ``model``
    describes the pipeline and how its hyper-parameters were chosen; ``script`` is the file that
    computed it (its hash is the record's code)."""
    if list(table["id"]) != [str(i) for i in board["test"]["id"]]:
        raise ValueError(f"the {name} reference's test ids differ from the board's test split; read both from the same folder")
    return ResultRecord(
        model=name,
        dataset=dataset_name,
        seed=0,
        kind="full",
        metrics=compute_metrics(table),
        ci=bootstrap_ci(table),
        dataset_fingerprint=dataset_fingerprint(board),
        config={"reference": True, "dataset": dataset_name, "model": model, "data": data_provenance(board if data is None else data)},
        git_commit=current_git_commit(),
        wall_time_s=wall_time_s,
        environment=environment(),
        training={"schedule": "reference (deterministic: one run)", "epochs": 1, "best_epoch": 1},
        code=code_identity("reference", _script_files(script), f"msa_bench {__version__}", name),
    )


def _script_files(script: str | Path | None) -> dict[str, Path]:
    """The reference script under its path in the repository (or its file name elsewhere)."""
    if script is None:
        return {}
    script = Path(script).resolve()
    root = Path(__file__).resolve().parents[2]
    return {(script.relative_to(root) if script.is_relative_to(root) else Path(script.name)).as_posix(): script}
