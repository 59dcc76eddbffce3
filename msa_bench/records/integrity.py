"""Whether a sealed record holds together with the files beside it (what its hashes name)."""

from __future__ import annotations

from pathlib import Path

from msa_bench.records.record import ResultRecord, predictions_path
from msa_bench.records.seal import file_sha256, files_hash


def seal_problem(record_file: Path, record: ResultRecord) -> str | None:
    """Why a loaded record (its ``record_hash`` already checked) does not hold together with its
    files, or ``None``: the predictions file it was sealed with, its kind against its code, its
    isolation, and a submission's archived code against the code hash."""
    predictions = predictions_path(record_file)
    if predictions.is_file() and file_sha256(predictions) != record.predictions_sha256:
        return f"its predictions file is not the one it was sealed with (sha256 {file_sha256(predictions)[:12]}…, the record says {str(record.predictions_sha256)[:12]}…)"
    kind = record.code.get("kind") if isinstance(record.code, dict) else None
    expected = ("predictions",) if record.kind == "predictions_only" else (("reference",) if record.config.get("reference") else ("builtin", "submission"))
    if kind not in expected:
        return f"a {record.kind} record{' (reference row)' if record.config.get('reference') else ''} with code of kind {kind!r}: its kind or its code was altered"
    if record.isolation not in ("sandbox", "process", "none") or (record.kind == "predictions_only" and record.isolation != "none"):
        return f"its isolation {record.isolation!r} is not one a run records"
    if kind == "submission":
        folder = Path(record_file).parent / "code"
        files = {name: folder / name for name in record.code.get("files", {})}
        missing = sorted(name for name, path in files.items() if not path.is_file())
        if missing:
            return f"its archived code is missing ({', '.join(missing)} under {folder.name}/)"
        sums = {name: file_sha256(path) for name, path in files.items()}
        if sums != record.code.get("files") or files_hash(sums) != record.code.get("hash"):
            return "its archived code does not match the code hash it was sealed with"
    return None
