"""Training losses shared by the similarity plug-ins."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def symmetric_infonce(logits: torch.Tensor) -> torch.Tensor:
    """½ [CE over rows + CE over columns] with the diagonal as positives (CLIP4Clip's ``CrossEn`` both ways)."""
    targets = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))


MAX_LOG_SCALE = math.log(100.0)
"""CLIP's cap on the learned logit scale: ``exp(logit_scale) <= 100``."""


def learned_scale(logit_scale: torch.Tensor, training: bool) -> torch.Tensor:
    """``exp(logit_scale)``, the log scale clamped at ln 100 in training (the official trainers clamp it after every
    step; here the clamp is in the forward pass, as the ``cosine`` head does); at inference a loaded scale is used as
    stored."""
    return (logit_scale.clamp(max=MAX_LOG_SCALE) if training else logit_scale).exp()
