"""The ``extract`` command: features from raw media into the unified dataset."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import typer

from msa_bench.cli.app import app, on_interrupt
from msa_bench.util.errors import paragraph
from msa_bench.scale.cluster import Engine


@app.command("extract")
def extract_features(
    dataset: str = typer.Argument(..., help="Dataset name written to the rows (mosi, mosei, ravdess, moud, ...)."),
    data_dir: Path = typer.Option(..., help="Raw media: label.csv + Raw/, full videos + label table, or RAVDESS Actor_XX/."),
    out: Path = typer.Option(..., help="Output folder (dataset/, errors.csv, summary.json, cache/)."),
    audio: Optional[str] = typer.Option(None, help="egemaps-lld, egemaps-functionals, compare-lld, compare-functionals, whisper-base, whisper-ct2:FOLDER, whisper:CHECKPOINT, or a speech checkpoint."),
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
    pool_ms: Optional[float] = typer.Option(
        None, help="Mean-pool frame-level audio/vision features over windows of this many ms (e.g. 100); recorded in the dataset's feature-set names."
    ),
    engine: Engine = typer.Option(Engine.local, help="local (this machine) or ray (a Ray cluster; needs the ray extra)."),
    address: Optional[str] = typer.Option(None, help="With --engine ray: auto (the cluster of `ray start`) or ray://HOST:PORT; default: a local Ray instance."),
) -> None:
    """Extract features from raw media into the unified dataset (resumable; failures go to errors.csv).

    Exit status 1 when no clip got any feature (the summary and errors.csv say why)."""
    from msa_bench.features.pipeline import NothingExtracted, extract, format_summary

    if engine is Engine.ray:
        from msa_bench.scale.ray_extract import extract_on_ray

        extract = partial(extract_on_ray, address=address)

    on_interrupt(f"the features of every clip finished so far are saved in {out / 'cache'}; run the same command again to resume")
    options = {"audio": {"layer": audio_layer}, "text": {"layer": text_layer}, "vision": {"layer": vision_layer}}
    try:
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
            pool_ms=pool_ms,
        )
    except NothingExtracted as err:
        typer.echo(format_summary(err.summary, err.source_checks))
        typer.echo(f"error: {paragraph(str(err))}", err=True)
        raise typer.Exit(1) from None
    typer.echo(format_summary(result.summary, result.source_checks))
    typer.echo(f"dataset: {out / 'dataset'}   errors: {out / 'errors.csv'} ({len(result.errors)} rows)")
