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



def self_mm_sizes(args: dict) -> dict:
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
        **self_mm_sizes(c),
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


def adafn_model(fixture, tmp_path, **overrides):
    from baselines.adafn_ag import AdaFNAG, official_state_dict

    a = fixture.config["effective_args"]
    text_dim, audio_dim, vision_dim = a["feature_dims"]
    encoder = word_tokenizer_encoder(tmp_path / "bert", tiny_bert_config(fixture))
    model = build_model(
        AdaFNAG,
        DataSpec(text_dim=text_dim, audio_dim=audio_dim, vision_dim=vision_dim),
        text_encoder=str(encoder),
        d_model=fixture.weights["Model.text_linear.weight"].shape[0],
        **self_mm_sizes(a), **overrides,
    )
    load_official(model, official_state_dict(fixture.weights))
    return model.eval()


def tiny_bert_config(fixture) -> dict:
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


def adafn_batch(fixture, variant: str) -> tuple[Batch, torch.Tensor]:
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


def adafn_outputs(model, batch: Batch) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model(batch)
    features = out.aux["features"]
    actual = {"M": out.sentiment[:, None], **{k[0].upper(): v[:, None] for k, v in out.aux["unimodal"].items()}}
    return actual | {f"Feature_{m[0]}": features[m] for m in ("text", "audio", "vision")} | {"Feature_f": features["fusion"]}


def test_adafn_ag_reproduces_the_official_outputs_on_unpadded_rows(tmp_path):
    """The official model attends over and averages padded frames, ours masks them (a documented
    deviation): rows that padding does not reach must equal the official outputs."""
    fixture = load_fixture("adafn_ag")
    model = adafn_model(fixture, tmp_path)
    batch, unpadded = adafn_batch(fixture, "A")
    assert unpadded.any(), "the fixture's variant A has no row free of padding to compare"
    actual = adafn_outputs(model, batch)
    expected = {k.removeprefix("A_"): v for k, v in fixture.outputs.items() if k.startswith("A_")}
    assert_outputs_close({k: v[unpadded] for k, v in actual.items()}, {k: v[unpadded] for k, v in expected.items()})


@pytest.mark.parametrize("variant", ["A", "B"])
def test_adafn_ag_with_official_padding_reproduces_every_row(tmp_path, variant):
    """``official_padding=True`` treats padding as the official code does: every row of both
    variants (B's padded length is longer than its longest sequence) equals the official outputs."""
    fixture = load_fixture("adafn_ag")
    model = adafn_model(fixture, tmp_path, official_padding=True)
    actual = adafn_outputs(model, adafn_batch(fixture, variant)[0])
    expected = {k.removeprefix(f"{variant}_"): v for k, v in fixture.outputs.items() if k.startswith(f"{variant}_")}
    assert_outputs_close(actual, expected)


def test_adafn_ag_padded_rows_do_not_depend_on_padding(tmp_path):
    """The documented difference: a padded row's outputs are those of the row alone, unpadded."""
    fixture = load_fixture("adafn_ag")
    model = adafn_model(fixture, tmp_path)
    batch, _ = adafn_batch(fixture, "B")
    together = adafn_outputs(model, batch)
    for row in range(len(batch)):
        def alone(m: ModalityBatch) -> ModalityBatch:
            length = int(m.mask[row].sum())
            return modality(m.features[row : row + 1, :length])
        single = make_batch([batch.raw_text[row]], text_placeholder(1, 1), alone(batch.audio), alone(batch.vision))
        assert_outputs_close({k: v[row : row + 1] for k, v in together.items()}, adafn_outputs(model, single))


