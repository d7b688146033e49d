"""Screening a split's videos before a run: bad videos stop the run unless explicitly allowed.

Every video of the split is looked at (:func:`c2vbench.data.decoding.probe_source`): a missing source, a zero-byte
file, an empty frame folder, a file no decoder can open, or a video too short to yield a single frame under the
sampling rule is a *problem*. Without ``allow_missing`` any problem raises one :class:`DataError` listing every
offender; with it, the offenders are dropped and listed in :attr:`ScreenedSplit.skipped` (the pipeline writes them
into the result file and the protocol hash, so an incomplete result is never ranked beside a complete one).

A video that can be read only in part (a truncated file whose first frames decode) is *not* a problem: it is used
as far as it is readable and listed in :attr:`ScreenedSplit.partial`, which the result file must carry too.

Departure from the official loaders, on purpose: they turn a video with no frames into an all-zero clip (MSR-VTT,
MSVD) or silently drop it (VATEX); here both stop the run or are recorded as skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from c2vbench.data.decoding import VideoProbe, probe_source
from c2vbench.data.sampling import FrameSampling, grid_size, grid_times, sample_grid_indices, window_bounds
from c2vbench.data.types import CaptionRecord, RetrievalSplit
from c2vbench.platform.errors import DataError

if TYPE_CHECKING:
    pass

MAX_LISTED = 20


@dataclasses.dataclass
class ScreenedSplit:
    """A split after screening.

    Attributes:
        split: the usable split (offenders dropped when allowed).
        skipped: every dropped video, ``{"video_id", "reason"}``, in split order.
        partial: every partially readable video kept in the split, ``{"video_id", "reason"}``.
    """

    split: RetrievalSplit
    skipped: list[dict[str, str]]
    partial: list[dict[str, str]] = dataclasses.field(default_factory=list)


def screen_split(split: RetrievalSplit, allow_missing: bool = False, sampling: FrameSampling | None = None,
                 probe: bool = True, progress: Callable[[int, int], None] | None = None) -> ScreenedSplit:
    """Check every video of ``split``; without ``allow_missing`` any problem raises one DataError listing them all.

    Args:
        split: the split to check.
        allow_missing: drop offenders (recorded in ``skipped``) instead of stopping.
        sampling: when given, a video whose frame count yields no sampled frame is a problem, and the decoder it
            names is used for the probe.
        probe: open each video file and decode its first and last frame (False: only existence and size, fast).
        progress: called as ``progress(done, total)`` after each video.
    """
    problems: list[dict[str, str]] = []
    partial: list[dict[str, str]] = []
    decoder = sampling.decoder if sampling is not None else "auto"
    total = len(split.videos)
    looked_at: dict[str, VideoProbe] = {}  # clips cut from one video by time share its probe
    for done, video in enumerate(split.videos, start=1):
        result = looked_at.get(str(video.source))
        if result is None:
            result = probe_source(video.source, decoder) if probe else _existence_only(video.source)
            looked_at[str(video.source)] = result
        reason = result.problem or _too_short(result, sampling, video.window)
        if reason:
            problems.append({"video_id": video.video_id, "reason": reason})
        elif result.partial:
            partial.append({"video_id": video.video_id, "reason": result.partial})
        if progress is not None:
            progress(done, total)
    if problems and not allow_missing:
        raise DataError(f"{len(problems)} of {total} video(s) of split '{split.name}' cannot be used: "
                        f"{format_offenders(problems)}",
                        "fix or re-download them, or pass --allow-missing to skip them (recorded in the result "
                        "and its protocol hash)")
    kept = drop_videos(split, {p["video_id"] for p in problems}) if problems else split
    return ScreenedSplit(kept, problems, partial)


# Stable names for why a video was skipped or is partial. The protocol card (and so its hash) records these, never
# the decoder's own message, which changes with library versions, locales and paths.
_FAILURE_CATEGORIES = (
    ("missing", "missing"),
    ("empty file", "empty-file"),
    ("empty folder", "empty-folder"),
    ("no frames", "no-frames"),
    ("undecodable", "undecodable"),
)


def failure_category(reason: str) -> str:
    """A stable category for a screening problem (``missing``, ``empty-file``, ``empty-folder``, ``no-frames``,
    ``undecodable``, ``empty-frame-files``, else ``unreadable``)."""
    for prefix, category in _FAILURE_CATEGORIES:
        if reason.startswith(prefix):
            return category
    return "empty-frame-files" if "empty frame file" in reason else "unreadable"


def partial_category(reason: str) -> str:
    """A stable description of a partly readable video: the readable and promised frame counts when known."""
    import re

    only = re.search(r"only (\d+) of (\d+) frames are readable", reason)
    if only is not None:
        return f"partial: {only.group(1)} of {only.group(2)} frames readable"
    promised = re.search(r"header promises (\d+) frames, (\d+) readable", reason)
    if promised is not None:
        return f"partial: {promised.group(2)} of {promised.group(1)} frames readable"
    return "partial"


def card_entries(listed: dict[str, list[dict[str, str]]], partial: bool = False) -> dict[str, list[dict[str, str]]]:
    """``{split: [{"video_id", "category"}]}`` for the protocol card (raw messages stay out of the hash)."""
    categorise = partial_category if partial else failure_category
    return {split: [{"video_id": item["video_id"], "category": categorise(item["reason"])} for item in items]
            for split, items in sorted(listed.items())}


def format_offenders(problems: list[dict[str, str]], limit: int = MAX_LISTED) -> str:
    listed = "; ".join(f"{p['video_id']} ({p['reason']})" for p in problems[:limit])
    more = f"; and {len(problems) - limit} more" if len(problems) > limit else ""
    return listed + more


def first_offenders(problems: list[dict[str, str]], limit: int = 3) -> str:
    """``"video9 (missing), video2 (empty file (0 bytes)), … 5 more"``: the first few, reasons shortened."""
    def short(reason: str) -> str:
        return reason if len(reason) <= 40 else reason[:39] + "…"

    listed = ", ".join(f"{p['video_id']} ({short(p['reason'])})" for p in problems[:limit])
    return listed + (f", … {len(problems) - limit} more" if len(problems) > limit else "")


def _existence_only(source) -> VideoProbe:
    if not source.exists():
        return VideoProbe(source, "missing", problem="missing")
    if source.is_file() and source.stat().st_size == 0:
        return VideoProbe(source, "video", problem="empty file (0 bytes)")
    if source.is_dir() and not any(source.iterdir()):
        return VideoProbe(source, "frames", problem="empty folder (no frames)")
    return VideoProbe(source, "video" if source.is_file() else "frames")


def _too_short(result: VideoProbe, sampling: FrameSampling | None,
               window: tuple[float, float | None] | None = None) -> str | None:
    """A video the sampling rule would turn into zero frames (the official loader feeds an all-zero clip); with a
    time window, the grid positions inside it (a window past the end of the video has none)."""
    if sampling is None or result.n_frames <= 0:
        return None
    if result.kind == "frames" or sampling.grid_fps is None:
        n_grid = result.n_frames
    else:
        n_grid = grid_size(result.n_frames, result.fps, sampling.grid_fps)
    inside = ""
    if window is not None:
        rate = sampling.grid_fps or result.fps or 1.0
        first, stop = window_bounds(grid_times(n_grid, rate), window)
        end = "the end" if window[1] is None else f"{window[1]:g} s"
        inside = f" inside the window {window[0]:g} s to {end} of a {n_grid / rate:.1f} s video"
        n_grid = stop - first
    if len(sample_grid_indices(n_grid, sampling)) == 0:
        return (f"no frames: {n_grid} grid frame(s){inside} is fewer than feature_framerate "
                f"{sampling.feature_framerate}")
    return None


def drop_videos(split: RetrievalSplit, video_ids: set[str]) -> RetrievalSplit:
    """The split without the given videos and their captions (indices renumbered, subsets kept consistent)."""
    keep = [i for i, video in enumerate(split.videos) if video.video_id not in video_ids]
    new_index = {old: new for new, old in enumerate(keep)}
    captions, caption_map, relevant = [], {}, []
    for old, caption in enumerate(split.captions):
        # a caption with several correct videos stays while one of them does (its own video: the first kept)
        correct = split.relevant_videos[old] if split.relevant_videos is not None else (caption.video_index,)
        kept = tuple(new_index[video] for video in correct if video in new_index)
        if kept:
            caption_map[old] = len(captions)
            own = new_index.get(caption.video_index, kept[0])
            captions.append(CaptionRecord(caption.text, own))
            relevant.append(kept)
    subsets = {name: _remap_subset(subset, caption_map, new_index) for name, subset in split.subsets.items()}
    contrasts = {name: _remap_contrast(contrast, caption_map, new_index)
                 for name, contrast in split.contrasts.items()}
    return RetrievalSplit(split.name, [split.videos[i] for i in keep], captions, subsets,
                          relevant if split.relevant_videos is not None else None, contrasts)


def _remap_contrast(contrast, caption_map: dict[int, int], video_map: dict[int, int]):
    """A contrast renumbered after videos were dropped; a pair whose video was dropped leaves it."""
    groups = contrast.groups or ("",) * len(contrast.video_indices)
    kept = [(video_map[v], caption_map[c], text, group) for v, c, text, group in
            zip(contrast.video_indices, contrast.caption_indices, contrast.rival_texts, groups, strict=True)
            if v in video_map and c in caption_map]
    return dataclasses.replace(contrast, video_indices=tuple(k[0] for k in kept),
                               caption_indices=tuple(k[1] for k in kept), rival_texts=tuple(k[2] for k in kept),
                               groups=tuple(k[3] for k in kept) if contrast.groups else ())


def _remap_subset(subset, caption_map: dict[int, int], video_map: dict[int, int]):
    """A subset renumbered after videos were dropped; a query whose rival video was dropped leaves it."""
    rivals = subset.rival_videos or (None,) * len(subset.caption_indices)
    kept = [(caption_map[c], None if r is None else video_map[r])
            for c, r in zip(subset.caption_indices, rivals, strict=True)
            if c in caption_map and (r is None or r in video_map)]
    return dataclasses.replace(
        subset,
        caption_indices=tuple(c for c, _ in kept),
        video_indices=tuple(video_map[i] for i in subset.video_indices if i in video_map),
        rival_videos=tuple(r for _, r in kept) if subset.rival_videos else (),
    )
