"""The contract every registered model meets, run automatically over ``model_names()``.

Every module in ``baselines/`` registers on import, so a newly added model is tested here
without any edit to this file. Conventions a model can rely on:

- **Small test config**: when the model class declares ``default_configs["test"]["model"]``
  (small dims, few layers), the model is built with it; otherwise with its config defaults.
  Keep it tiny: the whole contract should take well under 3 s per model on a CPU.
- **Fine-tuned text path**: a model whose config has a ``text_encoder`` field (checkpoint name
  or local path, ``None`` = precomputed features) is also run with a tiny local BERT.

Batches are built from random rows of variable length with ``msa_bench.inputs.batching.collate`` (the
model's inputs) and ``msa_bench.data.targets.collate_targets`` (the labels, for the loss only).
Every model is also run on every task combination a dataset can be labelled for (sentiment
only; emotions + emotion class, like RAVDESS; all three, like MOSEI) through the shared heads.
"""

from __future__ import annotations

import dataclasses
import io
import itertools

import numpy as np
import pytest
import torch

from msa_bench.inputs.batching import Batch, ModalityBatch, collate
from msa_bench.models import DataSpec, build_config, get_model_class, model_names, task_loss
from msa_bench.data.schema import EKMAN_EMOTIONS, EMOTION_CLASSES, MODALITIES
from msa_bench.data.targets import Targets, collate_targets
from msa_bench.worker.trainer import training_loss

SPEC = DataSpec(text_dim=12, audio_dim=6, vision_dim=5)
DIMS = {"text": SPEC.text_dim, "audio": SPEC.audio_dim, "vision": SPEC.vision_dim}
MODEL_NAMES = model_names()
WORDS = "i the movie was great boring loved awful film really".split()


