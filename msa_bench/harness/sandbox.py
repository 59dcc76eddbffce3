"""Starting a worker process: inside a bubblewrap sandbox where the OS has one, else a plain process.

The sandbox (``bwrap``, the tool Flatpak uses) is a new mount namespace holding only what a
worker needs, read-only: the system's ``/usr``, the Python installation and environment, the
msa_bench and baselines packages, the submission's own folder, the Hugging Face model cache
(model folders only) and any local checkpoint a model config names; read-write: the run's
scratch folder; and the phase's input folder with its data shards. No home, no dataset caches,
no records, no data folders. It has no network (``--unshare-net``), its own process tree,
no capabilities, and dies with the harness (``--die-with-parent``).

Where bubblewrap is missing or cannot start (macOS, restricted containers), workers run as plain
processes that still receive only their shards, after one warning; every record states which
isolation it ran under (:data:`ISOLATION_LEVELS`).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: ``"sandbox"``: bubblewrap; ``"process"``: a plain worker process (fallback);
#: ``"none"``: the model ran in the harness's own process (the in-process API, never a board run).
ISOLATION_LEVELS: tuple[str, ...] = ("sandbox", "process", "none")
#: Where the phase's input folder and the scratch folder appear inside the sandbox.
INPUT_MOUNT, SCRATCH_MOUNT = "/sandbox/input", "/sandbox/scratch"
#: Environment variable forcing the fallback (e.g. to compare both in a test).
NO_SANDBOX = "MSA_BENCH_NO_SANDBOX"
_SYSTEM = (
    "/usr", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd", "/etc/group",
    "/etc/nsswitch.conf", "/etc/hosts",  # localhost for torchrun's store on the sandbox's own loopback
)


class WorkerFailed(RuntimeError):
    """A worker process ended without finishing its phase."""


@dataclass(frozen=True)
class ReadAccess:
    """Folders a worker may read besides the packages (a submission's folder, a checkpoint its
    config names), and folders inside them it may not (hidden under an empty tmpfs)."""

    readable: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()

    @classmethod
    def confined(cls, paths: Iterable[Path], forbidden: Iterable[Path]) -> ReadAccess:
        """Access to ``paths`` with every ``forbidden`` folder (records, data, caches) inside them
        hidden; a path inside (or equal to) a forbidden folder is refused."""
        from msa_bench.util.errors import SubmissionRejected

        readable = tuple(sorted({Path(p).resolve() for p in paths}))
        roots = [Path(root).resolve() for root in forbidden]
        hidden = set()
        for path in readable:
            for root in roots:
                if path == root or path.is_relative_to(root):
                    raise SubmissionRejected(
                        f"{path}: the model's worker would read this folder (the submission's folder, or a path its "
                        f"config names), but it lies inside {root}, which a model may not read; move it to a folder of its own"
                    )
                if root.is_relative_to(path) and root.exists():
                    hidden.add(root)
        return cls(readable, tuple(sorted(hidden)))


@functools.cache
def sandbox_available() -> bool:
    """Whether bubblewrap is installed and can start a sandbox here."""
    if os.environ.get(NO_SANDBOX) or sys.platform != "linux" or shutil.which("bwrap") is None:
        return False
    probe = [*_bwrap_base(), sys.executable, "-I", "-c", "pass"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def isolation_level() -> str:
    """``"sandbox"`` or, after one warning, ``"process"``."""
    if sandbox_available():
        return "sandbox"
    warnings.warn(
        "bubblewrap (bwrap) is missing or cannot start here: model code runs in plain worker processes that "
        "receive only their data shards but can read the rest of this machine's files; records say "
        "isolation 'process'. Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) for the sandbox.",
        stacklevel=2,
    )
    return "process"


def package_roots() -> list[Path]:
    """The Python installation, the environment and the folders of msa_bench and baselines."""
    import baselines
    import msa_bench

    roots = {Path(sys.base_prefix), Path(sys.prefix), Path(msa_bench.__file__).parent, Path(baselines.__file__).parent}
    return sorted({root.resolve() for root in roots} | roots)


def model_cache_folders() -> list[Path]:
    """The Hugging Face hub cache's model folders (``models--*``): checkpoints only, no datasets."""
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
    return sorted(hub.glob("models--*")) if hub.is_dir() else []


def _bwrap_base() -> list[str]:
    command = [
        "bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
        "--proc", "/proc", "--tmpfs", "/tmp",
    ]
    for path in _SYSTEM:
        command += ["--ro-bind-try", path, path]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            command += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            command += ["--ro-bind", str(target), str(target)]
    for root in package_roots():
        command += ["--ro-bind", str(root), str(root)]
    return command


def _environment(threads: int, home: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONSAFEPATH": "1",  # the processes torchrun starts (without -I) never import from the scratch folder
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": f"{home}/.huggingface",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    hub = model_cache_folders()
    if hub:
        env["HF_HUB_CACHE"] = str(hub[0].parent)
    for name in ("CUDA_VISIBLE_DEVICES",):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def worker_command(
    input_dir: Path,
    scratch: Path,
    *,
    isolation: str,
    threads: int,
    cuda: bool = False,
    access: ReadAccess = ReadAccess(),
    launcher: Sequence[str] = (),
) -> tuple[list[str], dict[str, str] | None]:
    """The command (and environment) starting ``python -m msa_bench.worker`` on the two folders.

    ``access``: more folders the worker may read (the submission's folder, local checkpoints),
    with the records, data and caches inside them hidden.
    ``launcher``: a Python module and its arguments to start instead of the worker directly
    (``torch.distributed.run`` for multi-process training); the worker module comes after it.
    """
    python = [sys.executable, "-I", "-m", *launcher, "msa_bench.worker"]
    input_dir, scratch = input_dir.resolve(), scratch.resolve()  # bwrap resolves relative paths from the worker's folder
    if isolation == "process":
        env = _environment(threads, str(scratch))
        return [*python, str(input_dir), str(scratch)], env
    command = _bwrap_base()
    command += ["--dev-bind", "/dev", "/dev", "--ro-bind-try", "/sys", "/sys"] if cuda else ["--dev", "/dev"]
    for folder in [*model_cache_folders(), *access.readable]:
        command += ["--ro-bind", str(folder), str(folder)]
    for folder in access.hidden:
        command += ["--tmpfs", str(folder)]
    command += ["--ro-bind", str(input_dir), INPUT_MOUNT, "--bind", str(scratch), SCRATCH_MOUNT, "--chdir", SCRATCH_MOUNT]
    for key, value in _environment(threads, SCRATCH_MOUNT).items():
        command += ["--setenv", key, value]
    return [*command, *python, INPUT_MOUNT, SCRATCH_MOUNT], None


def run_worker(command: list[str], env: dict[str, str] | None, cwd: Path) -> int:
    """Run a worker command to its end; on Ctrl-C stop it (and everything it started) first."""
    process = subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True)
    try:
        return process.wait()
    except BaseException:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        raise
