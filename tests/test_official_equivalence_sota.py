"""Forward equivalence with the official code (issue #15, part B): Self-MM, MMIM, ALMT, AdaFN-AG, MMML.

Each test builds the msa_bench model from the fixture's configuration (``meta.json`` and tensor
shapes), loads the official weights through the model module's ``official_state_dict``,
feeds the fixture's inputs through our :class:`~msa_bench.inputs.batching.Batch` in eval mode and
requires the official outputs (:func:`official_fixtures.assert_outputs_close`).

Text-encoder models: the fixtures replace ``bert-base-uncased`` by a tiny random BERT fed token
ids. Our models tokenize ``batch.raw_text``, so :func:`word_tokenizer_encoder` saves a tiny
encoder of the fixture's configuration with a word-level vocabulary whose word ``w<i>`` is token
``i``; the transcript ``"w19 w55 ..."`` then tokenizes to exactly the fixture's ids (its [CLS],
[SEP] and padding included), and the official weights replace the random ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from msa_bench.inputs.batching import Batch, ModalityBatch
from msa_bench.models import DataSpec, build_config
from official_fixtures import assert_outputs_close, load_fixture

#: Special tokens of the fixtures' tiny BERT inputs, at the ids the fixtures use.
BERT_SPECIALS = {0: "[PAD]", 1: "[UNK]", 2: "[CLS]", 3: "[SEP]", 4: "[MASK]"}


def save_word_tokenizer(folder: Path, vocab_size: int, specials: dict[int, str], cls: str, sep: str, pad: str,
                        unk: str) -> None:
    """A whitespace word-level tokenizer in ``folder``: ``w<i>`` (or ``specials[i]``) is id ``i``,
    each text becomes ``cls words sep``, batches are right-padded with ``pad``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {specials.get(i, f"w{i}"): i for i in range(vocab_size)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, cls_token=cls, sep_token=sep, pad_token=pad)
    fast.save_pretrained(folder)


def word_tokenizer_encoder(folder: Path, config: dict) -> Path:
    """``folder`` holding a random BERT of ``config`` (``transformers.BertConfig`` fields) and a
    tokenizer mapping the word ``w<i>`` to id ``i``; the official weights are loaded afterwards."""
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    save_word_tokenizer(folder, config["vocab_size"], BERT_SPECIALS, "[CLS]", "[SEP]", "[PAD]", "[UNK]")
    BertModel(BertConfig(**config)).save_pretrained(folder)
    return folder


def transcripts(input_ids: torch.Tensor, attention_mask: torch.Tensor, specials: dict[int, str] = BERT_SPECIALS,
                cls: int = 2, sep: int = 3) -> list[str]:
    """The transcript of each row of token ids: its words between the ``cls`` and ``sep`` ids."""
    rows = []
    for ids, mask in zip(input_ids.long().tolist(), attention_mask.bool().tolist()):
        real = [i for i, keep in zip(ids, mask) if keep]
        assert real[0] == cls and real[-1] == sep, f"expected ids {cls} ... {sep}, got {real}"
        rows.append(" ".join(specials.get(i, f"w{i}") for i in real[1:-1]))
    return rows


def modality(features: torch.Tensor, lengths: torch.Tensor | None = None) -> ModalityBatch:
    """(B, L, D) features, real up to ``lengths`` (all frames without them)."""
    steps = torch.arange(features.shape[1])
    mask = torch.ones(features.shape[:2], dtype=torch.bool) if lengths is None else steps < lengths.long()[:, None]
    return ModalityBatch(features=features.float(), mask=mask, present=mask.any(dim=1))


def text_placeholder(batch_size: int, dim: int) -> ModalityBatch:
    """The text modality of a batch whose model tokenizes ``raw_text``: present, no features."""
    return modality(torch.zeros(batch_size, 1, dim))


def make_batch(raw_text: list[str], text: ModalityBatch, audio: ModalityBatch, vision: ModalityBatch) -> Batch:
    return Batch(ids=[f"row{i}" for i in range(len(raw_text))], raw_text=raw_text, text=text, audio=audio, vision=vision)


def build_model(model_class: type, spec: DataSpec, **overrides):
    return model_class(build_config(model_class, overrides), spec)


def load_official(model: torch.nn.Module, mapped: dict[str, torch.Tensor]) -> None:
    """Load the mapped official weights, every one of them and into every parameter and buffer."""
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected, f"official weights without an msa_bench counterpart: {unexpected}"
    assert not missing, f"msa_bench parameters the official weights do not set: {missing}"


