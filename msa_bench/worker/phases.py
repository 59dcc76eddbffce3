"""The three phases a worker runs, on the data the harness wrote for it.

- :func:`describe`: import a submitted model, resolve its configs for the dataset and run one
  training batch forward and backward, so a broken submission is refused before any training.
- :func:`train`: seed, build, fit the feature scaler and train on the training split, selecting
  the best epoch on validation; save the selected weights and the noise statistics the
  robustness conditions draw from.
- :func:`evaluate`: rebuild the trained model and predict the label-free test inputs, then the
  robustness conditions.

Each phase reads only its input folder and writes only into the scratch folder's ``outputs``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import datasets
import torch

from msa_bench.inputs.loader import eval_batches
from msa_bench.inputs.normalization import attach_scaler, attach_unfitted_scaler
from msa_bench.models import DataSpec, MSAModel, build_config, count_parameters, get_model_class
from msa_bench.util.atomic import atomic_write
from msa_bench.util.errors import SubmissionRejected
from msa_bench.util.runtime import peak_memory_mb, resolve_device, seed_everything
from msa_bench.worker import job as layout
from msa_bench.worker.configs import model_name_of, resolve_configs, schedule_name
from msa_bench.worker.evaluation import metrics_of_columns, predict, predictions_of
from msa_bench.worker.job import WorkerJob
from msa_bench.worker.sweep import NoiseSource, noise_source_of, sweep_predictions
from msa_bench.worker.train_config import TrainConfig
from msa_bench.worker.trainer import Trainer, training_loss


def load_split(folder: Path, split: str) -> datasets.Dataset:
    return datasets.load_from_disk(str(Path(folder) / layout.SPLIT_FOLDERS[split]))


def write_json(path: Path, value: dict) -> None:
    text = json.dumps(value, sort_keys=True, allow_nan=True)
    atomic_write(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def check_trial_batch(model_class: type[MSAModel], model_config, train: datasets.Dataset) -> None:
    """Build the model and run one training batch forward and backward: catch a broken model early."""
    seed_everything(0)
    model = model_class(model_config, DataSpec.from_dataset(train))
    batch, targets = eval_batches(train.select(range(min(8, len(train)))), 8)[0]
    output = model(batch)
    for task, value in (("sentiment", output.sentiment), ("emotions", output.emotions), ("emotion", output.emotion_logits)):
        if task in model.tasks and (value is None or not torch.isfinite(value).all()):
            raise SubmissionRejected(f"{model_class.__name__}.forward gave no finite {task} prediction on a real batch")
    loss = training_loss(model, output, targets, head_loss_weight=1.0)
    if loss.ndim != 0 or not torch.isfinite(loss):
        raise SubmissionRejected(f"{model_class.__name__}.compute_loss must return a finite scalar, got {loss!r}")
    loss.backward()


def _local_modules(model_class: type) -> list[str]:
    """Files of the modules imported from the submission's folder (its own code), sorted."""
    folder = Path(sys.modules[model_class.__module__].__file__).resolve().parent
    files = {
        str(Path(module.__file__).resolve())
        for module in list(sys.modules.values())
        if getattr(module, "__file__", None) and Path(module.__file__).resolve().is_relative_to(folder)
    }
    return sorted(files)


def describe(job: WorkerJob, data: Path) -> dict:
    """The submission's name, resolved configs, schedule, code files and a passed trial batch."""
    try:
        model_class = get_model_class(job.model)
    except Exception as err:  # whatever the submission's import raises, it is refused with it
        raise SubmissionRejected(f"{job.model} cannot be used: {type(err).__name__}: {err}") from None
    try:
        model_config, train_config = resolve_configs(model_class, job.dataset_name, job.model_config, job.train_config)
    except (TypeError, ValueError, KeyError) as err:
        raise SubmissionRejected(f"the config of {job.model}: {err}") from None
    try:
        check_trial_batch(model_class, model_config, load_split(data, "train"))
    except SubmissionRejected:
        raise
    except Exception as err:  # the submitted code failed: refuse it with its error
        raise SubmissionRejected(f"{job.model} failed on a trial batch: {type(err).__name__}: {err}") from None
    return {
        "name": model_name_of(model_class),
        "model_config": dataclasses.asdict(model_config),
        "train_config": dataclasses.asdict(train_config),
        "schedule": schedule_name(model_class, job.dataset_name, job.model_config, job.train_config),
        "modules": _local_modules(model_class),
    }


