"""Build mosi from your files and export it (parquet shards + dataset card), optionally to the hub.

    python datasets_scripts/mosi/build.py DATA_DIR OUT_DIR [--push-to-hub user/repo] [--config key=value ...]

Without DATA_DIR (pass "-") the builder downloads the public files. The exported card is
msa-bench export's card followed by this folder's README.md (sources, licence, quirks).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from msa_bench.export import export_dataset

NAME = "mosi"
CARD = Path(__file__).with_name("README.md")


def _config(pairs: list[str]) -> dict[str, object]:
    """``key=value`` pairs; values are JSON when they parse (numbers, true, null), else strings."""
    config = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--config expects key=value, got {pair!r}")
        try:
            config[key] = json.loads(value)
        except ValueError:
            config[key] = value
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", help='folder with the source files, or "-" to download them')
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--push-to-hub", default=None, help="hub dataset repository (user/name)")
    parser.add_argument("--config", nargs="*", default=[], help="builder options as key=value")
    args = parser.parse_args()
    data_dir = None if args.data_dir == "-" else args.data_dir
    out_dir = export_dataset(NAME, args.out_dir, data_dir=data_dir, push_to_hub=None, **_config(args.config))
    card = out_dir / "README.md"
    card.write_text(card.read_text(encoding="utf-8") + "\n" + CARD.read_text(encoding="utf-8"), encoding="utf-8")
    if args.push_to_hub:
        from msa_bench.export import push_folder

        push_folder(out_dir, args.push_to_hub)
    print(f"{NAME} exported to {out_dir}")


if __name__ == "__main__":
    main()