# --- Self-MM (MMSA SELF_MM) -------------------------------------------------------------------



def _self_mm_sizes(args: dict) -> dict:
    """Our config fields from MMSA's Self-MM arguments (AdaFN-AG's official code reuses them)."""
    return dict(
        audio_hidden=args["a_lstm_hidden_size"], vision_hidden=args["v_lstm_hidden_size"],
        audio_lstm_dropout=args["a_lstm_dropout"], vision_lstm_dropout=args["v_lstm_dropout"],
        fusion_dim=args["post_fusion_dim"], text_head_dim=args["post_text_dim"],
        audio_head_dim=args["post_audio_dim"], vision_head_dim=args["post_video_dim"],
        fusion_dropout=args["post_fusion_dropout"], text_dropout=args["post_text_dropout"],
        audio_dropout=args["post_audio_dropout"], vision_dropout=args["post_video_dropout"],
    )

def test_self_mm_reproduces_the_official_outputs(tmp_path):
    from baselines.self_mm import SelfMM, official_state_dict

    fixture = load_fixture("self_mm")
    c, x = fixture.config, fixture.inputs
    text_dim, audio_dim, vision_dim = c["feature_dims"]
    encoder = word_tokenizer_encoder(tmp_path / "bert", fixture.meta["tiny_bert"]["config"])
    model = build_model(
        SelfMM,
        DataSpec(text_dim=text_dim, audio_dim=audio_dim, vision_dim=vision_dim),
        text_encoder=str(encoder),
        audio_out=c["audio_out"], vision_out=c["video_out"],
        **_self_mm_sizes(c),
    )
    load_official(model, official_state_dict(fixture.weights))
    text = x["text"]
    batch = make_batch(
        transcripts(text[:, 0], text[:, 1]),
        text_placeholder(len(text), text_dim),
        modality(x["audio"], x["audio_lengths"]),
        modality(x["vision"], x["vision_lengths"]),
    )
    with torch.no_grad():
        out = model.eval()(batch)
    features = out.aux["features"]
    actual = {"M": out.sentiment[:, None], **{k[0].upper(): v[:, None] for k, v in out.aux["unimodal"].items()}}
    actual |= {f"Feature_{m[0]}": features[m] for m in ("text", "audio", "vision")} | {"Feature_f": features["fusion"]}
    assert_outputs_close(actual, fixture.outputs)


def test_self_mm_optimizer_groups_follow_the_official_trainer():
    from baselines.self_mm import SelfMM

    model = build_model(SelfMM, DataSpec(text_dim=4, audio_dim=3, vision_dim=2), audio_lr=1e-2, vision_lr=1e-4,
                        audio_weight_decay=0.0, vision_weight_decay=0.5)
    groups = model.parameter_groups(1e-3, 0.01)
    of = {id(p): g for g in groups for p in g["params"]}
    for module, lr, decay in ((model.audio, 1e-2, 0.0), (model.audio_out, 1e-2, 0.0), (model.vision_out, 1e-4, 0.5),
                              (model.fusion_head, 1e-3, 0.01)):
        assert {(of[id(p)]["lr"], of[id(p)]["weight_decay"]) for p in module.parameters()} == {(lr, decay)}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


# --- AdaFN-AG (Myid9606/AdaFN-AG AFN_AG_MSA) ---------------------------------------------------


def _adafn_model(fixture, tmp_path):
    from baselines.adafn_ag import AdaFNAG, official_state_dict

    a = fixture.config["effective_args"]
    text_dim, audio_dim, vision_dim = a["feature_dims"]
    encoder = word_tokenizer_encoder(tmp_path / "bert", _tiny_bert(fixture))
    model = build_model(
        AdaFNAG,
        DataSpec(text_dim=text_dim, audio_dim=audio_dim, vision_dim=vision_dim),
        text_encoder=str(encoder),
        d_model=fixture.weights["Model.text_linear.weight"].shape[0],
        **_self_mm_sizes(a),
    )
    load_official(model, official_state_dict(fixture.weights))
    return model.eval()


