"""The worker processes of ``extract``: they die with the process that started them, even one
killed outright (SIGKILL), and leave Ctrl-C to it.

Ctrl-C in a terminal signals every process of the foreground group: the workers ignore it, so only
the parent answers (one line, see :func:`msa_bench.cli.app.on_interrupt`), with no traceback from
each worker. A parent killed without a chance to stop its pool would leave the workers waiting on
its queue forever; on Linux the kernel kills them with it (``PR_SET_PDEATHSIG``), elsewhere a
thread in each worker watches for the parent to go.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context

#: ``prctl`` option: the signal a process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the parent, where the kernel cannot watch it.
WATCH_INTERVAL_S = 1.0


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` processes that die with this one. ``fork`` where there is one: workers only
    decode and run openSMILE (no torch, no CUDA), so they need not pay ``spawn``'s fresh imports."""
    context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=start_worker, initargs=(os.getpid(),))


def start_worker(parent: int) -> None:
    """Run first in each worker: ignore Ctrl-C and die with ``parent``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_exit_without, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _exit_without(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL_S)
    os._exit(1)
