"""The ``seqtransf`` and ``tdb`` temporal modules (``nn.Module`` implementations, imported only by factories).

Parameter names are the official CLIP4Clip / CLIP2Video ones, so an official state dict maps onto
``RetrievalModel.temporal`` by prefixing ``temporal.`` to each key (see :mod:`c2vbench_builtins.clip2video_format`).

Alignment-token capability (the interface :mod:`c2vbench_builtins.tab` relies on): a temporal module whose
``provides_alignment_tokens`` attribute is True fills ``VideoFeatures.alignment_tokens`` ``[B, N, D]`` and
``alignment_mask`` ``[B, N]`` when called with ``want_alignment_tokens=True``. TDB does so when it holds the
``actionClip`` block: the tokens are the raw frames followed by the TDB-enhanced half-rate stream (reference §3.2).
"""

from __future__ import annotations

import torch
from torch import nn

from c2vbench.plugin import C2VBenchError, VideoFeatures

from .._layers.blocks import (
    TRANS_LAYER_NORM_EPS,
    TemporalTransformer,
    backbone_init_state,
    copy_clip_blocks_,
    fits_backbone,
    heads_for_width,
    init_like_official_,
    subsample_half_rate,
)
from .._layers.pooling import masked_mean_pool

DIFFERENCE_KINDS = ("sigmoid_selfA", "sigmoid_mlp", "raw")
"""TDB difference-token variants: attention + sigmoid (released), linear + sigmoid, and the raw difference."""

OFFICIAL_CONTEXT_LENGTH = 77


class FrameSeeds:
    """What a temporal module may copy from the backbone, resolved once: positions, text blocks, visual projection.

    ``notes`` collects every place where random initialisation was used instead, with the reason.
    """

    def __init__(self, backbone, width: int, max_frames: int, positions: int, component: str):
        self.component = component
        self.notes: list[str] = []
        init_state = backbone_init_state(backbone)
        problem = fits_backbone(init_state, width)
        self.init_state = None if problem else init_state
        if problem:
            self.notes.append(f"random initialisation (N(0, 0.02)): {problem}")
        backbone_rows = init_state.positional_embedding.shape[0] if self.init_state is not None else 0
        if positions and positions < max_frames:
            raise C2VBenchError(f"{component}: positions={positions} is fewer than the {max_frames} frame slots",
                                f"set positions to at least {max_frames} (or 0 for the backbone's context length)")
        self.positions = positions or max(backbone_rows or OFFICIAL_CONTEXT_LENGTH, max_frames)

    def seed_positions_(self, embedding: nn.Embedding) -> None:
        if self.init_state is None:
            return
        source = self.init_state.positional_embedding
        if source.shape[0] >= embedding.weight.shape[0]:
            with torch.no_grad():
                embedding.weight.copy_(source[: embedding.weight.shape[0]])
        else:
            self.notes.append(f"positions: backbone has {source.shape[0]} rows, {embedding.weight.shape[0]} needed; "
                              "random initialisation")

    def seed_type_embedding_(self, embedding: nn.Embedding) -> None:
        # CLIP2Video: type_position_embeddings <- positional_embedding[0:2] (reference §4.4).
        if self.init_state is not None:
            with torch.no_grad():
                embedding.weight.copy_(self.init_state.positional_embedding[:2])

    def seed_blocks_(self, transformer: TemporalTransformer, name: str) -> None:
        if self.init_state is None:
            return
        copied = copy_clip_blocks_(transformer, self.init_state.blocks)
        if copied < len(transformer.resblocks):
            self.notes.append(f"{name}: {copied} of {len(transformer.resblocks)} blocks copied from the backbone's "
                              "text transformer, the rest random")

    def seed_visual_projection_(self, projection: nn.Parameter) -> None:
        source = None if self.init_state is None else self.init_state.visual_projection
        rows = projection.shape[0]
        if source is not None and source.shape[0] >= rows and source.shape[1] == projection.shape[1]:
            with torch.no_grad():
                projection.copy_(source[:rows])  # CLIP2Video: visual.proj[0:512]
        else:
            self.notes.append("frame2t_projection: no fitting visual projection; random initialisation")

    @property
    def note(self) -> str:
        return "; ".join(self.notes) or "initialised from the backbone's text transformer"


