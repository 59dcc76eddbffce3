"""Reading and comparing the official training-step fixtures (``../shared/fixtures/official_train``).

Each folder holds one labelled batch, the official starting weights (those of the forward
fixture of the same name), every loss term and gradient of the official trainer's first step and
the full state after steps 1 and 3 (its ``README.md`` and ``meta.json`` say what was run). A test
builds our model with the starting weights, runs OUR step on the batch (the
:class:`~msa_bench.worker.optimization.Optimization` the trainer uses, from the model's own
schedule), records the same tensors under the official names (:func:`record_steps`) and compares
them (:func:`training_problems`):

- loss terms, outputs and gradients at the forward tests' tolerance (rtol 1e-4, atol 1e-5), or
  at twice the float64 re-run's deviation recorded in ``meta.json``
  (``reproducibility.float64_rerun_vs_float32``) where that is larger (an ill-conditioned
  step-3 quantity);
- the state after steps 1 and 3 at twice that re-run's deviation of the group (both float32
  runs lie within it of the exact value), except where Adam turns rounding noise into an update:
  a tensor the re-run lists, or an element whose effective first gradient (clipped, plus L2
  weight decay) is non-zero but so small that its float32 noise (the re-run's relative
  gradient deviation times the tensor's largest gradient) moves Adam's first update
  ``lr·g/(|g|+eps)`` by more than that tolerance. Those are compared at the bound of such
  updates, the learning rate once per step. No tensor is skipped.

Official tensors whose parameter msa_bench does not build (a declared fidelity row) must have had
no gradient and must end the official steps as they started: that is asserted too.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from official_fixtures import ATOL, RTOL, OfficialFixture, load_fixture
from shared_paths import TRAIN_FIXTURES, fixture_folder

from msa_bench.data.targets import Targets
from msa_bench.models import DataSpec, MSAModel, get_model_class

#: Steps each fixture records (the states after steps 1 and 3; losses of steps 2 and 3).
STEPS = 3


@dataclass(frozen=True)
class TrainFixture:
    """One training fixture: its ``meta.json``, tensors and the starting weights."""

    name: str
    meta: dict
    inputs: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]
    forward: OfficialFixture
    #: The starting weights under this fixture's names (a forward fixture's prefix removed).
    weights: dict[str, torch.Tensor]


def load_train_fixture(name: str, forward: str | None = None, prefix: str = "", folder: Path | None = None) -> TrainFixture:
    """The training fixture ``name`` (from ``folder``, default :data:`shared_paths.TRAIN_FIXTURES`) with the
    forward fixture ``forward`` (default ``name``) whose weights, under ``prefix``, it starts
    from; skips the test when a folder is absent."""
    root = fixture_folder(TRAIN_FIXTURES / name if folder is None else folder, "official training fixture")
    from safetensors.torch import load_file

    forward_fixture = load_fixture(forward or name)
    meta = json.loads((root / "meta.json").read_text())
    weights = {k.removeprefix(prefix): v for k, v in forward_fixture.weights.items() if k.startswith(prefix)}
    return TrainFixture(name, meta, load_file(root / "train_inputs.safetensors"), load_file(root / "train_outputs.safetensors"),
                        forward_fixture, weights)


def official_names(model: torch.nn.Module, mapped: Mapping[str, torch.Tensor], official: Mapping[str, torch.Tensor]):
    """Our state-dict names -> the official names, found through the tensors the model's
    ``official_state_dict`` returned (``mapped``: renamed or reshaped views of ``official``), and
    the official names it dropped."""
    by_storage = {value.data_ptr(): name for name, value in official.items() if value.numel()}
    ours = {name: by_storage[value.data_ptr()] for name, value in mapped.items() if value.data_ptr() in by_storage}
    missing = set(model.state_dict()) - set(ours)
    assert not missing, f"msa_bench tensors without an official counterpart: {sorted(missing)}"
    return ours, sorted(set(official) - set(ours.values()))


def record_steps(
    optimization,
    batch,
    targets,
    names: Mapping[str, str],
    shapes: Mapping[str, torch.Size],
    *,
    prefix: str = "",
    extras: Callable[[int, torch.Tensor, object], Mapping[str, torch.Tensor]] | None = None,
) -> dict[str, torch.Tensor]:
    """Run our step :data:`STEPS` times on one batch and return, under the fixture's names,
    ``loss``, ``grad.*`` (step 1, before clipping), ``step1.*``, ``loss_step2``, ``loss_step3``,
    ``step3.*`` and what ``extras(step, loss, output)`` adds after each backward pass (loss terms,
    outputs, trainer memories)."""
    model, recorded = optimization.model, {}
    for step in range(1, STEPS + 1):
        loss, output = optimization.backward(batch, targets)
        recorded[f"{prefix}loss" if step == 1 else f"{prefix}loss_step{step}"] = loss.detach()
        if step == 1:
            for name, parameter in model.named_parameters():
                if parameter.grad is not None:
                    recorded[f"{prefix}grad.{names[name]}"] = parameter.grad.detach().clone().reshape(shapes[names[name]])
        if extras is not None:
            recorded |= {f"{prefix}{k}": v.detach().clone() for k, v in extras(step, loss, output).items()}
        optimization.update()
        if step in (1, STEPS):
            recorded |= {f"{prefix}step{step}.{names[k]}": v.detach().clone().reshape(shapes[names[k]])
                         for k, v in model.state_dict().items()}
    return recorded


@dataclass(frozen=True)
class UpdateRule:
    """How our optimizer steps one parameter: its learning rate (0: in no group) and the weight
    decay added to its gradient (Adam's L2; 0 for AdamW, whose decay is decoupled)."""

    lr: float
    l2: float


#: Adam's eps (torch's default, which every schedule uses).
ADAM_EPS = 1e-8


def update_rules(optimization, names: Mapping[str, str]) -> dict[str, UpdateRule]:
    """Official parameter name -> how the optimizer of the pass under way steps it."""
    optimizer = optimization.optimizer_of(optimization.model.stage)
    decoupled = isinstance(optimizer, torch.optim.AdamW)
    rule = {id(p): UpdateRule(g["lr"], 0.0 if decoupled else g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    return {names[name]: rule.get(id(p), UpdateRule(0.0, 0.0)) for name, p in optimization.model.named_parameters()}


def _effective_gradients(outputs: Mapping[str, torch.Tensor], prefix: str, clip_norm: float | None,
                         clip_value: float | None) -> dict[str, torch.Tensor]:
    """The official first gradients as the optimizer receives them (clipped)."""
    grads = {k.removeprefix(f"{prefix}grad."): v.double() for k, v in outputs.items() if k.startswith(f"{prefix}grad.")}
    scale = 1.0
    if clip_norm is not None:
        total = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads.values()])))
        scale = min(1.0, clip_norm / (total + 1e-6))
    return {k: (g * scale if clip_value is None else g.clamp(-clip_value, clip_value)) for k, g in grads.items()}


