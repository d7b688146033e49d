"""Frames of one video file by native index, with decord, TorchCodec or PyAV, on the same time line.

Every reader numbers frames in presentation order and takes their presentation times from the container's packet
timestamps (a constant rate from the average frame rate when the container has none, e.g. H.264 in AVI), so the
sampling grid, and with it the sampled frame indices, are the same whichever library decodes
(``tests/test_decoder_agreement.py`` holds them to it).

* :class:`DecordReader` seeks to the asked frames (``get_batch``). In a container without timestamps decord 0.6.0
  seeks to the wrong frames (H.264 in AVI returns frame 0 for most indices), so there it reads forward instead.
* :class:`TorchCodecReader` seeks to the asked frames (``get_frames_at`` in exact mode), on the CPU or, given a CUDA
  device, with NVDEC, the frames staying on the GPU. It checks the presentation time of every frame it returns
  against the index and raises :class:`TimelineMismatch` where they differ (H.264 with B-frames in AVI, whose
  packets carry no presentation times: TorchCodec then returns neighbours, or fails on the last frames); the caller
  decodes such a file with PyAV.
* :class:`PyAVReader` decodes forward from the start, converting only the asked frames, and keeps its place between
  calls (frame extraction asks chunk after chunk).

None is imported at module level: decord may be absent (it has no wheels for Apple silicon or aarch64 Linux), and
TorchCodec is an optional extra.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from c2vbench.data.decoders import import_decord, import_torchcodec
from c2vbench.data.sampling import constant_rate_timestamps


@dataclasses.dataclass
class VideoIndex:
    """What a reader knows before decoding: one presentation time per frame.

    Attributes:
        timestamps: presentation time (s) of every frame, ascending.
        fps: the container's average frame rate (0 when it states none).
        from_container: True when ``timestamps`` are the container's own; False when they were made up from ``fps``
            because the container has none (or they are not strictly increasing).
    """

    timestamps: np.ndarray
    fps: float
    from_container: bool

    @property
    def count(self) -> int:
        return len(self.timestamps)


def usable_timestamps(raw: Sequence[float] | None, count: int, fps: float) -> tuple[np.ndarray, bool]:
    """``(timestamps, from_container)``: ``raw`` when it has ``count`` finite, strictly increasing values, else a
    constant rate at ``fps`` (1 fps when the rate is unknown too)."""
    if raw is not None:
        times = np.asarray(raw, dtype=np.float64)
        if len(times) == count and count > 0 and np.all(np.isfinite(times)) and np.all(times >= 0) \
                and np.all(np.diff(times) > 0):
            return times, True
    return constant_rate_timestamps(count, fps if fps > 0 else 1.0), False


def container_header_frames(path: Path) -> int:
    """Frame count written in the container header (0 when the format keeps none, or the file cannot be opened)."""
    try:
        import av

        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames or 0)
    except Exception:  # header problems show up as decode problems elsewhere
        return 0


def demuxed_index(path: Path) -> tuple[VideoIndex, int]:
    """``(index, header frame count)`` of a video file from demuxing it with PyAV (packets only, nothing decoded).

    Raises what PyAV raises on a file it cannot open; a damaged tail ends the index at the last packet read.
    """
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or 0
        fps = float(rate)
        header_frames = int(stream.frames or 0)
        time_base = stream.time_base
        presentation = []
        complete = True
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                if packet.pts is None or time_base is None:
                    complete = False
                presentation.append(packet.pts)
        except Exception:  # a damaged tail: the packets read so far are the index
            pass
    count = len(presentation)
    raw = sorted(float(pts * time_base) for pts in presentation) if complete and count else None
    timestamps, from_container = usable_timestamps(raw, count, fps)
    return VideoIndex(timestamps, fps, from_container), header_frames


# ----------------------------------------------------------------------------------------------------------------
# decord


@functools.lru_cache(maxsize=1)
def _quiet_decord() -> None:
    decord = import_decord()
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


class DecordReader:
    """A decord ``VideoReader`` that returns the asked native frames (raises what decord raises on bad files)."""

    name = "decord"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._reader = self._open()
        count = len(self._reader)
        fps = float(self._reader.get_avg_fps())
        raw = None
        with contextlib.suppress(Exception):  # some containers have no usable timestamps
            raw = np.asarray(self._reader.get_frame_timestamp(np.arange(count)), dtype=np.float64)[:, 0]
        timestamps, from_container = usable_timestamps(raw, count, fps)
        self.index = VideoIndex(timestamps, fps, from_container)
        self._next = 0  # the frame a sequential read returns next

    def _open(self):
        decord = import_decord()
        _quiet_decord()
        with _silenced_stderr():
            return decord.VideoReader(str(self.path), num_threads=1)

    def frames(self, indices: Sequence[int]) -> np.ndarray:
        """``[len(indices), H, W, 3]`` uint8, in the order asked."""
        indices = [int(index) for index in indices]
        if self.index.from_container:
            return self._reader.get_batch(indices).asnumpy()
        wanted = set(indices)
        if min(wanted) < self._next:  # behind the read position: start again (decord cannot seek here)
            self._reader = self._open()
            self._next = 0
        kept: dict[int, np.ndarray] = {}
        while self._next <= max(wanted):
            frame = self._reader.next()
            if self._next in wanted:
                kept[self._next] = frame.asnumpy()
            self._next += 1
        return np.stack([kept[index] for index in indices])

    def __enter__(self) -> DecordReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self._reader = None


# ----------------------------------------------------------------------------------------------------------------
# TorchCodec


# How far TorchCodec's frames may be from PyAV's, in 0..255 levels, on lossy (yuv420p) video: both convert to RGB
# with FFmpeg's swscale, but TorchCodec with the system's FFmpeg and PyAV with the one in its wheel, whose versions
# (and SIMD paths) may differ. Lossless RGB video must come out identical. Measured with TorchCodec 0.17 on Debian's
# FFmpeg 5.1 against PyAV 18: identical on every test file (tests/test_decoder_agreement.py).
TORCHCODEC_VS_PYAV_BOUND = {"mean_levels": 0.5, "max_levels": 3}


class TimelineMismatch(RuntimeError):
    """TorchCodec's frames do not sit at the presentation times of the container's index (see the module doc)."""


class TorchCodecReader:
    """A TorchCodec ``VideoDecoder`` (exact seeking) that returns the asked native frames, checked against the index.

    ``device``: ``cpu``, or a CUDA device to decode with NVDEC (:meth:`frame_tensor` then returns frames on it).
    """

    name = "torchcodec"

    def __init__(self, path: Path, device: str = "cpu"):
        torchcodec = import_torchcodec()
        self.path = Path(path)
        self.index, self.header_frames = demuxed_index(self.path)
        self._decoder = torchcodec.decoders.VideoDecoder(str(self.path), seek_mode="exact", dimension_order="NHWC",
                                                         num_ffmpeg_threads=1, device=str(device))
        if len(self._decoder) != self.index.count:
            raise TimelineMismatch(f"TorchCodec finds {len(self._decoder)} frames, the container index "
                                   f"{self.index.count}")

    def frame_tensor(self, indices: Sequence[int]):
        """``[len(indices), H, W, 3]`` uint8 tensor on the reader's device, in the order asked."""
        indices = [int(index) for index in indices]
        try:
            batch = self._decoder.get_frames_at(indices)
        except RuntimeError as error:  # e.g. "no more frames left to decode" where the timeline is off
            raise TimelineMismatch(str(error)) from None
        returned = batch.pts_seconds.detach().cpu().numpy().astype(np.float64)
        if not self.index.from_container or not np.allclose(returned, self.index.timestamps[indices], atol=1e-6):
            raise TimelineMismatch("TorchCodec's frames are not at the presentation times of the index")
        return batch.data

    def frames(self, indices: Sequence[int]) -> np.ndarray:
        """``[len(indices), H, W, 3]`` uint8, in the order asked (copied to the CPU)."""
        return self.frame_tensor(indices).cpu().numpy()

    def __enter__(self) -> TorchCodecReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self._decoder = None


