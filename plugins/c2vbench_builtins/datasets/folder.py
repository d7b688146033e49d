"""Dataset ``folder``: your own videos and captions, benchmarked like the published datasets.

Layout under ``--data-root``::

    captions.csv              # or captions.jsonl / captions.json (JSON lines, or one JSON array of objects)
    videos/cat_jumps.mp4 ...  # any of the usual video suffixes, or frames/<video_id>/00000001.jpg ...

The captions file has one row per caption (a video with several captions has several rows)::

    video_id,caption,split
    cat_jumps,a cat jumps onto the sofa,test
    cat_jumps,the cat leaps up,test
    dog_runs.mp4,a dog runs on the beach,train

* ``video_id`` (option ``video_column``): the video's id, or its file name relative to the videos folder
  (``dog_runs.mp4``, ``clips/dog_runs.mp4``); the id recorded is the name without its video suffix.
* ``caption`` (option ``caption_column``): the caption text.
* ``split`` (option ``split_column``, optional): ``train``, ``val`` (or ``validation``) or ``test``.

Splits (option ``split_rule``):

* ``auto`` (default): the split column when the file has one, else ``all-test``.
* ``column``: the split column, which must exist. A video may not appear in two splits. ``test`` rows are required;
  without ``train`` rows the dataset is for zero-shot evaluation only; without ``val`` rows, ``val_size`` training
  videos are carved for validation by a salted hash of their ids (as for MSR-VTT 9k), and removed from train.
* ``all-test``: every video is a test video: a zero-shot benchmark of your collection (what a researcher usually
  wants from a folder of their own clips with captions and no split). ``--protocol frozen|finetune`` then stop
  with a message saying how to get a training split.
* ``hash``: a deterministic split for files without a split column: the ``test_fraction`` of the videos with the
  smallest ``sha256("c2vbench-test:folder:<id>")`` are test, the rest train (with validation carved from it as
  above). It depends only on the ids, never on row order, and is the same on every machine.

Videos follow their first row in the file; each video's captions follow the file order (multi-caption when a video
has several). The rule used, the columns, the captions file's SHA-256 and the optional ``label`` go into the
protocol card, so two results rank together only on the same captions, split and frames.

Refused with one line each: a missing captions file, a missing column, an unknown split name, an empty id or
caption, the same (video, caption) row twice, a video in two splits. A video listed but absent (or unreadable) is
found by the same screening as the published datasets: it stops the run, or with ``--allow-missing`` is skipped
and recorded in the result.

Frames: 12 per video from a 5 fps grid with ``feature_framerate`` 1, as for MSVD and VATEX.
``c2vbench prepare folder --videos ROOT/videos --out ROOT/frames --data-root ROOT`` extracts the frames once (for a
flat folder of files whose names hold no dot besides the suffix: frame folders are named up to the first dot).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl, option

DEFAULT_CAPTION_FILES = ("captions.csv", "captions.jsonl", "captions.json")
SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "test": "test"}
SPLIT_RULES = ("auto", "column", "all-test", "hash")
LAYOUT = "captions.csv (video_id, caption[, split]) and videos/ (or frames/)"


@dataclasses.dataclass(frozen=True)
class FolderOptions(RealDatasetOptions):
    """Options of the ``folder`` dataset (the shared ones are documented on ``RealDatasetOptions``).

    Attributes:
        captions: the captions file, relative to the root or absolute; ``auto`` finds ``captions.csv``,
            ``captions.jsonl`` or ``captions.json`` in the root.
        video_column, caption_column, split_column: column (or JSON key) names.
        split_rule: ``auto``, ``column``, ``all-test`` or ``hash`` (see the module documentation).
        test_fraction: share of the videos in test under ``split_rule=hash``.
        val_size: training videos carved for validation when there are no ``val`` rows (at most a tenth).
        label: a name for your collection, recorded in the protocol card.
    """

    captions: str = option("auto", help="captions file (.csv, .jsonl or .json); auto: captions.csv/.jsonl/.json")
    video_column: str = option("video_id", help="column holding the video id or file name")
    caption_column: str = option("caption", help="column holding the caption text")
    split_column: str = option("split", help="column holding train/val/test (optional in the file)")
    split_rule: str = option("auto", choices=SPLIT_RULES,
                             help="auto: the split column if present, else all-test; hash: deterministic split")
    test_fraction: float = option(0.2, min=0.01, max=0.9, help="share of videos in test (split_rule=hash)")
    val_size: int = option(100, min=1, help="train videos carved for validation when no val rows (≤ a tenth)")
    label: str = option("", help="name of your collection, recorded in the protocol card")


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="folder",
        summary="Your own videos: a folder of videos (or frame folders) and a captions csv/jsonl, optional split",
        data_layout=LAYOUT,
        factory=build_folder,
        options_type=FolderOptions,
    )


@dataclasses.dataclass(frozen=True)
class CaptionRow:
    """One row of the captions file, normalised."""

    where: str  # "line 7", for messages
    video_id: str
    file_name: str | None  # the file named by the row (relative to the videos folder), when it named one
    caption: str
    split: str | None


def build_folder(options: FolderOptions, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        FrameSampling,
        build_split,
        carve_validation,
        carving_description,
        check_selection,
        protocol_card,
        require_root,
    )

    from ._folder_records import FolderDataset, FolderSources

    selection = check_selection("folder", options.selection)
    root = require_root("folder", data_root, LAYOUT)
    captions_path = _captions_file(root, options.captions)
    rows, file_format, has_split_column = _read_rows(captions_path, options)
    rule = _split_rule(options, has_split_column, captions_path)
    captions, order, files = _group(rows, captions_path)

    if rule == "column":
        ids = _ids_by_split(rows, order, captions_path, options.split_column)
    elif rule == "all-test":
        ids = {"test": list(order)}
    else:
        ids = _hash_split(order, options.test_fraction)

    notes: list[str] = []
    validation = "none: no training split (zero-shot evaluation only)"
    if "train" in ids and selection == "test":
        validation = "none: model selection on the test split"
    elif "train" in ids and "val" in ids:
        validation = f"the captions file's val rows ({len(ids['val'])} videos, all captions)"
    elif "train" in ids:
        ids["train"], ids["val"] = carve_validation("folder", ids["train"], options.val_size, notes)
        validation = carving_description("folder", "the train videos", len(ids["val"])) + "; all their captions"

    sources = FolderSources("folder", root, options.video_source, options.frames_dir, options.videos_dir, ".mp4",
                            options.decoder, listed_files=files)
    splits = {name: build_split(name, ids[name], captions, sources, "folder") for name in ("train", "val", "test")
              if name in ids}
    if "train" in splits and selection == "test":
        splits["val"] = splits["test"]
    sampling = FrameSampling(max_frames=options.max_frames, grid_fps=5.0,
                             feature_framerate=options.feature_framerate, mode=options.sampling,
                             train_jitter=options.train_jitter, decoder=sources.decoder)
    expansion = {name: "every caption row of every video (multi-caption when a video has several rows)"
                 for name in splits}
    card = protocol_card(
        dataset="folder", variant=rule, files={_card_name(captions_path, root): captions_path}, splits=splits,
        sources=sources, caption_expansion=expansion, validation=validation, selection=selection,
        decoder=sources.decoder,
        extra={"split_rule": _rule_description(rule, options), "captions_format": file_format,
               "columns": {"video": options.video_column, "caption": options.caption_column,
                           "split": options.split_column if rule == "column" else None},
               "label": options.label})
    no_training_reason = None if "train" in splits else _no_training_reason(rule, captions_path, options)
    return FolderDataset("folder", splits, sampling, card, selection_split=selection if "train" in splits else "val",
                         notes=notes, no_training_reason=no_training_reason)


# --------------------------------------------------------------------------------------------------------------
# Reading the captions file


def _captions_file(root: Path, name: str) -> Path:
    from c2vbench.plugin import DataError

    if name != "auto":
        path = Path(name).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DataError(f"folder: captions file {path} not found",
                            "check --dataset-option captions=FILE (relative to --data-root, or absolute)")
        return path
    found = [root / candidate for candidate in DEFAULT_CAPTION_FILES if (root / candidate).is_file()]
    if not found:
        raise DataError(f"folder: no captions file in {root} (looked for {', '.join(DEFAULT_CAPTION_FILES)})",
                        "write captions.csv with columns video_id,caption[,split] there, or pass "
                        "--dataset-option captions=FILE")
    if len(found) > 1:
        raise DataError(f"folder: {root} holds several captions files ({', '.join(p.name for p in found)})",
                        "choose one with --dataset-option captions=FILE")
    return found[0]


def _read_rows(path: Path, options: FolderOptions) -> tuple[list[CaptionRow], str, bool]:
    """The normalised rows, the file's format and whether it has the split column."""
    from c2vbench.plugin import DataError

    wanted = (options.video_column, options.caption_column)
    if path.suffix.lower() == ".csv":
        file_format = "csv"
        raw = _csv_records(path)
    elif path.suffix.lower() in (".jsonl", ".json"):
        raw, file_format = _json_records(path)
    else:
        raise DataError(f"folder: captions file {path} is neither .csv nor .jsonl/.json",
                        "give a csv file with a header line, or JSON lines")
    if not raw:
        raise DataError(f"folder: captions file {path} has no rows", "add one row per (video, caption)")
    keys: set[str] = set()
    for _, record in raw:
        keys.update(key for key in record if key is not None)
    missing = [column for column in wanted if column not in keys]
    if missing:
        raise DataError(f"folder: {path} has no column {', '.join(repr(m) for m in missing)} "
                        f"(it has {', '.join(sorted(keys)) or 'none'})",
                        "rename the column, or name yours with --dataset-option video_column=NAME / "
                        "caption_column=NAME")
    has_split = options.split_column in keys
    rows = [_normalise(record, where, path, options, has_split) for where, record in raw]
    return rows, file_format, has_split


