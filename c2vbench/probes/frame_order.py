"""Rearranging a video's valid frames: the one permutation code behind order probes and order conformance checks.

Frame masks are left-aligned (a video's ``n`` valid frames fill slots ``0 .. n-1``, padding follows). Every
rearrangement here moves valid frames among valid slots only: padded slots and the mask are never touched, so a
temporal module sees exactly the same padding and mask as in the unprobed run.

Rearrangements (``kind``):

* ``reverse``: slot ``i`` takes frame ``n - 1 - i``.
* ``shuffle``: a fixed random permutation per video, drawn from a CPU generator seeded with ``seed`` (videos in
  batch order, so the same seed and the same videos give the same permutations on any device). A draw that
  happens to be the identity is replaced by a rotation by one, so every video with at least two valid frames is
  really rearranged.
* ``repeat_middle``: every valid slot takes the middle frame, index ``(n - 1) // 2`` (the earlier of the two middle
  frames when ``n`` is even): the video reduced to one frame, with its length kept.

A video with fewer than two valid frames is left unchanged by every kind (:func:`affected`), and is reported as
such rather than dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ORDER_KINDS = ("reverse", "shuffle", "repeat_middle")


def valid_lengths(frame_mask: torch.Tensor) -> torch.Tensor:
    """``[B]`` number of valid frames per video; raises ValueError unless the mask is left-aligned 0/1."""
    import torch

    mask = frame_mask.detach().to("cpu").long()
    if mask.dim() != 2 or bool(((mask != 0) & (mask != 1)).any()):
        raise ValueError("frame_mask must be a [B, T] tensor of 0 and 1")
    lengths = mask.sum(dim=1)
    expected = (torch.arange(mask.shape[1])[None, :] < lengths[:, None]).long()
    if not torch.equal(mask, expected):
        raise ValueError("frame_mask must be left-aligned: valid frames first, padded slots after them")
    return lengths


def affected(frame_mask: torch.Tensor) -> torch.Tensor:
    """``[B]`` bool: True where rearranging can change the video (two valid frames or more)."""
    return valid_lengths(frame_mask) >= 2


def permutation_index(frame_mask: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """``[B, T]`` long: the source slot of every slot (padded slots map to themselves), on the mask's device."""
    import torch

    if kind not in ORDER_KINDS:
        raise ValueError(f"unknown frame rearrangement {kind!r}; use one of {', '.join(ORDER_KINDS)}")
    lengths = valid_lengths(frame_mask)
    batch, slots = frame_mask.shape
    index = torch.arange(slots).repeat(batch, 1)
    generator = torch.Generator().manual_seed(int(seed)) if kind == "shuffle" else None
    for row, length in enumerate(lengths.tolist()):
        if length < 2:
            continue
        if kind == "reverse":
            source = torch.arange(length - 1, -1, -1)
        elif kind == "repeat_middle":
            source = torch.full((length,), (length - 1) // 2, dtype=torch.long)
        else:
            source = torch.randperm(length, generator=generator)
            if torch.equal(source, torch.arange(length)):
                source = torch.roll(source, 1)
        index[row, :length] = source
    return index.to(frame_mask.device)


def rearrange_frames(frames: torch.Tensor, frame_mask: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """``frames [B, T, ...]`` with each video's valid frames rearranged by ``kind``; padded slots untouched."""
    index = permutation_index(frame_mask, kind, seed)
    expanded = index.reshape(*index.shape, *([1] * (frames.dim() - 2))).expand_as(frames)
    return frames.gather(1, expanded)