def check_slots(frames: torch.Tensor, positions: nn.Embedding, component: str) -> None:
    if frames.shape[1] > positions.weight.shape[0]:
        raise C2VBenchError(f"{component}: {frames.shape[1]} frame slots but only {positions.weight.shape[0]} "
                            "position embeddings", "use fewer frames (--max-frames) or build with more positions")


class SequenceTransformer(nn.Module):
    """CLIP4Clip ``seqTransf``: ``pool(transformerClip(X + P[0:T]) + X)``."""

    provides_alignment_tokens = False

    def __init__(self, width: int, layers: int, positions: int, legacy_mask: bool = False):
        super().__init__()
        self.frame_position_embeddings = nn.Embedding(positions, width)
        self.transformerClip = TemporalTransformer(width, layers, heads_for_width(width), legacy_mask)
        init_like_official_(self)
        self.initialisation_note = "random initialisation (N(0, 0.02))"

    @classmethod
    def from_context(cls, options, context, component: str = "seqtransf") -> SequenceTransformer:
        """Built with ``options.layers``, ``options.positions`` and ``options.legacy_mask``, seeded from the backbone;
        ``component`` names the plug-in in messages (the ``drl`` head builds one as its frame encoder)."""
        seeds = FrameSeeds(context.backbone, context.embed_dim, context.max_frames, options.positions, component)
        module = cls(context.embed_dim, options.layers, seeds.positions, options.legacy_mask)
        seeds.seed_positions_(module.frame_position_embeddings)
        seeds.seed_blocks_(module.transformerClip, "transformerClip")
        module.initialisation_note = seeds.note
        return module

    def encode(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """``transformerClip(X + P[0:T], mask) + X``: the ``[B, T, D]`` per-frame states before pooling."""
        check_slots(frames, self.frame_position_embeddings, "seqtransf")
        positions = self.frame_position_embeddings.weight[: frames.shape[1]]
        return self.transformerClip(frames + positions, frame_mask) + frames

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor,
                want_alignment_tokens: bool = False) -> VideoFeatures:
        encoded = self.encode(frames, frame_mask)
        return VideoFeatures(pooled=masked_mean_pool(encoded.float(), frame_mask), frames=frames,
                             frame_mask=frame_mask)