# ----------------------------------------------------------------------------------------------------------------
# PyAV


class PyAVReader:
    """Sequential PyAV decoding that keeps its place; the index comes from demuxing (no decoding).

    ``frames`` returns the asked frames it could decode: a truncated or damaged stream ends early, and
    :attr:`ended_at` then holds the number of frames that were readable.
    """

    name = "pyav"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.index, self.header_frames = demuxed_index(self.path)
        self.ended_at: int | None = None
        self._container = None
        self._decoded = None
        self._next = 0

    def _restart(self) -> None:
        import av

        self.close()
        self._container = av.open(str(self.path))
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._decoded = self._container.decode(stream)
        self._next = 0

    def frames(self, indices: Sequence[int]) -> dict[int, np.ndarray]:
        """``{index: [H, W, 3] uint8}`` for every asked frame the stream reaches."""
        wanted = {int(index) for index in indices}
        if not wanted:
            return {}
        if self._decoded is None or min(wanted) < self._next:
            self._restart()
        kept: dict[int, np.ndarray] = {}
        last = max(wanted)
        while self._next <= last and (self.ended_at is None or self._next < self.ended_at):
            try:
                frame = next(self._decoded)
            except Exception:  # StopIteration at the end, av errors on damage: what was decoded stays
                self.ended_at = self._next
                break
            if self._next in wanted:
                kept[self._next] = frame.to_ndarray(format="rgb24")
            self._next += 1
        return kept

    def count_readable(self) -> int:
        """Decode to the end (converting nothing) and return how many frames could be decoded."""
        if self.ended_at is None:
            self.frames([np.iinfo(np.int64).max])
        return int(self.ended_at or 0)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container, self._decoded = None, None

    def __enter__(self) -> PyAVReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
