"""Connecting to Ray: a local instance, a running cluster (``auto``) or a remote one (``ray://``)."""

from __future__ import annotations

from enum import Enum


class Engine(str, Enum):
    """Where ``extract``, ``run`` and ``submit`` run: this machine, or a Ray cluster."""

    local = "local"
    ray = "ray"


def import_ray():
    """The ``ray`` module, or a clear error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the extraction engine needs Ray Data
    except ImportError as err:
        raise ImportError(f'--engine ray needs Ray: pip install "msa_bench[ray]" ({err})') from None
    return ray


def connect(address: str | None = None, **init_options):
    """``ray.init(address)`` unless this process is already connected; returns the ``ray`` module.

    ``address``: ``None`` starts a local instance, ``"auto"`` joins the cluster started on this
    machine with ``ray start``, ``"ray://host:10001"`` connects to a remote head node.
    """
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, **init_options)
    return ray


def cluster_gpus() -> float:
    """GPUs in the connected Ray cluster."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))
