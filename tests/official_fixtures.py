"""Reading the official reference fixtures (``../shared/fixtures/official``) in tests.

Each fixture folder holds ``meta.json`` and safetensors files of the official state dict, the
forward inputs, the eval-mode outputs and, for some models, the official training losses.
A test calls :func:`load_fixture`, which skips with the reason when the folder is absent (a
fresh clone has no ``shared/``), and compares with :func:`assert_outputs_close`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest
import torch
from shared_paths import FIXTURES, fixture_folder

from msa_bench.inputs.batching import Batch, ModalityBatch

#: The tolerance of issue #15 (float64 re-runs of the official code differ by about 1e-6).
RTOL = 1e-4
ATOL = 1e-5


@dataclass(frozen=True)
class OfficialFixture:
    """One fixture folder: ``meta.json`` and its tensors (``losses`` empty when absent)."""

    name: str
    meta: dict
    weights: dict[str, torch.Tensor]
    inputs: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]
    losses: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def config(self) -> dict:
        """The official configuration the fixture was produced with."""
        return self.meta["config"]


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from error


def load_fixture(name: str) -> OfficialFixture:
    """The fixture ``name`` (a folder of :data:`shared_paths.FIXTURES`); skips the test when it is absent."""
    folder = fixture_folder(FIXTURES / name, "official fixture")
    pytest.importorskip("safetensors", reason="reading the official fixtures needs the safetensors package")
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{meta_path}: not a readable JSON file ({error})") from error
    for required in ("weights", "inputs", "outputs"):
        if not (folder / f"{required}.safetensors").is_file():
            raise ValueError(f"{folder}: {required}.safetensors is missing")
    losses = folder / "losses.safetensors"
    return OfficialFixture(
        name=name,
        meta=meta,
        weights=_tensors(folder / "weights.safetensors"),
        inputs=_tensors(folder / "inputs.safetensors"),
        outputs=_tensors(folder / "outputs.safetensors"),
        losses=_tensors(losses) if losses.is_file() else {},
    )


def full_modality(features: torch.Tensor) -> ModalityBatch:
    """A modality whose every frame is real and every example has it (the official inputs are unpadded)."""
    batch, length = features.shape[:2]
    return ModalityBatch(features, torch.ones(batch, length, dtype=torch.bool), torch.ones(batch, dtype=torch.bool))


def fixture_batch(text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor, raw_text: list[str] | None = None) -> Batch:
    """The fixture inputs as a msa_bench ``Batch`` with full masks (inputs only)."""
    size = text.shape[0]
    values = {
        "ids": [f"fixture_{i}" for i in range(size)],
        "raw_text": raw_text if raw_text is not None else [""] * size,
        "text": full_modality(text),
        "audio": full_modality(audio),
        "vision": full_modality(vision),
    }
    # Until labels leave Batch (the Targets API change), its label fields are filled as "not annotated".
    unlabelled = {f.name: torch.full((size,), float("nan")) for f in fields(Batch) if f.name not in values}
    return Batch(**values, **unlabelled)


def assert_outputs_close(
    actual: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> None:
    """Every tensor of ``expected`` matches ``actual`` (same name) within ``rtol``/``atol``.

    Fails once, listing each tensor's max abs difference (or its shape or absence problem),
    so one run shows every mismatch rather than the first.
    """
    problems, report = [], []
    for name, want in expected.items():
        if name not in actual:
            problems.append(f"{name}: missing from the msa_bench outputs")
            continue
        got = actual[name].detach().to(device="cpu", dtype=torch.float64)
        want = want.to(torch.float64)
        if got.shape != want.shape:
            problems.append(f"{name}: shape {tuple(got.shape)}, official {tuple(want.shape)}")
            continue
        diff = (got - want).abs()
        worst = float(diff.max()) if diff.numel() else 0.0
        report.append(f"{name}: max abs diff {worst:.3g}")
        if not torch.allclose(got, want, rtol=rtol, atol=atol):
            bad = int((diff > atol + rtol * want.abs()).sum())
            problems.append(f"{name}: max abs diff {worst:.3g}, {bad}/{diff.numel()} values outside rtol={rtol} atol={atol}")
    if problems:
        pytest.fail("outputs differ from the official ones:\n  " + "\n  ".join(problems + ["(all: " + "; ".join(report) + ")"]))
