"""``c2vbench embed``: the video embeddings of a user's own videos, in one file, incrementally and resumably.

What happens:

1. The videos are listed (folders searched recursively for video files, list files read, files taken as given)
   and each gets an id and a stamp (size, modification time).
2. The output file, when it exists, must hold embeddings of the same model, frame protocol, preprocessing and
   precision (:data:`~c2vbench.search.index_file.MATCHING_FIELDS`); videos it holds with an unchanged stamp are not
   embedded again. So a second run over a grown folder embeds only the new (and the changed) videos.
3. The rest go, sorted by id, in chunks through evaluation's own path: screening, the decoding feed, the backbone
   (its per-frame embeddings through the embedding cache), the temporal module, and the align head's video side.
   Each finished chunk is written at once, atomically, into a hidden folder beside the output
   (``.<name>.partial/``): an interrupt loses at most the chunk in progress, and the same command goes on from
   there.
4. The output is written once at the end, atomically (old rows, finished chunks, this run's chunks, sorted by
   id), and the partial folder removed.

Unreadable videos are reported and left out (a later run tries them again); videos the file holds that are no longer
listed are kept (``prune`` drops them).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from c2vbench import __version__
from c2vbench.data.decoding import VIDEO_SUFFIXES
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import RetrievalSplit, VideoRecord
from c2vbench.platform.errors import C2VBenchError, DataError, RunInterrupted
from c2vbench.runtime.progress import Reporter
from c2vbench.search.index_file import (
    VideoEmbeddings,
    concatenate,
    empty_like,
    identity_differences,
    read_embeddings,
    write_embeddings,
)
from c2vbench.search.model_source import ModelSource, weights_sha256

PARTIAL_SUFFIX = ".partial"
LIST_SUFFIXES = (".txt", ".lst")


@dataclasses.dataclass(frozen=True)
class EmbedSettings:
    """How the videos are turned into embeddings (everything but the model)."""

    sampling: FrameSampling
    preprocess: str = "tensor"
    precision: str = "fp32"
    batch_size: int = 16
    num_workers: int = 0
    device: str = "auto"
    use_cache: bool = True
    chunk_size: int = 256


@dataclasses.dataclass
class EmbedReport:
    """What one ``embed`` did.

    Attributes:
        out: the embeddings file.
        listed: videos found in the inputs.
        embedded: ids embedded by this call (new, changed, or resumed from an interrupted call's chunks).
        kept: ids the file already held, unchanged.
        resumed: ids taken from the chunks an interrupted call left.
        skipped: ``{"video_id", "reason"}`` of unreadable videos (left out; tried again next time).
        unlisted: ids the file holds that the inputs no longer list (kept, or dropped with ``prune``).
        total: rows in the file now.
    """

    out: Path
    listed: int = 0
    embedded: list[str] = dataclasses.field(default_factory=list)
    kept: int = 0
    resumed: list[str] = dataclasses.field(default_factory=list)
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)
    unlisted: list[str] = dataclasses.field(default_factory=list)
    pruned: bool = False
    total: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "listed": self.listed, "embedded": len(self.embedded), "kept": self.kept,
                "resumed": len(self.resumed), "skipped": self.skipped, "unlisted": len(self.unlisted),
                "pruned": self.pruned, "total": self.total}


# ---------------------------------------------------------------------------------------------------------------
# listing


def list_videos(inputs: Iterable[str | Path]) -> list[VideoRecord]:
    """The videos of the inputs, sorted by id.

    * a folder: every video file under it (hidden entries skipped), id = its path relative to the folder;
    * a list file (``.txt``, ``.lst``): one video path per line (``#`` comments and blank lines skipped), relative
      to the list's folder, id = the path as written;
    * a video file: id = its file name.

    Raises:
        DataError: an input that does not exist, no video at all, or two videos with one id.
    """
    found: dict[str, Path] = {}

    def add(video_id: str, source: Path) -> None:
        if video_id in found and found[video_id].resolve() != source.resolve():
            raise DataError(f"two videos have the id {video_id!r}: {found[video_id]} and {source}",
                            "give them under different names (ids are paths relative to the folder given)")
        found[video_id] = source

    for entry in inputs:
        path = Path(entry).expanduser()
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(path)
                if file.is_file() and file.suffix.lower() in VIDEO_SUFFIXES and not any(
                        part.startswith(".") for part in relative.parts):
                    add(relative.as_posix(), file)
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    source = Path(line).expanduser()
                    add(line, source if source.is_absolute() else path.parent / source)
        elif path.is_file():
            add(path.name, path)
        else:
            raise DataError(f"{path} does not exist", "give folders of videos, video files or a list file (.txt)")
    if not found:
        raise DataError(f"no video file in {', '.join(str(entry) for entry in inputs)}",
                        f"videos are files ending in {', '.join(VIDEO_SUFFIXES)}")
    return [VideoRecord(video_id, found[video_id]) for video_id in sorted(found)]


def stamp_of(source: Path) -> tuple[int, int]:
    stat = source.stat()
    return int(stat.st_size), int(stat.st_mtime_ns)


# ---------------------------------------------------------------------------------------------------------------
# the identity and the partial chunks


def file_identity(source: ModelSource, settings: EmbedSettings, device: torch.device) -> dict[str, Any]:
    """What the embeddings file says about how its rows were made."""
    head = source.model.align_head
    dot = hasattr(head, "text_factors") and hasattr(head, "video_factors")
    return {"model": source.identity, "weights_sha256": weights_sha256(source.model),
            "frames": settings.sampling.describe(), "preprocess": settings.preprocess,
            "precision": settings.precision, "scores": "dot" if dot else "head", "device_type": device.type,
            "c2vbench_version": __version__}


def partial_folder(out: Path) -> Path:
    return out.parent / f".{out.name}{PARTIAL_SUFFIX}"


def _partial_chunks(folder: Path, identity: dict[str, Any]) -> list[VideoEmbeddings]:
    """The chunks an interrupted call wrote for the same identity (others are stale: removed, they are ours)."""
    chunks = []
    if not folder.is_dir():
        return chunks
    for path in sorted(folder.glob("chunk-*.safetensors")):
        try:
            chunk = read_embeddings(path)
        except DataError:
            path.unlink(missing_ok=True)
            continue
        if identity_differences(chunk.identity, identity):
            path.unlink(missing_ok=True)
            continue
        chunks.append(chunk)
    return chunks


def _check_same_identity(out: Path, existing: VideoEmbeddings, identity: dict[str, Any]) -> None:
    differing = identity_differences(existing.identity, identity)
    if differing:
        raise DataError(f"{out} holds embeddings made another way (differing: {', '.join(differing)}); rows of two "
                        "models or frame protocols never share a file",
                        "write to another --out, or remove the file to start it again")


# ---------------------------------------------------------------------------------------------------------------
# encoding one chunk


@torch.no_grad()
def encode_chunk(source: ModelSource, videos: list[VideoRecord], settings: EmbedSettings, device: torch.device,
                 identity: dict[str, Any], reporter: Reporter,
                 feature_cache) -> tuple[VideoEmbeddings, list[dict[str, str]]]:
    """The embeddings of ``videos`` (the readable ones) and the unreadable ones, through evaluation's path."""
    from c2vbench.data.integrity import screen_split
    from c2vbench.evaluation.encoding import compute_frame_bank, encode_videos_from_bank

    screened = screen_split(RetrievalSplit("embed", list(videos), []), allow_missing=True,
                            sampling=settings.sampling)
    readable = screened.split.videos
    if not readable:
        return empty_like(identity), screened.skipped
    model = source.model
    bank = compute_frame_bank(model, screened.split, settings.sampling, settings.batch_size, device, reporter,
                              settings.num_workers, "embedding videos", feature_cache, settings.preprocess,
                              settings.precision)
    video = encode_videos_from_bank(model, bank, settings.batch_size, device, settings.precision)
    if identity["scores"] == "dot":
        factors = [model.align_head.video_factors(video.index(slice(start, start + settings.batch_size)).to(device))
                   .float().cpu() for start in range(0, len(video), settings.batch_size)]
        tensors = {"factors": torch.cat(factors)}
    else:
        tensors = {"pooled": video.pooled.float(), "frames": video.frames.float(), "frame_mask": video.frame_mask}
        if video.alignment_tokens is not None:
            tensors["alignment_tokens"] = video.alignment_tokens.float()
            tensors["alignment_mask"] = video.alignment_mask
    stamps = torch.tensor([stamp_of(record.source) for record in readable], dtype=torch.int64)
    return VideoEmbeddings([record.video_id for record in readable], stamps,
                           {name: value.contiguous() for name, value in tensors.items()}, identity), screened.skipped


# ---------------------------------------------------------------------------------------------------------------
# the whole call


def embed_videos(inputs: Iterable[str | Path], out: str | Path, source: ModelSource, settings: EmbedSettings,
                 prune: bool = False, reporter: Reporter | None = None,
                 after_chunk: Callable[[int, int], None] | None = None) -> EmbedReport:
    """Embed the videos of ``inputs`` into ``out`` (see the module docs).

    Args:
        after_chunk: called as ``after_chunk(done, total)`` (videos) after each chunk is safely on disk.

    Raises:
        RunInterrupted: Ctrl-C; the finished chunks are kept and the same call goes on from them.
    """
    from c2vbench.runtime.distributed import select_device

    reporter = reporter or Reporter(quiet=True)
    out = Path(out).expanduser()
    if out.suffix != ".safetensors":
        raise C2VBenchError(f"--out {out}: the embeddings are written as one safetensors file",
                            "give a file name ending in .safetensors")
    videos = list_videos(inputs)
    device = select_device(settings.device)
    source.model.to(device)
    identity = file_identity(source, settings, device)
    existing = read_embeddings(out) if out.exists() else None
    if existing is not None:
        _check_same_identity(out, existing, identity)
    report = EmbedReport(out, listed=len(videos))
    stamps = {record.video_id: stamp_of(record.source) for record in videos}
    held = {} if existing is None else {video_id: tuple(existing.stamps[row].tolist())
                                         for row, video_id in enumerate(existing.ids)}
    report.unlisted = sorted(set(held) - set(stamps))
    folder = partial_folder(out)
    chunks = []
    for chunk in _partial_chunks(folder, identity):  # rows of videos still listed and unchanged
        current = [row for row, video_id in enumerate(chunk.ids)
                   if stamps.get(video_id) == tuple(chunk.stamps[row].tolist())]
        chunks.append(chunk.rows(current))
    resumed = {video_id: stamps[video_id] for chunk in chunks for video_id in chunk.ids}
    report.resumed = sorted(resumed)
    report.kept = sum(1 for video_id, stamp in held.items() if stamps.get(video_id) == stamp)
    todo = [record for record in videos
            if held.get(record.video_id) != stamps[record.video_id]
            and resumed.get(record.video_id) != stamps[record.video_id]]
    feature_cache = None
    if settings.use_cache:
        from c2vbench.evaluation.embedding_cache import EmbeddingCache, weights_fingerprint
        from c2vbench.evaluation.encoding import BackboneFeatureCache

        feature_cache = BackboneFeatureCache(EmbeddingCache(), weights_fingerprint(source.model.backbone),
                                             {"dataset": "embed"}, settings.preprocess, settings.precision,
                                             device.type)
    done = 0
    numbers = [int(path.stem[6:]) for path in folder.glob("chunk-*.safetensors") if path.stem[6:].isdigit()]
    first_chunk = max(numbers, default=-1) + 1
    try:
        for number, start in enumerate(range(0, len(todo), settings.chunk_size), start=first_chunk):
            chunk_videos = todo[start:start + settings.chunk_size]
            chunk, skipped = encode_chunk(source, chunk_videos, settings, device, identity, reporter, feature_cache)
            report.skipped += skipped
            if len(chunk):
                write_embeddings(folder / f"chunk-{number:06d}.safetensors", chunk)
                chunks.append(chunk)
                report.embedded += chunk.ids
            done += len(chunk_videos)
            if after_chunk is not None:
                after_chunk(done, len(todo))
    except KeyboardInterrupt:
        kept = len(report.embedded) + len(report.resumed)
        raise RunInterrupted(f"interrupted while embedding; the {kept} video(s) embedded so far are kept in {folder}",
                             "run the same command to go on") from None
    report.embedded = report.resumed + report.embedded
    parts = [existing] if existing is not None else []
    if prune and parts:
        listed = [row for row, video_id in enumerate(existing.ids) if video_id in stamps]
        parts = [existing.rows(listed)]
        report.pruned = True
    merged = concatenate(parts + [chunk for chunk in chunks if len(chunk)], identity)
    if merged.ids or existing is not None:
        write_embeddings(out, merged)
    report.total = len(merged)
    if folder.is_dir():
        shutil.rmtree(folder)
    return report