def test_adafn_restyles_like_the_official_train_mode_call(tmp_path):
    """The model's own AdaFN step (``normalize`` in train mode, with the fixture's uniform draws)
    gives the official module's train-mode outputs for both directions and is the identity in eval
    mode; its inputs, the other modality's statistics and alpha = u / 5 are the official ones."""
    from baselines.adafn_ag import style_statistics

    fixture = load_fixture("adafn_ag")
    x, out = fixture.inputs, fixture.outputs
    model = adafn_model(fixture, tmp_path, official_padding=True)  # the standalone call's statistics include padding
    batch, _ = adafn_batch(fixture, "A")
    draws = torch.stack([x["adafn_u_audio"].view(-1), x["adafn_u_video"].view(-1)])
    model.alpha_draws = lambda size, device: draws
    full = {m: torch.ones(x[f"A_{m}"].shape[:2], dtype=torch.bool) for m in ("audio", "video")}
    with torch.no_grad():
        restyled = model.train().normalize(batch, {"audio": full["audio"], "vision": full["video"]})
        unchanged = model.eval().normalize(batch, {"audio": full["audio"], "vision": full["video"]})
    actual, expected = {}, {}
    for name, ours, other in (("audio", "audio", "video"), ("video", "vision", "audio")):
        mean, variance = style_statistics(x[f"A_{other}"], full[other])
        channels = out[f"adafn_{name}_aug_mean"].shape[1]
        actual |= {f"adafn_{name}_aug_mean": mean.expand(-1, channels, -1), f"adafn_{name}_aug_var": variance.expand(-1, channels, -1),
                   f"adafn_{name}_x": batch.modality(ours).features, f"adafn_{name}_train_out": restyled[ours],
                   f"adafn_{name}_eval_out": unchanged[ours],
                   f"adafn_{name}_alpha": (x[f"adafn_u_{name}"] * model.config.alpha_scale)}
        expected |= {k: v for k, v in out.items() if k.startswith(f"adafn_{name}_")}
    assert_outputs_close(actual, expected)


# --- ALMT (Haoyu-ha/ALMT) --------------------------------------------------------------------


def almt_model(tmp_path):
    from baselines.almt import ALMT, official_state_dict

    fixture = load_fixture("almt")
    c, w = fixture.config["effective_model_config"], fixture.weights
    assert c["proj_heads"] == c["l_enc_heads"] == c["fusion_heads"], "msa_bench ALMT has one head count for these"
    assert c["proj_mlp_dim"] == c["l_enc_mlp_dim"] == c["fusion_mlp_dim"], "msa_bench ALMT has one MLP width for these"
    encoder = word_tokenizer_encoder(tmp_path / "bert", tiny_bert_config(fixture))
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
    return fixture, model.eval()


def almt_taps(model) -> dict[str, torch.Tensor]:
    """Hooks recording our ALMT's intermediates under the fixture's tap names (filled by a forward)."""
    taps = {}

    def keep(name, transform=lambda value: value):
        return lambda _module, _inputs, output: taps.__setitem__(name, transform(output))

    model.text.pretrained.register_forward_hook(keep("tap_bert_last_hidden", lambda out: out.last_hidden_state))
    for name, official in (("text", "l"), ("audio", "a"), ("vision", "v")):
        model.unimodal[name].register_forward_hook(keep(f"tap_h_{official}"))
    model.language[0].register_forward_pre_hook(lambda _module, inputs: taps.__setitem__("tap_h_t_list_0", inputs[0]))
    for index, layer in enumerate(model.language, start=1):
        layer.register_forward_hook(keep(f"tap_h_t_list_{index}"))
    model.ahl[-1].register_forward_hook(keep("tap_h_hyper_final"))
    model.fusion[-1].register_forward_hook(keep("tap_fusion_out"))
    return taps


def test_almt_reproduces_the_official_outputs_and_intermediates(tmp_path):
    fixture, model = almt_model(tmp_path)
    x, c = fixture.inputs, fixture.config["effective_model_config"]
    text = x["x_text"]
    batch = make_batch(transcripts(text[:, 0], text[:, 1]), text_placeholder(len(text), c["l_input_dim"]),
                       modality(x["x_audio"]), modality(x["x_visual"]))
    taps = almt_taps(model)
    with torch.no_grad():
        out = model(batch)
    assert_outputs_close({"output": out.sentiment[:, None], **taps}, fixture.outputs)