def _tiny_bert(fixture) -> dict:
    """The tiny BERT's config, read from the shim line of meta.json and the weight shapes."""
    w = fixture.weights
    prefix = next(k for k in w if k.endswith("embeddings.word_embeddings.weight")).removesuffix("embeddings.word_embeddings.weight")
    layers = {int(k[len(prefix):].split(".")[2]) for k in w if k.startswith(prefix + "encoder.layer.")}
    vocab, hidden = w[prefix + "embeddings.word_embeddings.weight"].shape
    heads = fixture.meta.get("tiny_bert", {}).get("config", {}).get("num_attention_heads")
    if heads is None:
        shims = " ".join(fixture.meta["shims"])
        heads = int(shims.split("num_attention_heads=")[1].split(",")[0])
    return {
        "vocab_size": vocab, "hidden_size": hidden, "num_hidden_layers": len(layers), "num_attention_heads": heads,
        "intermediate_size": w[prefix + "encoder.layer.0.intermediate.dense.weight"].shape[0],
        "max_position_embeddings": w[prefix + "embeddings.position_embeddings.weight"].shape[0],
    }


def _adafn_batch(fixture, variant: str) -> tuple[Batch, torch.Tensor]:
    """Variant ``A``/``B`` of the fixture as a batch, and which rows no padding reaches."""
    x = fixture.inputs
    text, audio, vision = x["text"], x[f"{variant}_audio"], x[f"{variant}_video"]
    audio_lengths, vision_lengths = x[f"{variant}_audio_lengths"], x[f"{variant}_video_lengths"]
    text_lengths = text[:, 1].sum(dim=1)
    unpadded = (text_lengths == text.shape[2]) & (audio_lengths == audio.shape[1]) & (vision_lengths == vision.shape[1])
    batch = make_batch(
        transcripts(text[:, 0], text[:, 1]),
        text_placeholder(len(text), fixture.config["effective_args"]["feature_dims"][0]),
        modality(audio, audio_lengths),
        modality(vision, vision_lengths),
    )
    return batch, unpadded


def _adafn_outputs(model, batch: Batch) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model(batch)
    features = out.aux["features"]
    actual = {"M": out.sentiment[:, None], **{k[0].upper(): v[:, None] for k, v in out.aux["unimodal"].items()}}
    return actual | {f"Feature_{m[0]}": features[m] for m in ("text", "audio", "vision")} | {"Feature_f": features["fusion"]}


def test_adafn_ag_reproduces_the_official_outputs_on_unpadded_rows(tmp_path):
    """The official model attends over and averages padded frames, ours masks them (a documented
    deviation): rows that padding does not reach must equal the official outputs."""
    fixture = load_fixture("adafn_ag")
    model = _adafn_model(fixture, tmp_path)
    batch, unpadded = _adafn_batch(fixture, "A")
    assert unpadded.any(), "the fixture's variant A has no row free of padding to compare"
    actual = _adafn_outputs(model, batch)
    expected = {k.removeprefix("A_"): v for k, v in fixture.outputs.items() if k.startswith("A_")}
    assert_outputs_close({k: v[unpadded] for k, v in actual.items()}, {k: v[unpadded] for k, v in expected.items()})


def test_adafn_ag_padded_rows_do_not_depend_on_padding(tmp_path):
    """The documented difference: a padded row's outputs are those of the row alone, unpadded."""
    fixture = load_fixture("adafn_ag")
    model = _adafn_model(fixture, tmp_path)
    batch, _ = _adafn_batch(fixture, "B")
    together = _adafn_outputs(model, batch)
    for row in range(len(batch)):
        def alone(m: ModalityBatch) -> ModalityBatch:
            length = int(m.mask[row].sum())
            return modality(m.features[row : row + 1, :length])
        single = make_batch([batch.raw_text[row]], text_placeholder(1, 1), alone(batch.audio), alone(batch.vision))
        assert_outputs_close({k: v[row : row + 1] for k, v in together.items()}, _adafn_outputs(model, single))


def test_adafn_mixes_variances_like_the_official_train_mode_call():
    from baselines.adafn_ag import adaptive_feature_normalization, style_statistics

    fixture = load_fixture("adafn_ag")
    x, out = fixture.inputs, fixture.outputs
    others = {"video": x["A_audio"], "audio": x["A_video"]}
    for name, other in others.items():
        full = torch.ones(other.shape[:2], dtype=torch.bool)
        mean, variance = style_statistics(other, full)
        channels = out[f"adafn_{name}_aug_mean"].shape[1]
        assert_outputs_close({"mean": mean.expand(-1, channels, -1), "var": variance.expand(-1, channels, -1)},
                             {"mean": out[f"adafn_{name}_aug_mean"], "var": out[f"adafn_{name}_aug_var"]})
        source = out[f"adafn_{name}_x"]
        restyled = adaptive_feature_normalization(
            source, torch.ones(source.shape[:2], dtype=torch.bool), other, full, out[f"adafn_{name}_alpha"].view(-1)
        )
        assert_outputs_close({"train_out": restyled}, {"train_out": out[f"adafn_{name}_train_out"]})


