"""What one board entry trains: the model as the worker imports it, its name, configs and code.

Built-in baselines are this repository's code: the harness reads their configs itself. A
submitted model (``path/to/file.py:Class``, or a module of an installed package) is imported only
inside a worker (:func:`msa_bench.harness.boundary.describe_submission`), which reports its name,
resolved configs and the files it imported from its own folder; the harness hashes those files
itself and archives them with the records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from msa_bench import __version__
from msa_bench.features.checkpoints import portable_config
from msa_bench.harness.sandbox import ReadAccess
from msa_bench.models import MSAModel, builtin_model_names, get_model_class
from msa_bench.records.names import check_entry_name, check_not_reserved
from msa_bench.records.record import config_hash
from msa_bench.records.seal import canonical_json, code_identity
from msa_bench.util.errors import ConfigError, SubmissionRejected
from msa_bench.worker.configs import model_name_of, resolve_configs, schedule_name

MODELS_LIBRARY = Path(__file__).resolve().parents[1] / "models"


@dataclass(frozen=True)
class EntrySpec:
    """``model``: what the worker imports; ``code``: the record's code section; ``code_files``:
    files to archive with a submission's records (name in the record -> file); ``access``:
    folders the worker may read besides the packages (with records, data and caches inside them hidden)."""

    model: str
    name: str
    track: str
    builtin: bool
    model_config: dict
    train_config: dict
    schedule: str
    code: dict
    code_files: dict[str, Path] = field(default_factory=dict)
    access: ReadAccess = ReadAccess()
    paper_results: dict = field(default_factory=dict)
    #: This run's staging folder (:class:`~msa_bench.records.store.EntryStage` token).
    stage_token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def run_folder_key(self, identity: dict) -> str:
        """A short hash of everything that identifies this entry's runs besides the seed."""
        configs = config_hash({"model": portable_config(self.model_config), "train": self.train_config})
        return hashlib.sha256(canonical_json({**identity, "configs": configs, "name": self.name}).encode()).hexdigest()[:12]


def builtin_code(model_class: type[MSAModel]) -> dict:
    """The code section of a built-in model: its baseline module and the model library."""
    module = Path(__import__(model_class.__module__, fromlist=["_"]).__file__)
    files = {f"baselines/{module.name}": module, **{f"msa_bench/models/{p.name}": p for p in sorted(MODELS_LIBRARY.glob("*.py"))}}
    return code_identity("builtin", files, f"msa_bench {__version__}", model_name_of(model_class))


def is_builtin(model: str | type[MSAModel]) -> bool:
    if isinstance(model, str):
        return ":" not in model and model in builtin_model_names()
    return model.__module__.startswith("baselines.") and model_name_of(model) in builtin_model_names()


def entry_name(base: str, track: str, variant: str | None) -> str:
    return base + ("" if track == "default" else f"+{track}") + (f"+{variant}" if variant else "")


def builtin_spec(
    name: str, dataset_name: str, model_overrides: dict | None, train_overrides: dict | None, track: str, variant: str | None,
    forbidden: Sequence[Path] = (),
) -> EntrySpec:
    """The entry of a built-in model: configs from its ``default_configs`` plus overrides."""
    model_class = get_model_class(name)
    if not is_builtin(model_class):
        raise SubmissionRejected(f"{name!r} is not one of msa_bench's baselines: submit it as --model path/to/file.py:ClassName")
    try:
        model_config, train_config = resolve_configs(model_class, dataset_name, model_overrides, train_overrides)
    except (TypeError, ValueError) as err:  # a misspelt or mistyped option, before anything runs
        raise ConfigError(f"the model or train options of {name}: {err}") from None
    full_name = check_entry_name(entry_name(name, track, variant))
    config_paths = tuple(_existing_paths(dataclasses.asdict(model_config)))
    return EntrySpec(
        model=name,
        name=full_name,
        track=track,
        builtin=True,
        model_config=dataclasses.asdict(model_config),
        train_config=dataclasses.asdict(train_config),
        schedule=schedule_name(model_class, dataset_name, model_overrides, train_overrides),
        code=builtin_code(model_class),
        access=ReadAccess.confined(config_paths, forbidden),
        paper_results=model_class.paper_results.get(dataset_name) or {},
    )


def submission_spec(
    model: str, dataset: datasets.DatasetDict, dataset_name: str, model_overrides: dict | None, train_overrides: dict | None,
    track: str, variant: str | None, forbidden: Sequence[Path] = (),
) -> EntrySpec:
    """The entry of a submitted model, described by a worker (nothing of it runs here)."""
    from msa_bench.harness.boundary import describe_submission

    path, sep, attribute = model.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise SubmissionRejected(f"--model must be 'path/to/file.py:ClassName' (or a built-in model's name), got {model!r}")
    source = Path(path).resolve()
    if not source.is_file():
        raise SubmissionRejected(f"{source}: no such file (from --model {model!r})")
    folder = source.parent
    worker_model = f"{source}:{attribute}"
    access = ReadAccess.confined((folder, *_existing_paths(model_overrides or {})), forbidden)
    described = describe_submission(
        worker_model, {"model": model_overrides or {}, "train": {**(train_overrides or {})}}, dataset, dataset_name, access=access,
    )
    name = check_entry_name(entry_name(described["name"], track, variant))
    check_not_reserved(name, builtin_model_names())
    files = {}
    for file in described["modules"]:
        resolved = Path(file).resolve()
        if not resolved.is_relative_to(folder) or not resolved.is_file():
            raise SubmissionRejected(f"{model}: the worker reported a module outside the submission's folder: {file}")
        files[resolved.relative_to(folder).as_posix()] = resolved
    code = code_identity("submission", files, f"msa_bench {__version__}", f"{source.relative_to(folder).as_posix()}:{attribute}")
    return EntrySpec(
        model=worker_model,
        name=name,
        track=track,
        builtin=False,
        model_config=described["model_config"],
        train_config=described["train_config"],
        schedule=described["schedule"],
        code=code,
        code_files=files,
        access=access,
    )


def _existing_paths(config: dict) -> list[Path]:
    """Local files or folders a model config names (e.g. a text encoder checkpoint): the worker may read them."""
    found = []
    for value in config.values():
        if isinstance(value, str) and ("/" in value or value.startswith(".")):
            path = Path(value).expanduser()
            if path.exists():
                found.append(path.resolve())
    return found
