"""Peak memory of one phase of a benchmark, for phases run in a fresh interpreter (Linux ``/proc``).

``measured(phase)`` returns, in MiB above the phase's start: the ``tracemalloc`` peak of
Python/numpy allocations; the peak resident set size (``VmHWM`` after a reset through
``/proc/self/clear_refs``), which also counts pages of memory-mapped files; and the peak anonymous
(heap) memory (``RssAnon`` sampled every 5 ms), which does not.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path


def status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


def measured(phase: Callable[[], object]) -> dict[str, float]:
    """Run ``phase`` and return its peak memory growth (MiB)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident size (VmHWM)
    rss_before, anon_before = status_kib("VmRSS"), status_kib("RssAnon")
    anon_peak = [anon_before]
    done = threading.Event()

    def sample_anonymous_memory() -> None:
        while not done.wait(0.005):
            anon_peak[0] = max(anon_peak[0], status_kib("RssAnon"))

    sampler = threading.Thread(target=sample_anonymous_memory, daemon=True)
    sampler.start()
    tracemalloc.start()
    phase()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    done.set()
    sampler.join()
    return {
        "tracemalloc_peak_mib": round(traced_peak / 2**20, 1),
        "peak_rss_growth_mib": round((status_kib("VmHWM") - rss_before) / 2**10, 1),
        "peak_anonymous_growth_mib": round((anon_peak[0] - anon_before) / 2**10, 1),
    }
