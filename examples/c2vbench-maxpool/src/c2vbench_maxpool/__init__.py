"""Temporal module ``maxpool``: element-wise max over the real frames, L2-normalised."""

from __future__ import annotations

from c2vbench.plugin import TemporalSpec, hookimpl


def build_maxpool(options, context):
    import torch
    from torch import nn

    from c2vbench.plugin import VideoFeatures

    class MaxPool(nn.Module):
        def forward(self, frames, frame_mask, want_alignment_tokens: bool = False) -> VideoFeatures:
            masked = frames.masked_fill(frame_mask.unsqueeze(-1) == 0, float("-inf"))
            pooled = masked.max(dim=1).values
            pooled = torch.where(torch.isinf(pooled), torch.zeros_like(pooled), pooled)  # videos with no frame
            pooled = pooled / pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            return VideoFeatures(pooled=pooled, frames=frames, frame_mask=frame_mask)

    return MaxPool()


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(name="maxpool", summary="Element-wise max over real frames (example plug-in)",
                       factory=build_maxpool, order_sensitive=False)  # a max does not see frame order
