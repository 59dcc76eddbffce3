"""The robustness sweep: on a model trained on synthetic data, on every registered model's text
path, on text-only MOSI transcripts, conditions that cannot apply, and resuming."""

from __future__ import annotations

import dataclasses
import json
import shutil

import datasets
import pytest
import torch

from msa_bench.inputs.batching import collate
from msa_bench.inputs.corruption import PROTOCOLS, missing, unk_token
from msa_bench.models import DataSpec, build_config, get_model_class, model_names
from msa_bench.harness.protocol import run_protocol
from msa_bench.records.record import load_record
from msa_bench.scoring.robustness import LEVELS, QUICK_LEVELS, auilc
from msa_bench.harness.robustness import evaluate_robustness, not_applicable_modalities
from msa_bench.worker.train_config import TrainConfig
from msa_bench.harness.training import train_and_evaluate

#: Tolerance of "monotone within noise": one curve step may rise by this much (about 15 of the
#: ~580 non-neutral test examples of the default synthetic dataset).
TOLERANCE = 0.025
DROPS = ("text", "audio", "vision", "text+audio", "text+vision", "audio+vision", "text+audio+vision")


@pytest.fixture(scope="module")
def trained(synthetic_default):
    """LF-DNN trained with its ``msa-bench run`` schedule; the full sweep on the 625 test clips."""
    model_class = get_model_class("lf_dnn")
    defaults = model_class.default_configs["synthetic"]
    config = build_config(model_class, defaults["model"])
    run = train_and_evaluate(
        model_class, config, synthetic_default, TrainConfig.from_dict(defaults["train"]),
        seed=1111, dataset_name="synthetic", progress=False,
    )
    return run.model, evaluate_robustness(run.model, synthetic_default["test"], synthetic_default["train"], seed=1111)


def test_sweep_has_every_condition_under_both_protocols(trained):
    _, sweep = trained
    assert sweep["metric"] == "acc2_non0" and sweep["grid"] == "full" and sweep["levels"] == list(LEVELS)
    assert sorted(sweep["protocols"]) == sorted(PROTOCOLS) and sweep["skipped"] == {}
    for protocol in PROTOCOLS:
        part = sweep["protocols"][protocol]
        assert sorted(part["modality_drop"]) == sorted(DROPS)
        assert sorted(part["missing_rate"]) == ["all", "audio", "text", "vision"]
        for key, curve in part["missing_rate"].items():
            assert curve["values"]["acc2_non0"][0] == sweep["clean"]["acc2_non0"]
            # rate 1.0 is the removal of those modalities
            removed = "text+audio+vision" if key == "all" else key
            assert curve["values"]["mae"][-1] == part["modality_drop"][removed]["mae"]
    assert sorted(sweep["noise"]) == ["audio", "text", "vision"]
    for curve in [*sweep["noise"].values(), *(c for p in sweep["protocols"].values() for c in p["missing_rate"].values())]:
        assert set(curve["auilc"]) >= {"mae", "corr", "acc2_has0", "acc2_non0", "f1_has0", "f1_non0", "acc7"}
        assert len(curve["values"]["mae"]) == len(LEVELS)
        assert curve["auilc"]["acc2_non0"] == pytest.approx(auilc(LEVELS, curve["values"]["acc2_non0"]))


def test_dropping_a_modality_that_carries_signal_lowers_the_score(trained):
    """In the synthetic data text carries the largest share of the label, audio and vision the rest."""
    _, sweep = trained
    clean = sweep["clean"]["acc2_non0"]
    assert clean > 0.75
    for protocol in PROTOCOLS:
        dropped = {c: v["acc2_non0"] for c, v in sweep["protocols"][protocol]["modality_drop"].items()}
        assert dropped["text"] < clean - 0.05
        assert dropped["audio+vision"] < clean - 0.02
        assert dropped["text+audio+vision"] < 0.65  # near chance with nothing to read


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("key", ["all", "text", "audio", "vision"])
def test_missing_rate_curves_fall_within_noise(trained, protocol, key):
    _, sweep = trained
    values = sweep["protocols"][protocol]["missing_rate"][key]["values"]["acc2_non0"]
    assert all(later <= earlier + TOLERANCE for earlier, later in zip(values, values[1:])), values
    assert values[-1] < values[0]
    mae = sweep["protocols"][protocol]["missing_rate"][key]["values"]["mae"]
    assert mae[-1] > mae[0]