def test_almt_padded_inputs_give_the_official_outputs_of_the_unpadded_ones(tmp_path):
    """The official code has no masks, so it is compared on unpadded inputs; ours masks padding
    (a declared deviation): the same examples padded (three frames of noise after each audio and
    vision sequence, and a fifth, longer transcript in the batch so the others' tokens are padded)
    give the official outputs of the unpadded ones."""
    fixture, model = almt_model(tmp_path)
    x, c = fixture.inputs, fixture.config["effective_model_config"]
    text = x["x_text"]
    generator = torch.Generator().manual_seed(0)

    def padded(features: torch.Tensor) -> ModalityBatch:
        batch_size, length, dim = features.shape
        frames = torch.cat([features, torch.randn(batch_size, 3, dim, generator=generator)], dim=1)
        frames = torch.cat([frames, torch.randn(1, length + 3, dim, generator=generator)])
        mask = (torch.arange(length + 3) < length).expand(batch_size + 1, -1).clone()
        mask[-1] = True
        return ModalityBatch(frames, mask, torch.ones(batch_size + 1, dtype=torch.bool))

    longer = " ".join(f"w{5 + i}" for i in range(text.shape[2] + 2))
    batch = make_batch(transcripts(text[:, 0], text[:, 1]) + [longer], text_placeholder(len(text) + 1, c["l_input_dim"]),
                       padded(x["x_audio"]), padded(x["x_visual"]))
    taps = almt_taps(model)
    with torch.no_grad():
        out = model(batch)
    assert model.text.tokenizer(batch.raw_text, padding=True)["attention_mask"][0][-1] == 0  # the fixture rows are padded
    rows = slice(0, len(text))
    actual = {"output": out.sentiment[rows, None], **{k: v[rows] for k, v in taps.items()}}
    actual["tap_bert_last_hidden"] = actual["tap_bert_last_hidden"][:, : text.shape[2]]  # the real tokens' states
    assert_outputs_close(actual, fixture.outputs)


# --- MMIM (declare-lab/Multimodal-Infomax) ----------------------------------------------------


def mmim_model(tmp_path):
    from baselines.mmim import MMIM, official_state_dict

    fixture = load_fixture("mmim")
    c, w = fixture.config["model_relevant"], fixture.weights
    encoder = word_tokenizer_encoder(tmp_path / "bert", tiny_bert_config_from_shim(fixture))
    model = build_model(
        MMIM,
        DataSpec(text_dim=c["d_tin"], audio_dim=c["d_ain"], vision_dim=c["d_vin"]),
        text_encoder=str(encoder), audio_hidden=c["d_ah"], vision_hidden=c["d_vh"], audio_out=c["d_aout"],
        vision_out=c["d_vout"], fusion_dim=c["d_prjh"],
    )
    assert c["n_layer"] == 1 and not c["bidirectional"] and c["cpc_layers"] == 1 and not c["add_va"]
    load_official(model, official_state_dict(w))
    return fixture, model.eval()


def tiny_bert_config_from_shim(fixture) -> dict:
    config = tiny_bert_config(fixture)
    shim = next(s for s in fixture.meta["shims"] if "BertConfig(" in s)
    config["num_attention_heads"] = int(shim.split("num_attention_heads=")[1].split(",")[0])
    return config


def mmim_batch(x: dict, prefix: str = "") -> Batch:
    ids, mask = x[f"{prefix}bert_sent"], x[f"{prefix}bert_sent_mask"]
    return make_batch(
        transcripts(ids, mask),
        text_placeholder(len(ids), 1),
        modality(x[f"{prefix}acoustic"].transpose(0, 1), x[f"{prefix}a_len"]),  # the fixture is time-major
        modality(x[f"{prefix}visual"].transpose(0, 1), x[f"{prefix}v_len"]),
    )


