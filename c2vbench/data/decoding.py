"""Reading the sampled frames of one video: from a video file (decord, PyAV) or from a folder of extracted frames.

Video files are put on the sampling grid first (:func:`c2vbench.data.sampling.ffmpeg_cfr_frame_map`, the frames
``ffmpeg -r 5`` would have written, from the container's timestamps), and only the sampled frames are decoded:
decord and TorchCodec seek to them; PyAV decodes sequentially and stops after the last sampled frame (see
:mod:`c2vbench.data.video_readers`). Which decoder runs is the sampling's ``decoder`` (``auto`` resolves to the
first of TorchCodec, decord and PyAV that is installed; :mod:`c2vbench.data.decoders`); all give the same frame
indices. Where TorchCodec's frames do not sit at the index's presentation times (B-frames in AVI), the video is
decoded with PyAV, and ``DecodedFrames.decoder`` says so.

Bad input never passes silently. A missing, empty or undecodable source raises
:class:`c2vbench.platform.errors.DataError` naming the video. A *partially* readable file (decord or TorchCodec cannot
open it but PyAV decodes some frames, or the container header promises more frames than can be read) is decoded as
far as it goes and the result says so in ``DecodedFrames.partial``; :func:`probe_source` reports the same before a
run, so screening can list it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from c2vbench.data.decoders import require_decoder, resolve_video_decoder
from c2vbench.data.sampling import (
    FrameSampling,
    constant_rate_timestamps,
    ffmpeg_cfr_frame_map,
    grid_times,
    sample_window_indices,
)
from c2vbench.data.video_readers import (
    DecordReader,
    PyAVReader,
    TimelineMismatch,
    TorchCodecReader,
    container_header_frames,
)
from c2vbench.platform.errors import DataError

if TYPE_CHECKING:
    import torch

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".3gp", ".wmv")


@dataclasses.dataclass
class DecodedFrames:
    """Sampled RGB frames ``[n, H, W, 3]`` (uint8) and where they came from.

    Attributes:
        frames: the decoded frames, in sampling order.
        indices: native frame indices (video files) or positions in the sorted file list (frame folders).
        n_source_frames: frames the source has (readable frames for a partial video).
        n_grid: length of the sampling grid.
        decoder: ``decord``, ``torchcodec``, ``pyav`` or ``frames`` (a folder of images).
        partial: None, or why only part of the video could be read.
    """

    frames: np.ndarray
    indices: np.ndarray
    n_source_frames: int
    n_grid: int = 0
    decoder: str = ""
    partial: str | None = None


@dataclasses.dataclass
class VideoProbe:
    """What a quick look at a source found (used by screening and ``prepare``).

    Attributes:
        problem: None when usable; otherwise ``missing``, ``empty file``, ``empty folder``, ``undecodable: ...``
            or ``no frames: ...`` — the video cannot be used at all.
        partial: None, or why only part of the video is readable (the readable part is used).
    """

    source: Path
    kind: str
    n_frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    decoder: str = ""
    problem: str | None = None
    partial: str | None = None

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps if self.fps > 0 else 0.0


def empty_frames() -> np.ndarray:
    return np.zeros((0, 1, 1, 3), dtype=np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# Public entry points


Window = tuple[float, float | None]


def read_sampled_frames(source: Path, sampling: FrameSampling, rng: np.random.Generator | None = None,
                        window: Window | None = None) -> DecodedFrames:
    """Decode the frames ``sampling`` selects from a video file or a frame folder.

    ``window`` (``(start, end)`` seconds, ``end`` None for the end): sample only the grid positions inside it, as
    from a clip cut out of the video (:func:`c2vbench.data.sampling.window_bounds`); ``n_grid`` is then the number
    of grid positions in the window.
    """
    source = Path(source)
    if source.is_dir():
        return _read_frame_folder(source, sampling, rng, window)
    if sampling.decoder == "frames":
        raise DataError(f"{source} is a video file, but the decoder is 'frames' (extracted frame folders)",
                        "extract frames with `c2vbench prepare`, or use --decoder auto to decode the videos")
    _check_file(source)
    if sampling.decoder == "pyav":
        return _read_with_pyav(source, sampling, rng, window)
    return _read_seeking(source, sampling, rng, sampling.decoder, window)


def plan_sampled_frames(source: Path, sampling: FrameSampling, rng: np.random.Generator | None = None,
                        window: Window | None = None) -> tuple[np.ndarray, int] | None:
    """``(native indices, grid positions in the window)`` of the frames ``sampling`` selects from a video file,
    found from its container index alone (nothing decoded), for decoding elsewhere (:func:`decode_frames_on`); None
    when the file needs the reading path's care instead (it cannot be demuxed, or its header promises frames it
    lacks)."""
    from c2vbench.data.video_readers import demuxed_index

    try:
        index, header_frames = demuxed_index(Path(source))
    except Exception:  # read_sampled_frames reports the problem
        return None
    if index.count == 0 or _promise_broken(header_frames, index.count):
        return None
    frame_map = _grid_map(index.timestamps, sampling)
    return _sampled_native(frame_map, index.timestamps, sampling, rng, window)


def decode_frames_on(source: str | Path, indices, device) -> torch.Tensor:
    """``[n, 3, H, W]`` uint8 on ``device``: the native frames ``indices`` of a video file, decoded by TorchCodec on
    that device (NVDEC on CUDA: the frames never leave the GPU), or by PyAV where TorchCodec cannot seek in the file
    (then copied to the device)."""
    import torch

    indices = [int(index) for index in indices]
    try:
        with TorchCodecReader(Path(source), device=str(device)) as reader:
            frames = reader.frame_tensor(indices)
    except TimelineMismatch:
        with PyAVReader(Path(source)) as reader:
            kept = reader.frames(indices)
        if len(kept) < len(set(indices)):
            raise DataError(f"cannot decode frames {indices} of video {source}",
                            "re-encode or re-download it, or pass --allow-missing") from None
        frames = torch.from_numpy(np.stack([kept[index] for index in indices])).to(device)
    except Exception as error:  # TorchCodec's RuntimeError / ValueError on a file it cannot open
        raise DataError(f"cannot decode video {source} with TorchCodec on {device}: {_short(error, Path(source))}",
                        "use --decoder pyav or decord, or pass --allow-missing") from None
    return frames.permute(0, 3, 1, 2)


def probe_source(source: Path, decoder: str = "auto", decode_check: bool = True) -> VideoProbe:
    """Look at a video file or frame folder without reading the sampled frames.

    For a file: opens it (``decoder``; decord and TorchCodec fall back to PyAV), compares the container header's
    frame count with what can be read, and (``decode_check``) decodes the first and last frame. ``auto`` is the first
    of TorchCodec, decord and PyAV that is installed; a decoder asked for by name that is not installed raises
    :class:`c2vbench.platform.errors.C2VBenchError`.
    """
    source = Path(source)
    if not source.exists():
        return VideoProbe(source, "missing", problem="missing")
    if source.is_dir():
        return _probe_frame_folder(source)
    if decoder == "frames":
        return VideoProbe(source, "video", problem="a video file where an extracted frame folder is expected")
    if source.stat().st_size == 0:
        return VideoProbe(source, "video", problem="empty file (0 bytes)")
    decoder = resolve_video_decoder(decoder)
    if decoder in SEEKING_READERS:
        try:
            probe = _probe_seeking(source, decode_check, decoder)
        except TimelineMismatch:  # a whole video that this library cannot seek in: PyAV decodes it, as reading does
            return _probe_with_pyav(source, note=None)
        if probe is not None:
            return probe
        # it could not open or decode it: see what PyAV can read (truncated files often decode in part).
        return _probe_with_pyav(source, note=f"{decoder} cannot read it")
    return _probe_with_pyav(source, note=None)


def list_frame_files(folder: Path) -> list[str]:
    """Image files of a frame folder in the official order (plain lexicographic sort of the names)."""
    return sorted(entry.name for entry in folder.iterdir()
                  if entry.suffix.lower() in FRAME_SUFFIXES and not entry.name.startswith("."))


# ----------------------------------------------------------------------------------------------------------------
# Frame folders


def sampled_frame_paths(folder: Path, sampling: FrameSampling, rng: np.random.Generator | None = None,
                        window: Window | None = None) -> tuple[list[Path], np.ndarray, int]:
    """The image files ``sampling`` selects from a frame folder: ``(paths, positions, grid positions in the
    window)``. The folder's files are the grid, ``sampling.grid_fps`` apart (what ``c2vbench prepare`` writes)."""
    files = list_frame_files(folder)
    times = folder_grid_times(len(files), sampling, window, folder)
    indices = sample_window_indices(times, sampling, window, rng)
    return [folder / files[index] for index in indices], indices, _window_size(times, window)


