"""The dataset rules of the conformance kit: records, sampling, a stable protocol card, decodable videos."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from c2vbench.testing.machinery import (
    PASSED,
    RuleFailed,
    _needs,
    _Recorder,
    _seeded,
    _skip_rest,
)

DATASET_RULES = ("builds", "records", "disjoint", "selection-split", "sources-present", "sampling", "protocol-stable",
                 "deterministic", "decodable")
HASHED_BYTES = 1 << 16
"""How much of a video file the ``disjoint`` rule hashes to find the same file under two paths."""


def run_dataset_rules(recorder: _Recorder, build: Callable[[], Any], seed: int) -> None:
    from c2vbench.data.sampling import FrameSampling
    from c2vbench.data.types import CaptionRecord, QuerySubset, RetrievalDataset, RetrievalSplit, VideoRecord

    with recorder.rule("builds"):
        dataset = _seeded(seed, build)
        if not isinstance(dataset, RetrievalDataset):
            raise RuleFailed(f"the factory returned a {type(dataset).__name__}, not a RetrievalDataset")
    if recorder.report.outcome("builds").status != PASSED:
        _skip_rest(recorder, DATASET_RULES[1:])
        return
    with recorder.rule("records"):
        if not isinstance(dataset.splits, dict) or "test" not in dataset.splits:
            raise RuleFailed(f"splits must be a dict with at least 'test' (and 'train' to train on), got "
                             f"{sorted(dataset.splits) if isinstance(dataset.splits, dict) else dataset.splits!r}")
        for split_name, split in dataset.splits.items():
            if not isinstance(split, RetrievalSplit):
                raise RuleFailed(f"split '{split_name}' is a {type(split).__name__}, not a RetrievalSplit")
            _check_split_records(split_name, split, VideoRecord, CaptionRecord, QuerySubset)
    records_ok = recorder.report.outcome("records").status == PASSED
    with recorder.rule("disjoint"):
        _needs(records_ok, "the records are malformed")
        if "train" in dataset.splits:
            _check_disjoint(dataset.splits["train"], dataset.splits["test"])
    with recorder.rule("selection-split"):
        _needs(records_ok, "the records are malformed")
        if dataset.selection_split not in dataset.splits:
            raise RuleFailed(f"selection_split is {dataset.selection_split!r}, but the splits are "
                             f"{', '.join(sorted(dataset.splits))}: name a split the dataset has (a run would "
                             "silently keep the last epoch)")
    with recorder.rule("sources-present"):
        _needs(records_ok, "the records are malformed")
        missing = [video for video in dataset.splits["test"].videos if not Path(video.source).exists()]
        if missing:
            raise RuleFailed(f"{len(missing)} test video source(s) do not exist, e.g. {missing[0].video_id} at "
                             f"{missing[0].source}: list only videos the data root holds (or complete the data "
                             "root)")
    with recorder.rule("sampling"):
        if not isinstance(dataset.sampling, FrameSampling):
            raise RuleFailed(f"sampling is a {type(dataset.sampling).__name__}, not a FrameSampling")
        if dataset.sampling.max_frames < 1:
            raise RuleFailed(f"sampling.max_frames is {dataset.sampling.max_frames}")
    again = None
    with recorder.rule("protocol-stable"):
        if not isinstance(dataset.protocol, dict) or not dataset.protocol:
            raise RuleFailed("protocol must be a non-empty dict describing the benchmark")
        try:
            first = json.dumps(dataset.protocol, sort_keys=True)
        except (TypeError, ValueError) as error:
            raise RuleFailed(f"protocol is not JSON data: {error}") from None
        again = _seeded(seed + 1, build)
        second = json.dumps(getattr(again, "protocol", None), sort_keys=True, default=repr)
        if first != second:
            raise RuleFailed("a second build gives another protocol description (its hash must identify the "
                             "benchmark)")
    with recorder.rule("deterministic"):
        _needs(again is not None and recorder.report.outcome("records").status == PASSED,
               "the records are malformed")
        for split_name, split in dataset.splits.items():
            other = again.splits.get(split_name)
            if other is None or split.video_ids() != other.video_ids() or \
                    [(c.text, c.video_index) for c in split.captions] != \
                    [(c.text, c.video_index) for c in other.captions]:
                raise RuleFailed(f"split '{split_name}' differs between two builds")
    with recorder.rule("decodable"):
        _needs(recorder.report.outcome("records").status == PASSED
               and recorder.report.outcome("sampling").status == PASSED, "the records or the sampling are malformed")
        _needs(recorder.report.outcome("sources-present").status == PASSED, "test video sources are missing")
        _check_decodes(dataset)


def _check_split_records(split_name, split, VideoRecord, CaptionRecord, QuerySubset) -> None:  # noqa: N803
    where = f"split '{split_name}'"
    if not split.videos:
        raise RuleFailed(f"{where} has no video")
    seen: set[str] = set()
    for video in split.videos:
        if not isinstance(video, VideoRecord) or not isinstance(video.video_id, str) or not video.video_id \
                or not isinstance(video.source, Path):
            raise RuleFailed(f"{where}: {video!r} is not a VideoRecord with a non-empty id and a Path source")
        if video.video_id in seen:
            raise RuleFailed(f"{where}: video id {video.video_id!r} appears twice")
        seen.add(video.video_id)
    covered = set()
    for caption in split.captions:
        if not isinstance(caption, CaptionRecord) or not isinstance(caption.text, str) or not caption.text.strip():
            raise RuleFailed(f"{where}: {caption!r} is not a CaptionRecord with text")
        if not 0 <= caption.video_index < len(split.videos):
            raise RuleFailed(f"{where}: caption {caption.text!r} points at video {caption.video_index}")
        covered.add(caption.video_index)
    for relevant in split.relevant_videos or ():  # several correct videos per text: each answers that text
        covered.update(relevant)
    uncovered = [split.videos[i].video_id for i in range(len(split.videos)) if i not in covered]
    if uncovered:
        raise RuleFailed(f"{where}: video(s) without a caption, e.g. {uncovered[:3]}")
    for subset_name, subset in (split.subsets or {}).items():
        if not isinstance(subset, QuerySubset):
            raise RuleFailed(f"{where}: subset '{subset_name}' is not a QuerySubset")
        bad = [i for i in subset.caption_indices if not 0 <= i < len(split.captions)]
        bad += [i for i in (*subset.video_indices, *subset.rival_videos) if not 0 <= i < len(split.videos)]
        if bad:
            raise RuleFailed(f"{where}: subset '{subset_name}' points outside the split: {bad[:3]}")


def _check_decodes(dataset) -> None:
    from c2vbench.data.loader import ImageFormat, VideoClipDataset
    from c2vbench.probes.frame_order import valid_lengths

    split = dataset.splits["test"]
    clip = VideoClipDataset(split.videos[:1], dataset.sampling, ImageFormat(32, (0.5,) * 3, (0.25,) * 3))
    frames, frame_mask, _ = clip[0]
    slots = dataset.sampling.max_frames
    if tuple(frames.shape) != (slots, 3, 32, 32):
        raise RuleFailed(f"video {split.videos[0].video_id} decodes to {tuple(frames.shape)}, expected "
                         f"({slots}, 3, 32, 32)")
    try:
        valid = int(valid_lengths(frame_mask[None])[0])
    except ValueError as error:
        raise RuleFailed(f"video {split.videos[0].video_id}: {error}") from None
    if valid < 1:
        raise RuleFailed(f"video {split.videos[0].video_id} decodes to no valid frame")


def _check_disjoint(train, test) -> None:
    """No test video in train: not by id, not by path, not as the same file under another path (same size and
    the same first bytes). Frame folders are compared by path."""
    shared = set(train.video_ids()) & set(test.video_ids())
    if shared:
        raise RuleFailed(f"{len(shared)} video(s) are in both train and test, e.g. {sorted(shared)[:3]}: a test "
                         "video must never be trained on")
    test_by_path = {_resolved(video.source): video for video in test.videos}
    for video in train.videos:
        twin = test_by_path.get(_resolved(video.source))
        if twin is not None:
            raise RuleFailed(f"train video {video.video_id!r} and test video {twin.video_id!r} are the same source "
                             f"{twin.source}: a test video must never be trained on")
    test_by_size: dict[int, list] = {}
    for video in test.videos:
        size = _file_size(video.source)
        if size:  # an empty file is no video (decodable says so); two of them are not the same video
            test_by_size.setdefault(size, []).append(video)
    fingerprints: dict[Path, str] = {}
    for video in train.videos:
        for twin in test_by_size.get(_file_size(video.source) or -1, []):
            if _fingerprint(video.source, fingerprints) == _fingerprint(twin.source, fingerprints):
                raise RuleFailed(f"train video {video.video_id!r} ({video.source}) and test video {twin.video_id!r} "
                                 f"({twin.source}) are the same file (same size and first "
                                 f"{HASHED_BYTES // 1024} KiB): a test video must never be trained on")


def _resolved(source) -> Path:
    try:
        return Path(source).expanduser().resolve()
    except OSError:
        return Path(source)


def _file_size(source) -> int | None:
    try:
        path = Path(source)
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def _fingerprint(source, memo: dict) -> str:
    import hashlib

    path = _resolved(source)
    if path not in memo:
        with open(path, "rb") as handle:
            memo[path] = hashlib.sha256(handle.read(HASHED_BYTES)).hexdigest()
    return memo[path]
