"""The one feature-extractor interface, its registry and the provenance stamp of every output.

An extractor has a name, a frozen config dataclass, an output dimension ``dim``, a
``modality`` and ``extract(batch)``, which returns one ``(L, D)`` float32 array per input, or
a :class:`Failure` carrying the reason for a clip it could not process. ``to(device)`` moves
whatever runs on torch. Vision extractors return one row per input frame and a row of NaN for
a frame without a face (the pipeline drops those rows and keeps the frame times).

Extractors are named by a *spec* string (see :func:`build_extractor`):

* ``FAMILY`` — a registered family such as ``egemaps-lld``, ``pyfeat`` or ``whisper-base``;
* ``FAMILY:CHECKPOINT`` — a transformers family with a local folder or hub name, e.g.
  ``wav2vec2:facebook/wav2vec2-base`` or ``vit:/models/my-vit``;
* ``CHECKPOINT`` — anything else is a checkpoint for the modality's default transformers
  family (``speech`` for audio, ``text`` for text, ``face`` for vision), so
  ``--text bert-base-uncased`` works.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import numpy as np

from msa_bench.features.checkpoints import checkpoint_identity
from msa_bench.util.errors import UserError
from msa_bench.util.registry import Registry

#: Family name -> lazy ``"module:Class"`` of an :class:`Extractor` subclass.
EXTRACTORS: Registry = Registry("feature extractor")
for _name in ("egemaps-lld", "egemaps-functionals", "compare-lld", "compare-functionals"):
    EXTRACTORS.register(_name, "msa_bench.features.opensmile:OpenSmileExtractor")
for _name in ("speech", "wav2vec2", "hubert", "wavlm", "data2vec-audio"):
    EXTRACTORS.register(_name, "msa_bench.features.speech:SpeechEncoder")
for _name in ("text", "bert", "roberta"):
    EXTRACTORS.register(_name, "msa_bench.features.text:TextEncoder")
for _name in ("face", "vit", "clip"):
    EXTRACTORS.register(_name, "msa_bench.features.faces:FaceImageEncoder")
EXTRACTORS.register("pyfeat", "msa_bench.features.pyfeat:PyFeatExtractor")
for _name in ("whisper-base", "whisper-ct2", "whisper"):
    EXTRACTORS.register(_name, "msa_bench.features.whisper:WhisperEncoder")

#: The transformers family a bare checkpoint name means, per modality.
DEFAULT_FAMILY: dict[str, str] = {"audio": "speech", "text": "text", "vision": "face"}


@dataclass(frozen=True)
class Failure:
    """A clip an extractor could not process, with the reason (recorded in the errors table)."""

    reason: str


Output = np.ndarray | Failure


@dataclass(frozen=True)
class ExtractorConfig:
    """Base of every extractor config: frozen, JSON-serialisable fields only."""

    def config_hash(self) -> str:
        payload = json.dumps({"class": type(self).__qualname__, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


class CheckpointError(UserError, RuntimeError):
    """Weights that cannot be loaded here; the message says which and how to provide them."""


class Extractor(ABC):
    """Turns a batch of decoded inputs of one modality into feature sequences."""

    modality: ClassVar[str]
    #: Python package whose version is stamped into the provenance.
    library: ClassVar[str]
    #: CPU-bound extractors run inside worker processes; torch ones run batched in the main one.
    runs_in_workers: ClassVar[bool] = False
    config: ExtractorConfig

    @classmethod
    @abstractmethod
    def from_spec(cls, family: str, checkpoint: str | None, **options) -> Extractor:
        """Build from a registered family name, an optional checkpoint and config options."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The feature-set name written to the dataset metadata."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature dimension D of every output row."""

    #: Seconds between consecutive output rows; ``None`` when rows are not time frames.
    frame_hop_s: float | None = None

    @abstractmethod
    def extract(self, batch: Sequence) -> list[Output]:
        """One ``(L, D)`` float32 array (or a :class:`Failure`) per input."""

    def to(self, device: str) -> Extractor:
        return self

    def provenance(self) -> dict[str, object]:
        """Extractor name, library version and config hash, stamped into the dataset metadata."""
        from importlib.metadata import version

        return {
            "extractor": self.name,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "library": self.library,
            "library_version": version(self.library),
            "config": asdict(self.config),
            "config_hash": self.config.config_hash(),
            "dim": self.dim,
        }


class TransformersExtractor(Extractor):
    """What the transformers encoders share: a config with ``checkpoint`` and ``layer`` (an index
    into ``hidden_states``), a torch model moved by :meth:`to`, and names ``<prefix>:<checkpoint>@<layer>``."""

    library = "transformers"
    config_class: ClassVar[type[ExtractorConfig]]
    name_prefix: ClassVar[str]

    def _use_model(self, model) -> None:
        """Keep ``model`` in eval mode on the CPU, once its ``layer`` is checked."""
        check_layer(model, self.config.layer, self.config.checkpoint)
        self.model = model.eval()
        self.device = "cpu"

    @classmethod
    def from_spec(cls, family: str, checkpoint: str | None, **options) -> TransformersExtractor:
        return cls(cls.config_class(**{"checkpoint": checkpoint, **config_options(cls.config_class, options)}))

    @property
    def name(self) -> str:
        """``<prefix>:<checkpoint>@<layer>``, a local checkpoint named by its package or folder and
        content hash (:func:`~msa_bench.features.checkpoints.checkpoint_identity`), never its path."""
        return f"{self.name_prefix}:{checkpoint_identity(self.config.checkpoint)}@{self.config.layer}"

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def to(self, device: str) -> TransformersExtractor:
        self.device = resolve_device(device)
        self.model.to(self.device)
        return self


def config_options(config_class: type, options: dict[str, object]) -> dict[str, object]:
    """``options`` checked against ``config_class``'s fields (a clear error for a typo)."""
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"{config_class.__name__} has no option(s) {unknown}; known: {sorted(known)}")
    return {k: v for k, v in options.items() if v is not None}