def build_model(job: WorkerJob, spec: DataSpec) -> MSAModel:
    model_class = get_model_class(job.model)
    return model_class(build_config(model_class, job.model_config), spec)


def train(job: WorkerJob, data: Path, scratch: Path) -> dict:
    """Train with validation-only selection; save the selected weights; return what the record says."""
    started = time.perf_counter()
    device = resolve_device(job.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seed_everything(job.seed, device)
    train_split, validation = load_split(data, "train"), load_split(data, "validation")
    spec = DataSpec.from_dataset(train_split)
    model = build_model(job, spec)
    normalization = attach_scaler(model, train_split, job.normalize)
    trainer = Trainer(
        model,
        TrainConfig.from_dict(job.train_config),
        train_split,
        validation,
        seed=job.seed,
        device=device,
        run_dir=scratch,
        identity=job.identity,
        progress=job.progress,
    )
    model = trainer.fit()
    return save_trained(job, scratch, model, trainer, train_split, normalization, started)


def save_trained(
    job: WorkerJob, scratch: Path, model: MSAModel, trainer: Trainer, train_split: datasets.Dataset, normalization: dict, started: float,
) -> dict:
    """Save the selected weights, the noise statistics and the training report into ``outputs``."""
    outputs = layout.outputs_folder(scratch)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    atomic_write(outputs / layout.TRAINED_MODEL, lambda path: torch.save(state, path))
    noise_source_of(model, train_split, job.seed).save(outputs / layout.NOISE_FILE, outputs / layout.VOCABULARY_FILE)
    validation = metrics_of_columns(predict(model, trainer.validation_batches, trainer.device)[1])
    result = {
        "spec": dataclasses.asdict(model.spec),
        "validation_metrics": validation,
        "normalization": normalization,
        "history": trainer.state.history,
        "best_epoch": trainer.state.best_epoch,
        "n_parameters": count_parameters(model),
        "peak_memory_mb": peak_memory_mb(trainer.device),
        "wall_time_s": time.perf_counter() - started,
    }
    write_json(outputs / layout.TRAINED_FILE, result)
    return result


def load_trained(job: WorkerJob, scratch: Path) -> MSAModel:
    """The trained model of this run, rebuilt from its saved weights (``weights_only``)."""
    outputs = layout.outputs_folder(scratch)
    trained = json.loads((outputs / layout.TRAINED_FILE).read_text(encoding="utf-8"))
    spec = DataSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in trained["spec"].items()})
    model = build_model(job, spec)
    if job.normalize != "none":
        attach_unfitted_scaler(model, spec)
    model.load_state_dict(torch.load(outputs / layout.TRAINED_MODEL, map_location="cpu", weights_only=True))
    return model.to(resolve_device(job.device)).eval()


def evaluate(job: WorkerJob, data: Path, scratch: Path) -> None:
    """Predict the test inputs; with ``job.robustness``, every robustness condition too."""
    device = resolve_device(job.device)
    model = load_trained(job, scratch)
    test = load_split(data, "test")
    outputs = layout.outputs_folder(scratch)
    table = predictions_of(model, eval_batches(test), device)
    atomic_write(outputs / layout.PREDICTIONS_FILE, lambda path: table.to_parquet(path, index=False))
    if job.robustness is None:
        return
    noise = NoiseSource.load(outputs / layout.NOISE_FILE, outputs / layout.VOCABULARY_FILE)
    weights = hashlib.sha256((outputs / layout.TRAINED_MODEL).read_bytes()).hexdigest()[:16]
    sweep = outputs / layout.SWEEP_FOLDER
    sweep_layout, tables = sweep_predictions(
        model, test, noise, seed=job.seed, levels=job.robustness["levels"], device=device,
        not_applicable=job.robustness.get("not_applicable"), progress=sweep / "conditions" / weights,
    )
    keys = sorted(tables)
    for index, key in enumerate(keys):
        path = sweep / f"{index:04d}.parquet"
        atomic_write(path, lambda temporary, table=tables[key]: table.to_parquet(temporary, index=False))
    write_json(sweep / layout.SWEEP_LAYOUT, {"layout": sweep_layout, "files": {key: f"{index:04d}.parquet" for index, key in enumerate(keys)}})
