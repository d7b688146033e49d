"""The ``tab`` similarity head (``nn.Module`` implementation, imported only by the factory in :mod:`.tab`).

CLIP2Video's Temporal Alignment Block (reference/clip2video.md §3): word tokens and video tokens are softly
assigned to K shared centres, residuals to the centres are aggregated, intra-normalised, averaged and normalised,
and the TAB score is blended with the global score. See :mod:`c2vbench_builtins.tab` for the token streams.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from c2vbench.plugin import C2VBenchError, TextFeatures, VideoFeatures

from .._layers.blocks import TemporalTransformer, heads_for_width, init_like_official_, subsample_half_rate
from .._layers.losses import symmetric_infonce
from .._layers.pooling import l2_normalise
from ..temporal._modules import FrameSeeds

STREAMS = ("auto", "tdb", "plain", "frames")
CENTRE_INIT_STD = 64 ** -0.5  # the official N(0, 0.125) for both centre tensors
MAX_LOG_SCALE = math.log(100.0)


def text_token_weights(token_mask: torch.Tensor) -> torch.Tensor:
    """TAB's text weights: the attention mask with position 0 (start-of-text) zeroed — words and EOT count (§3.3)."""
    weights = token_mask.to(torch.float32).clone()
    weights[:, 0] = 0.0
    return weights


