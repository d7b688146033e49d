"""Training losses shared by the similarity plug-ins."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def symmetric_infonce(logits: torch.Tensor) -> torch.Tensor:
    """½ [CE over rows + CE over columns] with the diagonal as positives (CLIP4Clip's ``CrossEn`` both ways)."""
    targets = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))
