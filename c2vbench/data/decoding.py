"""Reading the sampled frames of one video: from a video file (decord, PyAV) or from a folder of extracted frames.

Video files are put on the sampling grid first (:func:`c2vbench.data.sampling.ffmpeg_cfr_frame_map`, the frames
``ffmpeg -r 5`` would have written), and only the sampled frames are decoded: decord seeks with ``get_batch``;
PyAV decodes sequentially and stops after the last sampled frame.

Bad input never passes silently. A missing, empty or undecodable source raises :class:`c2vbench.errors.DataError`
naming the video. A *partially* readable file (decord cannot open it but PyAV decodes some frames, or the container
header promises more frames than can be read) is decoded as far as it goes and the result says so in
``DecodedFrames.partial``; :func:`probe_source` reports the same before a run, so screening can list it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .sampling import FrameSampling, constant_rate_timestamps, ffmpeg_cfr_frame_map, sample_grid_indices

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
        decoder: ``decord``, ``pyav`` or ``frames`` (a folder of images).
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


@functools.lru_cache(maxsize=1)
def decoder_versions() -> dict[str, str]:
    """Versions of the decoding libraries (for the protocol card)."""
    versions: dict[str, str] = {}
    for module_name in ("decord", "av", "PIL"):
        try:
            module = __import__(module_name)
            versions[module_name] = str(getattr(module, "__version__", "unknown"))
        except Exception:  # an absent decoder is reported, not fatal here
            versions[module_name] = "unavailable"
    return versions


# ----------------------------------------------------------------------------------------------------------------
# Public entry points


def read_sampled_frames(source: Path, sampling: FrameSampling,
                        rng: np.random.Generator | None = None) -> DecodedFrames:
    """Decode the frames ``sampling`` selects from a video file or a frame folder."""
    source = Path(source)
    if source.is_dir():
        return _read_frame_folder(source, sampling, rng)
    _check_file(source)
    if sampling.decoder == "pyav":
        return _read_with_pyav(source, sampling, rng)
    return _read_with_decord(source, sampling, rng)


def probe_source(source: Path, decoder: str = "decord", decode_check: bool = True) -> VideoProbe:
    """Look at a video file or frame folder without reading the sampled frames.

    For a file: opens it (decord, PyAV as fallback), compares the container header's frame count with what the
    decoder can index, and (``decode_check``) decodes the first and last frame.
    """
    source = Path(source)
    if not source.exists():
        return VideoProbe(source, "missing", problem="missing")
    if source.is_dir():
        return _probe_frame_folder(source)
    if source.stat().st_size == 0:
        return VideoProbe(source, "video", problem="empty file (0 bytes)")
    if decoder == "decord":
        probe = _probe_with_decord(source, decode_check)
        if probe is not None:
            return probe
        # decord could not open or decode it: see what PyAV can read (truncated files often decode in part).
        return _probe_with_pyav(source, note="decord cannot read it")
    return _probe_with_pyav(source, note=None)


def list_frame_files(folder: Path) -> list[str]:
    """Image files of a frame folder in the official order (plain lexicographic sort of the names)."""
    return sorted(entry.name for entry in folder.iterdir()
                  if entry.suffix.lower() in FRAME_SUFFIXES and not entry.name.startswith("."))


# ----------------------------------------------------------------------------------------------------------------
# Frame folders


def _read_frame_folder(folder: Path, sampling: FrameSampling, rng: np.random.Generator | None) -> DecodedFrames:
    from PIL import Image

    files = list_frame_files(folder)
    indices = sample_grid_indices(len(files), sampling, rng)
    frames = []
    for index in indices:
        path = folder / files[index]
        try:
            with Image.open(path) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except Exception as error:  # PIL raises several types for truncated or foreign files
            raise DataError(f"cannot read frame {path}: {error}",
                            "re-extract this video with `c2vbench prepare`") from None
    stacked = np.stack(frames) if frames else empty_frames()
    return DecodedFrames(stacked, indices, len(files), len(files), "frames")


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
# Video files: decord


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"video {path} does not exist", "check --data-root, or pass --allow-missing")
    if path.stat().st_size == 0:
        raise DataError(f"video file {path} is empty (0 bytes)", "re-download it, or pass --allow-missing")


@functools.lru_cache(maxsize=1)
def _quiet_decord() -> None:
    import decord

    # ffmpeg's own log lines (e.g. "partial file") would flood the terminal; problems are reported by us instead.
    decord.logging.set_level(decord.logging.QUIET)


@contextlib.contextmanager
def _silenced_stderr():
    """Silence file descriptor 2 (decord's C++ logger ignores its log level when a file fails to open)."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _open_decord(path: Path):
    import decord

    _quiet_decord()
    with _silenced_stderr():
        return decord.VideoReader(str(path), num_threads=1)


def _decord_timestamps(reader, count: int, fps: float) -> np.ndarray:
    """Presentation times from the container index, or a constant rate when the index has none."""
    try:
        times = np.asarray(reader.get_frame_timestamp(np.arange(count)), dtype=np.float64)[:, 0]
        if len(times) == count and np.all(np.isfinite(times)) and np.all(np.diff(times) > 0):
            return times
    except Exception:  # some containers have no usable timestamps
        pass
    return constant_rate_timestamps(count, fps)


def _grid_map(timestamps: np.ndarray, sampling: FrameSampling) -> np.ndarray:
    if sampling.grid_fps is None:
        return np.arange(len(timestamps), dtype=np.int64)
    return ffmpeg_cfr_frame_map(timestamps, sampling.grid_fps)


def _read_with_decord(path: Path, sampling: FrameSampling, rng: np.random.Generator | None) -> DecodedFrames:
    try:
        reader = _open_decord(path)
        n_native = len(reader)
        fps = float(reader.get_avg_fps())
    except Exception as error:  # decord raises DECORDError / RuntimeError: fall back to PyAV
        decoded = _read_with_pyav(path, sampling, rng)
        if decoded.partial is None:
            decoded.partial = f"decord cannot open it ({_short(error, path)}); decoded with PyAV"
        return decoded
    frame_map = _grid_map(_decord_timestamps(reader, n_native, fps), sampling)
    native = frame_map[sample_grid_indices(len(frame_map), sampling, rng)]
    if len(native) == 0:
        return DecodedFrames(empty_frames(), native, n_native, len(frame_map), "decord")
    try:
        frames = reader.get_batch(native.tolist()).asnumpy()
    except Exception as error:
        decoded = _read_with_pyav(path, sampling, rng)
        decoded.partial = decoded.partial or f"decord failed on frames {native.tolist()} ({_short(error, path)}); " \
                                             "decoded with PyAV"
        return decoded
    return DecodedFrames(frames, native, n_native, len(frame_map), "decord")


def _probe_with_decord(path: Path, decode_check: bool) -> VideoProbe | None:
    try:
        reader = _open_decord(path)
        n_frames = len(reader)
        fps = float(reader.get_avg_fps())
        if n_frames > 0 and decode_check:
            first = reader.get_batch([0]).asnumpy()
            reader.get_batch([n_frames - 1])
        elif n_frames > 0:
            first = reader[0].asnumpy()[None]
        else:
            return VideoProbe(path, "video", fps=fps, decoder="decord", problem="no frames: decord finds none")
    except Exception:
        return None
    height, width = int(first.shape[1]), int(first.shape[2])
    probe = VideoProbe(path, "video", n_frames=n_frames, fps=fps, width=width, height=height, decoder="decord")
    header_frames = _header_frame_count(path)
    if header_frames and header_frames > n_frames:
        probe.partial = f"container header promises {header_frames} frames, {n_frames} readable"
    return probe


# ----------------------------------------------------------------------------------------------------------------
# Video files: PyAV


def _header_frame_count(path: Path) -> int:
    """Frame count written in the container header (0 when the format keeps none)."""
    try:
        import av

        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames or 0)
    except Exception:  # header problems show up as decode problems elsewhere
        return 0


