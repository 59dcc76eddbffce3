"""Source of the adversarial submissions of ``test_boundary_adversarial.py``.

Each attacker is the honest mean-pooling model below plus one trick that reaches for labels it
may not see. When the trick finds nothing it falls back to the honest prediction, so behind the
boundary it must score exactly as the honest model; in this process (no boundary) each trick
works, which shows the tests can fail. Every attacker writes what it found to
``attack_report.json`` in its working folder (the worker's scratch folder).
"""

HONEST = '''
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from msa_bench.models import ModelConfig, ModelOutput, MSAModel, masked_mean, register_model


def report(found):
    Path("attack_report.json").write_text(json.dumps({"found": found}))


@dataclass(frozen=True)
class Config(ModelConfig):
    hidden: int = 16


@register_model("NAME")
class Model(MSAModel):
    config_class = Config

    def __init__(self, config, spec):
        super().__init__(config, spec)
        dims = sum(spec.dim(m) for m in ("text", "audio", "vision"))
        self.encoder = nn.Sequential(nn.Linear(dims, config.hidden), nn.ReLU())
        self.sentiment = nn.Linear(config.hidden, 1)
        self.heads = self.task_heads(config.hidden)

    def stolen(self, batch):
        return None

    def forward(self, batch):
        pooled = [masked_mean(batch.modality(m).features, batch.modality(m).mask) for m in ("text", "audio", "vision")]
        fused = self.encoder(torch.cat(pooled, dim=-1))
        prediction = self.sentiment(fused).squeeze(-1)
        if not self.training:
            stolen = self.stolen(batch)
            if stolen is not None:
                prediction = prediction * 0 + stolen
        return self.heads(fused, ModelOutput(sentiment=prediction))
'''

#: Evaluation: walk up the call stack to the ``targets`` of the batch being scored.
STACK_WALK = '''
    def stolen(self, batch):
        import sys
        frame = sys._getframe(1)
        while frame is not None:
            for value in frame.f_locals.values():
                sentiment = getattr(value, "sentiment", None)
                ids = getattr(value, "ids", None)
                if isinstance(sentiment, torch.Tensor) and ids == batch.ids and not torch.isnan(sentiment).any():
                    report(True)
                    return sentiment.to(batch.text.features.device)
            frame = frame.f_back
        report(False)
        return None
'''

#: Training: a hook that looks for the test split (with its labels) in any frame or object, and
#: memorises it; evaluation then answers from memory.
TEST_SPLIT_HUNT = '''
    memory = {}

    def on_epoch_end(self, epoch):
        import gc
        import datasets
        for value in gc.get_objects():
            if isinstance(value, datasets.DatasetDict) and "test" in value:
                test = value["test"]
                for text, sentiment in zip(test["text"], test["sentiment"]):
                    if sentiment is not None:
                        type(self).memory[text] = sentiment
        report(bool(type(self).memory))

    def stolen(self, batch):
        if not type(self).memory or not all(text in type(self).memory for text in batch.raw_text):
            return None
        return torch.tensor([type(self).memory[text] for text in batch.raw_text], dtype=torch.float32)
'''

#: Disk: read labelled data the harness keeps (the datasets cache, a records folder's predictions
#: files, the data folder), matching rows by transcript.
DISK_READ = '''
    labels = None

    def stolen(self, batch):
        if type(self).labels is None:
            import glob
            import pyarrow.parquet as pq
            import pyarrow as pa
            found = {}
            for pattern in PATTERNS:
                for path in glob.glob(pattern, recursive=True):
                    try:
                        if path.endswith(".parquet"):
                            table = pq.read_table(path)
                            ids = table.column("id").to_pylist()
                            truth = table.column("sentiment_true").to_pylist()
                            found.update({("id", i): t for i, t in zip(ids, truth)})
                        else:
                            with pa.memory_map(path) as source:
                                table = pa.ipc.open_stream(source).read_all()
                            for text, sentiment in zip(table.column("text").to_pylist(), table.column("sentiment").to_pylist()):
                                if sentiment is not None:
                                    found[("text", text)] = sentiment
                    except Exception:
                        continue
            type(self).labels = found
            report(bool(found))
        values = [type(self).labels.get(("text", text)) for text in batch.raw_text]
        if any(v is None for v in values):
            return None
        return torch.tensor(values, dtype=torch.float32)
'''

#: Ids: decode the label from the example id the model receives.
ID_DECODING = '''
    def stolen(self, batch):
        values = []
        for example in batch.ids:
            if not example.startswith("label="):
                report(False)
                return None
            values.append(float(example.split("=")[1].split("/")[0]))
        report(True)
        return torch.tensor(values, dtype=torch.float32)
'''

#: Import time: edit a competitor's records, then fail on purpose.
IMPORT_SIDE_EFFECT = '''
import glob as _glob
for _path in _glob.glob(RECORDS_GLOB, recursive=True):
    try:
        with open(_path, "a") as _handle:
            _handle.write("tampered")
    except OSError:
        pass
raise RuntimeError("this submission fails on purpose after its import-time side effects")
'''


def source(name: str, trick: str = "", **constants: str) -> str:
    """A submission module: the honest model named ``name`` with ``trick`` methods added."""
    prelude = "".join(f"{key} = {value!r}\n" for key, value in constants.items())
    return prelude + HONEST.replace("NAME", name) + trick
