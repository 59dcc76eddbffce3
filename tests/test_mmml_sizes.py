"""MMML's sizes: the official ones wherever the official encoders are the default, width 128 on
the feature path otherwise (the official fusion alone is about 3.9 TFLOP per CPU step)."""

from __future__ import annotations

import pytest

from baselines.mmml import MMML, OFFICIAL_SIZES
from msa_bench.models import DataSpec, build_config, count_parameters
from msa_bench.worker.configs import resolve_configs


@pytest.mark.parametrize("dataset", ["mosi", "mosei"])
def test_official_datasets_get_the_official_encoders_and_sizes(dataset):
    config, _ = resolve_configs(MMML, dataset)
    assert (config.text_encoder, config.audio_encoder) == ("roberta-base", "facebook/data2vec-audio-base")
    assert {key: getattr(config, key) for key in OFFICIAL_SIZES} == OFFICIAL_SIZES


def test_feature_path_default_is_the_official_architecture_at_width_128():
    config = build_config(MMML)
    assert (config.text_encoder, config.audio_encoder, config.variant, config.layers) == (None, None, "cme_v1", 5)
    assert config.dim == 128 and config.ff_dim == 4 * config.dim
    model = MMML(config, DataSpec(text_dim=768, audio_dim=5, vision_dim=20))
    official = MMML(build_config(MMML, OFFICIAL_SIZES), DataSpec(text_dim=768, audio_dim=5, vision_dim=20))
    assert count_parameters(model) * 20 < count_parameters(official)