def _pyav_stream_info(path: Path) -> tuple[int, float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or 0
        return int(stream.frames or 0), float(rate)


def _pyav_decode(path: Path, wanted: set[int] | None, stop_after: int | None) -> tuple[dict[int, np.ndarray], int]:
    """Decode sequentially; keep frames whose ordinal is in ``wanted`` (all when None). Returns (kept, count read)."""
    import av

    kept: dict[int, np.ndarray] = {}
    count = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if wanted is None or count in wanted:
                    kept[count] = frame.to_ndarray(format="rgb24")
                count += 1
                if stop_after is not None and count > stop_after:
                    break
    except Exception:  # a truncated or damaged stream: keep what was decoded before the damage
        pass
    return kept, count


def _read_with_pyav(path: Path, sampling: FrameSampling, rng: np.random.Generator | None) -> DecodedFrames:
    try:
        header_frames, fps = _pyav_stream_info(path)
    except Exception as error:
        raise DataError(f"cannot decode video {path}: {_short(error, path)}",
                        "re-encode or re-download it, or pass --allow-missing") from None
    partial = None
    if header_frames > 0 and fps > 0:
        frame_map = _grid_map(constant_rate_timestamps(header_frames, fps), sampling)
        native = frame_map[sample_grid_indices(len(frame_map), sampling, rng)]
        stop = int(native.max()) if len(native) else 0
        kept, count = _pyav_decode(path, set(native.tolist()), stop)
        if all(int(index) in kept for index in native):
            frames = np.stack([kept[int(index)] for index in native]) if len(native) else empty_frames()
            return DecodedFrames(frames, native, header_frames, len(frame_map), "pyav")
    # No usable header, or the stream ends early: count the readable frames, then sample over those.
    _, readable = _pyav_decode(path, set(), None)
    if readable == 0:
        raise DataError(f"cannot decode any frame of video {path}",
                        "re-encode or re-download it, or pass --allow-missing")
    if header_frames > readable:
        partial = f"only {readable} of {header_frames} frames are readable"
    fps = fps if fps > 0 else (sampling.grid_fps or 1.0)
    frame_map = _grid_map(constant_rate_timestamps(readable, fps), sampling)
    native = frame_map[sample_grid_indices(len(frame_map), sampling, rng)]
    kept, _ = _pyav_decode(path, set(native.tolist()), int(native.max()) if len(native) else 0)
    frames = np.stack([kept[int(index)] for index in native]) if len(native) else empty_frames()
    return DecodedFrames(frames, native, readable, len(frame_map), "pyav", partial)


def _probe_with_pyav(path: Path, note: str | None) -> VideoProbe:
    try:
        header_frames, fps = _pyav_stream_info(path)
    except Exception as error:
        reason = f"undecodable: {_short(error, path)}"
        return VideoProbe(path, "video", decoder="pyav", problem=reason if note is None else f"{reason} ({note})")
    kept, readable = _pyav_decode(path, {0}, None)
    if readable == 0:
        return VideoProbe(path, "video", fps=fps, decoder="pyav", problem="undecodable: no frame can be decoded")
    height, width = kept[0].shape[:2]
    probe = VideoProbe(path, "video", n_frames=readable, fps=fps, width=int(width), height=int(height),
                       decoder="pyav")
    reasons = [note] if note else []
    if header_frames > readable:
        reasons.append(f"only {readable} of {header_frames} frames are readable")
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
