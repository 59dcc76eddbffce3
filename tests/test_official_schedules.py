"""The baselines' MOSI schedules (sizes, dropouts, rates, weight decays, batches, patience) against
the official configurations (issue #25).

Where a fixture records the official configuration, the official MOSI values are read from it:
the training fixtures' ``meta.json`` configs with the values they changed put back
(``config_vs_official_file`` sizes, ``config_changes_for_training_fixture`` dropouts and
``update_epochs``), the forward fixtures' configs for MMIM, ALMT and MMML. Values no fixture
records (the declare-lab MISA solver, the yaohungt MulT command line, MOSEI entries, MMML's data
loader) are transcribed below with the official file they come from.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from shared_paths import FIXTURES, TRAIN_FIXTURES, fixture_folder

from msa_bench.models import get_model_class


def official_mosi(name: str) -> dict:
    """The official MOSI configuration a training fixture was made from (its changes undone)."""
    folder = fixture_folder(TRAIN_FIXTURES / name, "official training fixture")
    meta = json.loads((folder / "meta.json").read_text())
    config = dict(meta["config"])
    config |= {k: v["official"] for k, v in meta.get("config_vs_official_file", {}).items()}
    config |= {k: v["forward_fixture_value"] for k, v in meta.get("config_changes_for_training_fixture", {}).items()
               if k != "train_samples"}
    return config


def forward_config(name: str) -> dict:
    folder = fixture_folder(FIXTURES / name, "official fixture")
    return json.loads((folder / "meta.json").read_text())["config"]


def ours(name: str, dataset: str = "mosi") -> dict:
    """Our schedule of ``name`` on ``dataset``: model and train config fields in one mapping."""
    from msa_bench.worker.configs import resolve_configs

    model_config, train_config = resolve_configs(get_model_class(name), dataset)
    return dataclasses.asdict(model_config) | dataclasses.asdict(train_config)


def subnet_values(c: dict) -> dict:
    """TFN / LF-DNN: hidden_dims are (text, audio, vision), dropouts (audio, vision, text, post-fusion)."""
    audio_dropout, vision_dropout, _, post = c["dropouts"]
    assert audio_dropout == vision_dropout, "msa_bench has one audio/vision subnet dropout"
    text, audio, vision = c["hidden_dims"]
    return {"text_hidden": text, "audio_hidden": audio, "vision_hidden": vision, "dropout": audio_dropout,
            "post_fusion_dropout": post, "post_fusion_dim": c["post_fusion_dim"], "lr": c["learning_rate"],
            "batch_size": c["batch_size"], "weight_decay": c.get("weight_decay", 0.0), "patience": c["early_stop"]}


def self_mm_values(c: dict) -> dict:
    """Self-MM / AdaFN-AG: the harness averages ``update_epochs`` batches, so every weight decay is
    divided by it (the same Adam step up to its eps; a declared row)."""
    accumulation = c["update_epochs"]
    return {
        "audio_hidden": c["a_lstm_hidden_size"], "vision_hidden": c["v_lstm_hidden_size"],
        "fusion_dim": c["post_fusion_dim"], "text_head_dim": c["post_text_dim"], "audio_head_dim": c["post_audio_dim"],
        "vision_head_dim": c["post_video_dim"], "fusion_dropout": c["post_fusion_dropout"],
        "text_dropout": c["post_text_dropout"], "audio_dropout": c["post_audio_dropout"],
        "vision_dropout": c["post_video_dropout"], "encoder_lr": c["learning_rate_bert"], "audio_lr": c["learning_rate_audio"],
        "vision_lr": c["learning_rate_video"], "lr": c["learning_rate_other"],
        "encoder_weight_decay": c["weight_decay_bert"] / accumulation, "audio_weight_decay": c["weight_decay_audio"] / accumulation,
        "vision_weight_decay": c["weight_decay_video"] / accumulation, "weight_decay": c["weight_decay_other"] / accumulation,
        "grad_accum_steps": accumulation, "batch_size": c["batch_size"], "patience": c["early_stop"],
    }


def fixture_values(name: str) -> dict:
    if name in ("tfn", "lf_dnn"):
        return subnet_values(official_mosi(name)) | ({"text_out": official_mosi(name)["text_out"]} if name == "tfn" else {})
    if name == "lmf":
        c = official_mosi("lmf")
        text, audio, vision = c["hidden_dims"]
        return {"text_hidden": text, "audio_hidden": audio, "vision_hidden": vision, "rank": c["rank"],
                "audio_dropout": c["dropouts"][0], "vision_dropout": c["dropouts"][1], "factor_lr": c["factor_lr"],
                "lr": c["learning_rate"], "weight_decay": c["weight_decay"], "batch_size": c["batch_size"], "patience": c["early_stop"]}
    if name == "ef_lstm":
        c = official_mosi("ef_lstm")
        assert len(set(c["seq_lens"])) == 1
        return {"steps": c["seq_lens"][0], "hidden": c["hidden_dims"], "num_layers": c["num_layers"], "dropout": c["dropout"],
                "lr": c["learning_rate"], "weight_decay": c["weight_decay"], "batch_size": c["batch_size"], "patience": c["early_stop"]}
    if name in ("self_mm", "adafn_ag"):
        return self_mm_values(official_mosi(name)) | ({"audio_out": official_mosi(name)["audio_out"],
                                                        "vision_out": official_mosi(name)["video_out"]} if name == "self_mm" else {})
    if name == "mmim":
        hp = forward_config("mmim")["hp"]
        return {"audio_hidden": hp["d_ah"], "vision_hidden": hp["d_vh"], "audio_out": hp["d_aout"], "vision_out": hp["d_vout"],
                "fusion_dim": hp["d_prjh"], "fusion_dropout": hp["dropout_prj"], "lr": hp["lr_main"], "encoder_lr": hp["lr_bert"],
                "estimator_lr": hp["lr_mmilb"], "weight_decay": hp["weight_decay_main"],
                "encoder_weight_decay": hp["weight_decay_bert"], "estimator_weight_decay": hp["weight_decay_club"],
                "nce_weight": hp["alpha"], "lld_weight": hp["beta"], "entropy_weight": hp["beta"], "batch_size": hp["batch_size"],
                "grad_clip": hp["clip"], "max_epochs": hp["num_epochs"], "patience": hp["patience"],
                "plateau_patience": hp["when"]}
    if name == "almt":
        c = forward_config("almt")["official_mosi_model_config"]
        base = json.loads((TRAIN_FIXTURES / "almt" / "meta.json").read_text())["config"]["base"]
        return {"dim": c["token_dim"], "heads": c["proj_heads"], "mlp_dim": c["proj_mlp_dim"], "ahl_depth": c["AHL_depth"],
                "ahl_heads": c["ahl_heads"], "ahl_dim_head": c["ahl_dim_head"], "fusion_depth": c["fusion_layer_depth"],
                "text_frames": c["l_input_length"], "audio_frames": c["a_input_length"], "vision_frames": c["v_input_length"],
                "lr": base["lr"], "weight_decay": base["weight_decay"], "batch_size": base["batch_size"],
                "max_epochs": base["n_epochs"]}
    if name == "mmml":
        c = forward_config("mmml")["model_relevant"]
        train = json.loads((TRAIN_FIXTURES / "mmml" / "meta.json").read_text())["config"]
        return {"dropout": c["dropout"], "head_dropout": c["dropout"], "layers": c["num_hidden_layers (CME layers)"],
                "lr": train["learning_rate"], "batch_size": train["batch_size"], "patience": train["early_stop"]}
    raise KeyError(name)


@pytest.mark.parametrize("name", ["tfn", "lf_dnn", "lmf", "ef_lstm", "self_mm", "adafn_ag", "mmim", "almt", "mmml"])
def test_mosi_schedules_are_the_official_configurations(name):
    expected = fixture_values(name)
    actual = ours(name)
    assert {k: actual[k] for k in expected} == pytest.approx(expected)


#: Official values no fixture records: (model, dataset) -> our field -> (value, where it is set).
TRANSCRIBED = {
    ("misa", "mosi"): {
        "lr": (1e-4, "declare-lab/MISA src/config.py --learning_rate"), "batch_size": (64, "src/config.py get_config: mosi"),
        "grad_clip_value": (1.0, "src/solver.py clip_grad_value_(..., self.train_config.clip) with --clip 1.0"),
        "patience": (7, "src/solver.py: curr_patience 6 counted down to -1"), "hidden": (128, "src/config.py --hidden_size"),
        "dropout": (0.5, "src/config.py --dropout"), "diff_weight": (0.3, "src/config.py --diff_weight"),
        "sim_weight": (1.0, "src/config.py --sim_weight"), "recon_weight": (1.0, "src/config.py --recon_weight"),
    },
    ("misa", "mosei"): {"batch_size": (16, "declare-lab/MISA src/config.py get_config: mosei"),
                        "frozen_text_layers": (9, "src/solver.py: BERT encoder layers 0-8 frozen for MOSEI")},
    ("mult", "mosi"): {
        "lr": (1e-3, "yaohungt/Multimodal-Transformer main.py --lr"), "batch_size": (24, "main.py --batch_size"),
        "grad_clip": (0.8, "main.py --clip"), "max_epochs": (40, "main.py --num_epochs"), "plateau_patience": (20, "main.py --when"),
        "plateau_factor": (0.1, "src/train.py ReduceLROnPlateau(factor=0.1)"), "dim": (30, "src/models.py d_l = d_a = d_v = 30"),
        "heads": (5, "main.py --num_heads"), "layers": (5, "main.py --nlevels"), "attn_dropout": (0.1, "main.py --attn_dropout"),
        "attn_dropout_audio": (0.0, "main.py --attn_dropout_a"), "attn_dropout_vision": (0.0, "main.py --attn_dropout_v"),
        "relu_dropout": (0.1, "main.py --relu_dropout"), "res_dropout": (0.1, "main.py --res_dropout"),
        "embed_dropout": (0.25, "main.py --embed_dropout"), "out_dropout": (0.0, "main.py --out_dropout"),
    },
    ("tfn", "mosei"): {k: (v, "thuiar/MMSA src/MMSA/config/config_regression.json at a94e65d, tfn.datasetParams.mosei")
                       for k, v in {"text_hidden": 128, "audio_hidden": 16, "vision_hidden": 128, "text_out": 128,
                                    "post_fusion_dim": 16, "dropout": 0.4, "post_fusion_dropout": 0.4, "batch_size": 128,
                                    "lr": 5e-3}.items()},
    ("lf_dnn", "mosei"): {k: (v, "MMSA config_regression.json at a94e65d, lf_dnn.datasetParams.mosei")
                          for k, v in {"text_hidden": 128, "audio_hidden": 32, "vision_hidden": 128, "text_out": 128,
                                       "post_fusion_dim": 128, "dropout": 0.2, "post_fusion_dropout": 0.2, "batch_size": 64,
                                       "lr": 2e-3, "weight_decay": 1e-3}.items()},
    ("lmf", "mosei"): {k: (v, "MMSA config_regression.json at a94e65d, lmf.datasetParams.mosei")
                       for k, v in {"text_hidden": 128, "audio_hidden": 16, "vision_hidden": 128, "audio_dropout": 0.2,
                                    "vision_dropout": 0.2, "rank": 4, "batch_size": 32, "lr": 1e-3, "factor_lr": 1e-3,
                                    "weight_decay": 1e-3}.items()},
    ("ef_lstm", "mosei"): {k: (v, "MMSA config_regression.json at a94e65d, ef_lstm.datasetParams.mosei")
                           for k, v in {"hidden": 256, "num_layers": 2, "dropout": 0.4, "batch_size": 128, "lr": 5e-3,
                                        "weight_decay": 1e-4}.items()},
    # update_epochs 4 (commonParams): the harness averages 4 batches, so the weight decays are divided by 4
    **{(name, "mosei"): {k: (v, f"{where}, datasetParams.mosei and commonParams.update_epochs 4")
                         for k, v in {"batch_size": 32, "encoder_lr": 5e-5, "audio_lr": 5e-3, "vision_lr": 1e-4, "lr": 1e-3,
                                      "encoder_weight_decay": 1e-3 / 4, "audio_weight_decay": 0.0, "vision_weight_decay": 0.0,
                                      "weight_decay": 1e-2 / 4, "grad_accum_steps": 4, "fusion_dropout": 0.1,
                                      "text_dropout": 0.0, "audio_dropout": 0.0, "vision_dropout": 0.0}.items()}
       for name, where in (("self_mm", "MMSA config_regression.json at a94e65d, self_mm"),
                           ("adafn_ag", "Myid9606/AdaFN-AG config/config_regression.json at c4b8487, afn_ag_msa"))},
    ("mmim", "mosei"): {"estimator_batch_fraction": (0.5, ("declare-lab/Multimodal-Infomax src/solver.py: MOSEI stage 0 "
                                                            "stops at i_batch / len(loader) >= 0.5"))},
    ("mmml", "mosi"): {"text_max_tokens": (96, "zehuiwu/MMML utils/data_loader.py Dataset_mosi: tokenizer max_length=96"),
                       "max_audio_seconds": (6.0, "utils/data_loader.py: feature_extractor max_length=96000 at 16 kHz"),
                       "weight_decay": (0.01, "utils/en_train.py: AdamW(model.parameters(), lr) with torch's default 0.01"),
                       "variant": ("cme_v1", "run.py --model cme, --cme_version v1")},
}


@pytest.mark.parametrize(("name", "dataset"), sorted(TRANSCRIBED))
def test_schedules_transcribed_from_the_official_code(name, dataset):
    actual = ours(name, dataset)
    wrong = {field: (actual[field], value, where) for field, (value, where) in TRANSCRIBED[name, dataset].items()
             if actual[field] != pytest.approx(value)}
    assert not wrong, f"{name} on {dataset}: (ours, official, where) {wrong}"


def test_mmml_cuts_text_at_96_tokens_and_audio_at_6_seconds(tmp_path):
    """The official data loader's limits as the model applies them: a 120-word transcript gives 96
    token states, 7 s of audio give the encoder's frames of 6 s."""
    import torch
    from official_fixtures import load_fixture
    from test_official_equivalence_sota import (
        make_batch,
        mmml_encoders,
        modality,
        text_placeholder,
    )

    from msa_bench.models import DataSpec, build_config

    fixture = load_fixture("mmml")
    text_encoder, audio_encoder = mmml_encoders(fixture, tmp_path, positions=128)  # room for more than 96 tokens
    model_class = get_model_class("mmml")
    schedule = ours("mmml")
    config = build_config(model_class, {"text_encoder": text_encoder, "audio_encoder": audio_encoder, "dim": 32, "heads": 2,
                                        "layers": 1, "ff_dim": 64, "head_hidden": 8,
                                        "text_max_tokens": schedule["text_max_tokens"],
                                        "max_audio_seconds": schedule["max_audio_seconds"]})
    model = model_class(config, DataSpec(text_dim=1, audio_dim=160, vision_dim=1)).eval()
    waveform = torch.randn(1, 7 * 16_000).unflatten(1, (-1, 160))
    batch = make_batch([" ".join(f"w{5 + i % 90}" for i in range(120))], text_placeholder(1, 1), modality(waveform),
                       modality(torch.zeros(1, 1, 1)))
    with torch.no_grad():
        _, mask = model.raw_audio(batch.audio.features, batch.audio.mask)
    expected_frames = int(model.raw_audio.model._get_feat_extract_output_lengths(torch.tensor(6 * 16_000)))
    assert int(mask.sum()) == expected_frames
    assert model.text(batch).states.shape[1] == 96
