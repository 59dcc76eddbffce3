"""The embedded synthetic MSA dataset: deterministic, seedable, no download.

Each clip has hidden factors ``t`` (text), ``a`` (audio), ``v`` (vision) and an audio-visual
pair ``(x_a, x_v)``. The sentiment score is

    raw = 1.0 t + 0.7 a + 0.7 v + 0.8 x_a x_v + 0.3 noise,   sentiment = clip(round_0.2(raw), -3, 3)

``t`` lives only in the words of the transcript (and so in the text features), ``a`` and ``x_a``
only in the audio frames, ``v`` and ``x_v`` only in the video frames. The ``x_a x_v`` term is
visible only to a model that sees audio and vision together, so fusion beats every single
modality and dropping any modality costs accuracy. Emotion intensities are functions of the
same factors (MOSEI-like, on a 1/3 grid in [0, 3]). Clips of one video share a speaker offset
in their features, and splits are by video (speaker independent), like MOSI's folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np

from msa_bench.builders.base import MSABuilder, example
from msa_bench.util.config_types import check_field_types
from msa_bench.util.errors import ConfigError
from msa_bench.data.labels import labels_from_sentiment
from msa_bench.data.schema import MSAMetadata

NEUTRAL_WORDS = (
    "i the movie was it and really just like think this one so that you of to story actor "
    "about kind scene then there what film very much he she they plot end time".split()
)
POSITIVE_WORDS = "good great loved amazing funny enjoyed beautiful best brilliant fun".split()
NEGATIVE_WORDS = "bad boring hated awful worst terrible dull stupid waste annoying".split()

SPLIT_FRACTIONS = {"train": 0.58, "validation": 0.11, "test": 0.31}


@dataclass
class SyntheticConfig(datasets.BuilderConfig):
    """Size, seed, sequence lengths and feature dimensions of the synthetic dataset."""

    n_clips: int = 2000
    seed: int = 0
    text_dim: int = 300
    audio_dim: int = 74
    vision_dim: int = 35
    max_text_len: int = 40
    max_audio_len: int = 100
    max_vision_len: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        check_field_types(type(self), vars(self), "config")
        if self.n_clips < 30:
            raise ConfigError(f"n_clips must be at least 30 (three splits of whole videos), got {self.n_clips}")
        for name in ("max_text_len", "max_audio_len", "max_vision_len"):
            if getattr(self, name) < 8:
                raise ConfigError(f"{name} must be at least 8, got {getattr(self, name)}")


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    vector = rng.standard_normal(dim)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


class SyntheticGenerator:
    """Draws the synthetic clips; all randomness comes from one seeded generator."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        rng, c = self.rng, config
        self.vocabulary = NEUTRAL_WORDS + POSITIVE_WORDS + NEGATIVE_WORDS
        text_direction = _unit(rng, c.text_dim)
        self.word_vectors = {word: rng.standard_normal(c.text_dim).astype(np.float32) * 0.5 for word in self.vocabulary}
        for word in POSITIVE_WORDS:
            self.word_vectors[word] += 2.0 * text_direction
        for word in NEGATIVE_WORDS:
            self.word_vectors[word] -= 2.0 * text_direction
        self.audio_directions = (_unit(rng, c.audio_dim), _unit(rng, c.audio_dim))
        self.vision_directions = (_unit(rng, c.vision_dim), _unit(rng, c.vision_dim))

    def videos(self) -> dict[str, list[str]]:
        """Video ids per split: videos of 10-35 clips (fewer for tiny datasets, so that every
        split gets whole videos), shuffled, cut by SPLIT_FRACTIONS."""
        n_clips = self.config.n_clips
        largest = max(2, min(35, n_clips // 6))
        smallest = max(1, min(10, n_clips // 12))
        sizes = []
        while sum(sizes) < n_clips:
            sizes.append(int(self.rng.integers(smallest, largest + 1)))
        sizes[-1] -= sum(sizes) - n_clips
        self.clips_per_video = {f"synvid{k:03d}": size for k, size in enumerate(sizes)}
        order = list(self.rng.permutation(len(sizes)))
        n_train = max(1, round(SPLIT_FRACTIONS["train"] * len(sizes)))
        n_valid = max(1, round(SPLIT_FRACTIONS["validation"] * len(sizes)))
        names = [f"synvid{k:03d}" for k in order]
        return {
            "train": sorted(names[:n_train]),
            "validation": sorted(names[n_train : n_train + n_valid]),
            "test": sorted(names[n_train + n_valid :]),
        }

    def clip(self, video_id: str, clip_no: int, speaker: np.ndarray) -> dict[str, object]:
        rng, c = self.rng, self.config
        t, a, v, x_a, x_v, noise = rng.standard_normal(6)
        raw = 1.0 * t + 0.7 * a + 0.7 * v + 0.8 * x_a * x_v + 0.3 * noise
        sentiment = float(np.clip(np.round(raw / 0.2) * 0.2, -3.0, 3.0))
        words = self._words(t, int(rng.integers(8, c.max_text_len + 1)))
        text_features = np.stack([self.word_vectors[w] for w in words])
        text_features += 0.3 * rng.standard_normal(text_features.shape).astype(np.float32)
        audio = self._frames(c.max_audio_len, c.audio_dim, self.audio_directions, (a, x_a), speaker[: c.audio_dim])
        vision = self._frames(c.max_vision_len, c.vision_dim, self.vision_directions, (v, x_v), speaker[: c.vision_dim])
        emotions = np.clip(
            np.array(
                [-a - 0.5 * x_a, -0.7 * t - 0.3 * v - 0.5, x_v - 0.8, 0.7 * t + 0.5 * v, -0.7 * t - 0.3 * a, x_a * x_v - 0.5]
            ),
            0.0,
            3.0,
        )
        emotions = np.round(emotions * 3) / 3
        return example(
            dataset="synthetic",
            video_id=video_id,
            clip_id=str(clip_no),
            text=" ".join(words),
            text_features=text_features,
            audio_features=audio,
            vision_features=vision,
            labels=labels_from_sentiment(sentiment, emotions.tolist()),
            source_labels={"raw_score": float(raw)},
        )

    def _words(self, t: float, length: int) -> list[str]:
        """A transcript whose share of positive/negative words grows with |t|."""
        rng = self.rng
        p_sentiment = min(0.6, 0.05 + 0.25 * abs(t))
        polar = POSITIVE_WORDS if t > 0 else NEGATIVE_WORDS
        words = []
        for _ in range(length):
            pool = polar if rng.random() < p_sentiment else NEUTRAL_WORDS
            words.append(pool[int(rng.integers(len(pool)))])
        return words

    def _frames(self, max_len, dim, directions, factors, speaker) -> np.ndarray:
        length = int(self.rng.integers(max(8, max_len // 5), max_len + 1))
        frames = self.rng.standard_normal((length, dim)).astype(np.float32) + speaker
        for direction, factor in zip(directions, factors):
            frames += np.float32(factor) * direction
        return frames


class Synthetic(MSABuilder):
    """The embedded synthetic dataset (see the module docstring for how labels depend on modalities)."""

    BUILDER_CONFIG_CLASS = SyntheticConfig
    HOMEPAGE = "https://github.com/msa-bench/msa_bench"

    def msa_metadata(self) -> MSAMetadata:
        c = self.config
        return MSAMetadata(
            text="synthetic-word-vectors",
            audio="synthetic-acoustic",
            vision="synthetic-facial",
            text_dim=c.text_dim,
            audio_dim=c.audio_dim,
            vision_dim=c.vision_dim,
            provenance={"generator": "msa_bench.builders.synthetic", "seed": c.seed, "n_clips": c.n_clips},
        )

    def _split_generators(self, dl_manager):
        generator = SyntheticGenerator(self.config)
        videos = generator.videos()
        clips = {split: self._draw(generator, ids) for split, ids in videos.items()}
        self.record_report(videos={split: len(ids) for split, ids in videos.items()})
        return [datasets.SplitGenerator(name=split, gen_kwargs={"clips": rows}) for split, rows in clips.items()]

    @staticmethod
    def _draw(generator: SyntheticGenerator, video_ids: list[str]) -> list[dict]:
        rows = []
        for video_id in video_ids:
            speaker_dim = max(generator.config.audio_dim, generator.config.vision_dim)
            speaker = generator.rng.standard_normal(speaker_dim).astype(np.float32) * 0.3
            rows += [generator.clip(video_id, k, speaker) for k in range(generator.clips_per_video[video_id])]
        return rows

    def _generate_examples(self, clips):
        for row in clips:
            yield row["id"], row
