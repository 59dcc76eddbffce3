"""Per-dataset training schedules that every model must share."""

from msa_bench.worker.configs import resolve_configs
from msa_bench.models import get_model_class, model_names


def test_every_ravdess_schedule_selects_on_unweighted_accuracy():
    """RAVDESS is a categorical-emotion board scored by UA: selecting on WA favours frequent classes."""
    chosen = {name: resolve_configs(get_model_class(name), "ravdess")[1].select_metric for name in model_names()}
    assert {name: metric for name, metric in chosen.items() if metric != "emotion_ua"} == {}