class TemporalDifferenceBlock(nn.Module):
    """CLIP2Video's TDB (reference §2.2-§2.4): difference tokens interleaved with the frames, a temporal
    transformer, the frame slots plus the raw frames, mean pooling.

    With ``alignment_stream`` it also holds ``actionClip`` and offers TAB the TDB-enhanced half-rate stream
    (every second frame through the *same* difference path, positions and type embeddings, then ``actionClip``)
    as alignment tokens: ``concat(X, E_s)`` with weights ``concat(m, m_s)`` (reference §3.2). Sharing happens
    because TAB receives the tokens rather than the parameters, so nothing is registered twice.
    """

    def __init__(self, width: int, layers: int, positions: int, difference: str = "sigmoid_selfA",
                 legacy_mask: bool = False, alignment_stream: bool = True):
        super().__init__()
        if difference not in DIFFERENCE_KINDS:
            raise C2VBenchError(f"tdb: unknown difference={difference!r}", f"use one of {', '.join(DIFFERENCE_KINDS)}")
        heads = heads_for_width(width)
        self.difference = difference
        self.frame_position_embeddings = nn.Embedding(positions, width)
        self.type_position_embeddings = nn.Embedding(2, width)  # row 1: frame token, row 0: difference token
        if difference == "sigmoid_selfA":
            self.frame2t_attention = TemporalTransformer(width, 1, heads, legacy_mask)
        if difference == "sigmoid_mlp":
            self.frame2t_projection = nn.Parameter(torch.empty(width, width))
            nn.init.normal_(self.frame2t_projection, std=0.02)
        if difference != "raw":
            self.trans_layernorm = nn.LayerNorm(width, eps=TRANS_LAYER_NORM_EPS)
        self.transformerClip = TemporalTransformer(width, layers, heads, legacy_mask)
        if alignment_stream:
            self.actionClip = TemporalTransformer(width, 1, heads, legacy_mask)
        init_like_official_(self)
        self.initialisation_note = "random initialisation (N(0, 0.02))"

    @property
    def provides_alignment_tokens(self) -> bool:
        return hasattr(self, "actionClip")

    @classmethod
    def from_context(cls, options, context) -> TemporalDifferenceBlock:
        seeds = FrameSeeds(context.backbone, context.embed_dim, context.max_frames, options.positions, "tdb")
        module = cls(context.embed_dim, options.layers, seeds.positions, options.difference, options.legacy_mask,
                     options.alignment_stream)
        seeds.seed_positions_(module.frame_position_embeddings)
        seeds.seed_type_embedding_(module.type_position_embeddings)
        seeds.seed_blocks_(module.transformerClip, "transformerClip")
        if hasattr(module, "frame2t_attention"):
            seeds.seed_blocks_(module.frame2t_attention, "frame2t_attention")
        if hasattr(module, "frame2t_projection"):
            seeds.seed_visual_projection_(module.frame2t_projection)
        if hasattr(module, "actionClip"):
            seeds.seed_blocks_(module.actionClip, "actionClip")
        module.initialisation_note = seeds.note
        return module

    def difference_tokens(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """``[B, T-1, D]`` tokens F_d from the raw frame differences X_{i+1} - X_i (§2.2, §2.7)."""
        delta = frames[:, 1:] - frames[:, :-1]
        if self.difference == "raw":
            return delta
        if self.difference == "sigmoid_mlp":
            hidden = delta @ self.frame2t_projection
        else:
            # Difference i gets position i+1 and the mask of frame i+1 here (Q3, Q2).
            positions = self.frame_position_embeddings.weight[1: frames.shape[1]]
            hidden = self.frame2t_attention(delta + positions, frame_mask[:, 1:])
        return 2.0 * torch.sigmoid(self.trans_layernorm(hidden)) - 1.0

    def interleaved_tokens(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[X_0, F_d0, X_1, …, X_{T-1}]`` with positions and types added, and its key mask (§2.3).

        Frame i sits at 2i with position P_i, type 1 and mask m_i; difference i at 2i+1 with position P_i (not
        P_{i+1}), type 0 and mask m_i (not m_{i+1}), so the step into the first padded frame stays visible (Q2).
        """
        batch, slots, width = frames.shape
        positions = self.frame_position_embeddings.weight[:slots]
        frame_type, difference_type = self.type_position_embeddings.weight[1], self.type_position_embeddings.weight[0]
        frame_tokens = frames + positions + frame_type
        if slots == 1:
            return frame_tokens, frame_mask
        differences = self.difference_tokens(frames, frame_mask).to(frame_tokens.dtype)
        difference_tokens = differences + positions[:-1] + difference_type
        pairs = torch.stack([frame_tokens[:, :-1], difference_tokens], dim=2).reshape(batch, 2 * (slots - 1), width)
        tokens = torch.cat([pairs, frame_tokens[:, -1:]], dim=1)
        head_mask = frame_mask[:, :-1]
        pair_mask = torch.stack([head_mask, head_mask], dim=2).reshape(batch, 2 * (slots - 1))
        return tokens, torch.cat([pair_mask, frame_mask[:, -1:]], dim=1)

    def encode_frames(self, frames: torch.Tensor, frame_mask: torch.Tensor,
                      transformer: TemporalTransformer) -> torch.Tensor:
        """Interleave, run ``transformer``, keep the frame slots and add the raw frames: ``[B, T, D]``."""
        tokens, token_mask = self.interleaved_tokens(frames, frame_mask)
        return transformer(tokens, token_mask)[:, 0::2] + frames

    def half_rate_stream(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """TAB's TDB-enhanced half-rate stream E_s ``[B, ceil(T/2), D]`` and its mask m_s (§3.2)."""
        sub_frames, sub_mask = subsample_half_rate(frames, frame_mask)
        return self.encode_frames(sub_frames, sub_mask, self.actionClip), sub_mask

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor,
                want_alignment_tokens: bool = False) -> VideoFeatures:
        check_slots(frames, self.frame_position_embeddings, "tdb")
        encoded = self.encode_frames(frames, frame_mask, self.transformerClip)
        features = VideoFeatures(pooled=masked_mean_pool(encoded.float(), frame_mask), frames=frames,
                                 frame_mask=frame_mask)
        if want_alignment_tokens and self.provides_alignment_tokens:
            stream, stream_mask = self.half_rate_stream(frames, frame_mask)
            features.alignment_tokens = torch.cat([frames.float(), stream.float()], dim=1)
            features.alignment_mask = torch.cat([frame_mask, stream_mask], dim=1)
        return features
