"""The model-side interfaces that plug-ins implement, and the feature containers passed between them.

A retrieval model is three components in a row::

    frames [B, T, 3, H, W] --backbone.encode_frames--> frame features [B, T, D]
                           --temporal module---------> VideoFeatures (pooled [B, D], optional tokens)
    token ids [B, L]       --backbone.encode_text----> TextFeatures (eot [B, D], tokens [B, L, D])
    (TextFeatures, VideoFeatures) --align head-------> logits [n_text, n_video]  and  a training loss

Shapes use B for batch, T for frames, L for tokens, D for the joint embedding width. Nothing here touches a device:
components follow the device of their inputs.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch


@dataclasses.dataclass
class TextFeatures:
    """What a backbone's text encoder produces.

    Attributes:
        eot: ``[B, D]`` the sentence vector (the end-of-text token's projected state), not normalised.
        tokens: ``[B, L, D]`` the projected state of every position.
        token_mask: ``[B, L]`` 1 for real tokens (start-of-text through end-of-text), 0 for padding.
    """

    eot: torch.Tensor
    tokens: torch.Tensor
    token_mask: torch.Tensor

    def __len__(self) -> int:
        return self.eot.shape[0]

    def index(self, rows: Any) -> TextFeatures:
        """The features of a subset of rows (a slice or an index tensor)."""
        return TextFeatures(self.eot[rows], self.tokens[rows], self.token_mask[rows])

    def to(self, device: Any) -> TextFeatures:
        return TextFeatures(self.eot.to(device), self.tokens.to(device), self.token_mask.to(device))


@dataclasses.dataclass
class VideoFeatures:
    """What a temporal module produces.

    Attributes:
        pooled: ``[B, D]`` the video embedding (L2-normalised by the built-in modules).
        frames: ``[B, T, D]`` the raw per-frame backbone embeddings the module started from.
        frame_mask: ``[B, T]`` 1 for real frames, 0 for padded slots.
        alignment_tokens: ``[B, N, D]`` optional token set for token-level alignment heads (TAB), in the frame
            embedding space and not normalised; None when the module offers none (``provides_alignment_tokens``
            is False) or was not asked for them, in which case such heads build their own stream from ``frames``.
        alignment_mask: ``[B, N]`` weights of ``alignment_tokens``.
    """

    pooled: torch.Tensor
    frames: torch.Tensor
    frame_mask: torch.Tensor
    alignment_tokens: torch.Tensor | None = None
    alignment_mask: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.pooled.shape[0]

    def index(self, rows: Any) -> VideoFeatures:
        """The features of a subset of rows (a slice or an index tensor)."""
        tokens = None if self.alignment_tokens is None else self.alignment_tokens[rows]
        mask = None if self.alignment_mask is None else self.alignment_mask[rows]
        return VideoFeatures(self.pooled[rows], self.frames[rows], self.frame_mask[rows], tokens, mask)

    def to(self, device: Any) -> VideoFeatures:
        def move(tensor):
            return None if tensor is None else tensor.to(device)

        return VideoFeatures(
            self.pooled.to(device), self.frames.to(device), self.frame_mask.to(device),
            move(self.alignment_tokens), move(self.alignment_mask),
        )


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What temporal and align-head factories may use while building.

    Attributes:
        backbone: the built backbone (for initialisation from its text transformer, see
            :meth:`Backbone.temporal_init_state`).
        embed_dim: the joint embedding width D.
        max_frames: T, the number of frame slots per video.
        temporal: the built temporal module (given to align-head factories only; None for temporal factories), so
            that an alignment head can share parameters with it.
    """

    backbone: Any
    embed_dim: int
    max_frames: int
    temporal: Any = None


@dataclasses.dataclass
class TemporalInitState:
    """Weights a backbone offers for initialising temporal transformers (CLIP4Clip / CLIP2Video practice).

    Attributes:
        positional_embedding: ``[context_length, width]`` the text transformer's positional embedding.
        blocks: state dicts of the text transformer's residual blocks, first block first, with CLIP's key names
            (``attn.in_proj_weight``, ``attn.in_proj_bias``, ``attn.out_proj.weight``, ``attn.out_proj.bias``,
            ``ln_1.weight``, ``ln_1.bias``, ``mlp.c_fc.weight``, ``mlp.c_fc.bias``, ``mlp.c_proj.weight``,
            ``mlp.c_proj.bias``, ``ln_2.weight``, ``ln_2.bias``).
        visual_projection: ``[vision_width, D]`` the image projection (for TDB's ``sigmoid_mlp`` variant), or None.
        logit_scale: the backbone's log logit scale, or None.
    """

    positional_embedding: torch.Tensor
    blocks: list[dict[str, torch.Tensor]]
    visual_projection: torch.Tensor | None = None
    logit_scale: float | None = None


@runtime_checkable
class Backbone(Protocol):
    """Image and text encoders (an ``nn.Module``).

    Attributes:
        embed_dim: D, the width of frame and text embeddings.
        image_size: side of the square input images.
        image_mean, image_std: per-channel normalisation constants for images scaled to [0, 1].
        context_length: number of token positions ``tokenize`` produces.

    Optional: ``describe() -> dict`` (JSON-friendly: what was built, e.g. widths, projections, weight-file
    checksums), recorded as ``config.backbone_details`` in every result file; ``recommended_lr_scale`` (float);
    ``set_activation_checkpointing(enabled: bool)`` (``--checkpoint-activations``: recompute the image encoder's
    blocks in the backward pass instead of keeping their activations; it must not change a number).
    """

    embed_dim: int
    image_size: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    context_length: int

    def encode_frames(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` normalised images to ``[N, D]`` unnormalised embeddings."""

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
        """``[B, L]`` token ids and mask to :class:`TextFeatures`."""

    def tokenize(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Captions to ``(input_ids [B, L], attention_mask [B, L])`` as LongTensors."""

    def temporal_init_state(self) -> TemporalInitState | None:
        """Weights for initialising temporal transformers, or None when the backbone has no text transformer."""

    def initial_logit_scale(self) -> float:
        """The log logit scale a similarity head should start from (CLIP's ln 100 for pretrained CLIP)."""


@runtime_checkable
class TemporalModule(Protocol):
    """Frame features to a video embedding (an ``nn.Module``).

    Attributes:
        provides_alignment_tokens: optional; True when ``forward(..., want_alignment_tokens=True)`` fills
            ``VideoFeatures.alignment_tokens`` and ``alignment_mask`` (TDB does, with its difference-enhanced
            half-rate stream). Alignment heads such as TAB read it to choose their token stream.
    """

    def forward(
        self, frames: torch.Tensor, frame_mask: torch.Tensor, want_alignment_tokens: bool = False
    ) -> VideoFeatures:
        """``frames [B, T, D]`` and ``frame_mask [B, T]`` to :class:`VideoFeatures`.

        Padded slots (mask 0) carry the backbone's embedding of an all-zero image, as the official loaders produce.
        """


@runtime_checkable
class AlignHead(Protocol):
    """An align (similarity) head: text and video features to logits and a loss (an ``nn.Module``).

    Attributes:
        wants_alignment_tokens: True when the head uses ``VideoFeatures.alignment_tokens`` (the model then asks the
            temporal module for them).

    Optional methods ``text_factors(text) -> [n_text, F]`` and ``video_factors(video) -> [n_video, F]``: a head
    whose logits are a (weighted sum of) dot products offers both sides, so that
    ``text_factors(text) @ video_factors(video).T`` equals ``forward(text, video)`` up to rounding (``cosine`` and
    ``tab`` do). Evaluation then ranks the test
    split as blocked matrix products on the device (:mod:`c2vbench.evaluation.streamed_ranking`); heads without it are
    scored tile by tile through ``forward`` (tiles of up to 4096 x 4096 pairs: a head that builds a vector per pair,
    as ``xpool``, ``drl`` and ``tmass`` do, splits a tile into smaller blocks itself). Such a head must give a pair
    the same score in every tile: any randomness at test time is a function of the pair (``tmass``).

    Optional method ``evaluation_protocol() -> dict``: what the head does at test time that a score must be read
    with (JSON data, e.g. ``{"head": "tmass", "n_trials": 20, ...}`` for T-MASS), or ``{}``. A non-empty dict goes
    into the result's protocol card (``align_head_evaluation``), so its results are never ranked with single-pass
    scores or with another setting.
    """

    wants_alignment_tokens: bool

    def forward(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        """Logits ``[n_text, n_video]``; larger means more similar."""

    def loss(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        """Scalar training loss for a batch where text row i matches video row i.

        Under torchrun the core passes the features of the whole global batch, gathered from every process (see
        :func:`c2vbench.platform.hookspecs.c2vbench_register_align_heads`): compute the loss from them alone, without
        collectives of your own.
        """


Similarity = AlignHead  # deprecated alias: the interface's old name
