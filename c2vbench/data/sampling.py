"""Which frames of a video a model sees.

Two steps. First a **grid**: the official pipeline extracts JPEGs at 5 fps with ``ffmpeg -r 5`` (reference §1.1);
a folder of extracted frames *is* the grid, and a video file is mapped onto the same grid by
:func:`ffmpeg_cfr_frame_map`, an emulation of ffmpeg's constant-frame-rate conversion. Then the **rule** picks
positions on the grid.

The CLIP2Video rule (reference §1.2): keep ``c = N // feature_framerate`` grid positions spread by
``linspace(0, N-1, c)`` (floored), then, if more than ``max_frames`` remain, spread ``max_frames`` of them by a
second floored linspace. Training adds a jitter of up to half the stride to interior positions; the first and last
are never moved.

CLIP4Clip's variants keep the first (``head``), last (``tail``) or linspace-spread (``uniform``) ``max_frames``
positions of the grid thinned to every ``feature_framerate``-th position.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

SAMPLING_MODES = ("clip2video", "head", "tail", "uniform")
DECODERS = ("decord", "pyav", "torchcodec", "frames")  # "auto" is resolved when a sampling is made

# ffmpeg's CFR video sync (fftools, unchanged from 4.x to 7.x): an input frame is dropped when it ends more than
# 1.1 output ticks behind the next output slot, and repeated when it starts more than 1.1 ticks ahead.
_CFR_DROP_THRESHOLD = -1.1
_CFR_DUPLICATE_THRESHOLD = 1.1


@dataclasses.dataclass(frozen=True)
class FrameSampling:
    """The frame-sampling protocol of a dataset.

    Attributes:
        max_frames: T, frame slots per video (padded slots are zero images with mask 0).
        grid_fps: the rate of the frame grid sampling works on; frame folders are taken as already at this rate,
            video files are mapped onto it by emulating ``ffmpeg -r grid_fps`` (None: the file's own frames are the
            grid).
        feature_framerate: the official ``feature_framerate`` (``sample_fp``) stride over the grid.
        mode: one of ``clip2video``, ``head``, ``tail``, ``uniform``.
        train_jitter: whether training samples are jittered (``clip2video`` mode only).
        decoder: ``decord`` or ``torchcodec`` (seek to the sampled frames), ``pyav`` (decodes up to the last
            sampled frame) or ``frames`` (the sources are extracted frame folders); ``auto`` (the default) becomes
            torchcodec, decord or pyav, the first one installed (see :mod:`c2vbench.data.decoders`). When decord or
            torchcodec cannot open a file, PyAV is tried and the video is reported as partially readable by
            screening.
    """

    max_frames: int = 12
    grid_fps: float | None = 5.0
    feature_framerate: int = 1
    mode: str = "clip2video"
    train_jitter: bool = True
    decoder: str = "auto"

    def __post_init__(self) -> None:
        if self.decoder == "auto":
            from c2vbench.data.decoders import auto_decoder

            # Resolved once, here, so that the protocol (and its hash) names the decoder that really runs.
            object.__setattr__(self, "decoder", auto_decoder())
        if self.mode not in SAMPLING_MODES:
            raise ValueError(f"unknown frame sampling mode {self.mode!r}; use one of {', '.join(SAMPLING_MODES)}")
        if self.max_frames < 1 or self.feature_framerate < 1:
            raise ValueError("max_frames and feature_framerate must be at least 1")
        if self.grid_fps is not None and not self.grid_fps > 0:
            raise ValueError("grid_fps must be positive (or None for the file's own frames)")
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; use one of {', '.join(DECODERS)}")

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (hashed into the protocol), including how video files meet the grid."""
        description = dataclasses.asdict(self)
        description["grid_rule"] = "ffmpeg-cfr-emulation" if self.grid_fps is not None else "native-frames"
        return description