# --- ALMT (Haoyu-ha/ALMT) --------------------------------------------------------------------


def test_almt_reproduces_the_official_outputs(tmp_path):
    from baselines.almt import ALMT, official_state_dict

    fixture = load_fixture("almt")
    c, x, w = fixture.config["effective_model_config"], fixture.inputs, fixture.weights
    assert c["proj_heads"] == c["l_enc_heads"] == c["fusion_heads"], "msa_bench ALMT has one head count for these"
    assert c["proj_mlp_dim"] == c["l_enc_mlp_dim"] == c["fusion_mlp_dim"], "msa_bench ALMT has one MLP width for these"
    encoder = word_tokenizer_encoder(tmp_path / "bert", _tiny_bert(fixture))
    model = build_model(
        ALMT,
        DataSpec(text_dim=c["l_input_dim"], audio_dim=c["a_input_dim"], vision_dim=c["v_input_dim"]),
        text_encoder=str(encoder), dim=c["token_dim"], heads=c["proj_heads"],
        dim_head=w["proj_l.1.encoder.layers.0.0.fn.to_q.weight"].shape[0] // c["proj_heads"],
        mlp_dim=c["proj_mlp_dim"], ahl_depth=c["AHL_depth"], ahl_heads=c["ahl_heads"], ahl_dim_head=c["ahl_dim_head"],
        fusion_depth=c["fusion_layer_depth"], text_frames=c["l_input_length"], audio_frames=c["a_input_length"],
        vision_frames=c["v_input_length"],
    )
    load_official(model, official_state_dict(w))
    text = x["x_text"]
    batch = make_batch(transcripts(text[:, 0], text[:, 1]), text_placeholder(len(text), c["l_input_dim"]),
                       modality(x["x_audio"]), modality(x["x_visual"]))
    taps = {}
    for name, official in (("text", "l"), ("audio", "a"), ("vision", "v")):
        model.unimodal[name].register_forward_hook(lambda _m, _i, out, key=f"tap_h_{official}": taps.__setitem__(key, out))
    with torch.no_grad():
        out = model.eval()(batch)
    expected = {k: v for k, v in fixture.outputs.items() if k in ("output", "tap_h_l", "tap_h_a", "tap_h_v")}
    assert_outputs_close({"output": out.sentiment[:, None], **taps}, expected)


# --- MMIM (declare-lab/Multimodal-Infomax) ----------------------------------------------------


def _mmim(tmp_path):
    from baselines.mmim import MMIM, official_state_dict

    fixture = load_fixture("mmim")
    c, w = fixture.config["model_relevant"], fixture.weights
    encoder = word_tokenizer_encoder(tmp_path / "bert", _tiny_bert_from_shim(fixture))
    model = build_model(
        MMIM,
        DataSpec(text_dim=c["d_tin"], audio_dim=c["d_ain"], vision_dim=c["d_vin"]),
        text_encoder=str(encoder), audio_hidden=c["d_ah"], vision_hidden=c["d_vh"], audio_out=c["d_aout"],
        vision_out=c["d_vout"], fusion_dim=c["d_prjh"],
    )
    assert c["n_layer"] == 1 and not c["bidirectional"] and c["cpc_layers"] == 1 and not c["add_va"]
    load_official(model, official_state_dict(w))
    return fixture, model.eval()


def _tiny_bert_from_shim(fixture) -> dict:
    config = _tiny_bert(fixture)
    shim = next(s for s in fixture.meta["shims"] if "BertConfig(" in s)
    config["num_attention_heads"] = int(shim.split("num_attention_heads=")[1].split(",")[0])
    return config


def _mmim_batch(x: dict, prefix: str = "") -> Batch:
    ids, mask = x[f"{prefix}bert_sent"], x[f"{prefix}bert_sent_mask"]
    return make_batch(
        transcripts(ids, mask),
        text_placeholder(len(ids), 1),
        modality(x[f"{prefix}acoustic"].transpose(0, 1), x[f"{prefix}a_len"]),  # the fixture is time-major
        modality(x[f"{prefix}visual"].transpose(0, 1), x[f"{prefix}v_len"]),
    )