def test_sweep_is_deterministic(trained, synthetic_default):
    model, sweep = trained
    again = evaluate_robustness(model, synthetic_default["test"], synthetic_default["train"], seed=1111)
    assert json.dumps(again, sort_keys=True) == json.dumps(sweep, sort_keys=True)  # NaN-safe comparison


def test_quick_grid_points_equal_the_full_grid(trained, synthetic_default):
    model, sweep = trained
    quick = evaluate_robustness(model, synthetic_default["test"], synthetic_default["train"], seed=1111, levels=QUICK_LEVELS)
    assert quick["grid"] == "quick"
    at = [LEVELS.index(level) for level in QUICK_LEVELS]
    pairs = [(quick["noise"][k], sweep["noise"][k]) for k in quick["noise"]]
    for protocol in PROTOCOLS:
        assert _same(quick["protocols"][protocol]["modality_drop"], sweep["protocols"][protocol]["modality_drop"])
        pairs += [(c, sweep["protocols"][protocol]["missing_rate"][k]) for k, c in quick["protocols"][protocol]["missing_rate"].items()]
    for curve, full in pairs:
        assert curve["levels"] == list(QUICK_LEVELS)
        assert _same(curve["values"], {m: [v[i] for i in at] for m, v in full["values"].items()})


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN-safe


# --- every text-using model ---------------------------------------------------------------------


def _text_models() -> list[tuple[str, bool]]:
    cases = []
    for name in model_names():
        model_class = get_model_class(name)
        if getattr(model_class, "modality", "text") != "text":
            continue  # audio-only and vision-only read no text
        cases.append((name, False))
        if any(f.name == "text_encoder" for f in dataclasses.fields(model_class.config_class)):
            cases.append((name, True))
    return cases


@pytest.mark.parametrize("name,encoder", _text_models(), ids=lambda v: str(v))
def test_text_missing_at_rate_0_9_changes_every_text_models_predictions(name, encoder, synthetic_small, tiny_bert):
    """Token-level corruption reaches both text paths: feature rows and the tokenized transcript."""
    model_class = get_model_class(name)
    options = {**model_class.default_configs.get("synthetic", {}).get("model", {}), **({"text_encoder": tiny_bert} if encoder else {})}
    torch.manual_seed(0)
    model = model_class(build_config(model_class, options), DataSpec.from_dataset(synthetic_small)).eval()
    rows = [synthetic_small["test"][i] for i in range(16)]
    batch = collate(rows)
    corrupted = missing(("text",), 0.9, torch.Generator().manual_seed(0), "unannounced", unk_token(model))(batch)
    if encoder:  # only the transcript changes: the encoder path must read it
        corrupted = dataclasses.replace(corrupted, text=batch.text)
    with torch.no_grad():
        before, after = model(batch), model(corrupted)
    assert not torch.allclose(before.sentiment, after.sentiment)


# --- real text-only data, and the protocol -------------------------------------------------------


