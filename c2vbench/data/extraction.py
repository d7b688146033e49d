"""Frame extraction for ``c2vbench prepare``: video files to the official ``<video_id>/%08d.jpg`` layout.

Each video becomes ``OUT/<video_id>/00000001.jpg ...`` at 5 fps (the frames ``ffmpeg -r 5`` would write, see
:func:`c2vbench.data.sampling.ffmpeg_cfr_frame_map`), decoded with decord or PyAV (``--decoder``), no ffmpeg binary
needed. The
video id is the file name up to the first ``.``, as the official extractor names its folders.

Resumable: frames are written into ``OUT/.partial/<video_id>/`` and moved into place only when complete; then a
manifest ``OUT/.manifests/<video_id>.json`` records the frame count, fps, duration, resolution and the source's
SHA-256. A re-run skips every video whose manifest matches its source file (same size and modification time) and
whose folder holds the recorded frames, so an interrupted run resumes where it stopped. Hidden folders keep the
output usable by the official loaders, which list every entry of a frame folder.

Differences from the official ``sample_frame.py``: JPEG quality 95 with PIL (ffmpeg ``-q 0``, i.e. its best mjpeg
quantiser, is close but not byte-identical); 5 fps grid by emulation of ffmpeg's CFR conversion (documented
residuals in :mod:`c2vbench.data.sampling`); partially readable videos are extracted as far as they decode and
marked ``partial``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import errno
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from c2vbench.data.decoders import decoder_version, resolve_video_decoder
from c2vbench.data.decoding import VIDEO_SUFFIXES, probe_source
from c2vbench.data.sampling import constant_rate_timestamps, ffmpeg_cfr_frame_map
from c2vbench.data.workers import one_torch_thread
from c2vbench.runtime.hashing import sha256_file  # also c2vbench.plugin.sha256_file

MANIFEST_DIR = ".manifests"
PARTIAL_DIR = ".partial"
JPEG_QUALITY = 95
DECODE_CHUNK = 32  # frames decoded per decord call: bounds memory on long, high-resolution clips
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)
MAX_GRID_FPS = 120.0  # above any ordinary video's own rate: a higher grid only repeats frames
# A floor on the size of one JPEG frame (bytes per pixel at quality 95 on smooth content): disk estimates use it,
# so a refusal is never wrong (real frames are larger).
JPEG_BYTES_PER_PIXEL_FLOOR = 0.05


@dataclasses.dataclass
class ExtractionOutcome:
    """What happened to one video: ``extracted``, ``partial``, ``skipped`` (already done), ``linked`` (its frame
    folder is a symbolic link, left as it is) or ``failed``."""

    video_id: str
    status: str
    reason: str = ""
    manifest: dict[str, Any] | None = None


@dataclasses.dataclass
class PrepareReport:
    """The whole run: one outcome per video found, and the expected ids that have no video file."""

    outcomes: list[ExtractionOutcome]
    missing: list[str]

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    def offenders(self) -> list[dict[str, str]]:
        """Unreadable/empty videos, partially readable ones, and missing ids, each with its reason."""
        listed = [{"video_id": o.video_id, "status": o.status, "reason": o.reason}
                  for o in self.outcomes if o.status in ("failed", "partial")]
        listed += [{"video_id": video_id, "status": "missing", "reason": "no video file"} for video_id in self.missing]
        return listed

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {status: self.count(status) for status in ("extracted", "partial", "skipped", "failed")}
            | ({"linked": self.count("linked")} if self.count("linked") else {})
            | {"missing": len(self.missing)},
            "offenders": self.offenders(),
        }


def video_id_of(path: Path) -> str:
    return path.name.split(".", 1)[0]


def find_videos(videos_dir: Path) -> dict[str, Path]:
    """Video files of a folder by id (sorted by name; the first file wins when two share an id)."""
    found: dict[str, Path] = {}
    for entry in sorted(Path(videos_dir).iterdir()):
        if entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES and not entry.name.startswith("."):
            found.setdefault(video_id_of(entry), entry)
    return found


def manifest_path(out_dir: Path, video_id: str) -> Path:
    return Path(out_dir) / MANIFEST_DIR / f"{video_id}.json"


def is_done(out_dir: Path, video_id: str, source: Path) -> bool:
    """True when a manifest matches ``source`` and the frame folder holds the frames it records."""
    path = manifest_path(out_dir, video_id)
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    stat = source.stat()
    if manifest.get("source_bytes") != stat.st_size or manifest.get("source_mtime_ns") != stat.st_mtime_ns:
        return False
    folder = Path(out_dir) / video_id
    return folder.is_dir() and sum(1 for _ in folder.glob("*.jpg")) == manifest.get("frames_written")


def linked_outcome(out_dir: Path, video_id: str) -> ExtractionOutcome:
    """A frame folder that is a symbolic link is never written through nor replaced: skipped, with a note."""
    return ExtractionOutcome(video_id, "linked", f"{out_dir / video_id} is a symbolic link: left as it is (remove "
                             "the link to extract this video here)")


def check_grid_fps(fps: float) -> None:
    """Refuse a grid rate outside (0, MAX_GRID_FPS], with the number of frames one minute of video would make."""
    import math

    from c2vbench.platform.errors import C2VBenchError

    if not (math.isfinite(fps) and 0 < fps <= MAX_GRID_FPS):
        per_minute = f"; at {fps:g} fps one minute of video is {fps * 60:,.0f} JPEG files" if fps > 0 else ""
        raise C2VBenchError(f"--fps {fps:g} is outside (0, {MAX_GRID_FPS:g}]{per_minute}",
                            "use the protocol's grid rate (5 for CLIP2Video and CLIP4Clip)")


def disk_needed(probe, fps: float) -> tuple[int, int]:
    """``(frames, bytes)`` that extracting a probed video at ``fps`` will write, at least."""
    import math

    frames = max(1, math.ceil((probe.duration or 0.0) * fps))
    return frames, int(frames * (probe.width or 1) * (probe.height or 1) * JPEG_BYTES_PER_PIXEL_FLOOR)


def extract_video(source: Path, out_dir: Path, fps: float = 5.0, decoder: str = "auto",
                  video_id: str | None = None) -> ExtractionOutcome:
    """Extract one video's grid frames and write its manifest (see the module docstring).

    ``decoder``: ``auto`` (the first of TorchCodec, decord and PyAV that is installed), ``torchcodec``, ``decord``
    or ``pyav``; decord and TorchCodec fall back to PyAV on a file they cannot open or seek in (the manifest names
    the decoder that ran). ``video_id``: the frame folder's name (default: the file name up to the first ``.``).
    """
    source, out_dir = Path(source), Path(out_dir)
    decoder = resolve_video_decoder(decoder)
    video_id = video_id or video_id_of(source)
    probe = probe_source(source, decoder)
    if probe.problem:
        return ExtractionOutcome(video_id, "failed", probe.problem)
    if (out_dir / video_id).is_symlink():
        return linked_outcome(out_dir, video_id)
    frames, needed = disk_needed(probe, fps)
    free = shutil.disk_usage(out_dir).free
    if needed > free:
        from c2vbench.runtime.resources import human_bytes

        return ExtractionOutcome(video_id, "failed", f"{frames:,} frames at {fps:g} fps need at least "
                                 f"{human_bytes(needed)}, and the disk has {human_bytes(free)} free")
    staging = out_dir / PARTIAL_DIR / video_id
    if staging.exists():
        shutil.rmtree(staging)  # a previous, interrupted attempt
    staging.mkdir(parents=True)
    try:
        written, used = _write_grid_frames(source, staging, fps, probe.decoder)
    except Exception as error:  # any decoder failure on this one video: report it, keep going with the others
        shutil.rmtree(staging, ignore_errors=True)
        if getattr(error, "errno", None) in WRITE_ERRNOS:  # a full disk or a read-only folder stops the whole run
            from c2vbench.runtime.atomic_files import write_failure

            raise write_failure(out_dir / video_id, error) from None
        return ExtractionOutcome(video_id, "failed", f"undecodable: {str(error).splitlines()[-1][:200]}")
    if written == 0:
        shutil.rmtree(staging, ignore_errors=True)
        return ExtractionOutcome(video_id, "failed", "no frames: nothing could be extracted")
    final = out_dir / video_id
    if final.exists():
        shutil.rmtree(final)  # as the official extractor, a re-extraction replaces the folder
    os.replace(staging, final)
    stat = source.stat()
    status = "partial" if probe.partial else "extracted"
    manifest = {
        "video_id": video_id,
        "source": source.name,
        "source_bytes": stat.st_size,
        "source_mtime_ns": stat.st_mtime_ns,
        "sha256": sha256_file(source),
        "native_frames": probe.n_frames,
        "fps": probe.fps,
        "duration": round(probe.duration, 6),
        "width": probe.width,
        "height": probe.height,
        "grid_fps": fps,
        "frames_written": written,
        "decoder": used,
        "decoder_version": decoder_version(used),
        "status": status,
        "partial": probe.partial,
    }
    target = manifest_path(out_dir, video_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(manifest, indent=1))
    os.replace(temporary, target)
    return ExtractionOutcome(video_id, status, probe.partial or "", manifest)


def _write_grid_frames(source: Path, folder: Path, fps: float, decoder: str) -> tuple[int, str]:
    """Decode the frames of the ``fps`` grid and save them as ``%08d.jpg``; returns the number written and the
    decoder that wrote them.

    The grid comes from the reader's timestamps (the same for every decoder); a PyAV stream that ends early
    (a partial video) is put on the grid of the frames it can decode. Where TorchCodec cannot seek in the file
    (:class:`~c2vbench.data.video_readers.TimelineMismatch`), PyAV writes the frames again, from the first.
    """
    from c2vbench.data.video_readers import DecordReader, PyAVReader, TimelineMismatch, TorchCodecReader

    if decoder == "torchcodec":
        try:
            return _write_frames_from(TorchCodecReader(source), folder, fps), decoder
        except TimelineMismatch:
            decoder = "pyav"
    if decoder == "decord":
        reader = DecordReader(source)
        timestamps = reader.index.timestamps
        frames_for = reader.frames
    else:
        reader = PyAVReader(source)
        readable = reader.count_readable()
        timestamps = reader.index.timestamps[:readable] if reader.index.from_container else \
            constant_rate_timestamps(readable, reader.index.fps or fps)

        def frames_for(indices: list[int]) -> np.ndarray:
            kept = reader.frames(indices)
            return np.stack([kept[index] for index in indices])

    return _write_frames_from(reader, folder, fps, timestamps, frames_for), decoder


def _write_frames_from(reader, folder: Path, fps: float, timestamps=None, frames_for=None) -> int:
    """Write ``reader``'s grid frames (by default its index's timestamps and ``frames`` method); the count."""
    from PIL import Image

    timestamps = reader.index.timestamps if timestamps is None else timestamps
    frames_for = reader.frames if frames_for is None else frames_for
    frame_map = ffmpeg_cfr_frame_map(timestamps, fps)
    written = 0
    with reader:
        for start in range(0, len(frame_map), DECODE_CHUNK):
            chunk = frame_map[start:start + DECODE_CHUNK].tolist()
            unique = sorted(set(chunk))
            decoded = dict(zip(unique, frames_for(unique), strict=True))
            for native in chunk:
                written += 1
                Image.fromarray(decoded[native]).save(folder / f"{written:08d}.jpg", quality=JPEG_QUALITY)
    return written


def _extract_task(arguments: tuple[str, str, float, str, str]) -> ExtractionOutcome:
    source, out_dir, fps, decoder, video_id = arguments
    return extract_video(Path(source), Path(out_dir), fps, decoder, video_id)


def prepare_videos(videos_dir: Path, out_dir: Path, fps: float = 5.0, workers: int = 2, decoder: str = "auto",
                   expected_ids: Iterable[str] | None = None,
                   on_done: Callable[[ExtractionOutcome, int, int], None] | None = None,
                   sources: dict[str, Path] | None = None) -> PrepareReport:
    """Extract every video of ``videos_dir`` into ``out_dir``, ``workers`` at a time, skipping finished ones.

    Args:
        expected_ids: the ids the dataset's annotations list; those without a video file are reported missing
            (and only these ids are extracted). None: extract every video found.
        on_done: called as ``on_done(outcome, done, total)`` after each video (progress display). An exception it
            raises (e.g. KeyboardInterrupt) stops the run; finished videos stay finished.
        sources: frame-folder name -> video file, as a dataset's records name them (``VideoRecord.key`` and
            ``source``; files in sub-folders or with dots in their names included); those whose file does not
            exist are reported missing. Replaces ``expected_ids`` and the search of ``videos_dir``.
    """
    from c2vbench.runtime.atomic_files import check_writable_folder

    videos_dir, out_dir = Path(videos_dir), Path(out_dir)
    check_grid_fps(fps)  # before any work: a nonsense rate, a missing decoder or an unwritable --out is one line
    decoder = resolve_video_decoder(decoder)
    check_writable_folder(out_dir, "--out")
    out_dir.mkdir(parents=True, exist_ok=True)
    missing: list[str] = []
    if sources is not None:
        found = {key: Path(path) for key, path in sources.items() if Path(path).is_file()}
        missing = [key for key in sources if key not in found]
    else:
        found = find_videos(videos_dir)
    if sources is None and expected_ids is not None:
        expected = list(dict.fromkeys(expected_ids))
        missing = [video_id for video_id in expected if video_id not in found]
        found = {video_id: found[video_id] for video_id in expected if video_id in found}
    outcomes: list[ExtractionOutcome] = []
    pending = []
    total = len(found)
    for video_id, source in found.items():
        if (out_dir / video_id).is_symlink():
            outcomes.append(linked_outcome(out_dir, video_id))
            if on_done is not None:
                on_done(outcomes[-1], len(outcomes), total)
        elif is_done(out_dir, video_id, source):
            outcomes.append(ExtractionOutcome(video_id, "skipped", "already extracted"))
            if on_done is not None:
                on_done(outcomes[-1], len(outcomes), total)
        else:
            pending.append((str(source), str(out_dir), fps, decoder, video_id))
    if workers <= 1:
        for task in pending:
            outcomes.append(_extract_task(task))
            if on_done is not None:
                on_done(outcomes[-1], len(outcomes), total)
    else:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, initializer=one_torch_thread) as pool:
            futures = [pool.submit(_extract_task, task) for task in pending]
            try:
                for future in concurrent.futures.as_completed(futures):
                    outcomes.append(future.result())
                    if on_done is not None:
                        on_done(outcomes[-1], len(outcomes), total)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    order = {video_id: index for index, video_id in enumerate(found)}
    outcomes.sort(key=lambda outcome: order[outcome.video_id])
    if os.path.isdir(out_dir / PARTIAL_DIR) and not any((out_dir / PARTIAL_DIR).iterdir()):
        (out_dir / PARTIAL_DIR).rmdir()
    return PrepareReport(outcomes, missing)