def folder_grid_times(n_files: int, sampling: FrameSampling, window: Window | None, folder: Path) -> np.ndarray:
    """Times of a frame folder's files: ``k / grid_fps`` (a window needs the folder's rate)."""
    if sampling.grid_fps is None:
        if window is not None:
            raise DataError(f"{folder}: a time window needs the frame folder's rate, and the sampling has no grid_fps",
                            "use a sampling with grid_fps (5, what `c2vbench prepare` extracts)")
        return np.arange(n_files, dtype=np.float64)
    return grid_times(n_files, sampling.grid_fps)


def _window_size(times: np.ndarray, window: Window | None) -> int:
    from c2vbench.data.sampling import window_bounds

    first, stop = window_bounds(times, window)
    return stop - first


def _read_frame_folder(folder: Path, sampling: FrameSampling, rng: np.random.Generator | None,
                       window: Window | None = None) -> DecodedFrames:
    from PIL import Image

    paths, indices, n_files = sampled_frame_paths(folder, sampling, rng, window)
    frames = []
    for path in paths:
        try:
            with Image.open(path) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except Exception as error:  # PIL raises several types for truncated or foreign files
            raise DataError(f"cannot read frame {path}: {error}",
                            "re-extract this video with `c2vbench prepare`") from None
    stacked = np.stack(frames) if frames else empty_frames()
    return DecodedFrames(stacked, indices, n_files, n_files, "frames")


