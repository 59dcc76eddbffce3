"""Baselines against the official code (issue #15, part A): the official weights loaded through
each model's ``official_state_dict`` mapping must reproduce the official outputs.

Every size and setting is read from the fixture (``meta.json`` and tensor shapes); see
``tests/official_fixtures.py``. Also: the fidelity tables in the README and cards are the
generated text.
"""

from __future__ import annotations

import dataclasses
import importlib

import pytest
import torch
from official_fixtures import OfficialFixture, assert_outputs_close, fixture_batch, load_fixture

from msa_bench.inputs.batching import ModalityBatch
from msa_bench.models import DataSpec, MSAModel, build_config, get_model_class
from msa_bench.models.cards import fidelity_markdown, render_documents
from msa_bench.models.fidelity import FidelityRow


def test_fidelity_documents_are_generated_from_the_models():
    stale = [str(path) for path, text in render_documents().items() if not path.is_file() or path.read_text() != text]
    assert not stale, f"run `python -m msa_bench.models.cards` to regenerate: {stale}"


def test_fidelity_rows_are_of_the_three_kinds():
    """equal names its test, a deviation its reason (and optionally its effect), as described neither."""
    with pytest.raises(ValueError, match="status"):
        FidelityRow("x", "a", "b", "option")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="names the test"):
        FidelityRow("x", "a", "b", "equal")
    with pytest.raises(ValueError, match="names the test"):
        FidelityRow("x", "a", "b", "equal", test="the forward test")
    with pytest.raises(ValueError, match="needs a reason"):
        FidelityRow("x", "a", "b", "deviation")
    with pytest.raises(ValueError, match="only a deviation"):
        FidelityRow("x", "a", "b", "as described", reason="ours")
    table = fidelity_markdown([
        FidelityRow("mask", "causal", "a|b", "equal", test="tests/test_x.py::test_mask"),
        FidelityRow("pad", "none", "masked", "deviation", reason="padding", effect="none unpadded"),
        FidelityRow("head", "paper", "ours", "as described"),
    ])
    assert table.splitlines()[2:] == [
        "| mask | causal | a\\|b | equal | `tests/test_x.py::test_mask` |",
        "| pad | none | masked | deviation | padding Effect: none unpadded |",
        "| head | paper | ours | as described | no official code |",
    ]


def test_every_equal_row_names_an_existing_test():
    """The test an equal (or as described) row names exists, so a card cannot cite a test that is gone."""
    from msa_bench.models import model_names
    from msa_bench.models.cards import ROOT

    missing = []
    for name in model_names():
        for row in get_model_class(name).fidelity:
            if row.test:
                path = ROOT / row.test_file
                if not path.is_file() or f"def {row.test_name}(" not in path.read_text():
                    missing.append(f"{name}: {row.component} -> {row.test}")
    assert not missing, "fidelity rows name tests that do not exist:\n" + "\n".join(missing)


def build_official(name: str, fixture: OfficialFixture, model: dict, dims: list[int] | None = None) -> MSAModel:
    """The msa_bench model ``name`` with ``model`` config values, the feature sizes ``dims``
    (text, audio, vision; default the MMSA config's ``feature_dims``), and the official weights
    loaded (strictly) through the module's ``official_state_dict``."""
    model_class = get_model_class(name)
    text_dim, audio_dim, vision_dim = dims if dims is not None else fixture.config["feature_dims"]
    spec = DataSpec(text_dim=text_dim, audio_dim=audio_dim, vision_dim=vision_dim)
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
    actual = {"M": run_fixture(model, fixture).sentiment.unsqueeze(1),
              **mmsa_features(model, fixture, ("Feature_t", "Feature_a", "Feature_v", "Feature_f"))}
    assert_outputs_close(actual, fixture.outputs)


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