def test_encoder_path_model_on_mosi_transcripts_goes_through_the_full_sweep(shared_data, tmp_path, tiny_bert):
    """MOSI from ``label.csv``: transcripts only (no features), so audio/vision conditions are skipped."""
    from msa_bench import load_dataset

    source = shared_data / "mosi" / "label.csv"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    (tmp_path / "mosi").mkdir()
    shutil.copy(source, tmp_path / "mosi" / "label.csv")
    dataset = load_dataset("mosi", data_dir=tmp_path / "mosi", cache_dir=tmp_path / "cache")
    dataset = datasets.DatasetDict({name: split.select(range(min(len(split), 160))) for name, split in dataset.items()})
    model_class = get_model_class("self_mm")
    config = build_config(model_class, {**model_class.default_configs["test"]["model"], "text_encoder": tiny_bert})
    model = model_class(config, DataSpec.from_dataset(dataset))
    sweep = evaluate_robustness(model, dataset["test"], dataset["train"], seed=1)
    assert set(sweep["skipped"]) == {"modality audio", "modality vision"}
    assert sorted(sweep["noise"]) == ["text"]  # words drawn from the training transcripts
    for protocol in PROTOCOLS:
        assert sorted(sweep["protocols"][protocol]["missing_rate"]) == ["all", "text"]
        assert sorted(sweep["protocols"][protocol]["modality_drop"]) == ["text"]
    # the transcripts reach the fine-tuned encoder: losing the words changes its predictions
    curve = sweep["protocols"]["unannounced"]["missing_rate"]["text"]["values"]["mae"]
    assert curve[0] != curve[-1]
    assert sweep["protocols"]["announced"]["modality_drop"]["text"]["mae"] != sweep["clean"]["mae"]


def test_text_of_fixed_prompts_is_not_applicable_and_never_swept(synthetic_small):
    """RAVDESS's text is one of two statements: its robustness conditions would measure nothing."""
    prompts = ("kids are talking by the door", "dogs are sitting by the door")
    fixed = datasets.DatasetDict({
        name: split.map(lambda row, k: {"text": prompts[k % 2], "text_features": None}, with_indices=True)
        for name, split in synthetic_small.items()
    })
    reasons = not_applicable_modalities(fixed)
    assert list(reasons) == ["text"] and "2 fixed sentences" in reasons["text"]
    assert not_applicable_modalities(synthetic_small) == {}
    model_class = get_model_class("lf_dnn")
    model = model_class(build_config(model_class, model_class.default_configs["test"]["model"]), DataSpec.from_dataset(fixed))
    sweep = evaluate_robustness(model, fixed["test"], fixed["train"], seed=1, levels=QUICK_LEVELS, not_applicable=reasons)
    assert sweep["skipped"]["modality text"] == reasons["text"]
    assert "text" not in sweep["noise"]
    for protocol in PROTOCOLS:
        assert sorted(sweep["protocols"][protocol]["missing_rate"]) == ["all", "audio", "vision"]
        assert all("text" not in condition for condition in sweep["protocols"][protocol]["modality_drop"])


def test_sweep_resumes_from_its_progress_file(synthetic_small, tmp_path, monkeypatch):
    model_class = get_model_class("lf_dnn")
    model = model_class(build_config(model_class, model_class.default_configs["test"]["model"]), DataSpec.from_dataset(synthetic_small))
    progress = tmp_path / "progress"
    first = evaluate_robustness(model, synthetic_small["test"], synthetic_small["train"], seed=3, levels=QUICK_LEVELS, progress=progress)

    def no_more_predictions(*args, **kwargs):
        raise AssertionError("a resumed sweep evaluated a finished condition again")

    monkeypatch.setattr("msa_bench.worker.sweep.predictions_of", no_more_predictions)
    again = evaluate_robustness(model, synthetic_small["test"], synthetic_small["train"], seed=3, levels=QUICK_LEVELS, progress=progress)
    assert _same(first, again)


def test_lnln_track_trains_with_missing_frames_and_is_recorded_as_such(synthetic_small, tmp_path):
    [path] = run_protocol(
        "lf_dnn", "synthetic", [5], train_overrides={"max_epochs": 1}, records_dir=tmp_path, dataset=synthetic_small,
        progress=False, robustness=False, track="lnln",
    )
    record = load_record(path)
    assert record.model == "lf_dnn+lnln" and record.config["track"] == "lnln"
    assert record.config["train"]["missing_frame_rate"] == 1.0
