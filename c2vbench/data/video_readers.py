"""Frames of one video file by native index, with decord or with PyAV, on the same time line.

Both readers number frames in presentation order and take their presentation times from the container's packet
timestamps (a constant rate from the average frame rate when the container has none, e.g. H.264 in AVI), so the
sampling grid, and with it the sampled frame indices, are the same whichever library decodes
(``tests/test_decoder_agreement.py`` holds them to it).

* :class:`DecordReader` seeks to the asked frames (``get_batch``). In a container without timestamps decord 0.6.0
  seeks to the wrong frames (H.264 in AVI returns frame 0 for most indices), so there it reads forward instead.
* :class:`PyAVReader` decodes forward from the start, converting only the asked frames, and keeps its place between
  calls (frame extraction asks chunk after chunk).

Neither is imported at module level: decord may be absent (it has no wheels for Apple silicon or aarch64 Linux).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from c2vbench.data.decoders import import_decord
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
# PyAV


class PyAVReader:
    """Sequential PyAV decoding that keeps its place; the index comes from demuxing (no decoding).

    ``frames`` returns the asked frames it could decode: a truncated or damaged stream ends early, and
    :attr:`ended_at` then holds the number of frames that were readable.
    """

    name = "pyav"

    def __init__(self, path: Path):
        import av

        self.path = Path(path)
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or 0
            fps = float(rate)
            self.header_frames = int(stream.frames or 0)
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
        self.index = VideoIndex(timestamps, fps, from_container)
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
