"""Screening a split across the processes of a torchrun run: each process probes its share of the videos.

The shares' findings (unusable and partly readable videos) are gathered on every rank in rank order, which is the
split's order, so every rank drops the same videos and reports the same list a single process would. With one
process this is :func:`c2vbench.data.integrity.screen_split`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from c2vbench.data.integrity import ScreenedSplit, drop_videos, format_offenders, screen_split
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import RetrievalSplit
from c2vbench.platform.errors import DataError
from c2vbench.runtime.distributed import current_world, shard_bounds

UNUSABLE_FIX = ("fix or re-download them, or pass --allow-missing to skip them (recorded in the result and its "
                "protocol hash)")


def screen_split_sharded(split: RetrievalSplit, sampling: FrameSampling | None,
                         progress: Callable[[int, int], None] | None = None,
                         allow_missing: bool = True) -> ScreenedSplit:
    """:func:`screen_split` with each process probing its share of the videos (every rank gets the same outcome).

    With ``allow_missing`` unusable videos are dropped and listed in ``skipped``; without it, one DataError lists
    them all, on every rank.
    """
    world = current_world()
    if not world.distributed:
        return screen_split(split, allow_missing=allow_missing, sampling=sampling, progress=progress)
    start, stop = shard_bounds(len(split.videos), world.rank, world.size)
    share = screen_split(RetrievalSplit(split.name, split.videos[start:stop], []), allow_missing=True,
                         sampling=sampling, progress=progress)
    findings: list = [None] * world.size
    torch.distributed.all_gather_object(findings, (share.skipped, share.partial))
    skipped = [entry for found, _ in findings for entry in found]
    partial = [entry for _, found in findings for entry in found]
    if skipped and not allow_missing:
        raise DataError(f"{len(skipped)} of {len(split.videos)} video(s) of split '{split.name}' cannot be used: "
                        f"{format_offenders(skipped)}", UNUSABLE_FIX)
    kept = drop_videos(split, {entry["video_id"] for entry in skipped}) if skipped else split
    return ScreenedSplit(kept, skipped, partial)
