"""Writing records: every seed of an entry is staged, and the entry is committed whole or not at all.

A run stages each finished seed under ``<records>-staging/<dataset>/<name>/`` (sealed record and
predictions, plus the archived model code of a submission). When every seed has succeeded,
:meth:`EntryStage.commit` moves them into ``<records>/<dataset>/<name>/`` under the records lock:

- records of the same entry identity (kind, name, config hash, code hash) and other seeds are
  joined; seeds of other code or another config never merge;
- a name that already holds records of another identity, or the same seed, is refused unless
  ``replace`` is given, which moves those records aside to ``<records>-superseded/`` (never
  deletes) and says where;
- a name that holds records of another kind on any dataset is refused;
- two seeds of a trained model with identical predictions are refused as a copied seed.

A failed run commits nothing: its staged seeds stay where the error message says.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from filelock import FileLock

from msa_bench.records.record import ResultRecord, load_record, predictions_path, record_path
from msa_bench.records.seal import file_sha256
from msa_bench.scoring.metrics import validate_predictions
from msa_bench.util.atomic import stage, umask
from msa_bench.util.errors import UserError

#: The folder of an entry's archived model code (submissions), beside its records.
CODE_FOLDER = "code"


class RecordConflict(UserError):
    """An entry cannot be committed where it would go; nothing was written to the records."""


def staging_root(records_dir: str | Path) -> Path:
    records_dir = Path(records_dir)
    return records_dir.with_name(f"{records_dir.name}-staging")


def superseded_root(records_dir: str | Path) -> Path:
    records_dir = Path(records_dir)
    return records_dir.with_name(f"{records_dir.name}-superseded")


def records_lock(records_dir: str | Path) -> FileLock:
    """The lock that serialises every check-and-write of records under ``records_dir``
    (across processes and machines sharing the folder)."""
    Path(records_dir).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(records_dir) / ".records.lock"), mode=0o666 & ~umask())


def write_record(record: ResultRecord, predictions: pd.DataFrame, folder: str | Path) -> Path:
    """Write ``predictions`` and the record sealed over them into ``folder`` (the records layout):
    predictions first, then the record, each atomically. Returns the record's path."""
    return _write_pair(record, predictions, record_path(folder, record.dataset, record.model, record.seed))


def _write_pair(record: ResultRecord, predictions: pd.DataFrame, path: Path) -> Path:
    validate_predictions(predictions, source=f"predictions of {record.model} on {record.dataset}")
    table = stage(predictions_path(path), lambda tmp: predictions.to_parquet(tmp, index=False))
    try:
        sealed = dataclasses.replace(record, predictions_sha256=file_sha256(table)).sealed()
        text = stage(path, lambda tmp: Path(tmp).write_text(sealed.to_json(), encoding="utf-8"))
    except BaseException:
        table.unlink(missing_ok=True)
        raise
    os.replace(table, predictions_path(path))
    os.replace(text, path)
    return path


