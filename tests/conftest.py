"""Shared fixtures. Tests never reach the network: the hub is switched off here."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from shared_paths import SHARED_DATA  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder, or skip when a user's fresh clone does not have it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_source(tmp_path_factory) -> dict:
    """Where ``synthetic_small`` comes from (its cache and builder config), for code under test
    that loads the dataset itself (``submit_predictions(..., **synthetic_source)``)."""
    return {"cache_dir": tmp_path_factory.mktemp("cache"), "dataset_config": {"n_clips": 300}}


@pytest.fixture(scope="session")
def synthetic_small(synthetic_source):
    """A small synthetic dataset (300 clips), built once per test session."""
    from msa_bench import load_dataset

    return load_dataset("synthetic", cache_dir=synthetic_source["cache_dir"], **synthetic_source["dataset_config"])


@pytest.fixture(scope="session")
def synthetic_small_labels(synthetic_small):
    """The test labels of ``synthetic_small`` as a submission is scored against them."""
    from msa_bench.harness.submissions import labels_of_test_split

    return labels_of_test_split(synthetic_small["test"])


@pytest.fixture(scope="session")
def synthetic_default(tmp_path_factory):
    """The default synthetic dataset (2,000 clips), built once per test session."""
    from msa_bench import load_dataset

    return load_dataset("synthetic", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A local path to a tiny randomly initialised BERT (hidden 32, 1 layer, 2 heads) with a
    small WordPiece vocabulary, saved with ``save_pretrained``: the fine-tuned text path offline."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from msa_bench.builders.synthetic import NEGATIVE_WORDS, NEUTRAL_WORDS, POSITIVE_WORDS

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *NEUTRAL_WORDS, *POSITIVE_WORDS, *NEGATIVE_WORDS]
    # transformers 5 ignores vocab_file= here (every word became [UNK]): pass the vocabulary itself
    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(dict.fromkeys(vocab))})
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
