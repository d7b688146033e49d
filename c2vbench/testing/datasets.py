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


def run_dataset_rules(recorder: _Recorder, build: Callable[[], Any], seed: int) -> None:
    from c2vbench.data.sampling import FrameSampling
    from c2vbench.data.types import CaptionRecord, QuerySubset, RetrievalDataset, RetrievalSplit, VideoRecord

    with recorder.rule("builds"):
        dataset = _seeded(seed, build)
        if not isinstance(dataset, RetrievalDataset):
            raise RuleFailed(f"the factory returned a {type(dataset).__name__}, not a RetrievalDataset")
    if recorder.report.outcome("builds").status != PASSED:
        _skip_rest(recorder, ("records", "sampling", "protocol-stable", "deterministic", "decodable"))
        return
    with recorder.rule("records"):
        if not isinstance(dataset.splits, dict) or "test" not in dataset.splits:
            raise RuleFailed(f"splits must be a dict with at least 'test' (and 'train' to train on), got "
                             f"{sorted(dataset.splits) if isinstance(dataset.splits, dict) else dataset.splits!r}")
        for split_name, split in dataset.splits.items():
            if not isinstance(split, RetrievalSplit):
                raise RuleFailed(f"split '{split_name}' is a {type(split).__name__}, not a RetrievalSplit")
            _check_split_records(split_name, split, VideoRecord, CaptionRecord, QuerySubset)
        train_ids = dataset.splits["train"].video_ids() if "train" in dataset.splits else []
        shared = set(train_ids) & set(dataset.splits["test"].video_ids())
        if shared:
            raise RuleFailed(f"{len(shared)} video(s) are in both train and test, e.g. {sorted(shared)[:3]}")
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
