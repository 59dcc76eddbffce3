"""Mutation testing of the official equivalence tests (issue #25): small plausible bugs planted in
the baselines and the training step, each applied in memory, and whether the forward, training
and schedule comparisons with the official code catch it.

A :class:`Mutation` replaces one snippet (it must occur exactly once) of one module's source.
:func:`mutated` compiles the changed source as a fresh module and moves its code into the live
module's functions, methods and class attributes (classes, registrations and references from
other modules stay the same objects), and puts everything back afterwards. :func:`is_caught`
runs the model's checks (:func:`checks`: the comparison functions the equivalence tests run) under
a mutation until one fails. ``tests/benchmarks/test_bench_mutations.py`` runs :data:`MUTATIONS`
and reports the share caught per model; ``tests/test_official_mutations.py`` runs a few in the
default suite.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import tempfile
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Mutation:
    """One planted bug: in ``module``, ``old`` (occurring once) becomes ``new``."""

    model: str
    module: str
    old: str
    new: str
    what: str

    @property
    def source(self) -> str:
        return Path(importlib.import_module(self.module).__file__).read_text()


def _m(model: str, module: str, old: str, new: str, what: str) -> Mutation:
    return Mutation(model, module if "." in module else f"baselines.{module}", old, new, what)


OPT = "msa_bench.worker.optimization"

#: The planted bugs, by model (shared code is listed under the model whose checks run for it).
MUTATIONS: tuple[Mutation, ...] = (
    # --- TFN / LF-DNN / LMF subnetworks (baselines/lf_dnn.py, tfn.py, lmf.py)
    _m("tfn", "tfn", "torch.cat([hidden.new_ones(hidden.shape[0], 1), hidden], dim=1)",
       "torch.cat([hidden.new_zeros(hidden.shape[0], 1), hidden], dim=1)", "fusion: 0 instead of 1 prepended"),
    _m("tfn", "tfn", "torch.bmm(audio_vision.unsqueeze(2), with_one(text).unsqueeze(1))",
       "torch.bmm(audio_vision.unsqueeze(2), with_one(text.flip(1)).unsqueeze(1))", "fusion: text features reversed"),
    _m("tfn", "tfn", "torch.sigmoid(output.sentiment) * 6.0 - 3.0", "torch.sigmoid(output.sentiment) * 6.0 - 2.0",
       "output shift -2"),
    _m("tfn", "tfn", "torch.sigmoid(output.sentiment) * 6.0 - 3.0", "torch.tanh(output.sentiment) * 3.0",
       "tanh output range"),
    _m("tfn", "lf_dnn", "        return self.layers(self.norm(x))", "        return self.layers(x)", "subnet: BatchNorm skipped"),
    _m("tfn", "lf_dnn", "        return self.linear(last) * mask.any(dim=1, keepdim=True).to(last.dtype)",
       "        return torch.relu(self.linear(last)) * mask.any(dim=1, keepdim=True).to(last.dtype)",
       "text subnet: extra ReLU"),
    _m("lf_dnn", "lf_dnn", '"fusion": torch.cat([audio, vision, text], dim=1)}', '"fusion": torch.cat([audio, text, vision], dim=1)}',
       "fusion order audio/text/vision"),
    _m("lf_dnn", "lf_dnn", """            nn.Linear(config.post_fusion_dim, config.post_fusion_dim),
            nn.ReLU(),
        )
        self.heads = TaskHeads(config.post_fusion_dim, self.tasks, spec)

    def features(self, batch) -> dict[str, torch.Tensor]:
        \"\"\"The unimodal vectors and their concatenation""", """            nn.Linear(config.post_fusion_dim, config.post_fusion_dim),
            nn.Tanh(),
        )
        self.heads = TaskHeads(config.post_fusion_dim, self.tasks, spec)

    def features(self, batch) -> dict[str, torch.Tensor]:
        \"\"\"The unimodal vectors and their concatenation""", "post-fusion: Tanh for the second ReLU"),
    _m("lf_dnn", "lf_dnn", """            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )""", """            nn.Linear(hidden, hidden),
            nn.GELU(),
        )""", "subnet: last activation GELU"),
    _m("lf_dnn", "lf_dnn", '"train": {**_TRAIN, "batch_size": 128, "lr": 1e-3, "weight_decay": 1e-2},',
       '"train": {**_TRAIN, "batch_size": 128, "lr": 1e-3, "weight_decay": 1e-3},', "MOSI weight decay 1e-3"),
    _m("lf_dnn", "lf_dnn", '"train": {**_TRAIN, "batch_size": 128, "lr": 1e-3, "weight_decay": 1e-2},',
       '"train": {**_TRAIN, "batch_size": 128, "lr": 2e-3, "weight_decay": 1e-2},', "MOSI lr 2e-3"),
    _m("lmf", "lmf", "prediction = torch.einsum(\"r,br->b\", self.rank_weights[0], features[\"fusion\"]) + self.fusion_bias",
       "prediction = torch.einsum(\"r,br->b\", self.rank_weights[0], features[\"fusion\"]) - self.fusion_bias",
       "fusion bias subtracted"),
    _m("lmf", "lmf", "with_one = F.pad(vector, (1, 0), value=1.0)", "with_one = F.pad(vector, (0, 1), value=1.0)",
       "1 appended instead of prepended"),
    _m("lmf", "lmf", "fused = factor_output if fused is None else fused * factor_output",
       "fused = factor_output if fused is None else fused + factor_output", "factors summed, not multiplied"),
    _m("lmf", "lmf", "        return [self.rank_weights, self.fusion_bias]", "        return [self.fusion_bias]",
       "rank weights trained (not in the official groups)"),
    _m("lmf", "lmf", '{"params": factors, "lr": self.config.factor_lr, "weight_decay": weight_decay},',
       '{"params": factors, "lr": self.config.factor_lr, "weight_decay": 0.0},', "no weight decay on the factors"),
    _m("lmf", "lmf", '"rank": 3, "audio_dropout": 0.3, "vision_dropout": 0.3, "factor_lr": 1e-3},',
       '"rank": 3, "audio_dropout": 0.3, "vision_dropout": 0.3, "factor_lr": 5e-4},', "MOSI factor_lr 5e-4"),
    # --- EF-LSTM
    _m("ef_lstm", "ef_lstm", "_, (last, _) = self.lstm(self.norm(torch.cat(parts, dim=2)))",
       "_, (last, _) = self.lstm(torch.cat(parts, dim=2))", "BatchNorm over steps skipped"),
    _m("ef_lstm", "ef_lstm", "return self.heads(self.mlp(last[-1]))", "return self.heads(self.mlp(last[0]))",
       "first LSTM layer's state read"),
    _m("ef_lstm", "ef_lstm", "nn.Dropout(config.dropout), nn.Linear(config.hidden, config.hidden), nn.ReLU(), nn.Dropout(config.dropout)",
       "nn.Dropout(config.dropout), nn.Linear(config.hidden, config.hidden), nn.Tanh(), nn.Dropout(config.dropout)",
       "Tanh for ReLU"),
    _m("ef_lstm", "ef_lstm", "    overlap = overlap * mask.unsqueeze(1).to(overlap.dtype)\n", "",
       "resampling: padded frames weighted"),
    _m("ef_lstm", "ef_lstm", "scale = (lengths / steps).unsqueeze(2)", "scale = (lengths / (steps + 1)).unsqueeze(2)",
       "resampling: wrong frames per step"),
    _m("ef_lstm", "ef_lstm", '"mosi": {"model": {}, "train": {**_TRAIN, "weight_decay": 5e-3}},',
       '"mosi": {"model": {}, "train": {**_TRAIN, "weight_decay": 5e-4}},', "MOSI weight decay 5e-4"),
    # --- MulT
    _m("mult", "mult", "x = math.sqrt(self.dim) * x", "x = self.dim * x", "embedding scale d, not sqrt(d)"),
    _m("mult", "mult", "future = key_step[None, None, :] > query_step[None, :, None] + offset[:, None, None]",
       "future = key_step[None, None, :] > query_step[None, :, None]", "causal mask without |Lk - Lq|"),
    _m("mult", "mult", "key, value = (query, query) if key is None else (self.norm(key), self.norm(value))",
       "key, value = (query, query) if key is None else (key, value)", "key/value not normalised"),
    _m("mult", "mult", "x = x + (attended if attended_rows is None else attended * attended_rows)",
       "x = attended if attended_rows is None else attended * attended_rows", "attention residual dropped"),
    _m("mult", "mult", "return x + self.dropout(self.ff(self.ff_norm(x)))", "return x + self.dropout(self.ff(x))",
       "feed-forward pre-norm skipped"),
    _m("mult", "mult", "self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.ReLU(), nn.Dropout(relu_dropout), nn.Linear(4 * dim, dim))",
       "self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(relu_dropout), nn.Linear(4 * dim, dim))",
       "GELU in the feed-forward"),
    _m("mult", "mult", "table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)",
       "table = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)", "positions: cos before sin"),
    _m("mult", "mult", "position = torch.arange(1, mask.shape[1] + 1, device=mask.device, dtype=torch.float32)",
       "position = torch.arange(0, mask.shape[1], device=mask.device, dtype=torch.float32)", "positions from 0"),
    # --- MISA
    _m("misa", "misa", "second = self.second.final_state(self.norm(outputs) * mask.unsqueeze(-1), mask)",
       "second = self.second.final_state(outputs * mask.unsqueeze(-1), mask)", "LayerNorm between the LSTMs skipped"),
    _m("misa", "misa", "return torch.cat([first[:, :h], second[:, :h], first[:, h:], second[:, h:]], dim=-1)",
       "return torch.cat([first[:, :h], first[:, h:], second[:, :h], second[:, h:]], dim=-1)", "final states reordered"),
    _m("misa", "misa", "for k in range(2, moments + 1):", "for k in range(2, moments):", "CMD: one moment fewer"),
    _m("misa", "misa", "centred_x, centred_y = x - mean_x, y - mean_y", "centred_x, centred_y = x, y", "CMD: moments not centred"),
    _m("misa", "misa", "    x = x / (x.norm(dim=1, keepdim=True).detach() + 1e-6)\n", "",
       "difference loss: rows not normalised"),
    _m("misa", "misa", "reconstruction_loss = reconstruction_loss + F.mse_loss(rebuilt, output.aux[\"projected\"][m][rows]) / 3",
       "reconstruction_loss = reconstruction_loss + F.mse_loss(rebuilt, output.aux[\"projected\"][m][rows]) / 2",
       "reconstruction mean over 2"),
    _m("misa", "misa", "return loss + c.diff_weight * difference_loss + c.sim_weight * similarity_loss + c.recon_weight * reconstruction_loss",
       "return loss + c.diff_weight * difference_loss + c.sim_weight * similarity_loss + 0.5 * c.recon_weight * reconstruction_loss",
       "reconstruction weight halved"),
    _m("misa", "misa", "self.shared = nn.Sequential(nn.Linear(h, h), nn.Sigmoid())", "self.shared = nn.Sequential(nn.Linear(h, h), nn.Tanh())",
       "shared encoder Tanh"),
    _m("misa", "misa", 'sequence = torch.stack([*(private[m] for m in _FUSION_ORDER), *(shared[m] for m in _FUSION_ORDER)], dim=1)',
       'sequence = torch.stack([*(shared[m] for m in _FUSION_ORDER), *(private[m] for m in _FUSION_ORDER)], dim=1)',
       "fusion sequence: shared before private"),
    _m("misa", "misa", '(a, b, private[a], private[b]) for a, b in (("audio", "text"), ("audio", "vision"), ("text", "vision"))',
       '(a, b, private[a], private[b]) for a, b in (("audio", "text"), ("audio", "vision"))', "difference: one pair fewer"),
    # --- Self-MM (ULGM and forward)
    _m("self_mm", "self_mm", "return (0.5 * alpha * y_m + 0.5 * (y_m + delta_s - delta_m)).clamp(-bound, bound)",
       "return (0.5 * alpha * y_m + 0.5 * (y_m - delta_s + delta_m)).clamp(-bound, bound)", "ULGM: sign flip of the shift"),
    _m("self_mm", "self_mm", "alpha = delta_s / (delta_m + eps)", "alpha = delta_m / (delta_s + eps)", "ULGM: alpha inverted"),
    _m("self_mm", "self_mm", "return (d_neg - d_pos) / (d_pos + eps)", "return (d_neg - d_pos) / (d_neg + eps)",
       "ULGM: relative distance over d_neg"),
    _m("self_mm", "self_mm", "self.label_memory[name][rows] = (epoch - 1) / (epoch + 1) * self.label_memory[name][rows] + 2 / (",
       "self.label_memory[name][rows] = epoch / (epoch + 1) * self.label_memory[name][rows] + 2 / (", "ULGM: momentum n/(n+1)"),
    _m("self_mm", "self_mm", "        if epoch > 1 and self.centres:", "        if epoch > 2 and self.centres:",
       "ULGM: labels move from epoch 3"),
    _m("self_mm", "self_mm", "positive, negative = labels > 0, labels < 0", "positive, negative = labels >= 0, labels < 0",
       "ULGM: zero labels counted positive"),
    _m("self_mm", "self_mm", "weight = torch.tanh((labels[name] - labels[\"fusion\"]).abs()) * present[name]",
       "weight = torch.sigmoid((labels[name] - labels[\"fusion\"]).abs()) * present[name]", "ULGM: sigmoid weights"),
    _m("self_mm", "self_mm", "        self._update_centres()\n\n    def _update_centres", "\n    def _update_centres",
       "ULGM: centres not updated"),
    _m("self_mm", "self_mm", "hidden = F.relu(self.first(self.dropout(x)))", "hidden = self.first(self.dropout(x))",
       "heads: first ReLU dropped"),
    _m("self_mm", "self_mm", "no_decay = index == 0 and (\"bias\" in name or \"LayerNorm\" in name)",
       "no_decay = index == 0 and \"bias\" in name", "LayerNorm weights decayed"),
    _m("self_mm", "self_mm", "audio = [*self.audio.named_parameters(), *self.audio_out.named_parameters()]",
       "audio = [*self.audio.named_parameters()]", "audio projection in the rest group"),
    _m("self_mm", "self_mm", "vectors[name] = out(self.lstm_dropout[name](last)) * modality.present.unsqueeze(-1)",
       "vectors[name] = torch.relu(out(self.lstm_dropout[name](last))) * modality.present.unsqueeze(-1)",
       "ReLU after the LSTM projection"),
    _m("self_mm", "self_mm", "fused, fusion_hidden = self.fusion_head(torch.cat([vectors[m] for m in UNIMODAL], dim=-1))",
       "fused, fusion_hidden = self.fusion_head(torch.cat([vectors[m] for m in reversed(UNIMODAL)], dim=-1))",
       "fusion input order reversed"),
    # --- AdaFN-AG
    _m("adafn_ag", "adafn_ag", "alpha = self.alpha_draws(len(batch), audio.features.device) * self.config.alpha_scale",
       "alpha = self.alpha_draws(len(batch), audio.features.device) * 0.5", "AdaFN: K 5 -> 2"),
    _m("adafn_ag", "adafn_ag", '"audio": adaptive_feature_normalization(audio.features, masks["audio"], vision.features, masks["vision"], alpha[0]),',
       '"audio": adaptive_feature_normalization(audio.features, masks["audio"], audio.features, masks["audio"], alpha[0]),',
       "AdaFN: audio restyled with its own statistics"),
    _m("adafn_ag", "adafn_ag", "var_mix = (1 - a) * var_x + a * var_y", "var_mix = var_x", "AdaFN: variances not mixed"),
    _m("adafn_ag", "adafn_ag", "variance = ((x - mean) ** 2 * weights).sum(dim=1, keepdim=True) / (count - 1).clamp_min(1.0)",
       "variance = ((x - mean) ** 2 * weights).sum(dim=1, keepdim=True) / count.clamp_min(1.0)", "AdaFN: biased variance"),
    _m("adafn_ag", "adafn_ag", "return self.norm(torch.sigmoid(retain(hidden)) * hidden + torch.sigmoid(compound(hidden)) * attended)",
       "return self.norm(torch.sigmoid(retain(hidden)) * hidden + torch.sigmoid(compound(attended)) * attended)",
       "gate computed from the attention"),
    _m("adafn_ag", "adafn_ag", "crossed = attend(self.cross_attention, target_attended, text_attended, text_mask)",
       "crossed = attend(self.cross_attention, target_attended, text_hidden, text_mask)", "cross-attention keys: GRU states"),
    _m("adafn_ag", "adafn_ag", "vectors[\"text\"] = torch.stack(text_vectors).mean(dim=0)", "vectors[\"text\"] = text_vectors[0]",
       "text vector from the audio block only"),
    _m("adafn_ag", "adafn_ag", "text_attended = attend(self.text_attention, text_hidden, text_hidden, text_mask)",
       "text_attended = attend(self.text_attention, text_hidden, text_hidden, text_mask) * 0.5", "text attention halved"),
    _m("adafn_ag", "adafn_ag", "_MOSI_TRAIN = {\"lr\": 1e-3, \"weight_decay\": 1e-3 / MMSA_ACCUMULATION, \"batch_size\": 16,",
       "_MOSI_TRAIN = {\"lr\": 1e-3, \"weight_decay\": 1e-3, \"batch_size\": 16,", "weight decay not divided by 4"),
    _m("adafn_ag", "adafn_ag", "encoder_lr: float = 4.5e-5", "encoder_lr: float = 5e-5", "BERT lr 5e-5 (Self-MM's)"),
    # --- MMIM
    _m("mmim", "mmim", "return (-(mu - y).pow(2) / 2.0 / logvar.exp()).sum(-1).mean()",
       "return (-(mu - y).pow(2) / 2.0 / logvar.exp()).mean(-1).mean()", "lld: mean over features"),
    _m("mmim", "mmim", "negative = torch.logsumexp(x @ prediction.t(), dim=-1)", "negative = torch.logsumexp(x @ prediction.t(), dim=0)",
       "CPC: logsumexp over the wrong axis"),
    _m("mmim", "mmim", "prediction = F.normalize(predictor(fused), dim=1)", "prediction = predictor(fused)",
       "CPC: prediction not normalised"),
    _m("mmim", "mmim", "covariance = centred.t() @ centred / len(samples)", "covariance = centred.t() @ centred / (len(samples) - 1)",
       "entropy: unbiased covariance"),
    _m("mmim", "mmim", "return 0.25 * (log_det_covariance(positive_all, eps) + log_det_covariance(negative_all, eps))",
       "return 0.5 * (log_det_covariance(positive_all, eps) + log_det_covariance(negative_all, eps))", "entropy: factor 1/2"),
    _m("mmim", "mmim", "return total - c.entropy_weight * entropy if self.steps_in_epoch > 2 else total",
       "return total + c.entropy_weight * entropy if self.steps_in_epoch > 2 else total", "H added, not subtracted"),
    _m("mmim", "mmim", "return total - c.entropy_weight * entropy if self.steps_in_epoch > 2 else total",
       "return total - c.entropy_weight * entropy if self.steps_in_epoch > 3 else total", "H from the 4th batch"),
    _m("mmim", "mmim", "total = loss + c.nce_weight * nce - c.lld_weight * lld", "total = loss + c.nce_weight * nce + c.lld_weight * lld",
       "lld sign flipped in the main loss"),
    _m("mmim", "mmim", "            return -lld\n", "            return lld\n", "estimator pass minimises lld"),
    _m("mmim", "mmim", "special = {id(p) for p in (*encoder, *self.mi.parameters())}", "special = {id(p) for p in encoder}",
       "main optimizer steps the estimators too"),
    _m("mmim", "mmim", "self.memory[name] = (positive.detach(), negative.detach())", "self.memory[name] = (negative.detach(), positive.detach())",
       "entropy memory classes swapped"),
    _m("mmim", "mmim", "nn.Linear(width, config.fusion_dim),\n            nn.Tanh(),", "nn.Linear(width, config.fusion_dim),\n            nn.ReLU(),",
       "fusion: ReLU for the first Tanh"),
    # --- ALMT
    _m("almt", "almt", "x = x + self.attention(self.norm_q(x), self.norm_k(source), self.norm_v(source), source_mask)",
       "x = x + self.attention(self.norm_q(x), self.norm_k(source), self.norm_k(source), source_mask)", "values normalised by norm_k"),
    _m("almt", "almt", "return x + self.ff(self.norm_ff(x))", "return self.ff(self.norm_ff(x))", "feed-forward residual dropped"),
    _m("almt", "almt", "x = x + self.positions[:, : x.shape[1]]", "x = x + self.positions[:, 1 : x.shape[1] + 1]", "positions off by one"),
    _m("almt", "almt", "return self.norms[\"hyper\"](hyper) + self.out(shift)", "return hyper + self.out(shift)",
       "AHL residual on the raw hyper-modality (official: normalised)"),
    _m("almt", "almt", "self.ff = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))",
       "self.ff = nn.Sequential(nn.Linear(dim, mlp_dim), nn.ReLU(), nn.Linear(mlp_dim, dim))", "ReLU for GELU"),
    _m("almt", "almt", "hidden = tokens[\"text\"] + self.language_positions", "hidden = tokens[\"text\"]", "language positions dropped"),
    _m("almt", "almt", "source = torch.cat([cls, hyper], dim=1) + self.fusion_positions[\"hyper\"]",
       "source = torch.cat([cls, hyper], dim=1) + self.fusion_positions[\"text\"]", "fusion: text positions on the source"),
    _m("almt", "almt", "return F.mse_loss(output.sentiment[known].float(), targets.sentiment[known])",
       "return F.l1_loss(output.sentiment[known].float(), targets.sentiment[known])", "L1 for MSE"),
    _m("almt", "almt", "\"train\": {\"lr\": 1e-4, \"weight_decay\": 1e-4, \"batch_size\": 64, \"max_epochs\": 200, \"patience\": 20,\n"
       "                      \"optimizer\": \"adamw\", \"scheduler\": \"warmup_cosine\"},\n        },\n        \"mosei\"",
       "\"train\": {\"lr\": 1e-4, \"weight_decay\": 1e-4, \"batch_size\": 64, \"max_epochs\": 200, \"patience\": 20,\n"
       "                      \"optimizer\": \"adam\", \"scheduler\": \"warmup_cosine\"},\n        },\n        \"mosei\"",
       "MOSI: Adam (L2) for AdamW"),
    # --- MMML
    _m("mmml", "mmml", "return self.norm(x + self.dropout(self.dense(attended)))", "return self.norm(self.dropout(self.dense(attended)))",
       "CME attention residual dropped"),
    _m("mmml", "mmml", "return self.norm(x + self.dropout(self.out(F.relu(self.inter(x)))))",
       "return self.norm(x + self.dropout(self.out(F.gelu(self.inter(x)))))", "CME feed-forward GELU"),
    _m("mmml", "mmml", "text_x = self.text_self(text_x, text_x, text_mask)", "text_x = self.text_self(text_x, audio_x, audio_mask)",
       "text self-attention attends to audio"),
    _m("mmml", "mmml", "audio_x = self.audio_cross(audio, text, text_mask)", "audio_x = self.audio_cross(audio, text_x, text_mask)",
       "audio cross-attention reads the updated text"),
    _m("mmml", "mmml", "return torch.cat([x[\"text\"][:, 0], x[\"audio\"][:, 0]], dim=-1)",
       "return torch.cat([x[\"text\"][:, 1], x[\"audio\"][:, 1]], dim=-1)", "v1: first token, not CLS"),
    _m("mmml", "mmml", "mixed = [self.mixed[m](torch.cat([vectors[m], x[m][:, 0]], dim=-1)) for m in MODALITIES]",
       "mixed = [self.mixed[m](torch.cat([x[m][:, 0], vectors[m]], dim=-1)) for m in MODALITIES]", "v2: mixing order swapped"),
    _m("mmml", "mmml", "losses[name] = F.l1_loss(prediction[rows].float(), targets.sentiment[rows])",
       "losses[name] = F.mse_loss(prediction[rows].float(), targets.sentiment[rows])", "unimodal losses MSE"),
    _m("mmml", "mmml", "waveform = (waveform - mean) / torch.sqrt(variance + 1e-7) * sample_mask",
       "waveform = (waveform - mean) * sample_mask", "audio not standardised"),
    _m("mmml", "mmml", "vectors = {\"text\": self._text_vector(text), \"audio\": masked_mean(states[\"audio\"], audio_mask)}",
       "vectors = {\"text\": self._text_vector(text), \"audio\": states[\"audio\"][:, 0]}", "audio vector: first frame"),
    _m("mmml", "mmml", "_OFFICIAL_TRAIN = {\"lr\": 5e-6, \"weight_decay\": 0.01,", "_OFFICIAL_TRAIN = {\"lr\": 5e-6, \"weight_decay\": 0.0,",
       "AdamW without weight decay"),
    _m("mmml", "mmml", "    dropout: float = 0.3\n    head_dropout: float = 0.3", "    dropout: float = 0.1\n    head_dropout: float = 0.3",
       "CME dropout 0.1"),
    _m("mmml", "mmml", "    text_max_tokens: int = 96", "    text_max_tokens: int = 64", "text cut at 64 tokens"),
    # --- differential attention (DiffFusion's block, compared with unilm's)
    _m("diff_fusion", "diff_fusion", "attention = weights[:, :, 0] - self.lambda_value().to(weights.dtype) * weights[:, :, 1]",
       "attention = weights[:, :, 0] + self.lambda_value().to(weights.dtype) * weights[:, :, 1]", "differential sign"),
    _m("diff_fusion", "diff_fusion", "heads = self.normalise_heads(attention @ v) * (1.0 - self.lambda_init)",
       "heads = self.normalise_heads(attention @ v)", "no (1 - lambda_init) scaling"),
    _m("diff_fusion", "diff_fusion", "return 0.8 - 0.6 * math.exp(-0.3 * (layer - 1))", "return 0.8 - 0.6 * math.exp(-0.3 * layer)",
       "lambda_init depth off by one"),
    _m("diff_fusion", "diff_fusion", "q = self.query(query).view(batch, q_len, 2 * self.n_heads, self.head_dim).transpose(1, 2)",
       "q = self.query(keys).view(batch, k_len, 2 * self.n_heads, self.head_dim).transpose(1, 2)", "queries from the key stream"),
    _m("diff_fusion", "diff_fusion", "scores = scores.masked_fill(~key_mask[:, None, None, :], float(\"-inf\"))", "",
       "key mask ignored"),
    _m("diff_fusion", "diff_fusion", "scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)",
       "scores = q @ k.transpose(-1, -2) / math.sqrt(2 * self.head_dim)", "scores scaled by sqrt(2 head_dim)"),
    _m("diff_fusion", "diff_fusion", "- torch.exp(torch.dot(self.lambda_q2, self.lambda_k2).float())",
       "- torch.exp(torch.dot(self.lambda_q2, self.lambda_k1).float())", "lambda: q2 with k1"),
    # --- the training step (msa_bench/worker/optimization.py), checked on MISA (value clipping) and MMIM (norm, stages)
    _m("misa", OPT, "torch.nn.utils.clip_grad_value_(self.model.parameters(), self.config.grad_clip_value)",
       "torch.nn.utils.clip_grad_value_(self.model.parameters(), 2 * self.config.grad_clip_value)", "value clip doubled"),
    _m("mmim", OPT, "torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)",
       "torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad and p.grad is not None][:-4], "
       "self.config.grad_clip)", "norm clip over some parameters only"),
    _m("mmim", OPT, "        self.optimizer_of(self.model.stage).step()", "        self.optimizer.step()",
       "every pass steps the main optimizer"),
    _m("self_mm", OPT, "optimizer_class = torch.optim.AdamW if self.config.optimizer == \"adamw\" else torch.optim.Adam",
       "optimizer_class = torch.optim.AdamW", "AdamW for Adam"),
    _m("almt", OPT, "return (step + 1) / (warmup + 1)", "return step / max(warmup, 1)", "warm-up reaches the base rate a step late"),
    _m("tfn", OPT, "        self.model.zero_grad(set_to_none=True)\n", "", "gradients never cleared"),
)


