"""Commands that read or make datasets: ``datasets``, ``info``, ``export``, ``extract``."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Optional

import typer

from msa_bench.cli.app import DATA_DIR_HELP, app, key_values
from msa_bench.scale.cluster import Engine

@app.command("datasets")
def list_datasets() -> None:
    """List the datasets msa_bench can build."""
    from msa_bench.builders import DATASETS

    for name in DATASETS.names():
        typer.echo(name)


@app.command()
def info(
    name: str,
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the stable JSON form (see README)."),
    dataset_option: Optional[list[str]] = typer.Option(None, "--dataset-option", help="Dataset option as key=value (repeat), e.g. split_scheme=speech20 for RAVDESS."),
) -> None:
    """Split sizes, feature dimensions and label statistics of a dataset."""
    from msa_bench.loading.info import dataset_info, format_info
    from msa_bench.loading.load import load_dataset

    dataset = load_dataset(name, data_dir=data_dir, **key_values(dataset_option, "--dataset-option"))
    summary = dataset_info(name, dataset)
    typer.echo(json.dumps(summary, indent=2, sort_keys=True) if as_json else format_info(summary))


@app.command()
def export(
    name: str,
    out_dir: Path,
    data_dir: Optional[Path] = typer.Option(None, help="Folder holding the dataset's source files."),
    push_to_hub: Optional[str] = typer.Option(None, help="Also upload to this hub dataset repo (user/name)."),
    card_appendix: Optional[Path] = typer.Option(None, help="Markdown file appended to the generated dataset card."),
    config: Optional[list[str]] = typer.Option(None, "--config", help="Builder option as key=value (repeat); values parse as JSON when they can."),
) -> None:
    """Write a dataset as parquet shards plus a hub-ready dataset card."""
    from msa_bench.loading.export import export_dataset

    written = export_dataset(
        name, out_dir, data_dir=data_dir, push_to_hub=push_to_hub, card_appendix=card_appendix, **key_values(config, "--config")
    )
    typer.echo(f"exported {name} to {written}")


@app.command("extract")
def extract_features(
    dataset: str = typer.Argument(..., help="Dataset name written to the rows (mosi, mosei, ravdess, moud, ...)."),
    data_dir: Path = typer.Option(..., help="Raw media: label.csv + Raw/, full videos + label table, or RAVDESS Actor_XX/."),
    out: Path = typer.Option(..., help="Output folder (dataset/, errors.csv, summary.json, cache/)."),
    audio: Optional[str] = typer.Option(None, help="egemaps-lld, egemaps-functionals, compare-lld, compare-functionals, or a speech checkpoint."),
    text: Optional[str] = typer.Option(None, help="A transformers text checkpoint (hub name or local folder), e.g. bert-base-uncased."),
    vision: Optional[str] = typer.Option(None, help="pyfeat, or an image checkpoint (ViT, CLIP) run on Haar face crops."),
    audio_layer: Optional[int] = typer.Option(None, help="Hidden-state index of a speech encoder (default: last)."),
    text_layer: Optional[int] = typer.Option(None, help="Hidden-state index of the text encoder (default: last)."),
    vision_layer: Optional[int] = typer.Option(None, help="Hidden-state index of the image encoder (default: last)."),
    device: str = typer.Option("cpu", help="cpu or cuda: where transformers extractors run."),
    fps: float = typer.Option(5.0, help="Video frames sampled per second."),
    batch_size: int = typer.Option(16, help="Clips per extractor batch."),
    workers: Optional[int] = typer.Option(None, help="Worker processes for decoding and openSMILE (default: all cores)."),
    label_file: Optional[str] = typer.Option(None, help="Label table inside --data-dir (default: found automatically)."),
    word_timings: Optional[Path] = typer.Option(None, help="CSV id,word,start,end: average every modality per word."),
    limit: Optional[int] = typer.Option(None, help="Only the first N clips (for a quick check)."),
    engine: Engine = typer.Option(Engine.local, help="local (this machine) or ray (a Ray cluster; needs the ray extra)."),
    address: Optional[str] = typer.Option(None, help="With --engine ray: auto (the cluster of `ray start`) or ray://HOST:PORT; default: a local Ray instance."),
) -> None:
    """Extract features from raw media into the unified dataset (resumable; failures go to errors.csv)."""
    from msa_bench.features.pipeline import extract, format_summary

    if engine is Engine.ray:
        from msa_bench.scale.ray_extract import extract_on_ray

        extract = partial(extract_on_ray, address=address)

    options = {"audio": {"layer": audio_layer}, "text": {"layer": text_layer}, "vision": {"layer": vision_layer}}
    result = extract(
        dataset,
        data_dir,
        out,
        audio=audio,
        text=text,
        vision=vision,
        options={m: {k: v for k, v in o.items() if v is not None} for m, o in options.items()},
        device=device,
        fps=fps,
        batch_size=batch_size,
        workers=workers,
        label_file=label_file,
        word_timings=word_timings,
        limit=limit,
    )
    typer.echo(format_summary(result.summary, result.source_checks))
    typer.echo(f"dataset: {out / 'dataset'}   errors: {out / 'errors.csv'} ({len(result.errors)} rows)")