def mult_config(fixture: OfficialFixture) -> dict:
    """MulT's config from either official variant's fixture (yaohungt ``MULTModel`` or MMSA ``MULT``)."""
    config, weights = fixture.config, fixture.weights
    dim = weights["trans_l_with_a.layers.0.self_attn.out_proj.weight"].shape[0]
    levels = config["nlevels"]
    memory = sum(1 for name in weights if name.startswith("trans_l_mem.layers.") and name.endswith("fc1.weight"))
    yaohungt = "dst_feature_dim_nheads" not in config
    values = {
        "dim": dim, "heads": config["num_heads"] if yaohungt else config["dst_feature_dim_nheads"][1], "layers": levels,
        "memory_layers": memory, "attn_dropout": config["attn_dropout"], "attn_dropout_audio": config["attn_dropout_a"],
        "attn_dropout_vision": config["attn_dropout_v"], "relu_dropout": config["relu_dropout"],
        "res_dropout": config["res_dropout"], "embed_dropout": config["embed_dropout"],
        "out_dropout": config["out_dropout"] if yaohungt else config["output_dropout"], "causal": config["attn_mask"],
        "positions": yaohungt,
    }
    for short, name in (("l", "text"), ("a", "audio"), ("v", "vision")):
        values[f"kernel_{name}"] = weights[f"proj_{short}.weight"].shape[-1]
    if not yaohungt:
        values["text_dropout"] = config["text_dropout"]
    return values


@pytest.mark.parametrize("name", ["mult_yaohungt", "mult_mmsa"])
def test_mult_equals_each_official_variant(name):
    fixture = load_fixture(name)
    dims = fixture.config.get("feature_dims")
    model = build_official("mult", fixture, mult_config(fixture), dims=dims or [fixture.config[f"orig_d_{m}"] for m in "lav"])
    inputs = fixture.inputs
    with torch.no_grad():
        batch = fixture_batch(inputs["text"], inputs["audio"], inputs["vision"])
        output, features = model(batch), model.features(batch)
    if name == "mult_yaohungt":
        actual = {"output": output.sentiment.unsqueeze(1), "last_hs": features["fusion"]}
    else:
        actual = {"M": output.sentiment.unsqueeze(1), "Feature_t": features["text"], "Feature_a": features["audio"],
                  "Feature_v": features["vision"], "Feature_f": features["fusion"]}
    assert_outputs_close(actual, fixture.outputs)


def test_mult_causal_mask_changes_the_output_and_can_be_switched_off():
    fixture = load_fixture("mult_yaohungt")
    dims = [fixture.config[f"orig_d_{m}"] for m in "lav"]
    causal = build_official("mult", fixture, mult_config(fixture), dims=dims)
    open_ = build_official("mult", fixture, {**mult_config(fixture), "causal": False}, dims=dims)
    assert causal.config.causal and get_model_class("mult").config_class().causal  # the official default
    first, second = run_fixture(causal, fixture).sentiment, run_fixture(open_, fixture).sentiment
    assert (first - second).abs().max() > 1e-4


def test_mult_causal_offset_ignores_padding_of_one_modality():
    """The future mask's |Lk - Lq| uses real lengths, so padding audio alone changes nothing."""
    fixture = load_fixture("mult_yaohungt")
    model = build_official("mult", fixture, mult_config(fixture), dims=[fixture.config[f"orig_d_{m}"] for m in "lav"])
    inputs = fixture.inputs
    batch = fixture_batch(inputs["text"], inputs["audio"], inputs["vision"])
    audio = batch.audio
    padded_audio = ModalityBatch(
        torch.cat([audio.features, torch.full_like(audio.features[:, :3], 5.0)], dim=1),
        torch.cat([audio.mask, torch.zeros_like(audio.mask[:, :3])], dim=1),
        audio.present,
    )
    with torch.no_grad():
        padded = model(dataclasses.replace(batch, audio=padded_audio)).sentiment
    assert_outputs_close({"M": padded}, {"M": run_fixture(model, fixture).sentiment})


