"""Time-reversed copies of video files, generated once and cached (RTime-Hard puts each video's reversal in the
gallery as a hard negative).

The copy holds the source's decoded frames in reverse order, encoded losslessly (H.264 with quantiser 0 in MP4,
which decord and PyAV both read frame-exactly; decord 0.6 misreads FFV1), in the source's pixel format when it is
planar YUV (else converted to 4:2:0 once), at the source's average frame rate: decoding the copy gives exactly the
frames of the source, last first, so the copy differs from its original only in time direction, never in
compression artefacts. Long or large videos never sit in memory whole: the frames are decoded forward into
lossless chunks of :data:`CHUNK_FRAMES` on disk, and the chunks are then read back last to first.

The cache is content-addressed: ``<cache>/<sha256 of the source>.mp4``, written into a hidden temporary file
and renamed into place, so an interrupted run leaves no half copy and a changed source gets a new copy. The default
cache is ``$C2VBENCH_CACHE/reversed`` (``~/.cache/c2vbench/reversed``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

from c2vbench.data.extraction import sha256_file
from c2vbench.platform.errors import DataError

CHUNK_FRAMES = 32
CHUNK_CODEC = "ffv1"  # the scratch chunks, read back by PyAV only
OUTPUT_CODEC = "libx264"
OUTPUT_FORMATS = ("yuv420p", "yuv422p", "yuv444p")


def default_reversed_cache() -> Path:
    base = os.environ.get("C2VBENCH_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "c2vbench") / "reversed"


def reversed_copy(source: Path, cache_dir: Path | None = None) -> Path:
    """The cached time-reversed copy of ``source`` (generated on first use; see the module docs)."""
    source = Path(source)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_reversed_cache()
    target = cache_dir / f"{sha256_file(source)}.mp4"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".reversing-", dir=cache_dir))
    try:
        chunks, rate, size, pixel_format = _spill_forward(source, scratch)
        if not chunks:
            raise DataError(f"cannot reverse {source}: no frame could be decoded", "re-encode or re-download it")
        partial = scratch / "reversed.mp4"
        with _writer(partial, rate, size, pixel_format, OUTPUT_CODEC) as (container, stream):
            written = 0
            for chunk in reversed(chunks):
                for frame in reversed(_decode_all(chunk)):
                    _encode(container, stream, frame, written)
                    written += 1
            for packet in stream.encode():
                container.mux(packet)
        os.replace(partial, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _spill_forward(source: Path, scratch: Path):
    """Decode ``source`` forward into lossless chunk files; returns ``(chunks, rate, (w, h), pixel format)``."""
    import av

    chunks: list[Path] = []
    try:
        container = av.open(str(source))
    except Exception as error:
        raise DataError(f"cannot reverse {source}: {str(error).splitlines()[-1][:200]}",
                        "re-encode or re-download it") from None
    with container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or 25
        size = (stream.codec_context.width, stream.codec_context.height)
        pixel_format = stream.codec_context.pix_fmt if stream.codec_context.pix_fmt in OUTPUT_FORMATS else "yuv420p"
        pending = []
        try:
            for frame in container.decode(stream):
                pending.append(frame if frame.format.name == pixel_format else frame.reformat(format=pixel_format))
                if len(pending) == CHUNK_FRAMES:
                    chunks.append(_write_chunk(scratch, len(chunks), pending, rate, size, pixel_format))
                    pending = []
        except Exception:  # a damaged tail: the frames decoded so far are the video (as screening reads it)
            pass
        if pending:
            chunks.append(_write_chunk(scratch, len(chunks), pending, rate, size, pixel_format))
    return chunks, rate, size, pixel_format


class _writer:
    """A lossless writer, a context manager giving ``(container, stream)``: FFV1 in Matroska for the scratch
    chunks, H.264 with quantiser 0 in MP4 for the copy."""

    def __init__(self, path: Path, rate, size: tuple[int, int], pixel_format: str, codec: str = CHUNK_CODEC):
        self.path, self.rate, self.size, self.pixel_format, self.codec = path, rate, size, pixel_format, codec

    def __enter__(self):
        import av

        self.container = av.open(str(self.path), "w", format="matroska" if self.codec == CHUNK_CODEC else "mp4")
        options = {"qp": "0", "preset": "veryfast"} if self.codec == OUTPUT_CODEC else {}
        stream = self.container.add_stream(self.codec, rate=self.rate, options=options)
        stream.width, stream.height = self.size
        stream.pix_fmt = self.pixel_format
        return self.container, stream

    def __exit__(self, *exc_info) -> None:
        self.container.close()


def _write_chunk(scratch: Path, number: int, frames, rate, size, pixel_format: str) -> Path:
    path = scratch / f"chunk-{number:06d}.mkv"
    with _writer(path, rate, size, pixel_format) as (container, stream):
        for position, frame in enumerate(frames):
            _encode(container, stream, frame, position)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _encode(container, stream, frame, position: int) -> None:
    """Encode ``frame`` as the ``position``-th frame of a constant-rate stream."""
    frame.pts = position
    frame.time_base = Fraction(1) / Fraction(stream.average_rate)
    for packet in stream.encode(frame):
        container.mux(packet)


def _decode_all(path: Path):
    import av

    with av.open(str(path)) as container:
        return list(container.decode(video=0))