class TemporalAlignmentHead(nn.Module):
    """``S = λ·s·t̂ v̂ᵀ + (1−λ)·s·u_t u_vᵀ`` and ``loss = λ·L_global + (1−λ)·L_TAB``.

    Attributes:
        logit_scale: log of the scale s shared by both terms (official ``clip.logit_scale``); not clamped at
            inference (the official code never clamps), clamped to at most ln 100 in training mode.
        weight_center: ``[K, D]`` assignment logits ``softmax_k(x · weight_center_k)``.
        emb_center: ``[K, D]`` the centres residuals are taken from.
        frame_position_embeddings, actionClip: only for ``stream == "plain"`` (the official ``center_proj=TAB``):
            the head's own half-rate stream ``X_s + P[0:T_s] → actionClip → + X_s``.
        stream: ``tdb`` (the temporal module's alignment tokens), ``plain`` or ``frames`` (raw frames only).
    """

    def __init__(self, width: int, centers: int, global_weight: float, stream: str, initial_log_scale: float,
                 positions: int = 0, legacy_mask: bool = False, learn_scale: bool = True):
        super().__init__()
        self.global_weight = float(global_weight)
        self.stream = stream
        self.wants_alignment_tokens = stream == "tdb"
        self.logit_scale = nn.Parameter(torch.tensor(float(initial_log_scale)), requires_grad=learn_scale)
        self.weight_center = nn.Parameter(torch.randn(centers, width) * CENTRE_INIT_STD)
        self.emb_center = nn.Parameter(torch.randn(centers, width) * CENTRE_INIT_STD)
        if stream == "plain":
            self.frame_position_embeddings = nn.Embedding(positions, width)
            self.actionClip = TemporalTransformer(width, 1, heads_for_width(width), legacy_mask)
            init_like_official_(self.frame_position_embeddings)
            init_like_official_(self.actionClip)
        self.initialisation_note = ""

    @classmethod
    def from_context(cls, options, context) -> TemporalAlignmentHead:
        if options.centers < 1:
            raise C2VBenchError(f"tab: centers={options.centers} must be at least 1", "use e.g. centers=5")
        if not 0.0 <= options.global_weight <= 1.0:
            raise C2VBenchError(f"tab: global_weight={options.global_weight} is outside [0, 1]",
                                "CLIP2Video uses 0.5")
        stream = resolve_stream(options.stream, context.temporal)
        seeds = FrameSeeds(context.backbone, context.embed_dim, context.max_frames, options.positions, "tab")
        head = cls(context.embed_dim, options.centers, options.global_weight, stream,
                   context.backbone.initial_logit_scale(), seeds.positions, options.legacy_mask, options.learn_scale)
        if stream == "plain":
            seeds.seed_positions_(head.frame_position_embeddings)
            seeds.seed_blocks_(head.actionClip, "actionClip")
            head.initialisation_note = seeds.note
        return head

    # -- token sets -------------------------------------------------------------------------------------------

    def video_tokens(self, video: VideoFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """The video token set and its weights for the configured stream (§3.2, §3.6)."""
        frames, frame_mask = video.frames.float(), video.frame_mask
        if self.stream == "tdb":
            if video.alignment_tokens is None or video.alignment_mask is None:
                raise C2VBenchError("tab: the video features carry no alignment tokens",
                                    "encode videos with want_alignment_tokens=True (RetrievalModel does this)")
            return video.alignment_tokens.float(), video.alignment_mask.to(torch.float32)
        if self.stream == "frames":
            return frames, frame_mask.to(torch.float32)
        sub_frames, sub_mask = subsample_half_rate(frames, frame_mask)
        positions = self.frame_position_embeddings.weight[: sub_frames.shape[1]]
        stream = self.actionClip(sub_frames + positions, sub_mask).float() + sub_frames
        return torch.cat([frames, stream], dim=1), torch.cat([frame_mask, sub_mask], dim=1).to(torch.float32)

    def aggregate(self, tokens: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``[B, N, D]`` tokens and ``[B, N]`` weights to the ``[B, D]`` TAB vector (§3.4).

        ``a = softmax_k(x · W_k)`` on the raw tokens (no temperature), ``r_k = Σ_n w_n a_nk (x_n − c_k)``,
        ``u = norm(mean_k norm(r_k))``.
        """
        assignment = torch.softmax(tokens @ self.weight_center.t(), dim=-1) * weights.unsqueeze(-1)  # [B, N, K]
        assigned_mass = assignment.sum(dim=1).unsqueeze(-1)  # [B, K, 1]
        residual = torch.einsum("bnk,bnd->bkd", assignment, tokens) - assigned_mass * self.emb_center
        return l2_normalise(l2_normalise(residual).mean(dim=1))

    # -- scores and loss ----------------------------------------------------------------------------------------

    def scale(self) -> torch.Tensor:
        log_scale = self.logit_scale.clamp(max=MAX_LOG_SCALE) if self.training else self.logit_scale
        return log_scale.exp()

    def logit_pair(self, text: TextFeatures, video: VideoFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """``(S_global, S_TAB)``, both ``[n_text, n_video]`` and scaled by s."""
        # The head is cheap: it runs in fp32 even under autocast, so the token sums and norms keep their precision.
        with torch.autocast(device_type=text.eot.device.type, enabled=False):
            return self._logit_pair_fp32(text, video)

    def _logit_pair_fp32(self, text: TextFeatures, video: VideoFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.scale()
        global_logits = scale * l2_normalise(text.eot.float()) @ l2_normalise(video.pooled.float()).t()
        text_vectors = self.aggregate(text.tokens.float(), text_token_weights(text.token_mask))
        video_vectors = self.aggregate(*self.video_tokens(video))
        return global_logits, scale * text_vectors @ video_vectors.t()

    def forward(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        global_logits, tab_logits = self.logit_pair(text, video)
        return self.global_weight * global_logits + (1.0 - self.global_weight) * tab_logits

    def text_factors(self, text: TextFeatures) -> torch.Tensor:
        """``[λ·s·t̂, (1−λ)·s·u_t]``; with :meth:`video_factors` ``[v̂, u_v]`` the blended logits are one matrix
        product (streamed ranking)."""
        with torch.autocast(device_type=text.eot.device.type, enabled=False):
            scale = self.scale()
            text_vectors = self.aggregate(text.tokens.float(), text_token_weights(text.token_mask))
            return torch.cat([self.global_weight * scale * l2_normalise(text.eot.float()),
                              (1.0 - self.global_weight) * scale * text_vectors], dim=1)

    def video_factors(self, video: VideoFeatures) -> torch.Tensor:
        with torch.autocast(device_type=video.pooled.device.type, enabled=False):
            return torch.cat([l2_normalise(video.pooled.float()), self.aggregate(*self.video_tokens(video))], dim=1)

    def loss_components(self, text: TextFeatures, video: VideoFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L_global, L_TAB)``, each a symmetric InfoNCE on the local batch (§4.2)."""
        global_logits, tab_logits = self.logit_pair(text, video)
        return symmetric_infonce(global_logits), symmetric_infonce(tab_logits)

    def loss(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        global_loss, tab_loss = self.loss_components(text, video)
        return self.global_weight * global_loss + (1.0 - self.global_weight) * tab_loss


def resolve_stream(requested: str, temporal) -> str:
    """Which video token set TAB uses, given the option and the temporal module's capability."""
    if requested not in STREAMS:
        raise C2VBenchError(f"tab: unknown stream={requested!r}", f"use one of {', '.join(STREAMS)}")
    provides = bool(getattr(temporal, "provides_alignment_tokens", False))
    if requested == "auto":
        return "tdb" if provides else "plain"
    if requested == "tdb" and not provides:
        raise C2VBenchError(
            f"tab: stream=tdb needs a temporal module that provides alignment tokens, and "
            f"{type(temporal).__name__} does not",
            "use --temporal tdb (with alignment_stream=true), or stream=plain / stream=frames",
        )
    return requested
