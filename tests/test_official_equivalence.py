"""Baselines against the official code (issue #15, part A): the official weights loaded through
each model's ``official_state_dict`` mapping must reproduce the official outputs.

Every size and setting is read from the fixture (``meta.json`` and tensor shapes); see
``tests/official_fixtures.py``. Also: the fidelity tables in the README and cards are the
generated text.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from official_fixtures import OfficialFixture, assert_outputs_close, fixture_batch, load_fixture

from msa_bench.models import DataSpec, MSAModel, build_config, get_model_class
from msa_bench.models.fidelity import FidelityRow, fidelity_markdown, render_documents


def test_fidelity_documents_are_generated_from_the_models():
    stale = [str(path) for path, text in render_documents().items() if not path.is_file() or path.read_text() != text]
    assert not stale, f"run `python -m msa_bench.models.fidelity` to regenerate: {stale}"


def test_fidelity_rows_need_a_known_status_and_a_reason_when_not_equal():
    with pytest.raises(ValueError, match="status"):
        FidelityRow("x", "a", "b", "close")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a reason"):
        FidelityRow("x", "a", "b", "deviation")
    table = fidelity_markdown([FidelityRow("mask", "causal", "a|b", "option", "ours is non-causal")])
    assert table.splitlines()[2] == "| mask | causal | a\\|b | option (ours is non-causal) |"


def build_official(name: str, fixture: OfficialFixture, model: dict, text_dim: int | None = None) -> MSAModel:
    """The msa_bench model ``name`` with ``model`` config values, the fixture's feature sizes,
    and the official weights loaded (strictly) through the module's ``official_state_dict``."""
    model_class = get_model_class(name)
    dims = fixture.config["feature_dims"]  # MMSA order: text, audio, vision
    spec = DataSpec(text_dim=text_dim if text_dim is not None else dims[0], audio_dim=dims[1], vision_dim=dims[2])
    built = model_class(build_config(model_class, model), spec)
    module = importlib.import_module(model_class.__module__)
    built.load_state_dict(module.official_state_dict(fixture.weights), strict=True)
    return built.eval()


def run_fixture(model: MSAModel, fixture: OfficialFixture):
    inputs = fixture.inputs
    with torch.no_grad():
        return model(fixture_batch(inputs["text"], inputs["audio"], inputs["vision"]))


def subnet_sizes(fixture: OfficialFixture) -> dict:
    """The sizes of an MMSA subnetwork model (TFN, LMF, LF-DNN) from its config and weights;
    ``hidden_dims`` and ``dropouts`` are (text, audio, vision) and (audio, vision, text, post) there."""
    config = fixture.config
    text_hidden, audio_hidden, vision_hidden = config["hidden_dims"]
    return {
        "text_hidden": text_hidden, "audio_hidden": audio_hidden, "vision_hidden": vision_hidden,
        "text_out": fixture.weights["text_subnet.linear_1.weight"].shape[0],
    }


def mmsa_features(model: MSAModel, fixture: OfficialFixture, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    inputs = fixture.inputs
    with torch.no_grad():
        features = model.features(fixture_batch(inputs["text"], inputs["audio"], inputs["vision"]))
    keys = {"Feature_t": "text", "Feature_a": "audio", "Feature_v": "vision", "Feature_f": "fusion"}
    return {name: features[keys[name]] for name in names}


def test_lmf_equals_mmsa():
    fixture = load_fixture("lmf")
    audio_dropout, vision_dropout = fixture.config["dropouts"][:2]
    sizes = subnet_sizes(fixture)
    model = build_official(
        "lmf", fixture,
        {**sizes, "rank": fixture.config["rank"], "audio_dropout": audio_dropout, "vision_dropout": vision_dropout},
    )
    actual = {"M": run_fixture(model, fixture).sentiment.unsqueeze(1), **mmsa_features(model, fixture, ("Feature_t", "Feature_a", "Feature_v"))}
    assert_outputs_close(actual, {name: fixture.outputs[name] for name in ("M", "Feature_t", "Feature_a", "Feature_v")})


@pytest.mark.parametrize("name", ["tfn", "lf_dnn"])
def test_mmsa_subnetwork_models_equal_mmsa(name):
    fixture = load_fixture(name)
    audio_dropout, _, _, post_fusion_dropout = fixture.config["dropouts"]
    model = build_official(
        name, fixture,
        {**subnet_sizes(fixture), "post_fusion_dim": fixture.config["post_fusion_dim"], "dropout": audio_dropout,
         "post_fusion_dropout": post_fusion_dropout},
    )
    actual = {"M": run_fixture(model, fixture).sentiment.unsqueeze(1),
              **mmsa_features(model, fixture, ("Feature_t", "Feature_a", "Feature_v", "Feature_f"))}
    assert_outputs_close(actual, fixture.outputs)


def test_ef_lstm_equals_mmsa():
    fixture = load_fixture("ef_lstm")
    config = fixture.config
    model = build_official(
        "ef_lstm", fixture,
        {"steps": config["seq_lens"], "hidden": config["hidden_dims"], "num_layers": config["num_layers"],
         "dropout": config["dropout"]},
    )
    assert_outputs_close({"M": run_fixture(model, fixture).sentiment.unsqueeze(1)}, fixture.outputs)
