"""Decoding raw media with PyAV: 16 kHz mono audio and video frames sampled at a fixed rate.

Both readers take an optional ``[start, end)`` window in seconds, so a segment is cut from a
full video without writing a clip file first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000


class MediaError(ValueError):
    """A media file that cannot be decoded as asked (corrupt, no such stream, empty window)."""


@dataclass(frozen=True)
class Window:
    """A time window in seconds; ``end=None`` means "to the end of the file"."""

    start: float = 0.0
    end: float | None = None

    def __post_init__(self) -> None:
        if self.start < 0 or (self.end is not None and self.end <= self.start):
            raise ValueError(f"bad time window [{self.start}, {self.end})")

    def contains(self, time: float) -> bool:
        return time >= self.start and (self.end is None or time < self.end)


def _open(path: str | Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise MediaError(f"{path}: cannot open media file ({err})") from err


def _seek(container: av.container.InputContainer, stream: av.stream.Stream, start: float) -> None:
    if start > 0 and stream.time_base is not None:
        container.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)


def read_audio(path: str | Path, window: Window = Window(), sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The audio track of ``path`` inside ``window`` as float32 mono samples at ``sample_rate``."""
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path}: no audio track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        _seek(container, stream, window.start)
        chunks: list[np.ndarray] = []
        first_time: float | None = None
        try:
            for frame in container.decode(stream):
                if first_time is None:
                    first_time = float(frame.time) if frame.time is not None else 0.0
                if window.end is not None and frame.time is not None and frame.time >= window.end:
                    break
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        except av.error.FFmpegError as err:
            raise MediaError(f"{path}: corrupt audio stream ({err})") from err
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    offset = max(0, round((window.start - (first_time or 0.0)) * sample_rate))
    stop = None if window.end is None else offset + round((window.end - window.start) * sample_rate)
    samples = samples[offset:stop]
    if samples.size == 0:
        raise MediaError(f"{path}: no audio samples in [{window.start}, {window.end}) s")
    return np.ascontiguousarray(samples, dtype=np.float32)


def read_frames(path: str | Path, fps: float, window: Window = Window()) -> tuple[np.ndarray, np.ndarray]:
    """RGB frames of ``path`` sampled at ``fps`` inside ``window``: ``(frames (T, H, W, 3) uint8,
    times (T,) seconds from the window start)``."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video track")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        _seek(container, stream, window.start)
        frames, times = [], []
        next_time = window.start
        try:
            for frame in container.decode(stream):
                time = float(frame.time) if frame.time is not None else next_time
                if window.end is not None and time >= window.end:
                    break
                if time + 1e-6 < next_time:
                    continue
                frames.append(frame.to_ndarray(format="rgb24"))
                times.append(time - window.start)
                next_time = window.start + (np.floor((time - window.start) * fps + 1e-6) + 1) / fps
        except av.error.FFmpegError as err:
            raise MediaError(f"{path}: corrupt video stream ({err})") from err
    if not frames:
        raise MediaError(f"{path}: no video frames in [{window.start}, {window.end}) s")
    return np.stack(frames), np.asarray(times, dtype=np.float64)


def write_video(path: str | Path, frames: np.ndarray, fps: int, audio: np.ndarray | None = None) -> None:
    """Write RGB ``frames`` (T, H, W, 3) as H.264 (and optional 16 kHz mono ``audio`` as AAC).

    Used to generate test media; H and W must be even.
    """
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.height, video.width = frames.shape[1:3]
        video.pix_fmt = "yuv420p"
        audio_stream = None
        if audio is not None:
            audio_stream = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        for image in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        container.mux(video.encode(None))
        if audio_stream is not None:
            frame = av.AudioFrame.from_ndarray(audio.astype(np.float32).reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode(None))
