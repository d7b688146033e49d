"""Align head ``xpool``: X-Pool's text-conditioned attention pooling of frames (Gorti et al., CVPR 2022).

For every (text, video) pair the caption's sentence vector attends over the video's frames: the video vector is
``LN3(a + dropout(W_l a))`` with ``a = LN2(W_o · softmax_f(W_k f · W_q t / sqrt(d)) W_v f)`` (texts and frames
through one LayerNorm first), and the score is ``s · cos(t, that vector)``. The loss is the symmetric InfoNCE of the
scaled scores (the official ``CLIPLoss``). The head reads ``TextFeatures.eot`` and ``VideoFeatures.frames``;
``VideoFeatures.pooled`` is not used, so pair it with ``--temporal meanp`` (X-Pool has no temporal module).

Its score is not a dot product of a text vector and a video vector, so it offers no ``text_factors`` and is scored
tile by tile through ``forward`` (BENCHMARKS.md gives the cost against ``cosine``). Attention pooling has no
positions: the head is order-invariant and pools frames in a canonical order, so that a video and its reversal
score exactly alike. Padded frame slots get no attention weight.

Official defaults (layer6ai-labs/xpool ``config/all_config.py`` and the README's MSR-VTT 9k recipe): one head,
dropout 0.3 (0.4 in its MSR-VTT 7k and MSVD recipes), CLIP's learned logit scale. State-dict keys under
``align_head.``: ``logit_scale`` and ``pool_frames.<official key>`` (``cross_attn.q_proj.weight`` …).
"""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import AlignSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class XPoolOptions:
    """``heads``: attention heads (``num_mha_heads``). ``dropout``: ``transformer_dropout``. ``learn_scale``: train
    the logit scale."""

    heads: int = option(1, min=1, max=64, help="attention heads of the pooling (official num_mha_heads: 1)")
    dropout: float = option(0.3, min=0.0, max=0.9, help="dropout on the pooling's residual branch (official 0.3)")
    learn_scale: bool = option(True, help="train the logit scale (clamped to ln 100 while training)")


def build_xpool(options: XPoolOptions, context):
    from ._xpool_head import XPoolHead

    return XPoolHead(context.embed_dim, options.heads, options.dropout, context.backbone.initial_logit_scale(),
                     options.learn_scale)


@hookimpl
def c2vbench_register_align_heads():
    yield AlignSpec(
        name="xpool",
        summary="X-Pool: the caption attends over the frames; cosine with its own pooled video; symmetric InfoNCE",
        order_sensitive=False,
        factory=build_xpool,
        options_type=XPoolOptions,
        paper="Gorti et al., X-Pool: Cross-Modal Language-Video Attention for Text-Video Retrieval, CVPR 2022",
        url="https://github.com/layer6ai-labs/xpool",
    )