def _mmim_terms(model, batch: Batch, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Predictions, lld, nce and (with labels) H and the entropy samples, from our modules."""
    from baselines.mmim import cpc

    with torch.no_grad():
        out = model(batch)
        v, fused = out.aux["vectors"], out.aux["fused"]
        terms = {"preds": out.sentiment[:, None],
                 "lld": sum(model.mi[m].log_likelihood(v["text"], v[m]) for m in ("vision", "audio")),
                 "nce": sum(cpc(v[m], fused, model.cpc[m]) for m in ("text", "vision", "audio")),
                 "tap_text": v["text"], "tap_acoustic": v["audio"], "tap_visual": v["vision"], "tap_fusion": fused}
        if labels is not None:
            terms["H"] = sum(model.entropy_term(m, model.mi[m], v[m], labels) for m in ("vision", "audio"))
            for pair, m in (("tv", "vision"), ("ta", "audio")):
                terms[f"pn_{pair}_pos"], terms[f"pn_{pair}_neg"] = model.memory[m]
    return terms


def test_mmim_reproduces_the_official_outputs_without_labels(tmp_path):
    fixture, model = _mmim(tmp_path)
    expected = {k.removeprefix("A_"): v for k, v in fixture.outputs.items() if k.startswith(("A_", "tap_"))}
    expected.pop("H")  # no labels: the official H is the constant 0.0
    assert_outputs_close(_mmim_terms(model, _mmim_batch(fixture.inputs), None), expected)


@pytest.mark.parametrize("variant", ["B", "C"])
def test_mmim_reproduces_the_official_entropy_with_empty_and_filled_memory(tmp_path, variant):
    fixture, model = _mmim(tmp_path)
    x, outputs = fixture.inputs, fixture.outputs
    model.memory.clear()
    if variant == "C":  # the memory is the membatch's positive/negative samples
        _mmim_terms(model, _mmim_batch(x, "membatch_"), x["membatch_y"].view(-1))
        for pair, m in (("tv", "vision"), ("ta", "audio")):
            torch.testing.assert_close(model.memory[m], (outputs[f"C_mem_{pair}_pos"], outputs[f"C_mem_{pair}_neg"]),
                                       rtol=1e-4, atol=1e-5)
    actual = _mmim_terms(model, _mmim_batch(x), x["y"].view(-1))
    expected = {k.removeprefix(f"{variant}_"): v for k, v in outputs.items()
                if k.startswith(f"{variant}_") and not k.startswith("C_mem_")}
    assert_outputs_close(actual, expected)


# --- MMML (zehuiwu/MMML, no-context en_model.py) -----------------------------------------------

#: Special tokens of the fixtures' tiny RoBERTa inputs (RoBERTa's ids: <s> 0, <pad> 1, </s> 2).
ROBERTA_SPECIALS = {0: "<s>", 1: "<pad>", 2: "</s>", 3: "<unk>"}

#: Samples per stored audio "frame" when the fixture's waveform becomes our raw-audio features.
SAMPLES_PER_FRAME = 160


def _mmml_encoders(fixture, folder: Path) -> tuple[str, str]:
    """Tiny RoBERTa (with a word-level tokenizer) and Data2VecAudio folders of the fixture's configs."""
    from transformers import Data2VecAudioConfig, Data2VecAudioModel, RobertaConfig, RobertaModel

    c = fixture.config
    roberta = {k: v for k, v in c["tiny_RoBERTa"].items() if k != "others"}
    text = folder / "roberta"
    text.mkdir(parents=True)
    save_word_tokenizer(text, roberta["vocab_size"], ROBERTA_SPECIALS, "<s>", "</s>", "<pad>", "<unk>")
    RobertaModel(RobertaConfig(**roberta)).save_pretrained(text)
    audio = folder / "data2vec"
    data2vec = {k: v for k, v in c["tiny_Data2VecAudio"].items() if k != "others"}
    Data2VecAudioModel(Data2VecAudioConfig(**data2vec)).save_pretrained(audio)
    return str(text), str(audio)


def _mmml_model(fixture, tmp_path, variant: str, prefix: str):
    from baselines.mmml import MMML, official_state_dict

    c = fixture.config
    cme = c["cross_attn_encoder.BertConfig used by CME"]
    official = {k.removeprefix(prefix): v for k, v in fixture.weights.items() if k.startswith(prefix)}
    fused = sorted((k for k in official if k.startswith("fused_output_layers.") and k.endswith(".weight")),
                   key=lambda k: int(k.split(".")[1]))
    overrides = {}
    if variant == "cme_v3":
        layer = official["text_encoder.layers.0.self_attn.in_proj_weight"]
        overrides = {"fusion_layers": len({k.split(".")[2] for k in official if k.startswith("text_encoder.layers.")}),
                     "fusion_ff_dim": official["text_encoder.layers.0.linear1.weight"].shape[0],
                     "fusion_heads": cme["num_attention_heads"]}
        assert layer.shape[1] == 2 * cme["hidden_size"]
    text_encoder, audio_encoder = _mmml_encoders(fixture, tmp_path / variant)
    model = build_model(
        MMML,
        DataSpec(text_dim=1, audio_dim=SAMPLES_PER_FRAME, vision_dim=1),
        text_encoder=text_encoder, audio_encoder=audio_encoder, variant=variant,
        dim=cme["hidden_size"], heads=cme["num_attention_heads"], layers=cme["num_hidden_layers"],
        ff_dim=cme["intermediate_size"], head_hidden=official[fused[-1]].shape[1], **overrides,
    )
    load_official(model, official_state_dict(official, variant))
    return model.eval()


def _mmml_batch(x: dict) -> Batch:
    ids, mask = x["text_inputs"], x["text_mask"]
    waveform, samples = x["audio_inputs"], x["audio_mask"].sum(dim=1)
    assert (samples % SAMPLES_PER_FRAME == 0).all(), "the waveform lengths must fill whole stored frames"
    frames = waveform.unflatten(1, (-1, SAMPLES_PER_FRAME))
    return make_batch(transcripts(ids, mask, ROBERTA_SPECIALS, cls=0, sep=2), text_placeholder(len(ids), 1),
                      modality(frames, samples // SAMPLES_PER_FRAME), modality(torch.zeros(len(ids), 1, 1)))


@pytest.mark.parametrize(
    ("folder", "variant", "prefix"),
    [("mmml", "cc", "cc."), ("mmml", "cme_v1", "cme_v1v2."), ("mmml", "cme_v2", "cme_v1v2."),
     ("mmml_cme_v3", "cme_v3", "cme_v3.")],
)
def test_mmml_reproduces_the_official_outputs(tmp_path, folder, variant, prefix):
    fixture = load_fixture(folder)
    model = _mmml_model(fixture, tmp_path, variant, prefix)
    with torch.no_grad():
        out = model(_mmml_batch(fixture.inputs))
    actual = {"M": out.sentiment[:, None], "T": out.aux["unimodal"]["text"][:, None],
              "A": out.aux["unimodal"]["audio"][:, None]}
    expected = {k.removeprefix(f"{variant}_"): v for k, v in fixture.outputs.items() if k.startswith(f"{variant}_")}
    assert_outputs_close(actual, expected)


def test_mmml_freezes_the_audio_feature_encoder_as_the_official_trainer(tmp_path):
    fixture = load_fixture("mmml_cme_v3")
    model = _mmml_model(fixture, tmp_path, "cme_v3", "cme_v3.")
    audio = model.raw_audio.model
    assert not any(p.requires_grad for p in audio.feature_extractor.parameters())
    assert all(p.requires_grad for p in audio.encoder.parameters())


def test_self_mm_has_no_weight_decay_on_bert_bias_and_layer_norm(tmp_path):
    from baselines.self_mm import SelfMM

    encoder = word_tokenizer_encoder(tmp_path / "bert", {"vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 1,
                                                         "num_attention_heads": 2, "intermediate_size": 8})
    model = build_model(SelfMM, DataSpec(text_dim=4, audio_dim=3, vision_dim=2), text_encoder=str(encoder),
                        encoder_lr=1e-5, encoder_weight_decay=0.3)
    of = {id(p): g for g in model.parameter_groups(1e-3, 0.01) for p in g["params"]}
    for name, p in model.text.pretrained.named_parameters():
        expected = 0.0 if ("bias" in name or "LayerNorm" in name) else 0.3
        assert (of[id(p)]["lr"], of[id(p)]["weight_decay"]) == (1e-5, expected), name