def _probe_frame_folder(folder: Path) -> VideoProbe:
    files = list_frame_files(folder)
    if not files:
        return VideoProbe(folder, "frames", decoder="frames", problem="empty folder (no frames)")
    empty = [name for name in files if (folder / name).stat().st_size == 0]
    if empty:
        return VideoProbe(folder, "frames", n_frames=len(files), decoder="frames",
                          problem=f"{len(empty)} empty frame file(s), e.g. {empty[0]}")
    from PIL import Image

    try:
        with Image.open(folder / files[0]) as image:
            width, height = image.size
    except Exception as error:
        return VideoProbe(folder, "frames", n_frames=len(files), decoder="frames",
                          problem=f"undecodable: {files[0]}: {error}")
    return VideoProbe(folder, "frames", n_frames=len(files), width=width, height=height, decoder="frames")


# ----------------------------------------------------------------------------------------------------------------
# Video files


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"video {path} does not exist", "check --data-root, or pass --allow-missing")
    if path.stat().st_size == 0:
        raise DataError(f"video file {path} is empty (0 bytes)", "re-download it, or pass --allow-missing")


def _grid_map(timestamps: np.ndarray, sampling: FrameSampling) -> np.ndarray:
    if sampling.grid_fps is None:
        return np.arange(len(timestamps), dtype=np.int64)
    return ffmpeg_cfr_frame_map(timestamps, sampling.grid_fps)


def _sampled_native(frame_map: np.ndarray, timestamps: np.ndarray, sampling: FrameSampling,
                    rng: np.random.Generator | None, window: Window | None) -> tuple[np.ndarray, int]:
    """The native frames to decode, and the number of grid positions in the window."""
    times = grid_times(len(frame_map), sampling.grid_fps, timestamps)
    positions = sample_window_indices(times, sampling, window, rng)
    return frame_map[positions], _window_size(times, window)


SEEKING_READERS = {"decord": DecordReader, "torchcodec": TorchCodecReader}


def _read_seeking(path: Path, sampling: FrameSampling, rng: np.random.Generator | None, decoder: str,
                  window: Window | None = None) -> DecodedFrames:
    """The sampled frames with decord or TorchCodec (seeking), or with PyAV where these cannot read the file."""
    require_decoder(decoder)  # an absent library is the user's to fix, not a property of this video
    try:
        reader = SEEKING_READERS[decoder](path)
    except TimelineMismatch:
        return _read_with_pyav(path, sampling, rng, window)
    except Exception as error:  # decord raises DECORDError / RuntimeError, TorchCodec RuntimeError: PyAV is tried
        decoded = _read_with_pyav(path, sampling, rng, window)
        if decoded.partial is None:
            decoded.partial = f"{decoder} cannot open it ({_short(error, path)}); decoded with PyAV"
        return decoded
    frame_map = _grid_map(reader.index.timestamps, sampling)
    native, n_grid = _sampled_native(frame_map, reader.index.timestamps, sampling, rng, window)
    if len(native) == 0:
        return DecodedFrames(empty_frames(), native, reader.index.count, n_grid, decoder)
    try:
        frames = reader.frames(native.tolist())
    except TimelineMismatch:
        return _read_with_pyav(path, sampling, rng, window)
    except Exception as error:
        decoded = _read_with_pyav(path, sampling, rng, window)
        decoded.partial = decoded.partial or f"{decoder} failed on frames {native.tolist()} " \
                                             f"({_short(error, path)}); decoded with PyAV"
        return decoded
    # a reader that read the header's frame count (TorchCodec's) reports a broken promise, as PyAV's path does
    partial = _promise_broken(getattr(reader, "header_frames", 0), reader.index.count)
    return DecodedFrames(frames, native, reader.index.count, n_grid, decoder, partial)