def test_differential_attention_equals_the_official_block():
    from baselines.diff_fusion import DifferentialCrossAttention, official_attention_state_dict

    fixture = load_fixture("diff_attn")
    config, x = fixture.config, fixture.inputs["x"]
    assert not fixture.inputs["rel_pos_sin"].any() and (fixture.inputs["rel_pos_cos"] == 1).all()  # rotary is identity
    assert not fixture.inputs["attn_mask_noncausal"].any()
    for depth in config["depths"]:
        prefix = f"depth{depth}."
        official = {name[len(prefix):]: value for name, value in fixture.weights.items() if name.startswith(prefix)}
        block = DifferentialCrossAttention(config["embed_dim"], config["num_heads"], layer=depth + 1)
        block.load_state_dict(official_attention_state_dict(official), strict=True)
        assert block.lambda_init == pytest.approx(config["derived"]["lambda_init"][f"depth{depth}"])
        with torch.no_grad():
            out = block.eval()(x, x, torch.ones(x.shape[:2], dtype=torch.bool))
        assert_outputs_close({f"out_depth{depth}_noncausal": out}, {f"out_depth{depth}_noncausal": fixture.outputs[f"out_depth{depth}_noncausal"]})


def test_differential_attention_equals_the_official_block_causally_and_across_streams():
    """The fixture's causal outputs (the official layer with its hard-coded causal mask, rotary
    off) give two more cases without new official runs, query i attending to keys 0..i:

    - cross-attention: the query stream is frame x_i alone and the key/value stream is frames
      x_0..x_i in reverse order, another tensor of another length (a block that computed queries
      from the key stream, or keys from the query stream, fails it);
    - padding: the keys are all six frames, those after i masked as padding.
    """
    from baselines.diff_fusion import DifferentialCrossAttention, official_attention_state_dict

    fixture = load_fixture("diff_attn")
    config, x = fixture.config, fixture.inputs["x"]
    length = x.shape[1]
    for depth in config["depths"]:
        prefix = f"depth{depth}."
        official = {name[len(prefix):]: value for name, value in fixture.weights.items() if name.startswith(prefix)}
        block = DifferentialCrossAttention(config["embed_dim"], config["num_heads"], layer=depth + 1)
        block.load_state_dict(official_attention_state_dict(official), strict=True)
        block.eval()
        with torch.no_grad():
            crossed = torch.cat([block(x[:, i : i + 1], x[:, : i + 1].flip(1), torch.ones(len(x), i + 1, dtype=torch.bool))
                                 for i in range(length)], dim=1)
            masked = torch.cat([block(x[:, i : i + 1], x, (torch.arange(length) <= i).expand(len(x), -1))
                                for i in range(length)], dim=1)
        expected = fixture.outputs[f"out_depth{depth}_causal"]
        assert_outputs_close({"cross": crossed, "masked": masked}, {"cross": expected, "masked": expected})


def test_ef_lstm_resampling_path_gives_the_official_outputs():
    """Unaligned input goes through the area resampling to ``steps``: audio with every frame
    three times, vision twice and text once, each followed by padded frames of noise, resample to
    the aligned official input exactly, so the official outputs come back."""
    fixture = load_fixture("ef_lstm")
    config = fixture.config
    model = build_official(
        "ef_lstm", fixture,
        {"steps": config["seq_lens"], "hidden": config["hidden_dims"], "num_layers": config["num_layers"],
         "dropout": config["dropout"]},
    )
    generator = torch.Generator().manual_seed(0)

    def stretched(features: torch.Tensor, repeat: int, padding: int) -> ModalityBatch:
        frames = torch.cat([features.repeat_interleave(repeat, dim=1),
                            torch.randn(len(features), padding, features.shape[2], generator=generator)], dim=1)
        mask = torch.arange(frames.shape[1]) < repeat * features.shape[1]
        return ModalityBatch(frames, mask.expand(len(features), -1), torch.ones(len(features), dtype=torch.bool))

    inputs = fixture.inputs
    batch = dataclasses.replace(
        fixture_batch(inputs["text"], inputs["audio"], inputs["vision"]),
        text=stretched(inputs["text"], 1, 2), audio=stretched(inputs["audio"], 3, 4), vision=stretched(inputs["vision"], 2, 1),
    )
    with torch.no_grad():
        output = model(batch)
    assert_outputs_close({"M": output.sentiment.unsqueeze(1)}, fixture.outputs)


