"""The shape of a record's robustness sweep (``record.robustness``), checked before it reaches a
table or a plot: names where names belong, numbers (or ``null``) where numbers belong, one value
per level on every curve. The format is written by :mod:`msa_bench.harness.robustness`."""

from __future__ import annotations

from collections.abc import Mapping

from msa_bench.board.entries import LeaderboardError
from msa_bench.data.schema import MODALITIES
from msa_bench.inputs.corruption import PROTOCOLS
from msa_bench.scoring.metrics import METRICS
from msa_bench.scoring.robustness import GRIDS, check_levels

#: The curves of a protocol's missing-rate part: every modality at once, then each alone.
CURVE_KEYS = ("all", *MODALITIES)


def _fail(where: str, problem: str) -> None:
    raise LeaderboardError(f"its robustness sweep is malformed: {where} {problem}")


def _mapping(value: object, where: str) -> Mapping:
    if not isinstance(value, Mapping):
        _fail(where, f"is a {type(value).__name__}, not an object")
    return value


def _number(value: object, where: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        _fail(where, f"is {value!r}, not a number")


def _scores(value: object, where: str) -> None:
    for name, score in _mapping(value, where).items():
        if name not in METRICS.names():
            _fail(f"{where}.{name}", "is not a metric name")
        _number(score, f"{where}.{name}")


def _curve(value: object, levels: list, where: str) -> None:
    curve = _mapping(value, where)
    for name, values in _mapping(curve.get("values"), f"{where}.values").items():
        if name not in METRICS.names() or not isinstance(values, list) or len(values) != len(levels):
            _fail(f"{where}.values.{name}", f"is not a list of {len(levels)} values of a metric")
        for k, v in enumerate(values):
            _number(v, f"{where}.values.{name}[{k}]")
    _scores(curve.get("auilc"), f"{where}.auilc")


def _condition(name: object) -> bool:
    parts = str(name).split("+")
    return len(set(parts)) == len(parts) and all(p in MODALITIES for p in parts)


def check_sweep(sweep: Mapping) -> None:
    """Raise :class:`LeaderboardError` unless ``sweep`` is empty, an older format without
    ``"protocols"`` (left off the robustness tables), or well formed."""
    if "protocols" not in sweep:
        return
    metrics = sweep.get("metrics")
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) and m in METRICS.names() for m in metrics):
        _fail("metrics", f"is {metrics!r}, not a list of metric names")
    if sweep.get("metric") not in metrics:
        _fail("metric", f"is {sweep.get('metric')!r}, not one of its metrics")
    if sweep.get("grid") not in (*GRIDS, "custom"):
        _fail("grid", f"is {sweep.get('grid')!r}, not one of {(*GRIDS, 'custom')}")
    levels = sweep.get("levels")
    if not isinstance(levels, list) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in levels):
        _fail("levels", f"is {levels!r}, not a list of numbers")
    try:
        check_levels(levels)
    except ValueError as err:
        _fail("levels", str(err))
    _scores(sweep.get("clean"), "clean")
    for protocol, parts in _mapping(sweep["protocols"], "protocols").items():
        if protocol not in PROTOCOLS:
            _fail(f"protocols.{protocol}", f"is not one of {PROTOCOLS}")
        parts = _mapping(parts, f"protocols.{protocol}")
        for condition, scores in _mapping(parts.get("modality_drop", {}), f"protocols.{protocol}.modality_drop").items():
            if not _condition(condition):
                _fail(f"protocols.{protocol}.modality_drop.{condition}", "is not a set of modalities")
            _scores(scores, f"protocols.{protocol}.modality_drop.{condition}")
        for key, curve in _mapping(parts.get("missing_rate", {}), f"protocols.{protocol}.missing_rate").items():
            if key not in CURVE_KEYS:
                _fail(f"protocols.{protocol}.missing_rate.{key}", f"is not one of {CURVE_KEYS}")
            _curve(curve, levels, f"protocols.{protocol}.missing_rate.{key}")
    for key, curve in _mapping(sweep.get("noise", {}), "noise").items():
        if key not in MODALITIES:
            _fail(f"noise.{key}", f"is not one of {MODALITIES}")
        _curve(curve, levels, f"noise.{key}")
    for condition, reason in _mapping(sweep.get("skipped", {}), "skipped").items():
        if not isinstance(reason, str):
            _fail(f"skipped.{condition}", "is not a reason in words")