def mmim_terms(model, batch: Batch, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
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
    fixture, model = mmim_model(tmp_path)
    expected = {k.removeprefix("A_"): v for k, v in fixture.outputs.items() if k.startswith(("A_", "tap_"))}
    assert float(expected.pop("H")) == 0.0  # no labels: the official H is the constant 0 (ours is not computed)
    assert_outputs_close(mmim_terms(model, mmim_batch(fixture.inputs), None), expected)


@pytest.mark.parametrize("variant", ["B", "C"])
def test_mmim_reproduces_the_official_entropy_with_empty_and_filled_memory(tmp_path, variant):
    fixture, model = mmim_model(tmp_path)
    x, outputs = fixture.inputs, fixture.outputs
    model.memory.clear()
    if variant == "C":  # the memory is the membatch's positive/negative samples
        mmim_terms(model, mmim_batch(x, "membatch_"), x["membatch_y"].view(-1))
        for pair, m in (("tv", "vision"), ("ta", "audio")):
            torch.testing.assert_close(model.memory[m], (outputs[f"C_mem_{pair}_pos"], outputs[f"C_mem_{pair}_neg"]),
                                       rtol=1e-4, atol=1e-5)
    actual = mmim_terms(model, mmim_batch(x), x["y"].view(-1))
    expected = {k.removeprefix(f"{variant}_"): v for k, v in outputs.items()
                if k.startswith(f"{variant}_") and not k.startswith("C_mem_")}
    assert_outputs_close(actual, expected)


# --- MMML (zehuiwu/MMML, no-context en_model.py) -----------------------------------------------

#: Special tokens of the fixtures' tiny RoBERTa inputs (RoBERTa's ids: <s> 0, <pad> 1, </s> 2).
ROBERTA_SPECIALS = {0: "<s>", 1: "<pad>", 2: "</s>", 3: "<unk>"}

#: Samples per stored audio "frame" when the fixture's waveform becomes our raw-audio features.
SAMPLES_PER_FRAME = 160


def mmml_encoders(fixture, folder: Path, training: bool = False, positions: int | None = None) -> tuple[str, str]:
    """Tiny RoBERTa (with a word-level tokenizer) and Data2VecAudio folders of the fixture's
    configs; ``training``: with every dropout, layer drop and SpecAugment off (the training
    fixtures' shim); ``positions``: another size of RoBERTa's position table."""
    from transformers import Data2VecAudioConfig, Data2VecAudioModel, RobertaConfig, RobertaModel

    c = fixture.config
    roberta = {k: v for k, v in c["tiny_RoBERTa"].items() if k != "others"}
    data2vec = {k: v for k, v in c["tiny_Data2VecAudio"].items() if k != "others"}
    if positions is not None:
        roberta["max_position_embeddings"] = positions
    if training:
        roberta |= {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
        data2vec |= {name: 0.0 for name in ("hidden_dropout", "activation_dropout", "attention_dropout", "feat_proj_dropout",
                                             "final_dropout", "layerdrop")} | {"apply_spec_augment": False}
    text = folder / "roberta"
    text.mkdir(parents=True)
    save_word_tokenizer(text, roberta["vocab_size"], ROBERTA_SPECIALS, "<s>", "</s>", "<pad>", "<unk>")
    RobertaModel(RobertaConfig(**roberta)).save_pretrained(text)
    audio = folder / "data2vec"
    Data2VecAudioModel(Data2VecAudioConfig(**data2vec)).save_pretrained(audio)
    return str(text), str(audio)


def mmml_sizes(fixture, official: dict[str, torch.Tensor], variant: str) -> dict:
    """Our MMML config fields for the fixture's widths (CME BertConfig and weight shapes)."""
    cme = fixture.config["cross_attn_encoder.BertConfig used by CME"]
    fused = sorted((k for k in official if k.startswith("fused_output_layers.") and k.endswith(".weight")),
                   key=lambda k: int(k.split(".")[1]))
    sizes = {"variant": variant, "dim": cme["hidden_size"], "heads": cme["num_attention_heads"],
             "layers": cme["num_hidden_layers"], "ff_dim": cme["intermediate_size"], "head_hidden": official[fused[-1]].shape[1]}
    if variant == "cme_v3":
        layer = official["text_encoder.layers.0.self_attn.in_proj_weight"]
        sizes |= {"fusion_layers": len({k.split(".")[2] for k in official if k.startswith("text_encoder.layers.")}),
                  "fusion_ff_dim": official["text_encoder.layers.0.linear1.weight"].shape[0],
                  "fusion_heads": cme["num_attention_heads"]}
        assert layer.shape[1] == 2 * cme["hidden_size"]
    return sizes


def mmml_model(fixture, tmp_path, variant: str, prefix: str):
    from baselines.mmml import MMML, official_state_dict

    official = {k.removeprefix(prefix): v for k, v in fixture.weights.items() if k.startswith(prefix)}
    text_encoder, audio_encoder = mmml_encoders(fixture, tmp_path / variant)
    model = build_model(MMML, DataSpec(text_dim=1, audio_dim=SAMPLES_PER_FRAME, vision_dim=1), text_encoder=text_encoder,
                        audio_encoder=audio_encoder, **mmml_sizes(fixture, official, variant))
    load_official(model, official_state_dict(official, variant))
    return model.eval()


def mmml_batch(x: dict) -> Batch:
    ids, mask = x["text_inputs"], x["text_mask"]
    waveform, samples = x["audio_inputs"], x["audio_mask"].sum(dim=1)
    assert (samples % SAMPLES_PER_FRAME == 0).all(), "the waveform lengths must fill whole stored frames"
    frames = waveform.unflatten(1, (-1, SAMPLES_PER_FRAME))
    return make_batch(transcripts(ids, mask, ROBERTA_SPECIALS, cls=0, sep=2), text_placeholder(len(ids), 1),
                      modality(frames, samples // SAMPLES_PER_FRAME), modality(torch.zeros(len(ids), 1, 1)))


def mmml_taps(model) -> dict[str, torch.Tensor]:
    """Hooks recording our MMML's backbone intermediates under the fixture's tap names."""
    taps = {}
    model.text.pretrained.register_forward_hook(
        lambda _module, _inputs, out: taps.__setitem__("tap_T_last_hidden", out.last_hidden_state))
    for name, tap in (("text", "tap_T_features"), ("audio", "tap_A_features")):
        model.unimodal_heads[name].register_forward_pre_hook(lambda _module, inputs, tap=tap: taps.__setitem__(tap, inputs[0]))

    def audio(_module, _inputs, out):
        states, mask = out
        taps["tap_A_last_hidden_first4"], taps["tap_audio_valid_frames"] = states[:, :4], mask.sum(dim=1)

    model.raw_audio.register_forward_hook(audio)
    return taps


@pytest.mark.parametrize(
    ("folder", "variant", "prefix"),
    [("mmml", "cc", "cc."), ("mmml", "cme_v1", "cme_v1v2."), ("mmml", "cme_v2", "cme_v1v2."),
     ("mmml_cme_v3", "cme_v3", "cme_v3.")],
)
def test_mmml_reproduces_the_official_outputs(tmp_path, folder, variant, prefix):
    """The three heads of every variant, and the backbones' taps (text states and pooled vector,
    valid audio frames, audio states and their mean) with the weights they were recorded with:
    ``cc``'s in ``mmml/``, ``cme_v3``'s in ``mmml_cme_v3/``."""
    fixture = load_fixture(folder)
    model = mmml_model(fixture, tmp_path, variant, prefix)
    taps = mmml_taps(model)
    with torch.no_grad():
        out = model(mmml_batch(fixture.inputs))
    actual = {"M": out.sentiment[:, None], "T": out.aux["unimodal"]["text"][:, None],
              "A": out.aux["unimodal"]["audio"][:, None]}
    expected = {k.removeprefix(f"{variant}_"): v for k, v in fixture.outputs.items() if k.startswith(f"{variant}_")}
    if variant in ("cc", "cme_v3"):
        actual |= taps
        expected |= {k: v for k, v in fixture.outputs.items() if k.startswith("tap_")}
    assert_outputs_close(actual, expected)


def test_mmml_freezes_the_audio_feature_encoder_as_the_official_trainer(tmp_path):
    fixture = load_fixture("mmml_cme_v3")
    model = mmml_model(fixture, tmp_path, "cme_v3", "cme_v3.")
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
