"""Which frames of a video a model sees.

The CLIP2Video rule (reference §1.2) works on a grid of N frames (the official pipeline extracts JPEGs at 5 fps):
keep ``c = N // feature_framerate`` grid positions spread by ``linspace(0, N-1, c)`` (floored), then, if more than
``max_frames`` remain, spread ``max_frames`` of them by a second floored linspace. Training adds a jitter of up to
half the stride to interior positions; the first and last are never moved.

CLIP4Clip's variants keep the first (``head``), last (``tail``) or linspace-spread (``uniform``) ``max_frames``
positions of the same grid.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

SAMPLING_MODES = ("clip2video", "head", "tail", "uniform")


@dataclasses.dataclass(frozen=True)
class FrameSampling:
    """The frame-sampling protocol of a dataset.

    Attributes:
        max_frames: T, frame slots per video (padded slots are zero images with mask 0).
        grid_fps: the rate of the frame grid sampling works on; frame folders are taken as already at this rate,
            video files are resampled to it (None: the file's own frames are the grid).
        feature_framerate: the official ``feature_framerate`` (``sample_fp``) stride over the grid.
        mode: one of ``clip2video``, ``head``, ``tail``, ``uniform``.
        train_jitter: whether training samples are jittered (``clip2video`` mode only).
    """

    max_frames: int = 12
    grid_fps: float | None = 5.0
    feature_framerate: int = 1
    mode: str = "clip2video"
    train_jitter: bool = True

    def __post_init__(self) -> None:
        if self.mode not in SAMPLING_MODES:
            raise ValueError(f"unknown frame sampling mode {self.mode!r}; use one of {', '.join(SAMPLING_MODES)}")
        if self.max_frames < 1 or self.feature_framerate < 1:
            raise ValueError("max_frames and feature_framerate must be at least 1")

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def clip2video_indices(n_grid: int, feature_framerate: int, max_frames: int,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """Grid positions chosen by the official rule; jittered when ``rng`` is given (training).

    Returns an empty array when ``n_grid < feature_framerate`` (the official loader then yields no frames).
    """
    count = n_grid // feature_framerate
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    kept = np.linspace(0, n_grid - 1, num=count).astype(np.int64)
    if count <= max_frames:
        selected = np.arange(count, dtype=np.int64)
    else:
        selected = np.linspace(0, count - 1, num=max_frames).astype(np.int64)
    if rng is not None and len(selected) > 2:
        step = int(selected[1] - selected[0]) // 2
        if step > 2:
            offsets = rng.integers(-step, step, size=len(selected) - 2)
            selected = selected.copy()
            selected[1:-1] = selected[1:-1] + offsets
    return kept[selected]


def clip4clip_indices(n_grid: int, feature_framerate: int, max_frames: int, mode: str) -> np.ndarray:
    """CLIP4Clip's ``slice_framepos`` variants over the grid thinned by ``feature_framerate``."""
    thinned = np.arange(0, n_grid, feature_framerate, dtype=np.int64)
    if len(thinned) <= max_frames:
        return thinned
    if mode == "head":
        return thinned[:max_frames]
    if mode == "tail":
        return thinned[-max_frames:]
    positions = np.linspace(0, len(thinned) - 1, num=max_frames).astype(np.int64)
    return thinned[positions]


def sample_grid_indices(n_grid: int, sampling: FrameSampling, rng: np.random.Generator | None = None) -> np.ndarray:
    """Grid positions for one video under ``sampling``; ``rng`` (training only) enables jitter when configured."""
    if sampling.mode == "clip2video":
        jitter_rng = rng if sampling.train_jitter else None
        return clip2video_indices(n_grid, sampling.feature_framerate, sampling.max_frames, jitter_rng)
    return clip4clip_indices(n_grid, sampling.feature_framerate, sampling.max_frames, sampling.mode)


def grid_size(n_native: int, native_fps: float, grid_fps: float | None) -> int:
    """How many grid frames a video of ``n_native`` frames at ``native_fps`` has on a ``grid_fps`` grid."""
    if grid_fps is None or native_fps <= 0:
        return n_native
    duration = n_native / native_fps
    return max(1, int(round(duration * grid_fps))) if n_native > 0 else 0


def grid_to_native(indices: np.ndarray, n_native: int, native_fps: float, grid_fps: float | None) -> np.ndarray:
    """Map grid positions to the native frame shown at the grid instant (the frame an fps filter would keep)."""
    if grid_fps is None or native_fps <= 0:
        return np.asarray(indices, dtype=np.int64)
    native = np.floor((np.asarray(indices, dtype=np.float64) / grid_fps) * native_fps + 1e-9).astype(np.int64)
    return np.clip(native, 0, max(n_native - 1, 0))
