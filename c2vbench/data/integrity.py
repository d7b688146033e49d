"""Screening a split's videos before a run: missing or unreadable videos stop the run unless explicitly allowed.

(Minimal version: checks that every source exists and is not empty; decoding problems surface when frames are read.)
"""

from __future__ import annotations

import dataclasses

from ..errors import DataError
from .types import CaptionRecord, RetrievalSplit


@dataclasses.dataclass
class ScreenedSplit:
    """A split after screening: the usable split and every skipped video with the reason."""

    split: RetrievalSplit
    skipped: list[dict[str, str]]


def screen_split(split: RetrievalSplit, allow_missing: bool = False) -> ScreenedSplit:
    """Check every video of ``split``; without ``allow_missing`` any problem raises one DataError listing them all."""
    problems: list[dict[str, str]] = []
    for video in split.videos:
        if not video.source.exists():
            problems.append({"video_id": video.video_id, "reason": "missing"})
        elif video.source.is_file() and video.source.stat().st_size == 0:
            problems.append({"video_id": video.video_id, "reason": "empty file"})
    if not problems:
        return ScreenedSplit(split, [])
    if not allow_missing:
        listed = ", ".join(f"{p['video_id']} ({p['reason']})" for p in problems[:20])
        more = f" and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DataError(f"{len(problems)} video(s) of split '{split.name}' cannot be used: {listed}{more}",
                        "fix or re-download them, or pass --allow-missing to skip them (recorded in the result)")
    return ScreenedSplit(drop_videos(split, {p["video_id"] for p in problems}), problems)


def drop_videos(split: RetrievalSplit, video_ids: set[str]) -> RetrievalSplit:
    """The split without the given videos and their captions (indices renumbered, subsets kept consistent)."""
    keep = [i for i, video in enumerate(split.videos) if video.video_id not in video_ids]
    new_index = {old: new for new, old in enumerate(keep)}
    captions, caption_map = [], {}
    for old, caption in enumerate(split.captions):
        if caption.video_index in new_index:
            caption_map[old] = len(captions)
            captions.append(CaptionRecord(caption.text, new_index[caption.video_index]))
    subsets = {
        name: dataclasses.replace(
            subset,
            caption_indices=tuple(caption_map[i] for i in subset.caption_indices if i in caption_map),
            video_indices=tuple(new_index[i] for i in subset.video_indices if i in new_index),
        )
        for name, subset in split.subsets.items()
    }
    return RetrievalSplit(split.name, [split.videos[i] for i in keep], captions, subsets)