# --------------------------------------------------------------------------------------------
# Applying a mutation in memory


def _register_nothing(name: str):
    return lambda cls: cls


def _transplant_function(live: types.FunctionType, fresh: types.FunctionType, undo: list) -> bool:
    if live.__code__.co_freevars != fresh.__code__.co_freevars:
        return False
    undo.append((live, live.__code__, live.__defaults__, live.__kwdefaults__))
    live.__code__, live.__defaults__, live.__kwdefaults__ = fresh.__code__, fresh.__defaults__, fresh.__kwdefaults__
    return True


def _underlying(value):
    """The function inside a method-like class attribute (or None)."""
    if isinstance(value, (staticmethod, classmethod)):
        return value.__func__
    if isinstance(value, property):
        return value.fget
    return value if isinstance(value, types.FunctionType) else None


@contextlib.contextmanager
def mutated(mutation: Mutation) -> Iterator[None]:
    """The live module behaves as its source with ``mutation`` applied, inside the block."""
    importlib.import_module("msa_bench.models").load_builtin_baselines()  # nothing registers inside the block
    module = importlib.import_module(mutation.module)
    source = mutation.source
    if source.count(mutation.old) != 1:
        raise ValueError(f"{mutation.module}: the snippet of {mutation.what!r} occurs {source.count(mutation.old)} times")
    code = compile(source.replace(mutation.old, mutation.new), module.__file__, "exec")
    fresh = {"__name__": module.__name__, "__file__": module.__file__, "__package__": module.__package__}
    api = importlib.import_module("msa_bench.models.api")
    package = importlib.import_module("msa_bench.models")
    real = api.register_model
    api.register_model = package.register_model = _register_nothing  # the classes stay registered as they are
    try:
        exec(code, fresh)  # noqa: S102 - the mutated module, compiled from our own source
    finally:
        api.register_model = package.register_model = real
    functions: list = []
    attributes: list = []
    try:
        for name, value in fresh.items():
            live = module.__dict__.get(name)
            defined_here = getattr(value, "__module__", None) == module.__name__ == getattr(live, "__module__", None)
            if isinstance(value, types.FunctionType) and isinstance(live, types.FunctionType):
                if defined_here:  # not a function the module imported
                    _transplant_function(live, value, functions)
            elif isinstance(value, type) and isinstance(live, type) and defined_here:
                for attribute, item in vars(value).items():
                    if attribute in ("__dict__", "__weakref__", "__module__", "__qualname__", "__doc__"):
                        continue
                    current = vars(live).get(attribute)
                    fresh_function, live_function = _underlying(item), _underlying(current)
                    if fresh_function is not None and live_function is not None and _transplant_function(
                        live_function, fresh_function, functions
                    ):
                        continue
                    if fresh_function is None and isinstance(item, (int, float, str, bool, tuple, dict, list)) and item != current:
                        attributes.append((live, attribute, current))
                        setattr(live, attribute, item)
            elif isinstance(value, (int, float, str, bool, tuple, dict)) and not name.startswith("__") and value != live:
                attributes.append((module, name, live))
                setattr(module, name, value)
        yield
    finally:
        for function, code_object, defaults, kwdefaults in reversed(functions):
            function.__code__, function.__defaults__, function.__kwdefaults__ = code_object, defaults, kwdefaults
        for owner, attribute, value in reversed(attributes):
            setattr(owner, attribute, value)


