"""Hub-ready export: parquet shards plus a dataset card whose YAML declares configs and features.

``datasets.load_dataset(out_dir)`` on the result returns the same rows with the same features,
and the folder can be uploaded to the Hugging Face hub as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import yaml

from msa_bench.util.atomic import atomic_write, write_text
from msa_bench.util.errors import MissingFileError
from msa_bench.loading.load import canonical_name, load_dataset
from msa_bench.data.schema import msa_metadata

SHARD_ROWS = 2000


def _split_paths(split: str, n_rows: int) -> list[str]:
    n_shards = max(1, -(-n_rows // SHARD_ROWS))
    return [f"data/{split}-{k:05d}-of-{n_shards:05d}.parquet" for k in range(n_shards)]


def _card(name: str, dataset: datasets.DatasetDict, files: dict[str, list[str]]) -> str:
    features = next(iter(dataset.values())).features
    metadata = msa_metadata(dataset)
    header = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": f"data/{split}-*.parquet"} for split in files],
            }
        ],
        "dataset_info": {"features": features._to_yaml_list()},
        "tags": ["multimodal-sentiment-analysis", "msa_bench"],
    }
    sizes = "\n".join(f"| {split} | {len(rows)}{'' if split in files else ' (empty, not written)'} |" for split, rows in dataset.items())
    return (
        "---\n"
        + yaml.safe_dump(header, sort_keys=False)
        + "---\n\n"
        + f"# msa_bench/{name}\n\n"
        + "Exported by `msa-bench export` in the msa_bench unified schema "
        + "(see the msa_bench README for the column table and label mapping).\n\n"
        + "| split | examples |\n| --- | --- |\n"
        + sizes
        + "\n\n## Feature sets and provenance\n\n```json\n"
        + json.dumps(
            {"metadata": json.loads(metadata.to_description())["msa_bench"]}, indent=2, sort_keys=True
        )
        + "\n```\n"
    )


def export_dataset(
    name: str,
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    push_to_hub: str | None = None,
    card_appendix: str | Path | None = None,
    **config,
) -> Path:
    """Write dataset ``name`` as parquet shards + ``README.md`` card into ``out_dir``.

    ``card_appendix`` is a Markdown file (a dataset's own card: sources, licence, quirks)
    appended to the generated card. With ``push_to_hub="user/repo"`` the folder is then
    uploaded as a hub dataset repository.
    """
    name = canonical_name(name)
    out_dir = write_export(load_dataset(name, data_dir=data_dir, **config), name, out_dir, card_appendix)
    if push_to_hub:
        push_folder(out_dir, push_to_hub)
    return out_dir


def write_export(
    dataset: datasets.DatasetDict, name: str, out_dir: str | Path, card_appendix: str | Path | None = None
) -> Path:
    """Write an already built unified-schema ``DatasetDict`` as shards + card, each file
    atomically (a full disk leaves no truncated shard behind)."""
    out_dir = Path(out_dir)
    files = {}
    for split, rows in dataset.items():
        if len(rows) == 0:  # an empty parquet split cannot be read back by datasets.load_dataset
            continue
        paths = _split_paths(split, len(rows))
        for index, path in enumerate(paths):
            shard = rows.shard(num_shards=len(paths), index=index, contiguous=True)
            atomic_write(out_dir / path, lambda temporary: shard.to_parquet(str(temporary)))
        files[split] = paths
    card = _card(name, dataset, files)
    if card_appendix is not None:
        if not Path(card_appendix).is_file():
            raise MissingFileError(f"{card_appendix}: card appendix not found; pass an existing Markdown file as --card-appendix")
        card += "\n" + Path(card_appendix).read_text(encoding="utf-8")
    write_text(out_dir / "README.md", card)
    return out_dir


def push_folder(folder: Path, repo_id: str) -> None:
    """Upload an exported folder as a hub dataset repository (needs network and a token)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset")