def _state_tolerance(fixture: TrainFixture, group: str) -> tuple[float, set[str]]:
    """The float64 re-run's deviation of a ``step1.*``-like group (at most 1e-5 where tensors are
    listed above that) and the listed tensors."""
    study = fixture.meta["reproducibility"]["float64_rerun_vs_float32"][group]
    listed = set(study.get("tensors_with_abs_diff_over_1e-5", {}))
    return (1e-5 if listed else study["max_abs_diff"]), listed


def training_problems(
    actual: Mapping[str, torch.Tensor],
    fixture: TrainFixture,
    rules: Mapping[str, UpdateRule],
    dropped: list[str],
    prefix: str = "",
    clip_norm: float | None = None,
    clip_value: float | None = None,
) -> list[str]:
    """Every mismatch between our recorded step (:func:`record_steps`) and the fixture's, as
    lines; ``rules`` says how our optimizer steps each official parameter (:func:`update_rules`),
    ``clip_norm``/``clip_value`` how gradients are clipped, ``dropped`` the official tensors
    msa_bench does not build."""
    outputs = {k: v for k, v in fixture.outputs.items() if k.startswith(prefix)}
    study = fixture.meta["reproducibility"]["float64_rerun_vs_float32"]
    gradients = _effective_gradients(outputs, prefix, clip_norm, clip_value)
    relative_noise = 2 * study[f"{prefix}grad.*"]["max_abs_diff_over_max_abs_value"]
    problems = []
    for name in dropped:
        if f"{prefix}grad.{name}" in outputs:
            problems.append(f"{name}: not built by msa_bench, but the official step gives it a gradient")
        for step in (1, STEPS):
            stepped = outputs.get(f"{prefix}step{step}.{name}")
            if stepped is not None and not torch.equal(stepped, fixture.weights[name]):
                problems.append(f"{name}: not built by msa_bench, but the official step {step} changes it")
    dropped_for_size = set(fixture.meta.get("dropped_for_size", {}).get("tensors", ()))
    expected = dict(outputs)
    for name in dropped_for_size:  # stored only when they changed: these equal the starting weights
        expected[name] = fixture.weights[name.split(".", 1)[1]]
    for name in sorted(set(actual) - set(expected)):
        problems.append(f"{name}: msa_bench has it, the official step does not (e.g. a gradient where it has none)")
    for name, want in expected.items():
        kind, _, parameter = name.removeprefix(prefix).partition(".")
        if parameter in dropped:
            continue
        if name not in actual:
            problems.append(f"{name}: missing from the msa_bench step")
            continue
        got, want = actual[name].detach().double(), want.double()
        if got.shape != want.shape:
            problems.append(f"{name}: shape {tuple(got.shape)}, official {tuple(want.shape)}")
            continue
        if kind in ("step1", "step3"):
            base, listed = _state_tolerance(fixture, f"{prefix}{kind}.*")
            rule = rules.get(parameter, UpdateRule(0.0, 0.0))
            atol = torch.full_like(want, 2 * base)
            adam_bound = int(kind[-1]) * rule.lr + 2 * base
            if name in listed:
                atol[:] = adam_bound
            elif parameter in gradients:
                effective = gradients[parameter] + rule.l2 * fixture.weights[parameter].double()
                noise = relative_noise * float(gradients[parameter].abs().max())
                # |d update / d g| = lr·eps/(|g|+eps)²: below this the noise moves the update by > 2·base
                sensitive = max(noise, (rule.lr * ADAM_EPS * noise / (2 * base)) ** 0.5)
                atol[(effective.abs() <= sensitive) & (effective != 0)] = adam_bound
            bad = (got - want).abs() > atol
        else:
            rerun = study.get(name, {}).get("max_abs_diff", 0.0)
            bad = (got - want).abs() > torch.clamp(ATOL + RTOL * want.abs(), min=2 * rerun)
        if bad.any():
            worst = float((got - want).abs().max())
            problems.append(f"{name}: max abs diff {worst:.3g}, {int(bad.sum())}/{bad.numel()} values outside tolerance")
    return problems


