"""What the harness asks a worker to do, and where each side finds the other's files.

A worker is started with two folders: an *input* folder the harness wrote for this phase (the
job and the data shards it may see, read-only inside the sandbox) and a *scratch* folder (the
run folder: checkpoints, the trained model, outputs). Everything crosses the boundary as JSON,
Arrow and parquet files, or tensors loaded with ``weights_only=True``: nothing is unpickled.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

#: The phases a worker runs: ``describe`` a submitted model (name, resolved configs, a trial
#: batch), ``train`` it on the training split (selecting on validation), ``evaluate`` it on the
#: label-free test inputs (and the robustness conditions).
PHASES: tuple[str, ...] = ("describe", "train", "evaluate")

JOB_FILE = "job.json"
#: Shards of the input folder, each a ``datasets.Dataset.save_to_disk`` folder.
SPLIT_FOLDERS: dict[str, str] = {"train": "train", "validation": "validation", "test": "test"}
#: Files a worker writes into its scratch folder's ``outputs`` folder.
OUTPUTS = "outputs"
DESCRIPTION_FILE = "description.json"
TRAINED_MODEL = "trained_model.pt"
TRAINED_FILE = "trained.json"
NOISE_FILE = "noise_statistics.pt"
VOCABULARY_FILE = "noise_vocabulary.json"
PREDICTIONS_FILE = "predictions.parquet"
SWEEP_FOLDER = "sweep"
SWEEP_LAYOUT = "sweep_layout.json"
ERROR_FILE = "error.json"


@dataclass(frozen=True)
class WorkerJob:
    """One phase of one run. ``model`` is a registered name, ``module:Class`` or ``file.py:Class``.

    ``model_config``/``train_config``: overrides to resolve (``describe``) or resolved configs
    (``train``, ``evaluate``). ``normalize``: ``"standard"`` or ``"none"`` (resolved by the
    harness). ``identity``: what a checkpoint must match to be resumed. ``robustness``: ``None``
    or ``{"levels": [...], "not_applicable": {modality: reason}}`` for ``evaluate``.
    ``nproc``: training processes (torchrun/DDP) of the ``train`` phase.
    """

    phase: str
    model: str
    dataset_name: str
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    model_config: dict = field(default_factory=dict)
    train_config: dict = field(default_factory=dict)
    normalize: str = "none"
    identity: dict = field(default_factory=dict)
    robustness: dict | None = None
    nproc: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {self.phase!r}")

    def write(self, folder: Path) -> Path:
        path = Path(folder) / JOB_FILE
        path.write_text(json.dumps(dataclasses.asdict(self), sort_keys=True), encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: Path) -> WorkerJob:
        return cls(**json.loads((Path(folder) / JOB_FILE).read_text(encoding="utf-8")))


def outputs_folder(scratch: Path) -> Path:
    return Path(scratch) / OUTPUTS
