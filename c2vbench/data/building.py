"""What the real-dataset plug-ins share: locating videos, carving a validation split, building splits and the card.

Video sources. A dataset root holds either ``frames/<video_id>/00000001.jpg ...`` (the official extracted layout,
what ``c2vbench prepare`` writes) or ``videos/<video_id>.<ext>`` (files decoded directly with decord or PyAV). The
option ``video_source`` picks one (``frames``, ``videos``) or ``auto``: the decoder decides (``frames`` reads frame
folders, ``decord``/``pyav`` video files), and with decoder ``auto`` too, ``frames`` when that folder exists, else
``videos``; ``frames_dir``/``videos_dir`` move the folders (relative to the root, or absolute).

Validation carving. Where the standard protocol has no validation split, ``val`` is carved from the training videos
deterministically: the ``val_size`` training ids with the smallest SHA-256 of ``"c2vbench-val:<dataset>:<id>"``.
The choice depends only on the ids, never on file order or a random state, and is recorded in the card.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from c2vbench.data.decoders import check_decoder_choice, decoder_version, resolve_video_decoder
from c2vbench.data.decoding import VIDEO_SUFFIXES
from c2vbench.data.extraction import sha256_file
from c2vbench.data.types import CaptionRecord, RetrievalSplit, VideoRecord
from c2vbench.platform.errors import DataError

VIDEO_SOURCES = ("auto", "frames", "videos")
SELECTIONS = ("val", "test")



class VideoSources:
    """Maps a video id to its frame folder or video file under the dataset root."""

    def __init__(self, dataset: str, root: Path, video_source: str, frames_dir: str, videos_dir: str,
                 default_suffix: str, decoder: str = "auto"):
        if video_source not in VIDEO_SOURCES:
            raise DataError(f"{dataset}: unknown video_source {video_source!r}",
                            f"use one of {', '.join(VIDEO_SOURCES)}")
        decoder = check_decoder_choice(decoder)
        frames_folder = _under(root, frames_dir or "frames")
        videos_folder = _under(root, videos_dir or "videos")
        if video_source == "auto" and decoder != "auto":
            video_source = "frames" if decoder == "frames" else "videos"
        if (video_source == "frames") != (decoder in ("frames", "auto")) and decoder != "auto":
            raise DataError(f"{dataset}: video_source={video_source} and decoder={decoder} contradict each other",
                            "decoder frames reads frame folders, decord and pyav read video files: "
                            "drop one of the two settings")
        if video_source == "auto":
            if frames_folder.is_dir():
                video_source = "frames"
            elif videos_folder.is_dir():
                video_source = "videos"
            else:
                raise DataError(f"{dataset}: neither {frames_folder} nor {videos_folder} exists",
                                "put the videos in <data-root>/videos/ (or extracted frames in <data-root>/frames/, "
                                "see `c2vbench prepare`), or set --dataset-option videos_dir=PATH")
        self.kind = video_source
        self.folder = frames_folder if video_source == "frames" else videos_folder
        if not self.folder.is_dir():
            raise DataError(f"{dataset}: video folder {self.folder} does not exist",
                            f"create it or set --dataset-option {video_source}_dir=PATH")
        self.default_suffix = default_suffix
        # What reads the sources: 'frames' (PIL), or the video library (auto resolved; an absent one named
        # explicitly is one error line saying how to install it).
        self.decoder = "frames" if self.kind == "frames" else resolve_video_decoder(decoder)
        self._files: dict[str, Path] | None = None
        self.root = root
        self.dataset = dataset

    def source(self, video_id: str) -> Path:
        """The frame folder or video file of ``video_id``; a missing one still gets its expected path.

        An id names something inside the video folder: an absolute one, one with a ``..`` part or a NUL byte (a
        damaged or crafted annotation file) is refused, so that annotations never make a run read outside it."""
        check_plain_id(self.dataset, video_id, self.folder)
        if self.kind == "frames":
            return self.folder / video_id
        if self._files is None:
            # Index the folder once: ids are file names up to the first '.', as the official frame extractor names
            # its output folders.
            self._files = {}
            for entry in sorted(self.folder.iterdir()):
                if entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES:
                    self._files.setdefault(entry.name.split(".", 1)[0], entry)
        return self._files.get(video_id, self.folder / f"{video_id}{self.default_suffix}")

    def describe(self) -> dict[str, str]:
        """Where videos come from, location-free: the kind and a SHA-256 of the video list (the sorted entry names
        of the folder: file names for videos, folder names for frames). The same tree in two places describes
        itself identically; paths never enter the protocol card or its hash."""
        names = sorted(entry.name for entry in self.folder.iterdir() if not entry.name.startswith("."))
        digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()
        return {"kind": self.kind, "video_list_sha256": digest, "entries": len(names)}


def check_plain_id(dataset: str, video_id: str, folder: Path) -> None:
    """Refuse a video id that would reach outside ``folder``: absolute, with a ``..`` part, or with a NUL byte."""
    from pathlib import PurePosixPath

    name = str(video_id)
    relative = PurePosixPath(name.replace("\\", "/"))
    if not name.strip() or relative.is_absolute() or ".." in relative.parts or "\0" in name or \
            str(relative) == ".":
        raise DataError(f"{dataset}: the annotations name a video {name!r}, which is not a name inside {folder} "
                        "(it would read files outside the dataset)",
                        "use the annotation files as distributed; an id is a name under the video folder, never a "
                        "path out of it")


def _under(root: Path, folder: str) -> Path:
    path = Path(folder).expanduser()
    return path if path.is_absolute() else root / path


def require_root(dataset: str, data_root: Path | None, layout: str) -> Path:
    if data_root is None:
        raise DataError(f"dataset '{dataset}' reads files you download yourself, and no --data-root was given",
                        f"pass --data-root DIR where DIR holds {layout}")
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataError(f"{dataset}: --data-root {root} is not a folder", f"it must hold {layout}")
    return root


def carve_validation(dataset: str, train_ids: Sequence[str], size: int,
                     notes: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Split ``train_ids`` into (train, val) with the ``size`` ids of smallest salted hash in val (order kept).

    ``size`` is capped at a tenth of the training list (at least 1), so that small trees still train; the cap is
    said, never silent: a sentence is appended to ``notes`` (the dataset's :attr:`RetrievalDataset.notes`).
    """
    requested = size
    size = min(size, max(1, len(train_ids) // 10))
    if size < requested and notes is not None:
        notes.append(f"{dataset}: val_size {requested} was capped to {size} video(s), a tenth of the "
                     f"{len(train_ids)} training videos; model selection on so few videos says little")
    if not 0 < size < len(train_ids):
        raise DataError(f"{dataset}: val_size {size} must be between 1 and {len(train_ids) - 1} "
                        f"(the training split has {len(train_ids)} videos)", "choose another val_size")
    ranked = sorted(train_ids, key=lambda video_id: hashlib.sha256(
        f"c2vbench-val:{dataset}:{video_id}".encode()).hexdigest())
    val_set = set(ranked[:size])
    return [v for v in train_ids if v not in val_set], [v for v in train_ids if v in val_set]


def carving_description(dataset: str, source: str, size: int) -> str:
    return (f"{size} video(s) carved from {source}: the ids with the smallest sha256('c2vbench-val:{dataset}:<id>'); "
            "removed from train")


def build_split(name: str, video_ids: Sequence[str], captions: dict[str, list[str]], sources: VideoSources,
                dataset: str) -> RetrievalSplit:
    """Videos in ``video_ids`` order, each followed by its captions in annotation order."""
    videos, records = [], []
    for index, video_id in enumerate(video_ids):
        texts = captions.get(video_id)
        if not texts:
            raise DataError(f"{dataset}: video {video_id} of split '{name}' has no caption in the annotations",
                            "use matching annotation and split files as distributed")
        videos.append(VideoRecord(video_id, sources.source(video_id)))
        records.extend(CaptionRecord(text, index) for text in texts)
    return RetrievalSplit(name, videos, records)


def refuse_overlap(dataset: str, first: tuple[str, Sequence[str]], second: tuple[str, Sequence[str]]) -> None:
    """Two splits sharing a video would leak training data into evaluation."""
    shared = set(first[1]) & set(second[1])
    if shared:
        raise DataError(f"{dataset}: {len(shared)} video(s) are in both {first[0]} and {second[0]}, "
                        f"e.g. {sorted(shared)[:3]}", "choose split files that do not overlap")


def checksums(files: dict[str, Path]) -> dict[str, str]:
    """``{file name: sha256}`` of every annotation/split file read (for the protocol card)."""
    return {label: sha256_file(path) for label, path in sorted(files.items())}


def check_selection(dataset: str, selection: str) -> str:
    if selection not in SELECTIONS:
        raise DataError(f"{dataset}: unknown selection {selection!r}", "use 'val' (default) or 'test'")
    return selection


def split_counts(splits: dict[str, RetrievalSplit]) -> dict[str, dict[str, int]]:
    return {name: {"videos": len(split.videos), "captions": len(split.captions)} for name, split in splits.items()}


def protocol_card(*, dataset: str, variant: str, files: dict[str, Path], splits: dict[str, RetrievalSplit],
                  sources: VideoSources, caption_expansion: dict[str, str], validation: str, selection: str,
                  decoder: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dataset's part of the result's ``protocol`` (the pipeline adds sampling, skipped ids and the hash)."""
    if sources.kind == "frames":
        decoder = "frames"
    decoder_name = "PIL (extracted frames)" if decoder == "frames" else decoder
    card: dict[str, Any] = {
        "dataset": dataset,
        "variant": variant,
        "splits": split_counts(splits),
        "annotation_sha256": checksums(files),
        "caption_expansion": caption_expansion,
        "validation": validation,
        "selection_split": selection,
        "video_source": sources.describe(),
        "decoder": {"name": decoder_name, "version": decoder_version(decoder)},
    }
    if selection == "test":
        card["selection_warning"] = "model selection on the test split: not comparable with val-selected results"
    card.update(extra or {})
    return card
