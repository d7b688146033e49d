"""Fixture plug-in: a max-pooling temporal module, registered through a fake third-party distribution."""

from c2vbench import hookimpl
from c2vbench.platform.specs import TemporalSpec


def build_max_pool(options, context):
    from torch import nn

    from c2vbench.platform.interfaces import VideoFeatures

    class MaxPool(nn.Module):
        def forward(self, frames, frame_mask, want_alignment_tokens=False):
            masked = frames.masked_fill(frame_mask.unsqueeze(-1) == 0, float("-inf"))
            pooled = masked.max(dim=1).values
            return VideoFeatures(pooled=pooled / pooled.norm(dim=-1, keepdim=True), frames=frames,
                                 frame_mask=frame_mask)

    return MaxPool()


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(name="maxp", summary="Max pooling over real frames (test fixture)", factory=build_max_pool)
