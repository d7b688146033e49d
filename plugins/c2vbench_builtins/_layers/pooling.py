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


def masked_mean_pool(frames: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """``[B, T, D]`` frames and ``[B, T]`` mask to ``[B, D]``: normalise each frame, average the real ones
    (a video with no real frame divides by 1), normalise the mean."""
    weights = frame_mask.to(frames.dtype).unsqueeze(-1)
    summed = (l2_normalise(frames) * weights).sum(dim=1)
    count = weights.sum(dim=1).clamp(min=1.0)
    return l2_normalise(summed / count)
