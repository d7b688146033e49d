"""A retrieval model assembled from three components: backbone, temporal module, align head."""

from __future__ import annotations

import torch
from torch import nn

from .interfaces import TextFeatures, VideoFeatures


class RetrievalModel(nn.Module):
    """Backbone + temporal module + align head, with the checkpoint API of the contract.

    ``encode_text`` and ``encode_video`` can run on separate batches; ``similarity`` scores any text batch against
    any video batch, so evaluation encodes every text and every video once.
    """

    def __init__(self, backbone: nn.Module, temporal: nn.Module, align_head: nn.Module, max_frames: int = 12):
        super().__init__()
        self.max_frames = max_frames  # frame slots the temporal module was built for
        self.backbone = backbone
        self.temporal = temporal
        self.align_head = align_head

    @property
    def similarity_head(self) -> nn.Module:
        """Deprecated name of :attr:`align_head`."""
        return self.align_head

    @property
    def wants_alignment_tokens(self) -> bool:
        return bool(getattr(self.align_head, "wants_alignment_tokens", False))

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
        """``[B, L]`` token ids and mask to :class:`TextFeatures`."""
        return self.backbone.encode_text(input_ids, attention_mask)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, T, 3, H, W]`` images to ``[B, T, D]`` per-frame backbone embeddings (padded slots included)."""
        batch, slots = frames.shape[:2]
        flat = self.backbone.encode_frames(frames.reshape(batch * slots, *frames.shape[2:]))
        return flat.reshape(batch, slots, -1).float()

    def encode_video_from_frame_features(self, frame_features: torch.Tensor,
                                         frame_mask: torch.Tensor) -> VideoFeatures:
        """Run the temporal module on precomputed frame embeddings (the ``frozen`` protocol's path)."""
        return self.temporal(frame_features, frame_mask, want_alignment_tokens=self.wants_alignment_tokens)

    def encode_video(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> VideoFeatures:
        """``[B, T, 3, H, W]`` images and ``[B, T]`` frame mask to :class:`VideoFeatures`."""
        return self.encode_video_from_frame_features(self.encode_frames(frames), frame_mask)

    def similarity(self, text_features: TextFeatures, video_features: VideoFeatures) -> torch.Tensor:
        """Retrieval logits ``[n_text, n_video]``."""
        return self.align_head(text_features, video_features)

    def loss(self, text_features: TextFeatures, video_features: VideoFeatures) -> torch.Tensor:
        """Training loss on a batch of matching pairs (text i matches video i)."""
        return self.align_head.loss(text_features, video_features)


LEGACY_STATE_PREFIXES = {"similarity_head.": "align_head."}


def upgrade_state_dict_keys(state: dict) -> dict:
    """Rename the keys of state dicts written before the head was called ``align_head``."""
    upgraded = {}
    for key, value in state.items():
        for old, new in LEGACY_STATE_PREFIXES.items():
            if key.startswith(old):
                key = new + key[len(old):]
        upgraded[key] = value
    return upgraded