# --------------------------------------------------------------------------------------------
# The checks each model's mutations run: the comparison functions of the equivalence tests


def checks() -> dict[str, list[Callable[[Path], None]]]:
    import test_official_equivalence as fwd
    import test_official_equivalence_sota as sota
    import test_official_schedules as schedules
    import test_official_training as train
    import test_official_training_sota as train_sota

    def schedule(name):
        return lambda _tmp: schedules.test_mosi_schedules_are_the_official_configurations(name)

    def transcribed(name, dataset):
        return lambda _tmp: schedules.test_schedules_transcribed_from_the_official_code(name, dataset)

    return {
        "tfn": [lambda _tmp: fwd.test_mmsa_subnetwork_models_equal_mmsa("tfn"), lambda _tmp: train.check_tfn(), schedule("tfn")],
        "lf_dnn": [lambda _tmp: fwd.test_mmsa_subnetwork_models_equal_mmsa("lf_dnn"), lambda _tmp: train.check_lf_dnn(),
                   schedule("lf_dnn")],
        "lmf": [lambda _tmp: fwd.test_lmf_equals_mmsa(), lambda _tmp: train.check_lmf(), schedule("lmf")],
        "ef_lstm": [lambda _tmp: fwd.test_ef_lstm_equals_mmsa(), lambda _tmp: fwd.test_ef_lstm_resampling_path_gives_the_official_outputs(),
                    lambda _tmp: train.check_ef_lstm(), schedule("ef_lstm")],
        "mult": [lambda _tmp: fwd.test_mult_equals_each_official_variant("mult_yaohungt"),
                 lambda _tmp: fwd.test_mult_equals_each_official_variant("mult_mmsa"),
                 lambda _tmp: fwd.test_mult_causal_offset_ignores_padding_of_one_modality(), lambda _tmp: train.check_mult_mmsa(),
                 transcribed("mult", "mosi")],
        "misa": [fwd.test_misa_equals_mmsa_with_its_losses, train_sota.check_misa, transcribed("misa", "mosi")],
        "self_mm": [sota.test_self_mm_reproduces_the_official_outputs,
                    lambda _tmp: sota.test_self_mm_optimizer_groups_follow_the_official_trainer(),
                    sota.test_self_mm_has_no_weight_decay_on_bert_bias_and_layer_norm, train_sota.check_self_mm,
                    schedule("self_mm")],
        "adafn_ag": [sota.test_adafn_ag_reproduces_the_official_outputs_on_unpadded_rows,
                     partial(sota.test_adafn_ag_with_official_padding_reproduces_every_row, variant="B"),
                     sota.test_adafn_restyles_like_the_official_train_mode_call, train_sota.check_adafn_ag, schedule("adafn_ag")],
        "mmim": [sota.test_mmim_reproduces_the_official_outputs_without_labels,
                 partial(sota.test_mmim_reproduces_the_official_entropy_with_empty_and_filled_memory, variant="C"),
                 train_sota.CHECKS["mmim_stage0"], train_sota.CHECKS["mmim_stage1"], schedule("mmim")],
        "almt": [sota.test_almt_reproduces_the_official_outputs_and_intermediates,
                 sota.test_almt_padded_inputs_give_the_official_outputs_of_the_unpadded_ones, train_sota.check_almt,
                 schedule("almt")],
        "mmml": [*(partial(sota.test_mmml_reproduces_the_official_outputs, folder=folder, variant=variant, prefix=prefix)
                   for folder, variant, prefix in (("mmml", "cc", "cc."), ("mmml", "cme_v1", "cme_v1v2."),
                                                   ("mmml", "cme_v2", "cme_v1v2."), ("mmml_cme_v3", "cme_v3", "cme_v3."))),
                 train_sota.CHECKS["mmml"], train_sota.CHECKS["mmml_cme_v1"], train_sota.CHECKS["mmml_cme_v2"],
                 schedule("mmml"), transcribed("mmml", "mosi")],
        "diff_fusion": [lambda _tmp: fwd.test_differential_attention_equals_the_official_block(),
                        lambda _tmp: fwd.test_differential_attention_equals_the_official_block_causally_and_across_streams()],
    }


def is_caught(mutation: Mutation, model_checks: dict[str, list[Callable[[Path], None]]] | None = None) -> str:
    """The first check of the mutation's model that fails under it ("" when every check passes).
    A check skipped for missing fixtures stops the run, so this is only run where they are."""
    model_checks = checks() if model_checks is None else model_checks
    with mutated(mutation):
        for check in model_checks[mutation.model]:
            folder = Path(tempfile.mkdtemp(prefix="mutation-"))
            try:
                check(folder)
            except pytest.skip.Exception:
                raise
            except (pytest.fail.Exception, Exception) as failure:  # noqa: BLE001 - any failure of a check catches the mutation
                return f"{getattr(check, '__name__', 'check')}: {type(failure).__name__}"
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    return ""


def mutated_source_differs(mutation: Mutation) -> bool:
    """The mutation changes something: its snippet occurs once and the replacement differs."""
    return mutation.source.count(mutation.old) == 1 and mutation.old != mutation.new