def random_rows(n: int, seed: int = 0) -> list[dict]:
    """Rows of the unified schema with random features of variable length and labels in [-3, 3]."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row = {"id": f"vid{i // 2}_{i}", "text": " ".join(rng.choice(WORDS, size=rng.integers(2, 8)))}
        for modality, (low, high) in zip(MODALITIES, ((3, 9), (4, 14), (4, 12))):
            row[f"{modality}_features"] = rng.standard_normal((rng.integers(low, high), DIMS[modality]))
        row["sentiment"] = float(rng.uniform(-3, 3))
        row["emotions"] = rng.uniform(0, 3, len(EKMAN_EMOTIONS)).tolist()
        row["emotion"] = int(rng.integers(0, len(EMOTION_CLASSES)))
        rows.append(row)
    return rows


def random_batch(n: int = 6, seed: int = 0) -> Batch:
    return collate(random_rows(n, seed), DIMS)


def random_targets(n: int = 6, seed: int = 0) -> Targets:
    return collate_targets(random_rows(n, seed))


def without(batch: Batch, modalities: tuple[str, ...], rows: torch.Tensor | None = None) -> Batch:
    """``batch`` with ``modalities`` absent (in ``rows``, default all): zero features, no mask, not present."""
    for name in modalities:
        m = batch.modality(name)
        keep = torch.zeros(len(batch), dtype=torch.bool) if rows is None else ~rows
        batch = batch.with_modality(
            name,
            ModalityBatch(m.features * keep[:, None, None], m.mask & keep[:, None], m.present & keep),
        )
    return batch


def build(name: str, seed: int = 0, spec: DataSpec = SPEC, **overrides):
    model_class = get_model_class(name)
    model_overrides = {**model_class.default_configs.get("test", {}).get("model", {}), **overrides}
    torch.manual_seed(seed)
    return model_class(build_config(model_class, model_overrides), spec)


def sentiment(model, batch: Batch) -> torch.Tensor:
    output = model(batch)
    assert output.sentiment is not None and output.sentiment.shape == (len(batch),)
    return output.sentiment


def assert_finite_gradients(model) -> None:
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads, "no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_backward_with_variable_lengths(name):
    model = build(name)
    batch = random_batch()
    assert len(set(batch.audio.lengths.tolist())) > 1
    output = model(batch)
    assert torch.isfinite(output.sentiment).all()
    loss = model.compute_loss(output, random_targets())
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert_finite_gradients(model)


TASK_SETS = [("sentiment",), ("emotions", "emotion"), ("sentiment", "emotions", "emotion")]


@pytest.mark.parametrize("tasks", TASK_SETS, ids="+".join)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_predicts_every_task_combination(name, tasks):
    """Own tasks or shared heads: every task the dataset labels is predicted, finite, and trains."""
    spec = dataclasses.replace(SPEC, tasks=tasks)
    model = build(name, spec=spec)
    assert set(model.tasks) == set(tasks) and set(model.own_tasks) | set(model.head_tasks) == set(tasks)
    batch, targets = random_batch(), random_targets()
    output = model(batch)
    shapes = {"sentiment": (6,), "emotions": (6, len(EKMAN_EMOTIONS)), "emotion": (6, len(EMOTION_CLASSES))}
    predicted = {"sentiment": output.sentiment, "emotions": output.emotions, "emotion": output.emotion_logits}
    for task in tasks:
        assert predicted[task] is not None and predicted[task].shape == shapes[task], task
        assert torch.isfinite(predicted[task]).all(), task
    loss = training_loss(model, output, targets, head_loss_weight=1.0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert_finite_gradients(model)


ABSENT_SETS = [combo for k in range(len(MODALITIES) + 1) for combo in itertools.combinations(MODALITIES, k)]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_absent_modality_combination_gives_finite_outputs(name):
    model = build(name)
    batch = random_batch()
    for absent in ABSENT_SETS:
        model.train()
        output = model(without(batch, absent))
        loss = model.compute_loss(output, random_targets())
        assert torch.isfinite(output.sentiment).all(), f"non-finite output without {absent}"
        assert torch.isfinite(loss), f"non-finite loss without {absent}"
        model.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None), absent
        model.eval()
        with torch.no_grad():
            assert torch.isfinite(sentiment(model, without(batch, absent))).all(), f"eval, without {absent}"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_absence_differing_per_row_gives_finite_outputs(name):
    model = build(name).eval()
    batch = random_batch()
    batch = without(batch, ("text",), torch.tensor([1, 0, 0, 1, 0, 0], dtype=torch.bool))
    batch = without(batch, ("audio", "vision"), torch.tensor([0, 1, 0, 1, 0, 0], dtype=torch.bool))
    with torch.no_grad():
        assert torch.isfinite(sentiment(model, batch)).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_modalities_a_model_does_not_declare_do_not_change_its_output(name):
    """``input_modalities`` is what a board relies on to leave a model out of a dataset."""
    model = build(name).eval()
    batch, other = random_batch(), random_batch(seed=1)
    unread = [m for m in MODALITIES if m not in model.input_modalities]
    changed = batch
    for modality in unread:
        changed = changed.with_modality(modality, other.modality(modality))
    with torch.no_grad():
        torch.testing.assert_close(sentiment(model, changed), sentiment(model, batch))
        for modality in model.input_modalities:  # some initialisations zero a tiny subnet's ReLUs
            models = (build(name, seed=seed).eval() for seed in range(3))
            assert any(
                not torch.allclose(sentiment(m, batch.with_modality(modality, other.modality(modality))), sentiment(m, batch))
                for m in models
            ), f"{name} ignores {modality}"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_model_reads_each_of_its_modalities_when_it_is_the_only_one(name):
    """Single-modality datasets (RAVDESS speech: audio; MOSI transcripts: text) must not leave a
    model with a constant prediction."""
    batch, noise = random_batch(), torch.Generator().manual_seed(1)
    for modality in get_model_class(name).input_modalities:
        alone = without(batch, tuple(m for m in MODALITIES if m != modality))
        m = alone.modality(modality)  # new values on the same real frames: the clip lengths say nothing new
        moved = m.features + torch.randn(m.features.shape, generator=noise) * m.mask[..., None]
        changed = alone.with_modality(modality, ModalityBatch(moved, m.mask, m.present))
        models = (build(name, seed=seed).eval() for seed in range(3))  # some initialisations zero a tiny subnet's ReLUs
        with torch.no_grad():
            assert any(not torch.allclose(sentiment(m, changed), sentiment(m, alone)) for m in models), f"{name} alone on {modality}"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_padding_frames_do_not_change_the_output(name):
    """Extra zero frames beyond each mask must not matter (no attention over padding)."""
    model = build(name).eval()
    batch = random_batch()
    padded = batch
    for modality, m in batch.modalities():
        extra = torch.zeros(len(batch), 5, m.features.shape[-1])
        padded = padded.with_modality(
            modality,
            ModalityBatch(torch.cat([m.features, extra + 7.0], 1), torch.cat([m.mask, extra[..., 0].bool()], 1), m.present),
        )
    with torch.no_grad():
        torch.testing.assert_close(sentiment(model, padded), sentiment(model, batch), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_overfits_one_small_batch(name):
    model = build(name)
    batch, targets = random_batch(8, seed=1), random_targets(8, seed=1)
    model.eval()
    with torch.no_grad():
        before = task_loss(model(batch), targets, ("sentiment",)).item()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        model.train()
        optimizer.zero_grad()
        model.compute_loss(model(batch), targets).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        after = task_loss(model(batch), targets, ("sentiment",)).item()
    assert after < 0.7 * before, f"L1 {before:.3f} -> {after:.3f}"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_gives_identical_outputs(name):
    batch = random_batch()
    first, second = build(name, seed=3), build(name, seed=3)
    for model in (first, second):
        model.train()
    torch.manual_seed(7)
    train_first = sentiment(first, batch)
    torch.manual_seed(7)
    train_second = sentiment(second, batch)
    assert torch.equal(train_first, train_second)
    with torch.no_grad():
        assert torch.equal(sentiment(first.eval(), batch), sentiment(second.eval(), batch))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_checkpoint_round_trip(name):
    model, restored = build(name, seed=0).eval(), build(name, seed=1).eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    batch = random_batch()
    with torch.no_grad():
        assert torch.equal(sentiment(model, batch), sentiment(restored, batch))


def _has_text_encoder(name: str) -> bool:
    return any(f.name == "text_encoder" for f in dataclasses.fields(get_model_class(name).config_class))


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if _has_text_encoder(n)])
def test_fine_tuned_text_path(name, tiny_bert):
    model = build(name, text_encoder=tiny_bert)
    batch = random_batch()
    output = model(batch)
    assert torch.isfinite(output.sentiment).all()
    model.compute_loss(output, random_targets()).backward()
    assert_finite_gradients(model)
    assert_every_trainable_parameter_once(model)


def assert_every_trainable_parameter_once(model) -> None:
    """Each trainable parameter is in exactly one optimizer group (the main ones or a training
    stage's) or listed by ``untrained_parameters`` (in none on purpose)."""
    groups = [*model.parameter_groups(1e-3, 1e-4), *(g for stage in model.training_stages() for g in stage.parameter_groups)]
    grouped = [id(p) for g in groups for p in g["params"]] + [id(p) for p in model.untrained_parameters()]
    assert len(grouped) == len(set(grouped)), "a parameter is in two groups"
    assert set(grouped) == {id(p) for p in model.parameters() if p.requires_grad}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_groups_cover_every_trainable_parameter_once(name):
    assert_every_trainable_parameter_once(build(name))


@pytest.mark.gpu
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_training_step_on_cuda(name):
    model = build(name).cuda()
    batch, targets = random_batch().to("cuda"), random_targets().to("cuda")
    optimizer = torch.optim.Adam(model.parameter_groups(1e-3, 0.0))
    loss = model.compute_loss(model(batch), targets)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and loss.device.type == "cuda"


def test_learning_rate_groups_first_pair_wins_and_the_rest_get_the_default_rate():
    from torch import nn

    from msa_bench.models import learning_rate_groups

    model = nn.ModuleDict({"encoder": nn.Linear(2, 2), "lstm": nn.Linear(2, 2), "head": nn.Linear(2, 1), "frozen": nn.Linear(2, 2)})
    model["frozen"].requires_grad_(False)
    special = [(model["encoder"].parameters(), 1e-5), ([*model["encoder"].parameters(), *model["lstm"].parameters()], 1e-4)]
    groups = learning_rate_groups(model, 1e-3, 0.01, special)
    by_rate = {g["lr"]: {id(p) for p in g["params"]} for g in groups}
    assert by_rate == {
        1e-3: {id(p) for p in model["head"].parameters()},
        1e-5: {id(p) for p in model["encoder"].parameters()},
        1e-4: {id(p) for p in model["lstm"].parameters()},
    }
    assert all(g["weight_decay"] == 0.01 for g in groups)
    only_default = learning_rate_groups(model, 1e-3, 0.0, [([], 1e-5)])
    assert [g["lr"] for g in only_default] == [1e-3]


BUILTIN_NAMES = [n for n in MODEL_NAMES if get_model_class(n).__module__.startswith("baselines.")]


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_builtin_default_configs_and_paper_results_are_valid(name):
    """Every built-in baseline ships MOSI, MOSEI, synthetic and test settings that build."""
    from msa_bench.worker.train_config import TrainConfig

    model_class = get_model_class(name)
    assert {"mosi", "mosei", "synthetic", "test"} <= set(model_class.default_configs)
    for entry in model_class.default_configs.values():
        build_config(model_class, entry.get("model"))
        TrainConfig.from_dict(entry.get("train"))
    for dataset, result in model_class.paper_results.items():
        assert result["source"] and all(0 < v < 1 for k, v in result.items() if k.startswith(("acc", "f1")))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_evaluation_hands_every_model_inputs_without_labels(name):
    """What a model receives at evaluation time (validation, test, robustness) is one Batch, and a
    Batch has no label field: labels stay with the scorer."""
    from msa_bench.worker.evaluation import predict
    from msa_bench.data.targets import LABEL_COLUMNS

    model = build(name, spec=dataclasses.replace(SPEC, tasks=("sentiment", "emotions", "emotion")))
    seen = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append((args, kwargs)), with_kwargs=True)
    rows = random_rows(6)
    predict(model, [(collate(rows, DIMS), collate_targets(rows))], torch.device("cpu"))
    [(args, kwargs)] = seen
    assert not kwargs and len(args) == 1 and type(args[0]) is Batch
    assert not set(LABEL_COLUMNS) & {f.name for f in dataclasses.fields(args[0])}
