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
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from c2vbench.data.decoders import check_decoder_choice, decoder_version, resolve_video_decoder
from c2vbench.data.decoding import VIDEO_SUFFIXES
from c2vbench.data.extraction import sha256_file
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import CaptionRecord, RetrievalSplit, VideoRecord
from c2vbench.platform.errors import DataError

VIDEO_SOURCES = ("auto", "frames", "videos")
SELECTIONS = ("val", "test")



class VideoSources:
    """Maps a video id to its frame folder or video file under the dataset root."""

    def __init__(self, dataset: str, root: Path, video_source: str, frames_dir: str, videos_dir: str,
                 default_suffix: str, decoder: str = "auto", tree: bool = False):
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
        # tree: video files may sit in sub-folders (LSMDC's movie folders, YouCook2's <subset>/<recipe>/) and are
        # found by their name without the video suffix (dots inside the name kept: LSMDC's clip ids have them)
        self.tree = tree

    def source(self, video_id: str) -> Path:
        """The frame folder or video file of ``video_id``; a missing one still gets its expected path.

        Ids come from annotation files, which are hostile input: an id that would lead out of the video folder
        (absolute, ``..``, a NUL byte) is refused (:func:`confined_name`)."""
        confined_name(self.dataset, video_id, "video id")
        if self.kind == "frames":
            return self.folder / video_id
        return self._index().get(video_id, self.folder / f"{video_id}{self.default_suffix}")

    def has(self, video_id: str) -> bool:
        """Whether ``video_id`` has a frame folder or video file."""
        return self.source(video_id).exists()

    def _index(self) -> dict[str, Path]:
        if self._files is None:
            # Index the folder once: ids are file names up to the first '.', as the official frame extractor names
            # its output folders (a tree: names without their video suffix, in every sub-folder).
            self._files = {}
            entries = sorted(self.folder.rglob("*")) if self.tree else sorted(self.folder.iterdir())
            for entry in entries:
                if entry.suffix.lower() not in VIDEO_SUFFIXES or any(
                        part.startswith(".") for part in entry.relative_to(self.folder).parts) or not entry.is_file():
                    continue
                key = entry.name[: -len(entry.suffix)] if self.tree else entry.name.split(".", 1)[0]
                self._files.setdefault(key, entry)
        return self._files

    def describe(self) -> dict[str, str]:
        """Where videos come from, location-free: the kind and a SHA-256 of the video list (the sorted entry names
        of the folder: file names for videos, folder names for frames; paths relative to the folder for a tree of
        video files). The same tree in two places describes itself identically; paths never enter the protocol
        card or its hash."""
        if self.tree and self.kind == "videos":
            names = sorted(str(path.relative_to(self.folder)) for path in self._index().values())
        else:
            names = sorted(entry.name for entry in self.folder.iterdir() if not entry.name.startswith("."))
        digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()
        return {"kind": self.kind, "video_list_sha256": digest, "entries": len(names)}


def confined_name(dataset: str, name: str, what: str = "video id") -> str:
    """``name`` when it is a relative path that stays inside the folder it is looked up in; else a DataError.

    Annotation files name videos, and a file from elsewhere could name ``../../etc/passwd``: every id that becomes
    a path goes through here."""
    parts = PurePosixPath(str(name).replace("\\", "/")).parts
    if not name or "\x00" in name or PurePosixPath(name.replace("\\", "/")).is_absolute() or ".." in parts \
            or re.match(r"^[A-Za-z]:", name):
        raise DataError(f"{dataset}: {what} {name!r} in the annotations points outside the dataset's video folder",
                        "use the annotation files as distributed (ids are names, never paths)")
    return name


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