def assert_training_matches(actual, fixture, optimization, names, dropped, prefix: str = "") -> None:
    """:func:`training_problems` of our step (run by ``optimization``) as one failure listing them."""
    config = optimization.config
    problems = training_problems(actual, fixture, update_rules(optimization, names), dropped, prefix, config.grad_clip,
                                 config.grad_clip_value)
    if problems:
        pytest.fail(f"{fixture.name}: our training step differs from the official one:\n  " + "\n  ".join(problems))


def sentiment_targets(labels: torch.Tensor, ids: list[str]) -> Targets:
    """Sentiment labels (B,) or (B, 1) as the trainer's targets (no other task annotated)."""
    size = len(ids)
    return Targets(ids=list(ids), sentiment=labels.reshape(-1).float(), emotions=torch.full((size, 6), float("nan")),
                   emotion=torch.full((size,), -1), polarity=torch.full((size,), -1))


def official_step(
    fixture: TrainFixture,
    name: str,
    spec: DataSpec,
    model_overrides: dict,
    train_overrides: dict | None = None,
    mapping_arguments: tuple = (),
    dataset: str = "mosi",
):
    """Our model ``name`` on ``dataset``'s schedule with the overrides, the official starting
    weights loaded strictly, in train mode, with the :class:`Optimization` the trainer would
    build; and the name mapping (ours -> official, dropped official tensors)."""
    from msa_bench.worker.configs import resolve_configs
    from msa_bench.worker.optimization import Optimization

    model_class = get_model_class(name)
    model_config, train_config = resolve_configs(model_class, dataset, model_overrides, train_overrides)
    model: MSAModel = model_class(model_config, spec)
    mapped = importlib.import_module(model_class.__module__).official_state_dict(fixture.weights, *mapping_arguments)
    names, dropped = official_names(model, mapped, fixture.weights)
    model.load_state_dict(mapped, strict=True)
    model.train()
    return Optimization(model, train_config, batches_per_epoch=1), names, dropped


def compare_steps(fixture: TrainFixture, optimization, names, dropped, batch, targets, extras=None, prefix: str = ""):
    """Three of our steps on the batch, compared with the fixture (see ``official_training``)."""
    shapes = {name: value.shape for name, value in fixture.weights.items()}
    actual = record_steps(optimization, batch, targets, names, shapes, prefix=prefix, extras=extras)
    assert_training_matches(actual, fixture, optimization, names, dropped, prefix)
    return actual


def prediction(step: int, loss: torch.Tensor, output) -> dict[str, torch.Tensor]:
    """The step-1 train-mode prediction as MMSA's ``outputs.M`` (B, 1)."""
    return {"outputs.M": output.sentiment.unsqueeze(1)} if step == 1 else {}