def random_batch(size: int = 4, dims: tuple[int, int, int] = (6, 5, 7), seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return fixture_batch(*(torch.randn(size, length, dim, generator=generator) for length, dim in zip((5, 7, 9), dims)))


def test_diff_fusion_std_is_standard_attention_with_every_parameter_used():
    model_class = get_model_class("diff_fusion_std")
    config = build_config(model_class, model_class.default_configs["test"]["model"])
    model = model_class(config, DataSpec(text_dim=6, audio_dim=5, vision_dim=7))
    names = [name for name, _ in model.named_parameters()]
    assert not any("lambda" in name or "head_norm" in name for name in names)
    attention = model.layers[0].attention["audio"].attention
    assert attention.num_heads == 2 * config.n_heads and attention.head_dim == config.d_model // (2 * config.n_heads)
    model(random_batch()).sentiment.sum().backward()
    unused = [name for name, parameter in model.named_parameters() if parameter.grad is None or not parameter.grad.any()]
    assert not unused, f"parameters without a gradient: {unused}"


def test_differential_head_norm_runs_in_float32_under_bf16_autocast():
    model_class = get_model_class("diff_fusion")
    model = model_class(build_config(model_class, model_class.default_configs["test"]["model"]), DataSpec(6, 5, 7))
    seen = []
    for layer in model.layers:
        for attention in layer.attention.values():
            attention.head_norm.register_forward_pre_hook(lambda module, args: seen.append(args[0].dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(random_batch()).sentiment
    assert seen and set(seen) == {torch.float32}
    assert torch.isfinite(output.float()).all()


def tiny_bert_checkpoint(fixture: OfficialFixture, folder, training: bool = False) -> str:
    """A local BERT checkpoint of the fixture's tiny configuration (weights are loaded later
    from the fixture) whose tokenizer maps word ``w<i>`` to id ``i`` (ids 0-4: PAD UNK CLS SEP MASK);
    ``training``: with its dropouts off, as the training fixtures' shim."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tiny = fixture.meta["tiny_bert"]
    dropouts = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0} if training else {}
    config = BertConfig(**tiny["config"], hidden_act=tiny["hidden_act"], layer_norm_eps=tiny["layer_norm_eps"],
                        pad_token_id=tiny["pad_token_id"], type_vocab_size=tiny["type_vocab_size"], **dropouts)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(f"w{i}" for i in range(5, config.vocab_size))]
    BertTokenizerFast(vocab={word: index for index, word in enumerate(vocab)}).save_pretrained(folder)
    BertModel(config).save_pretrained(folder)
    return str(folder)


def words(ids: torch.Tensor, mask: torch.Tensor) -> str:
    """The transcript our tokenizer turns back into ``ids`` (without [CLS] and [SEP])."""
    return " ".join(f"w{int(i)}" for i in ids[mask.bool()][1:-1])


def test_misa_equals_mmsa_with_its_losses(tmp_path):
    from baselines.misa import MODALITIES as MISA_MODALITIES
    from msa_bench.data.targets import Targets

    pytest.importorskip("transformers")
    fixture = load_fixture("misa")
    config, inputs, weights = fixture.config, fixture.inputs, fixture.weights
    ids, attention = inputs["text"][:, 0].long(), inputs["text"][:, 1]
    assert (ids[attention.bool()] >= 2).all()  # only [CLS], [SEP] and word ids the test vocabulary spells
    model_config = {
        "text_encoder": tiny_bert_checkpoint(fixture, tmp_path), "hidden": config["hidden_size"],
        "dropout": config["dropout"], "transformer_ff": weights["transformer_encoder.layers.0.linear1.weight"].shape[0],
        "diff_weight": config["diff_weight"], "sim_weight": config["sim_weight"], "recon_weight": config["recon_weight"],
    }
    model = build_official("misa", fixture, model_config)
    # MMSA packs audio and vision with the TEXT lengths (a documented difference): give those masks.
    text_lengths = attention.sum(dim=1).long()
    def read_as_officially(features):
        mask = torch.arange(features.shape[1])[None, :] < text_lengths[:, None]
        return ModalityBatch(features, mask, torch.ones(len(features), dtype=torch.bool))
    batch = fixture_batch(torch.zeros(len(ids), 1, config["feature_dims"][0]), inputs["audio"], inputs["vision"],
                          raw_text=[words(i, m) for i, m in zip(ids, attention)])
    batch = dataclasses.replace(batch, audio=read_as_officially(inputs["audio"]), vision=read_as_officially(inputs["vision"]))
    assert model.text.tokenizer(batch.raw_text, padding=True, return_tensors="pt")["input_ids"].equal(ids)
    with torch.no_grad():
        output = model(batch)
    aux, short = output.aux, {"text": "t", "audio": "a", "vision": "v"}
    actual = {"M": output.sentiment.unsqueeze(1)}
    for m in MISA_MODALITIES:
        s = short[m]
        actual |= {f"utt_{s}_orig": aux["projected"][m], f"utt_private_{s}": aux["private"][m], f"utt_shared_{s}": aux["shared"][m]}
        actual[f"utt_{s}"] = aux["private"][m] + aux["shared"][m]
        with torch.no_grad():
            actual[f"utt_{s}_recon"] = model.reconstruct[m](actual[f"utt_{s}"])
    # The shared-or-private discriminator enters no loss, so msa_bench does not build it (fidelity
    # row): its official weights applied to our private and shared vectors give its official outputs.
    prefix = "sp_discriminator.sp_discriminator_layer_1."
    def discriminate(x):
        return x @ weights[f"{prefix}weight"].T + weights[f"{prefix}bias"]
    actual |= {f"shared_or_private_p_{short[m]}": discriminate(aux["private"][m]) for m in MISA_MODALITIES}
    actual["shared_or_private_s"] = discriminate(sum(aux["shared"][m] for m in ("text", "vision", "audio")) / 3.0)
    assert_outputs_close(actual, fixture.outputs)
    labels = fixture.losses["labels"][:, 0]
    size = len(labels)
    targets = Targets(ids=batch.ids, sentiment=labels, emotions=torch.full((size, 6), float("nan")),
                      emotion=torch.full((size,), -1), polarity=torch.full((size,), -1))
    with torch.no_grad():
        loss = model.compute_loss(output, targets)
    terms = output.aux["losses"]
    losses = {"loss": loss, "cls_loss": terms["task"], "diff_loss": terms["difference"], "cmd_loss": terms["similarity"],
              "similarity_loss": terms["similarity"], "recon_loss": terms["reconstruction"],
              # no adversarial domain loss in msa_bench (fidelity row): the official one is 0 with use_cmd_sim
              "domain_loss": torch.zeros(())}
    assert_outputs_close(losses, {name: value for name, value in fixture.losses.items() if name != "labels"})


def test_misa_feature_text_path_mean_pools_the_precomputed_features():
    model_class = get_model_class("misa")
    model = model_class(build_config(model_class, model_class.default_configs["test"]["model"]), DataSpec(6, 5, 7)).eval()
    assert not any("text" in name and "lstm" in name for name, _ in model.named_parameters())
    batch = random_batch()
    text = batch.text
    shuffled = dataclasses.replace(batch, text=ModalityBatch(text.features.flip(1), text.mask, text.present))
    with torch.no_grad():  # a mean ignores token order
        torch.testing.assert_close(model(shuffled).sentiment, model(batch).sentiment)
    recurrent = [p for name, p in model.named_parameters() if "weight_hh" in name]
    assert recurrent
    for weight in recurrent:  # orthogonal init of the (4H, H) recurrent weights: orthonormal columns
        gram = weight.T @ weight
        torch.testing.assert_close(gram, torch.eye(len(gram)), atol=1e-5, rtol=0)


def test_lmf_paper_numbers_are_has0_as_the_official_evaluation():
    """The official LMF evaluation thresholds y >= 0 over all samples: Has0, never Non0."""
    from msa_bench.scoring.metrics import METRICS

    reported = get_model_class("lmf").paper_results["mosi"]
    assert {"acc2_has0", "f1_has0"} <= set(reported) and not any("non0" in name for name in reported)
    assert all(name in METRICS for name in reported if name != "source")
