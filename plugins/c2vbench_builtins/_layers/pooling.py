"""Masked mean pooling of frame embeddings (CLIP4Clip's meanP), shared by the temporal plug-ins."""

from __future__ import annotations

import torch


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """x / ||x|| over the last axis.

    The official code divides without an epsilon; the norm is clamped at the smallest positive float only so
    that an all-zero vector (a video with no real frame) gives zeros instead of NaN. Any other vector is
    divided exactly as in the official code.
    """
    return x / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def masked_mean_pool(frames: torch.Tensor, frame_mask: torch.Tensor, order_exact: bool = False) -> torch.Tensor:
    """``[B, T, D]`` frames and ``[B, T]`` mask to ``[B, D]``: normalise each frame, average the real ones
    (a video with no real frame divides by 1), normalise the mean.

    ``order_exact=True`` adds the frames in a canonical order (each coordinate's values sorted over time), so that
    any permutation of the frames gives a bit-identical result: float addition is not associative, and without it
    a video and its time reversal (synthetic-motion's order twins) would differ in the last bit and turn exact
    ties into coin flips.
    """
    weights = frame_mask.to(frames.dtype).unsqueeze(-1)
    masked = l2_normalise(frames) * weights
    if order_exact:
        masked = masked.sort(dim=1).values
    summed = masked.sum(dim=1)
    count = weights.sum(dim=1).clamp(min=1.0)
    return l2_normalise(summed / count)