def _csv_records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    from c2vbench.plugin import read_csv_rows

    # line numbers assume one line per row (true unless a quoted caption spans lines)
    return [(f"line {index + 2}", row) for index, row in enumerate(read_csv_rows(path, ()))]


def _json_records(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    from c2vbench.plugin import DataError

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"folder: {path} is not UTF-8 text ({error})", "save the captions file as UTF-8") from None
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"folder: {path} is not valid JSON ({error})", "fix the file") from None
        located = [(f"item {index + 1}", record) for index, record in enumerate(records)]
        file_format = "json"
    else:
        located = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                located.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as error:
                raise DataError(f"folder: {path} line {number} is not a JSON object ({error})",
                                "write one JSON object per line, e.g. "
                                '{"video_id": "cat_jumps", "caption": "a cat jumps", "split": "test"}') from None
        file_format = "jsonl"
    for where, record in located:
        if not isinstance(record, dict):
            raise DataError(f"folder: {path} {where} is a {type(record).__name__}, not an object",
                            "write one object per row with the video id, caption and optional split")
    return located, file_format


def _normalise(record: dict[str, Any], where: str, path: Path, options: FolderOptions,
               has_split: bool) -> CaptionRow:
    from c2vbench.plugin import VIDEO_SUFFIXES, DataError

    video = _text(record.get(options.video_column))
    caption = _text(record.get(options.caption_column))
    if not video:
        raise DataError(f"folder: {path} {where} has an empty {options.video_column!r}",
                        "give every row a video id or file name")
    if not caption:
        raise DataError(f"folder: {path} {where} has an empty {options.caption_column!r} (video {video})",
                        "give every row its caption text, or remove the row")
    relative = PurePosixPath(video.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts:
        raise DataError(f"folder: {path} {where} names video {video!r} outside the videos folder",
                        "give ids or file names relative to the videos folder")
    file_name = None
    if relative.suffix.lower() in VIDEO_SUFFIXES:
        file_name = str(relative)
        video = str(relative.with_suffix(""))
    split = None
    if has_split:
        value = _text(record.get(options.split_column)).lower()
        if value not in SPLIT_NAMES:
            shown = repr(value) if value else "empty"
            raise DataError(f"folder: {path} {where}: split {shown} is not train, val or test",
                            "use train, val (or validation) or test in the split column")
        split = SPLIT_NAMES[value]
    return CaptionRow(where, video, file_name, caption, split)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return value.strip() if isinstance(value, str) else ""


def _group(rows: Sequence[CaptionRow], path: Path) -> tuple[dict[str, list[str]], list[str], dict[str, str]]:
    """Captions per video (file order), videos in order of first row, and the file each video's rows named."""
    from c2vbench.plugin import DataError

    captions: dict[str, list[str]] = {}
    seen: dict[tuple[str, str], str] = {}
    files: dict[str, str] = {}
    for row in rows:
        key = (row.video_id, row.caption)
        if key in seen:
            raise DataError(f"folder: {path} has the same row twice ({seen[key]} and {row.where}: video "
                            f"{row.video_id}, caption {row.caption!r:.60})",
                            "remove the duplicate row (a repeated caption would count twice in the metrics)")
        seen[key] = row.where
        if row.file_name is not None:
            if files.setdefault(row.video_id, row.file_name) != row.file_name:
                raise DataError(f"folder: {path} {row.where} names {row.file_name} for video {row.video_id}, "
                                f"which other rows name {files[row.video_id]}",
                                "give each video one file name")
        captions.setdefault(row.video_id, []).append(row.caption)
    return captions, list(captions), files


def _split_rule(options: FolderOptions, has_split_column: bool, path: Path) -> str:
    from c2vbench.plugin import DataError

    rule = options.split_rule
    if rule == "auto":
        return "column" if has_split_column else "all-test"
    if rule == "column" and not has_split_column:
        raise DataError(f"folder: {path} has no column {options.split_column!r} but split_rule=column",
                        "add the split column (train/val/test), name it with --dataset-option split_column=NAME, "
                        "or use split_rule=all-test or hash")
    if rule == "hash" and has_split_column:
        raise DataError(f"folder: {path} has a split column {options.split_column!r} but split_rule=hash "
                        "would ignore it", "use split_rule=column (or auto), or remove the column")
    return rule


def _ids_by_split(rows: Sequence[CaptionRow], order: list[str], path: Path, column: str) -> dict[str, list[str]]:
    from c2vbench.plugin import DataError

    split_of: dict[str, tuple[str, str]] = {}
    for row in rows:
        assert row.split is not None
        first = split_of.setdefault(row.video_id, (row.split, row.where))
        if first[0] != row.split:
            raise DataError(f"folder: video {row.video_id} is in split {first[0]} ({first[1]}) and "
                            f"{row.split} ({row.where}) of {path}",
                            "put all rows of a video in one split (a video in two splits leaks into evaluation)")
    ids: dict[str, list[str]] = {}
    for video_id in order:
        ids.setdefault(split_of[video_id][0], []).append(video_id)
    if "test" not in ids:
        raise DataError(f"folder: no row of {path} has split 'test' (column {column!r} has "
                        f"{', '.join(sorted(ids))})", "mark the evaluation videos with split 'test'")
    if "val" in ids and "train" not in ids:
        # validation without training selects nothing; keep the test split alone and say so in the card
        del ids["val"]
    return ids


def _hash_split(order: Sequence[str], fraction: float) -> dict[str, list[str]]:
    from c2vbench.plugin import DataError

    if len(order) < 2:
        raise DataError(f"folder: split_rule=hash needs at least 2 videos (the captions file has {len(order)})",
                        "add videos, or use split_rule=all-test")
    size = min(len(order) - 1, max(1, round(len(order) * fraction)))
    ranked = sorted(order, key=lambda video_id: hashlib.sha256(f"c2vbench-test:folder:{video_id}".encode())
                    .hexdigest())
    test = set(ranked[:size])
    return {"train": [v for v in order if v not in test], "test": [v for v in order if v in test]}


def _rule_description(rule: str, options: FolderOptions) -> str:
    if rule == "column":
        return f"split column {options.split_column!r} of the captions file"
    if rule == "all-test":
        return "no split column: every video is a test video (zero-shot evaluation)"
    return (f"hash: the {options.test_fraction:g} of videos with the smallest sha256('c2vbench-test:folder:<id>') "
            "are test, the rest train")


def _no_training_reason(rule: str, path: Path, options: FolderOptions) -> str:
    if rule == "all-test":
        return f"{path.name} has no {options.split_column!r} column, so every video is a test video"
    return f"no row of {path.name} has split 'train'"


def _card_name(path: Path, root: Path) -> str:
    """The captions file's key in the card: relative to the root (never a machine-specific absolute path)."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name
