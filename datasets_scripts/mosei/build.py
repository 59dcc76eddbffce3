"""Build mosei from your files and export it (parquet shards + dataset card), optionally to the hub.

    python datasets_scripts/mosei/build.py OUT_DIR [--data-dir D] [--push-to-hub user/repo] [--config key=value ...]

Without --data-dir the builder downloads the public files. The exported card is
`msa-bench export`'s card followed by this folder's README.md (sources, licence, quirks).
"""

import sys
from pathlib import Path

from msa_bench.cli import app

if __name__ == "__main__":
    app(["export", "mosei", *sys.argv[1:], "--card-appendix", str(Path(__file__).with_name("README.md"))])
