"""The sandbox a worker runs in: only its allowed files, no network; the plain-process fallback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

from msa_bench.harness import sandbox
from msa_bench.harness.sandbox import INPUT_MOUNT, SCRATCH_MOUNT, isolation_level, sandbox_available, worker_command

PROBE = r"""
import json, os, socket, sys
targets = json.loads(sys.argv[1])
opened = {}
for path in targets["files"]:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        opened[path] = True
    except OSError:
        opened[path] = False
listed = {path: os.path.exists(path) for path in targets["folders"]}
connections = {}
for host, port in targets["sockets"]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        connections[f"{host}:{port}"] = True
    except OSError:
        connections[f"{host}:{port}"] = False
with open(os.path.join(sys.argv[2], "probe.json"), "w") as out:
    json.dump({"opened": opened, "exists": listed, "connected": connections,
               "input": sorted(os.listdir(sys.argv[3]))}, out)
"""

needs_sandbox = pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot start here (apt-get install bubblewrap)")


def _run_probe(command: list[str], env, targets: dict, scratch: Path, inside: tuple[str, str]) -> dict:
    """Replace the worker module at the end of a worker command by the probe script."""
    python = command.index(sys.executable)
    probe = [*command[: python + 1], "-I", "-c", PROBE, json.dumps(targets), *inside]
    subprocess.run(probe, env=env, cwd=scratch, check=True, timeout=120)
    return json.loads((scratch / "probe.json").read_text())


@needs_sandbox
def test_the_sandboxed_worker_opens_only_its_allowed_files_and_no_socket(tmp_path):
    secret = tmp_path / "records" / "seed1.predictions.parquet"
    secret.parent.mkdir()
    secret.write_bytes(b"labels")
    home_cache = Path.home() / ".cache"
    input_dir, scratch = tmp_path / "input", tmp_path / "scratch"
    input_dir.mkdir()
    scratch.mkdir()
    (input_dir / "shard.arrow").write_bytes(b"inputs")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    port = server.getsockname()[1]
    repository = Path(__file__).resolve().parents[1]
    targets = {
        "files": [str(secret), str(repository / "pyproject.toml"), "/etc/hostname", f"{INPUT_MOUNT}/shard.arrow",
                  str(Path(sys.executable)), str(Path(sandbox.__file__))],
        "folders": [str(home_cache), str(tmp_path), str(repository / "leaderboard"), str(repository / "tests"), "/root/.cache"],
        "sockets": [["127.0.0.1", port], ["pypi.org", 443], ["1.1.1.1", 53]],
    }
    command, env = worker_command(input_dir, scratch, isolation="sandbox", threads=1)
    result = _run_probe(command, env, targets, scratch, (SCRATCH_MOUNT, INPUT_MOUNT))
    server.close()
    opened = result["opened"]
    assert opened[str(secret)] is False and opened[str(repository / "pyproject.toml")] is False
    assert opened["/etc/hostname"] is False
    assert opened[f"{INPUT_MOUNT}/shard.arrow"] is True  # its own input, read-only
    assert opened[str(Path(sys.executable))] is True and opened[str(Path(sandbox.__file__))] is True  # Python and msa_bench
    assert not any(result["exists"].values()), result["exists"]
    assert not any(result["connected"].values()), result["connected"]
    assert result["input"] == ["shard.arrow"]


@needs_sandbox
def test_the_sandbox_cannot_write_its_input_or_the_packages(tmp_path):
    input_dir, scratch = tmp_path / "input", tmp_path / "scratch"
    input_dir.mkdir()
    scratch.mkdir()
    command, env = worker_command(input_dir, scratch, isolation="sandbox", threads=1)
    python = command.index(sys.executable)
    targets = [f"{INPUT_MOUNT}/new", str(Path(sandbox.__file__).with_name("planted.py")), f"{SCRATCH_MOUNT}/allowed"]
    script = "import json,sys\nresult={}\nfor p in json.loads(sys.argv[1]):\n try:\n  open(p,'w').write('x'); result[p]=True\n except OSError:\n  result[p]=False\nprint(json.dumps(result))"
    done = subprocess.run([*command[: python + 1], "-I", "-c", script, json.dumps(targets)], env=env, cwd=scratch,
                          capture_output=True, text=True, check=True, timeout=120)
    written = json.loads(done.stdout)
    assert written == {targets[0]: False, targets[1]: False, targets[2]: True}
    assert (scratch / "allowed").is_file() and not Path(targets[1]).exists()


def test_without_bubblewrap_workers_are_plain_processes_after_one_warning(synthetic_small, tmp_path, monkeypatch):
    from msa_bench.harness.protocol import run_protocol
    from msa_bench.records.record import load_record

    monkeypatch.setenv(sandbox.NO_SANDBOX, "1")
    sandbox.sandbox_available.cache_clear()
    sandbox.isolation_level.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert isolation_level() == "process"
        assert any("bubblewrap" in str(w.message) and "isolation 'process'" in str(w.message) for w in caught)
        [path] = run_protocol("lf_dnn", "synthetic", [1111], train_overrides={"max_epochs": 1}, records_dir=tmp_path,
                              dataset=synthetic_small, progress=False, robustness=False)
        assert load_record(path).isolation == "process"
    finally:
        sandbox.sandbox_available.cache_clear()
        sandbox.isolation_level.cache_clear()


@needs_sandbox
def test_a_submission_folder_holding_the_workspace_is_readable_but_the_workspace_inside_is_hidden(tmp_path):
    from msa_bench.harness.sandbox import ReadAccess
    from msa_bench.util.errors import SubmissionRejected

    folder = tmp_path / "project"
    (folder / "msa_bench_runs" / "records").mkdir(parents=True)
    (folder / "my_model.py").write_text("# the submission\n")
    (folder / "msa_bench_runs" / "records" / "seed1.predictions.parquet").write_bytes(b"labels")
    access = ReadAccess.confined([folder], [folder / "msa_bench_runs"])
    assert access.hidden == ((folder / "msa_bench_runs").resolve(),)
    input_dir, scratch = tmp_path / "input", tmp_path / "scratch"
    input_dir.mkdir()
    scratch.mkdir()
    command, env = worker_command(input_dir, scratch, isolation="sandbox", threads=1, access=access)
    targets = {"files": [str(folder / "my_model.py"), str(folder / "msa_bench_runs" / "records" / "seed1.predictions.parquet")],
               "folders": [str(folder / "msa_bench_runs" / "records")], "sockets": []}
    result = _run_probe(command, env, targets, scratch, (SCRATCH_MOUNT, INPUT_MOUNT))
    assert result["opened"] == {targets["files"][0]: True, targets["files"][1]: False}
    assert result["exists"] == {targets["folders"][0]: False}
    with pytest.raises(SubmissionRejected, match="lies inside"):
        ReadAccess.confined([folder / "msa_bench_runs" / "records"], [folder / "msa_bench_runs"])


@needs_sandbox
def test_a_workspace_named_relative_to_the_current_folder_trains_in_the_sandbox(synthetic_small, tmp_path, monkeypatch):
    """``--workspace leaderboard`` or the default ``./msa_bench_runs``: bwrap is given absolute folders."""
    from msa_bench.harness.protocol import run_protocol
    from msa_bench.records.record import load_record

    monkeypatch.chdir(tmp_path)
    [path] = run_protocol("lf_dnn", "synthetic", [1111], train_overrides={"max_epochs": 1}, records_dir=Path("space/records"),
                          run_root=Path("space/runs"), dataset=synthetic_small, progress=False, robustness=False)
    assert load_record(path).isolation == "sandbox"
    assert list((tmp_path / "space" / "runs").rglob("checkpoint*"))
