"""Similarity ``cosine``: scaled cosine of text EOT and pooled video embeddings, symmetric InfoNCE loss."""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import AlignSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class CosineOptions:
    """``learn_scale``: train the logit scale (clamped to at most ln 100, as CLIP does)."""

    learn_scale: bool = option(True, help="train the logit scale (clamped to ln 100 while training)")


def build_cosine(options: CosineOptions, context):
    import math

    import torch
    from torch import nn

    from .._layers.losses import symmetric_infonce
    from .._layers.pooling import l2_normalise

    max_log_scale = math.log(100.0)

    class CosineSimilarity(nn.Module):
        wants_alignment_tokens = False

        def __init__(self, initial_log_scale: float):
            super().__init__()
            self.logit_scale = nn.Parameter(torch.tensor(float(initial_log_scale)),
                                            requires_grad=options.learn_scale)

        def forward(self, text, video):
            # CLIP clamps the learned scale while training; at inference a loaded scale is used as stored.
            log_scale = self.logit_scale.clamp(max=max_log_scale) if self.training else self.logit_scale
            scale = log_scale.exp()
            return scale * l2_normalise(text.eot) @ l2_normalise(video.pooled).t()

        def text_factors(self, text):
            """``scale · t̂``: with :meth:`video_factors`, the logits as one matrix product (streamed ranking)."""
            log_scale = self.logit_scale.clamp(max=max_log_scale) if self.training else self.logit_scale
            return log_scale.exp() * l2_normalise(text.eot.float())

        def video_factors(self, video):
            return l2_normalise(video.pooled.float())

        def loss(self, text, video):
            return symmetric_infonce(self.forward(text, video))

    return CosineSimilarity(context.backbone.initial_logit_scale())


@hookimpl
def c2vbench_register_align_heads():
    yield AlignSpec(
        name="cosine",
        summary="Scaled cosine similarity of sentence and video embeddings; symmetric InfoNCE",
        order_sensitive=False,
        factory=build_cosine,
        options_type=CosineOptions,
    )