def clip2video_indices(n_grid: int, feature_framerate: int, max_frames: int,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """Grid positions chosen by the official rule; jittered when ``rng`` is given (training).

    Returns an empty array when ``n_grid < feature_framerate`` (the official loader then yields no frames).
    """
    count = n_grid // feature_framerate
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    # numpy's dtype=int cast truncates toward zero, which is a floor for these non-negative values.
    kept = np.linspace(0, n_grid - 1, num=count).astype(np.int64)
    if count <= max_frames:
        selected = np.arange(count, dtype=np.int64)
    else:
        selected = np.linspace(0, count - 1, num=max_frames).astype(np.int64)
    if rng is not None and len(selected) > 2:
        step = int(selected[1] - selected[0]) // 2
        if step > 2:
            # Official: uniform integer offset in [-step, step) for every interior position; ends stay put.
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


def window_bounds(grid_times: np.ndarray, window: tuple[float, float | None] | None) -> tuple[int, int]:
    """``(first, stop)``: the grid positions whose time lies in ``[start, end)`` (all of them without a window).

    ``grid_times`` is the time (s) of every grid position from the start of the video, ascending: ``k / grid_fps``
    on a constant-rate grid (the frames ``ffmpeg -r grid_fps`` writes, a frame folder), or the native frames'
    presentation times. Cutting by time this way gives the grid a cut-out clip would give, up to the one grid
    frame ffmpeg's rounding may add at either end; the positions kept are contiguous.
    """
    times = np.asarray(grid_times, dtype=np.float64)
    if window is None:
        return 0, len(times)
    start, end = window
    first = int(np.searchsorted(times, start, side="left"))
    stop = len(times) if end is None else int(np.searchsorted(times, end, side="left"))
    return first, max(first, stop)


def grid_times(n_grid: int, grid_fps: float | None, native_times: np.ndarray | None = None) -> np.ndarray:
    """Time (s) of each of ``n_grid`` grid positions: ``k / grid_fps``, or the native frames' times from the first
    (``grid_fps`` None: the file's own frames are the grid)."""
    if grid_fps is not None:
        return np.arange(n_grid, dtype=np.float64) / grid_fps
    if native_times is None:
        raise ValueError("a native-frame grid needs the frames' timestamps")
    times = np.asarray(native_times, dtype=np.float64)[:n_grid]
    return times - (times[0] if len(times) else 0.0)


def sample_window_indices(times: np.ndarray, sampling: FrameSampling,
                          window: tuple[float, float | None] | None,
                          rng: np.random.Generator | None = None) -> np.ndarray:
    """Grid positions for one video cut to ``window``: the sampling rule applied to the positions inside it, as
    if they were a clip of their own (:func:`window_bounds`)."""
    first, stop = window_bounds(times, window)
    return first + sample_grid_indices(stop - first, sampling, rng)


def ffmpeg_cfr_frame_map(timestamps: Sequence[float], out_fps: float,
                         frame_durations: Sequence[float] | None = None) -> np.ndarray:
    """For every frame ``ffmpeg -r out_fps`` would write, the index of the input frame it shows.

    Emulates fftools' ``cfr`` video sync (the default for the image2 muxer): with times measured in output ticks of
    ``1/out_fps`` s from the first frame, ``delta0`` is how far an input frame starts after the next free output
    slot and ``delta = delta0 + duration``. A frame is dropped when ``delta < -1.1``, written ``round(delta)``
    times when ``delta > 1.1`` (the first ``round(delta0 - 0.6)`` of them repeating the previous frame when
    ``delta0 > 1.1``), and written once otherwise; a frame starting within a slot it overlaps is clipped to it. At
    the end the last frame is repeated by the median of the last three repeat counts, as ffmpeg flushes.

    The effect when downsampling 30 fps to 5 fps: output k shows the first input frame starting at or after
    about ``(k - 1.27) / 5`` s (so output 1 is input frame 1), and a 10 s clip gives 52 frames, not 50.

    Residual difference from a real ffmpeg run: timestamps come from the container (decord's index) rather than
    from the decoder after filtering, and a non-zero stream start time is taken as zero; both only matter for
    files with irregular timestamps.

    Args:
        timestamps: presentation time (s) of each input frame, in decoding order.
        out_fps: the output rate (5 in the official pipeline).
        frame_durations: duration (s) of each input frame; default: the gap to the next frame (the last frame gets
            the previous gap).
    """
    times = np.asarray(timestamps, dtype=np.float64)
    count = len(times)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if frame_durations is None:
        gaps = np.diff(times)
        durations = np.append(gaps, gaps[-1] if len(gaps) else 1.0 / out_fps)
    else:
        durations = np.asarray(frame_durations, dtype=np.float64)
    ticks = (times - times[0]) * out_fps
    # ffmpeg caps the duration of an input frame at one output tick.
    tick_durations = np.minimum(np.maximum(durations, 0.0) * out_fps, 1.0)
    output: list[int] = []
    next_slot = 0
    recent_repeats = [0, 0, 0]
    for index in range(count):
        delta0 = ticks[index] - next_slot
        duration = tick_durations[index]
        delta = delta0 + duration
        repeats_of_previous = 0
        copies = 1
        if delta0 < 0 < delta:
            # The frame overlaps the free slot: clip it to start there.
            duration += delta0
            delta0 = 0.0
            delta = duration
        if delta < _CFR_DROP_THRESHOLD:
            copies = 0
        elif delta > _CFR_DUPLICATE_THRESHOLD:
            copies = _round_half_even(delta)
            if delta0 > _CFR_DUPLICATE_THRESHOLD:
                repeats_of_previous = min(_round_half_even(delta0 - 0.6), copies)
        if output and repeats_of_previous:
            output.extend([output[-1]] * repeats_of_previous)
        else:
            repeats_of_previous = 0
        output.extend([index] * (copies - repeats_of_previous))
        recent_repeats = recent_repeats[1:] + [repeats_of_previous]
        next_slot += copies
    flush = int(sorted(recent_repeats)[1])
    if flush and output:
        output.extend([output[-1]] * flush)
    return np.asarray(output, dtype=np.int64)


def _round_half_even(value: float) -> int:
    # C's lrint under the default rounding mode.
    return int(round(value)) if not math.isnan(value) else 0


def constant_rate_timestamps(n_native: int, native_fps: float) -> np.ndarray:
    """Timestamps of a constant-frame-rate video (the fallback when a container gives none)."""
    return np.arange(n_native, dtype=np.float64) / native_fps


def grid_size(n_native: int, native_fps: float, grid_fps: float | None) -> int:
    """Grid frames of a constant-rate video of ``n_native`` frames at ``native_fps`` on a ``grid_fps`` grid."""
    if grid_fps is None or native_fps <= 0:
        return n_native
    return len(ffmpeg_cfr_frame_map(constant_rate_timestamps(n_native, native_fps), grid_fps))


def grid_to_native(indices: np.ndarray, n_native: int, native_fps: float, grid_fps: float | None) -> np.ndarray:
    """Map grid positions of a constant-rate video to the native frames ``ffmpeg -r grid_fps`` would write there."""
    indices = np.asarray(indices, dtype=np.int64)
    if grid_fps is None or native_fps <= 0:
        return indices
    frame_map = ffmpeg_cfr_frame_map(constant_rate_timestamps(n_native, native_fps), grid_fps)
    return frame_map[indices]