class EntryStage:
    """The staged seeds of one entry (``dataset``, ``name``) of the records folder ``records_dir``.

    ``token`` names this run's staging folder (``<records>-staging/<dataset>/<name>/<token>``), so
    two runs of one name never share one; a new token is drawn when none is given (a run whose
    seeds are staged by other processes passes its token to them)."""

    def __init__(self, records_dir: str | Path, dataset: str, name: str, token: str | None = None) -> None:
        self.records_dir = Path(records_dir)
        self.dataset, self.name = dataset, name
        self.token = token or uuid.uuid4().hex[:12]
        self.folder = staging_root(records_dir) / dataset / name / self.token

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        for empty in (self.folder.parent, self.folder.parent.parent):
            try:
                empty.rmdir()
            except OSError:
                break

    def add(self, record: ResultRecord, predictions: pd.DataFrame) -> Path:
        if (record.dataset, record.model) != (self.dataset, self.name):
            raise ValueError(f"a record of {record.dataset}/{record.model} cannot be staged as {self.dataset}/{self.name}")
        return _write_pair(record, predictions, self.folder / f"seed{record.seed}.json")

    def add_code(self, files: Mapping[str, Path]) -> None:
        """Archive a submission's code files (name in the record -> file) with the entry."""
        for name, source in files.items():
            target = self.folder / CODE_FOLDER / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

    def staged(self) -> list[Path]:
        return sorted(self.folder.glob("seed*.json"))

    def check(self, kind: str, identity: tuple, seeds: set[int], *, replace: bool) -> list[Path]:
        """The records that committing seeds ``seeds`` of ``identity`` would move aside; refuses
        (before anything is trained, when called first) what cannot be committed without ``replace``."""
        _refuse_other_kind(self.records_dir, self.name, kind)
        entry = self.records_dir / self.dataset / self.name
        clashing = [path for path in sorted(entry.glob("seed*.json")) if _clashes(path, identity, seeds)]
        if clashing and not replace:
            raise RecordConflict(
                f"{entry}: the name {self.name!r} already holds {len(clashing)} record(s) of another model code, "
                "config or the same seed; nothing was changed. Choose another name, or pass --replace to move "
                "those records aside (they are kept, never deleted)"
            )
        return clashing

    def commit(self, *, replace: bool = False, echo: Callable[[str], None] = print) -> list[Path]:
        """Move every staged seed into the records (see the module docstring); their new paths."""
        staged = [load_record(path) for path in self.staged()]
        if not staged:
            raise RecordConflict(f"{self.folder}: nothing staged to commit")
        identities = {record.entry_identity() for record in staged}
        if len(identities) != 1:
            raise RecordConflict(f"{self.folder}: the staged seeds are of different configs or code; run the entry again")
        [identity] = identities
        _refuse_copied_seeds(self.staged(), staged)
        entry = self.records_dir / self.dataset / self.name
        with records_lock(self.records_dir):
            try:
                clashing = self.check(staged[0].kind, identity, {record.seed for record in staged}, replace=replace)
            except RecordConflict as err:
                raise RecordConflict(f"{err}. The new records are staged in {self.folder}") from None
            if clashing:
                moved_to = self._set_aside(entry, clashing)
                echo(f"{self.name}: {len(clashing)} earlier record(s) moved aside to {moved_to}")
            written = []
            for record in staged:
                source = self.folder / f"seed{record.seed}.json"
                target = record_path(self.records_dir, self.dataset, self.name, record.seed)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(predictions_path(source), predictions_path(target))
                os.replace(source, target)
                written.append(target)
            if (self.folder / CODE_FOLDER).is_dir():
                shutil.rmtree(entry / CODE_FOLDER, ignore_errors=True)
                os.replace(self.folder / CODE_FOLDER, entry / CODE_FOLDER)
        self.clear()
        return written

    def _set_aside(self, entry: Path, clashing: list[Path]) -> Path:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        target = superseded_root(self.records_dir) / self.dataset / self.name / stamp
        target.mkdir(parents=True, exist_ok=True)
        for path in clashing:
            for part in (path, predictions_path(path)):
                if part.exists():
                    os.replace(part, target / part.name)
        if (entry / CODE_FOLDER).is_dir() and not any(entry.glob("seed*.json")):
            os.replace(entry / CODE_FOLDER, target / CODE_FOLDER)
        return target


def _clashes(path: Path, identity: tuple, seeds: set[int]) -> bool:
    try:
        record = load_record(path)
    except (OSError, ValueError):
        return True  # an unreadable or unsealed record cannot be joined
    return record.entry_identity() != identity or record.seed in seeds


def _refuse_other_kind(records_dir: Path, name: str, kind: str) -> None:
    for path in sorted(records_dir.glob(f"*/{name}/seed*.json")):
        try:
            other = load_record(path)
        except (OSError, ValueError):
            continue
        if other.kind != kind:
            raise RecordConflict(
                f"{path.parent}: the name {name!r} already holds {other.kind} records, so "
                f"{kind} records cannot use it; choose another name"
            )


def predictions_digest(table: pd.DataFrame) -> str:
    """A hash of a predictions table's content (rows in id order), whatever its file's bytes."""
    ordered = table.sort_values("id").reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes()).hexdigest()


def _refuse_copied_seeds(paths: list[Path], records: list[ResultRecord]) -> None:
    """Two seeds of a trained model never predict identically: such a pair is a copied seed."""
    if records[0].kind != "full" or records[0].config.get("reference"):
        return
    seen: dict[str, int] = {}
    for path, record in zip(paths, records):
        digest = predictions_digest(pd.read_parquet(predictions_path(path)))
        if digest in seen:
            raise RecordConflict(
                f"{path}: seed {record.seed} has the same predictions as seed {seen[digest]}: a copied seed is refused"
            )
        seen[digest] = record.seed


def save_record(record: ResultRecord, predictions: pd.DataFrame, records_dir: str | Path, *, replace: bool = False) -> Path:
    """Stage one record and commit it as its entry's only new seed; its path in the records."""
    entry = EntryStage(records_dir, record.dataset, record.model)
    entry.add(record, predictions)
    [path] = entry.commit(replace=replace)
    return path
