"""What encoding a split yields: per-frame embeddings (a frame bank) and every caption's and video's features.

Kept apart from :mod:`c2vbench.evaluation.encoding`, which computes them, so that the embedding cache can store and
return them without importing the encoder.
"""

from __future__ import annotations

import dataclasses

import torch

from c2vbench.platform.interfaces import TextFeatures, VideoFeatures


@dataclasses.dataclass
class FrameBank:
    """Per-frame backbone embeddings of every video of a split, computed once."""

    features: torch.Tensor  # [n_videos, T, D]
    frame_mask: torch.Tensor  # [n_videos, T]
    seconds: float


@dataclasses.dataclass
class EncodedSplit:
    """Every caption's and every video's features, and how fast they were computed."""

    text: TextFeatures
    video: VideoFeatures
    texts_per_second: float
    videos_per_second: float
    frames: FrameBank | None = None  # the per-frame embeddings the videos were pooled from (order probes reuse them)
