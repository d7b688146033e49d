"""Similarity ``tab``: CLIP2Video's Temporal Alignment Block (reference/clip2video.md §3).

Score ``S = λ·S_global + (1−λ)·S_TAB`` and loss ``λ·L_global + (1−λ)·L_TAB`` (λ = ``global_weight``, 0.5), both
terms scaled by the head's ``logit_scale``. ``S_global`` is the scaled cosine of the text EOT vector and the pooled
video vector; ``S_TAB`` the scaled cosine of the TAB aggregates of the text tokens (all positions but start-of-text,
padding excluded) and of the video tokens.

Video token streams (option ``stream``):

* ``tdb`` — the temporal module's alignment tokens (the official ``center_proj=TAB_TDB`` with ``--temporal tdb``:
  the raw frames plus the TDB-enhanced half-rate stream, computed with TDB's shared parameters).
* ``plain`` — the head's own half-rate stream, ``X_s + P[0:T_s] → actionClip → + X_s`` after the raw frames
  (the official ``center_proj=TAB``); the head then holds ``frame_position_embeddings`` and ``actionClip``.
* ``frames`` — the raw frames alone (``center_proj=''``).
* ``auto`` (default) — ``tdb`` when the temporal module provides alignment tokens, else ``plain``.

**The alignment-token interface** (what a third-party temporal module implements to feed TAB): set the attribute
``provides_alignment_tokens = True`` and, when ``forward(frames, frame_mask, want_alignment_tokens=True)`` is
called, fill ``VideoFeatures.alignment_tokens`` (``[B, N, D]``, in the frame-embedding space, not normalised) and
``VideoFeatures.alignment_mask`` (``[B, N]``, 0/1 weights). TAB then sets ``wants_alignment_tokens = True`` so
that :class:`c2vbench.model.retrieval_model.RetrievalModel` asks for them. Parameters are shared by passing tokens,
never modules, so no parameter is registered twice in the model's state dict.

State-dict keys (under ``align_head.``): ``logit_scale`` (official ``clip.logit_scale``), ``weight_center``
and ``emb_center`` ``[K, D]``, and for ``stream=plain`` ``frame_position_embeddings.weight`` and
``actionClip.resblocks.0.*``.
"""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import AlignSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class TabOptions:
    """``centers``: K shared centres (5; the paper uses 7 on VATEX). ``global_weight``: λ. ``stream``: auto, tdb,
    plain or frames (see the module docs). ``legacy_mask``: official mask tiling in the head's own ``actionClip``
    (stream=plain). ``learn_scale``: train ``logit_scale``. ``positions``: rows of the plain stream's position
    embedding (0: the backbone's context length)."""

    centers: int = option(5, min=1, max=64, help="K shared centres (the paper uses 7 on VATEX)")
    global_weight: float = option(0.5, min=0.0, max=1.0, help="λ: weight of the global (pooled) score")
    stream: str = option("auto", choices=("auto", "tdb", "plain", "frames"), help="token stream the head aligns")
    legacy_mask: bool = option(False, help="official mask tiling in the head's own actionClip (stream=plain)")
    learn_scale: bool = option(True, help="train logit_scale")
    positions: int = option(0, min=0, help="rows of the plain stream's position embedding (0: backbone context)")


def build_tab(options: TabOptions, context):
    from ._tab_head import TemporalAlignmentHead

    return TemporalAlignmentHead.from_context(options, context)


@hookimpl
def c2vbench_register_align_heads():
    yield AlignSpec(
        name="tab",
        summary="CLIP2Video Temporal Alignment Block: shared-centre token alignment blended with the global score",
        order_sensitive=True,
        factory=build_tab,
        options_type=TabOptions,
        paper="Fang et al., CLIP2Video: Mastering Video-Text Retrieval via Image CLIP, 2021",
        url="https://arxiv.org/abs/2106.11097",
    )
