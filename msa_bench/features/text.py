"""Transformers text encoders (BERT, RoBERTa, any ``AutoModel`` checkpoint): token-level hidden
states of a chosen layer, and MMSA-compatible token ids for models that fine-tune the encoder.

Token rows include the special tokens ([CLS] ... [SEP]) like MMSA's BERT features. The token
ids (``input_ids``, ``attention_mask``, ``segment_ids``) are what MMSA stores as
``text_bert``; the pipeline writes them to ``token_ids.parquet`` next to the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from msa_bench.features.base import ExtractorConfig, Failure, Output, TransformersExtractor, load_pretrained


@dataclass(frozen=True)
class TextEncoderConfig(ExtractorConfig):
    checkpoint: str = "bert-base-uncased"
    #: Index into ``hidden_states`` (0 = embeddings, -1 = last layer).
    layer: int = -1
    max_length: int = 512


class TextEncoder(TransformersExtractor):
    modality = "text"
    config_class = TextEncoderConfig
    name_prefix = "text"

    def __init__(self, config: TextEncoderConfig) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.config = config
        self.tokenizer = load_pretrained(AutoTokenizer, config.checkpoint)
        self._use_model(load_pretrained(AutoModel, config.checkpoint))

    def token_ids(self, texts: Sequence[str]) -> list[dict[str, list[int]]]:
        """MMSA-style ids per text: ``input_ids``, ``attention_mask``, ``segment_ids`` (unpadded)."""
        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.config.max_length, return_token_type_ids=True
        )
        return [
            {"input_ids": ids, "attention_mask": mask, "segment_ids": segments}
            for ids, mask, segments in zip(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
        ]

    def extract(self, batch: Sequence[str]) -> list[Output]:
        """Token-level hidden states, one row per (sub)word token including special tokens."""
        return self._encode([text.strip() for text in batch], pool_words=False)

    def extract_words(self, batch: Sequence[Sequence[str]]) -> list[Output]:
        """One row per given word: the mean of its sub-word tokens (for word-aligned datasets)."""
        return self._encode([list(words) for words in batch], pool_words=True)

    def _encode(self, batch: list, pool_words: bool) -> list[Output]:
        import torch

        outputs: list[Output] = [Failure("empty transcript") for _ in batch]
        usable = [i for i, item in enumerate(batch) if len(item) > 0]
        if not usable:
            return outputs
        encoded = self.tokenizer(
            [batch[i] for i in usable],
            is_split_into_words=pool_words,
            truncation=True,
            max_length=self.config.max_length,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            hidden = self.model(**encoded.to(self.device), output_hidden_states=True).hidden_states[self.config.layer]
        hidden = hidden.float().cpu().numpy()
        mask = encoded["attention_mask"].bool().cpu().numpy()
        for row, index in enumerate(usable):
            if pool_words:
                outputs[index] = _pool_words(hidden[row], encoded.word_ids(row), len(batch[index]))
            else:
                outputs[index] = np.ascontiguousarray(hidden[row, mask[row]])
        return outputs


def _pool_words(hidden: np.ndarray, word_ids: list[int | None], n_words: int) -> Output:
    """Average token rows per word; a word cut off by truncation gets no row, so fail loudly."""
    rows = [[] for _ in range(n_words)]
    for token, word in enumerate(word_ids):
        if word is not None:
            rows[word].append(hidden[token])
    if any(not r for r in rows):
        return Failure(f"transcript longer than the encoder's max_length ({n_words} words)")
    return np.stack([np.mean(r, axis=0) for r in rows]).astype(np.float32)