def _probe_seeking(path: Path, decode_check: bool, decoder: str) -> VideoProbe | None:
    """What decord or TorchCodec reads of ``path`` (None when it cannot open or decode it; TorchCodec raises
    :class:`TimelineMismatch` where it cannot seek in it)."""
    try:
        reader = SEEKING_READERS[decoder](path)
        n_frames = reader.index.count
        if n_frames == 0:
            return VideoProbe(path, "video", fps=reader.index.fps, decoder=decoder,
                              problem=f"no frames: {decoder} finds none")
        first = reader.frames([0])
        if decode_check:
            reader.frames([n_frames - 1])
    except TimelineMismatch:
        raise
    except Exception:
        return None
    height, width = int(first.shape[1]), int(first.shape[2])
    probe = VideoProbe(path, "video", n_frames=n_frames, fps=reader.index.fps, width=width, height=height,
                       decoder=decoder)
    probe.partial = _promise_broken(container_header_frames(path), n_frames)
    return probe


def _promise_broken(header_frames: int, readable: int) -> str | None:
    """The reason a video counts as partial when its header promises more frames than can be read."""
    if header_frames > readable:
        return f"container header promises {header_frames} frames, {readable} readable"
    return None


def _read_with_pyav(path: Path, sampling: FrameSampling, rng: np.random.Generator | None,
                    window: Window | None = None) -> DecodedFrames:
    try:
        reader = PyAVReader(path)
    except Exception as error:
        raise DataError(f"cannot decode video {path}: {_short(error, path)}",
                        "re-encode or re-download it, or pass --allow-missing") from None
    with reader:
        index = reader.index
        if 0 < index.count and reader.header_frames <= index.count:
            frame_map = _grid_map(index.timestamps, sampling)
            native, n_grid = _sampled_native(frame_map, index.timestamps, sampling, rng, window)
            kept = reader.frames(native.tolist())
            if all(int(position) in kept for position in native):
                frames = np.stack([kept[int(position)] for position in native]) if len(native) else empty_frames()
                return DecodedFrames(frames, native, index.count, n_grid, "pyav")
        # The stream ends before its header or index says: sample over the frames that can be decoded.
        readable = reader.count_readable()
        if readable == 0:
            raise DataError(f"cannot decode any frame of video {path}",
                            "re-encode or re-download it, or pass --allow-missing")
        partial = _promise_broken(max(reader.header_frames, index.count), readable)
        timestamps = index.timestamps[:readable] if index.from_container else \
            constant_rate_timestamps(readable, index.fps if index.fps > 0 else (sampling.grid_fps or 1.0))
        frame_map = _grid_map(timestamps, sampling)
        native, n_grid = _sampled_native(frame_map, timestamps, sampling, rng, window)
        kept = reader.frames(native.tolist())
        frames = np.stack([kept[int(position)] for position in native]) if len(native) else empty_frames()
        return DecodedFrames(frames, native, readable, n_grid, "pyav", partial)


def _probe_with_pyav(path: Path, note: str | None) -> VideoProbe:
    try:
        reader = PyAVReader(path)
    except Exception as error:
        reason = f"undecodable: {_short(error, path)}"
        return VideoProbe(path, "video", decoder="pyav", problem=reason if note is None else f"{reason} ({note})")
    with reader:
        first = reader.frames([0])
        readable = reader.count_readable()
    fps = reader.index.fps
    if readable == 0 or 0 not in first:
        return VideoProbe(path, "video", fps=fps, decoder="pyav", problem="undecodable: no frame can be decoded")
    height, width = first[0].shape[:2]
    probe = VideoProbe(path, "video", n_frames=readable, fps=fps, width=int(width), height=int(height),
                       decoder="pyav")
    reasons = [note] if note else []
    broken = _promise_broken(max(reader.header_frames, reader.index.count), readable)
    if broken:
        reasons.append(broken)
    if reasons:
        probe.partial = "; ".join(reasons)
    return probe


def _short(error: BaseException, path: Path | None = None) -> str:
    """Last line of a (often very long, multi-line) decoder error, without the file's location.

    Reasons end up in the result's protocol card and hash, which must not depend on where the data lives.
    """
    text = str(error).strip().splitlines()
    line = text[-1] if text else type(error).__name__
    if path is not None:
        line = line.replace(f": '{path}'", "").replace(str(path), path.name)
    return line[:200]
