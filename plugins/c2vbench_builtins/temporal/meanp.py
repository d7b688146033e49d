"""Temporal module ``meanp``: parameter-free masked mean of L2-normalised frames (CLIP4Clip's meanP)."""

from __future__ import annotations

from c2vbench.plugin import TemporalSpec, hookimpl


def build_meanp(options, context):
    from torch import nn

    from c2vbench.plugin import VideoFeatures

    from .._layers.pooling import masked_mean_pool

    class MeanPooling(nn.Module):
        """Order-blind by construction: a permutation of the real frames gives the same embedding, bit for bit."""

        def forward(self, frames, frame_mask, want_alignment_tokens: bool = False) -> VideoFeatures:
            return VideoFeatures(pooled=masked_mean_pool(frames, frame_mask, order_exact=True), frames=frames,
                                 frame_mask=frame_mask)

    return MeanPooling()


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(
        name="meanp",
        order_sensitive=False,
        summary="Masked mean of L2-normalised frame embeddings (no parameters)",
        factory=build_meanp,
        paper="Luo et al., CLIP4Clip: An Empirical Study of CLIP for End to End Video Clip Retrieval, 2021",
    )