def build_extractor(modality: str, spec: str | Extractor, **options) -> Extractor:
    """The extractor named by ``spec`` for ``modality`` (see the module docstring).

    ``options`` set config fields (``layer=8``, ``fps=5``...); ``None`` values are ignored.
    """
    if isinstance(spec, Extractor):
        extractor = spec
    else:
        family, sep, checkpoint = spec.partition(":")
        if family not in EXTRACTORS:
            family, checkpoint = DEFAULT_FAMILY[modality], spec
        extractor_class = EXTRACTORS.get(family)
        extractor = extractor_class.from_spec(family, checkpoint or None, **options)
    if extractor.modality != modality:
        raise ValueError(f"{spec!r} extracts {extractor.modality} features, not {modality}")
    return extractor


def check_layer(model, layer: int, checkpoint: str) -> None:
    """``layer`` must index ``hidden_states`` (embeddings plus one per transformer layer)."""
    n_states = model.config.num_hidden_layers + 1
    if not -n_states <= layer < n_states:
        raise ValueError(f"layer {layer} out of range for {checkpoint!r} ({n_states} hidden states)")


def load_pretrained(auto_class: type, checkpoint: str, **kwargs):
    """``auto_class.from_pretrained(checkpoint)`` with a clear error when the weights are missing."""
    try:
        return auto_class.from_pretrained(checkpoint, **kwargs)
    except OSError as err:
        close = difflib.get_close_matches(checkpoint, EXTRACTORS.names(), n=1)
        hint = f" (did you mean the extractor {close[0]!r}?)" if close else ""
        raise CheckpointError(
            f"cannot load checkpoint {checkpoint!r}{hint}: it is not a local folder and is not in the "
            "Hugging Face cache, and the hub cannot be reached (offline or HF_HUB_OFFLINE=1). "
            f"On a machine with network run `huggingface-cli download {checkpoint} --local-dir DIR`, "
            f"copy DIR here and pass its path instead of {checkpoint!r}. ({type(err).__name__}: {err})"
        ) from err


def resolve_device(device: str) -> str:
    """``device`` checked: ``cuda`` without a CUDA device is an error, not a silent CPU run."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} asked for, but torch sees no CUDA device")
    return device
