"""Reading the sampled frames of one video: from a video file with decord, or from a folder of extracted frames.

Only the sampled frames are decoded (decord seeks with ``get_batch``). Problems are raised as
:class:`c2vbench.errors.DataError` naming the video, so a benchmark never runs on a silently broken clip.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import DataError
from .sampling import FrameSampling, grid_size, grid_to_native, sample_grid_indices

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclasses.dataclass
class DecodedFrames:
    """Sampled RGB frames ``[n, H, W, 3]`` (uint8) and where they came from."""

    frames: np.ndarray
    indices: np.ndarray
    n_source_frames: int


def read_sampled_frames(source: Path, sampling: FrameSampling,
                        rng: np.random.Generator | None = None) -> DecodedFrames:
    """Decode the frames ``sampling`` selects from a video file or a frame folder."""
    source = Path(source)
    if source.is_dir():
        return _read_frame_folder(source, sampling, rng)
    return _read_video_file(source, sampling, rng)


def _read_frame_folder(folder: Path, sampling: FrameSampling, rng: np.random.Generator | None) -> DecodedFrames:
    from PIL import Image

    files = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    indices = sample_grid_indices(len(files), sampling, rng)
    frames = []
    for index in indices:
        with Image.open(folder / files[index]) as image:
            frames.append(np.asarray(image.convert("RGB")))
    stacked = np.stack(frames) if frames else np.zeros((0, 1, 1, 3), dtype=np.uint8)
    return DecodedFrames(stacked, indices, len(files))


def _read_video_file(path: Path, sampling: FrameSampling, rng: np.random.Generator | None) -> DecodedFrames:
    if not path.exists():
        raise DataError(f"video file {path} does not exist", "check --data-root, or pass --allow-missing")
    if path.stat().st_size == 0:
        raise DataError(f"video file {path} is empty (0 bytes)", "re-download it, or pass --allow-missing")
    import decord

    try:
        reader = decord.VideoReader(str(path), num_threads=1)
        n_native = len(reader)
        native_fps = float(reader.get_avg_fps())
    except Exception as error:  # decord raises its own DECORDError and RuntimeError
        raise DataError(f"cannot decode video {path}: {error}", "re-encode or re-download it") from None
    n_grid = grid_size(n_native, native_fps, sampling.grid_fps)
    grid_indices = sample_grid_indices(n_grid, sampling, rng)
    native_indices = grid_to_native(grid_indices, n_native, native_fps, sampling.grid_fps)
    if len(native_indices) == 0:
        return DecodedFrames(np.zeros((0, 1, 1, 3), dtype=np.uint8), native_indices, n_native)
    try:
        frames = reader.get_batch(native_indices.tolist()).asnumpy()
    except Exception as error:
        raise DataError(f"cannot decode frames {native_indices.tolist()} of {path}: {error}",
                        "re-encode or re-download it") from None
    return DecodedFrames(frames, native_indices, n_native)
