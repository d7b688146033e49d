"""Temporal module ``seqtransf``: CLIP4Clip's sequence transformer (reference/baselines-metrics-stats.md §3.3).

``Y = transformerClip(X + P[0:T], mask) + X``, then the meanP pooling of ``Y`` (normalise each frame, masked mean,
normalise). The positional embedding and the blocks start from the backbone's text positional embedding and first
text blocks when the backbone has them and its text width equals the embedding width; otherwise they are drawn
like the official ``init_weights`` (N(0, 0.02)) and ``initialisation_note`` says why.

Parameters (state-dict keys under ``temporal.``): ``frame_position_embeddings.weight`` ``[positions, D]`` and
``transformerClip.resblocks.<i>.*`` — the official names, so CLIP4Clip / CLIP2Video seqTransf weights load 1:1.
"""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import TemporalSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class SeqTransfOptions:
    """``layers``: blocks of the temporal transformer (CLIP4Clip: 4). ``legacy_mask``: reproduce the official
    per-head mask tiling (batch-dependent outputs, reference §2.6). ``positions``: rows of the positional
    embedding; 0 takes the backbone's context length (77 for CLIP)."""

    layers: int = option(4, min=1, max=24, help="blocks of the temporal transformer (CLIP4Clip: 4)")
    legacy_mask: bool = option(False, help="the official per-head mask tiling (batch-dependent, reference §2.6)")
    positions: int = option(0, min=0, help="rows of the position embedding (0: the backbone's context length)")


def build_seqtransf(options: SeqTransfOptions, context):
    from ._modules import SequenceTransformer

    return SequenceTransformer.from_context(options, context)


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(
        name="seqtransf",
        order_sensitive=True,
        summary="CLIP4Clip sequence transformer over frames (+positions, residual), then mean pooling",
        factory=build_seqtransf,
        options_type=SeqTransfOptions,
        paper="Luo et al., CLIP4Clip: An Empirical Study of CLIP for End to End Video Clip Retrieval, 2021",
        url="https://arxiv.org/abs/2104.08860",
    )
