"""Temporal module ``tdb``: CLIP2Video's Temporal Difference Block (reference/clip2video.md §2).

Difference tokens between neighbouring raw frame embeddings (``sigmoid_selfA``: positions + one attention block
``frame2t_attention`` + ``2σ(LN) − 1``; ``sigmoid_mlp``: ``2σ(LN(Δ W)) − 1``; ``raw``: Δ), interleaved with the
frames, position and type embeddings added, the temporal transformer ``transformerClip``, the frame slots plus the
raw frames, then mean pooling. Initialised from the backbone as CLIP2Video does (§4.4) when the backbone's text
width equals the embedding width; otherwise N(0, 0.02), with the reason in ``initialisation_note``.

Alignment tokens for ``--align tab``: with ``alignment_stream=true`` (the default) the module also holds the
one-block ``actionClip`` transformer and, asked with ``want_alignment_tokens=True``, returns the raw frames followed
by the half-rate stream (every second frame through the *same* difference path, positions, type embeddings, then
``actionClip``, plus the subsampled frames) — the official TAB_TDB token set (§3.2). ``provides_alignment_tokens``
tells an alignment head whether the module can do this.

State-dict keys (under ``temporal.``): ``frame_position_embeddings.weight``, ``type_position_embeddings.weight``,
``frame2t_attention.resblocks.0.*`` (sigmoid_selfA), ``frame2t_projection`` (sigmoid_mlp), ``trans_layernorm.*``
(sigmoid variants), ``transformerClip.resblocks.<i>.*``, ``actionClip.resblocks.0.*`` — the official names.
"""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import TemporalSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class TdbOptions:
    """``layers``: temporal transformer blocks (4). ``difference``: sigmoid_selfA (released), sigmoid_mlp or raw.
    ``legacy_mask``: the official per-head mask tiling (§2.6). ``alignment_stream``: hold ``actionClip`` and offer
    TAB the half-rate stream. ``positions``: rows of the position embedding (0: the backbone's context length)."""

    layers: int = option(4, min=1, max=24, help="temporal transformer blocks")
    difference: str = option("sigmoid_selfA", choices=("sigmoid_selfA", "sigmoid_mlp", "raw"),
                             help="difference token: sigmoid_selfA (released), sigmoid_mlp or raw")
    legacy_mask: bool = option(False, help="the official per-head mask tiling (batch-dependent, reference §2.6)")
    alignment_stream: bool = option(True, help="hold actionClip and offer TAB the half-rate stream")
    positions: int = option(0, min=0, help="rows of the position embedding (0: the backbone's context length)")


def build_tdb(options: TdbOptions, context):
    from ._modules import TemporalDifferenceBlock

    return TemporalDifferenceBlock.from_context(options, context)


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(
        name="tdb",
        order_sensitive=True,
        reads_padded_slots=1,  # the official difference-token mask sees the step into the first padded slot
        summary="CLIP2Video Temporal Difference Block: difference tokens + temporal transformer, mean pooling",
        factory=build_tdb,
        options_type=TdbOptions,
        paper="Fang et al., CLIP2Video: Mastering Video-Text Retrieval via Image CLIP, 2021",
        url="https://arxiv.org/abs/2106.11097",
    )