def read_annotation_files(dataset: str, root: Path, readers: dict[str, Callable[[Path], Any]],
                          how_to_get: str) -> tuple[dict[str, Path], dict[str, Any]]:
    """Read every annotation file a protocol needs; all that are missing or malformed are named in one error.

    Args:
        readers: file name (relative to ``root``) -> a function reading it that raises DataError when it is
            malformed (``read_json``, ``read_id_list``, or a dataset's own).

    Returns:
        ``(paths, contents)``, both keyed by file name, in ``readers`` order.
    """
    paths: dict[str, Path] = {}
    contents: dict[str, Any] = {}
    problems: list[str] = []
    for name, reader in readers.items():
        path = Path(root) / name
        if not path.is_file():
            problems.append(f"{name} (missing)")
            continue
        try:
            contents[name] = reader(path)
        except DataError as error:
            problems.append(f"{name} ({_without_path(error.problem, path).removeprefix('is ')})")
            continue
        paths[name] = path
    if problems:
        raise DataError(f"{dataset}: {len(problems)} annotation file(s) in {root} cannot be used: "
                        f"{'; '.join(problems)}", f"{how_to_get}; point --data-root at the folder that holds them")
    return paths, contents


def _without_path(problem: str, path: Path) -> str:
    """A reader's message about ``path`` without the path itself (the error names the folder once)."""
    return problem.replace(f"{path}: ", "").replace(f"{path} ", "").replace(str(path), path.name)


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


def validation_or_test(dataset: str, selection: str, train_ids: Sequence[str], val_size: int, source: str,
                       notes: list[str]) -> tuple[list[str], list[str], str]:
    """``(train ids, val ids, description)`` for a protocol without a validation split: ``val_size`` training ids
    carved (:func:`carve_validation`) when selecting on ``val``, none when selecting on the test split."""
    if selection == "test":
        return list(train_ids), [], "none: model selection on the test split"
    train, val = carve_validation(dataset, train_ids, val_size, notes)
    return train, val, carving_description(dataset, source, len(val))


def carving_description(dataset: str, source: str, size: int) -> str:
    return (f"{size} video(s) carved from {source}: the ids with the smallest sha256('c2vbench-val:{dataset}:<id>'); "
            "removed from train")


def build_split(name: str, video_ids: Sequence[str], captions: dict[str, list[str]], sources: VideoSources,
                dataset: str) -> RetrievalSplit:
    """Videos in ``video_ids`` order, each followed by its captions in annotation order."""
    return split_of_records(name, [VideoRecord(video_id, sources.source(video_id)) for video_id in video_ids],
                            captions, dataset)


def split_of_records(name: str, videos: Sequence[VideoRecord], captions: dict[str, list[str]],
                     dataset: str) -> RetrievalSplit:
    """:func:`build_split` for records a dataset made itself (cut by time, or named apart from their source)."""
    records = []
    for index, video in enumerate(videos):
        texts = captions.get(video.video_id)
        if not texts:
            raise DataError(f"{dataset}: video {video.video_id} of split '{name}' has no caption in the annotations",
                            "use matching annotation and split files as distributed")
        records.extend(CaptionRecord(text, index) for text in texts)
    return RetrievalSplit(name, list(videos), records)


def refuse_overlap(dataset: str, first: tuple[str, Sequence[str]], second: tuple[str, Sequence[str]]) -> None:
    """Two splits sharing a video would leak training data into evaluation."""
    shared = set(first[1]) & set(second[1])
    if shared:
        raise DataError(f"{dataset}: {len(shared)} video(s) are in both {first[0]} and {second[0]}, "
                        f"e.g. {sorted(shared)[:3]}", "choose split files that do not overlap")


def refuse_overlaps(dataset: str, ids: dict[str, Sequence[str]]) -> None:
    """:func:`refuse_overlap` for every pair of the named splits (in the order given)."""
    names = list(ids)
    for position, first in enumerate(names):
        for second in names[position + 1:]:
            refuse_overlap(dataset, (first, ids[first]), (second, ids[second]))


def frame_sampling(options: Any, decoder: str) -> FrameSampling:
    """The :class:`FrameSampling` of a real dataset's shared options (:class:`RealDatasetOptions`): a 5 fps grid,
    ``max_frames``, ``feature_framerate``, ``sampling``, ``train_jitter``, and the decoder its sources resolved."""
    return FrameSampling(max_frames=options.max_frames, grid_fps=5.0, feature_framerate=options.feature_framerate,
                         mode=options.sampling, train_jitter=options.train_jitter, decoder=decoder)


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
