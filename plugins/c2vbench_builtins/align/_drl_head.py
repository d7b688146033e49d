"""The ``drl`` align head (``nn.Module`` implementation, imported only by the factory in :mod:`.drl`).

DRL (Wang et al., Disentangled Representation Learning for Text-Video Retrieval, 2022) matches every word with
every frame. Written from the official repository (foolwood/DRL at 475f96c): ``tvr/models/modeling.py``
(``DRL.__init__``, ``agg_video_feat``, ``wti_interaction``, ``forward``), ``tvr/models/module_cross.py`` (the
temporal transformer), ``tvr/models/until_module.py`` (``CrossEn``) and ``main.py`` (defaults, evaluation).

For text a (tokens ``t_1..t_L``, mask m) and video b (frame states ``f_1..f_F``, mask n), with ``c_ij`` the cosine
of token i and frame j:

* ``t2v = Σ_i w_i max_j c_ij`` and ``v2t = Σ_j u_j max_i c_ij`` with softmax weights ``w = softmax(MLP_t(t))``,
  ``u = softmax(MLP_v(f))`` over the valid positions (``wti``), or plain means over them (``ti``);
  the score is ``s · (t2v + v2t) / 2``;
* the frame states are the raw frames, or (``frames=seqtransf``, the official default) CLIP4Clip's sequence
  transformer over them: ``transformer(X + P, mask) + X`` (:class:`..temporal._modules.SequenceTransformer`);
* loss: the symmetric InfoNCE of the scaled scores plus ``λ`` times the channel decorrelation regulariser (CDCR):
  on each matching pair, every valid token is paired with its best frame and every valid frame with its best token;
  the batch's standardised features give a cross-correlation matrix C ``[D, D]`` (mode 2: plain means; mode 3:
  weighted by w and u and divided by the batch size), and the regulariser is
  ``α1 Σ_d (C_dd − 1)² + α2 Σ_{d≠e} C_de²``.

**The official padding bug** (``legacy_padding``): the official code multiplies the cosine matrix by both masks and
then takes the maxima, so every padded position enters each maximum with a cosine of 0. A token whose cosines with
the video's real frames are all negative then scores 0 instead of its best real cosine (likewise for frames), and
the CDCR pairs may point at padded positions. The default excludes padded positions; ``legacy_padding=True``
reproduces the official numbers exactly (it then also keeps every token position, as the official code does).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from c2vbench.plugin import C2VBenchError, TextFeatures, VideoFeatures

from .._layers.blocks import init_like_official_
from .._layers.losses import learned_scale, symmetric_infonce
from .._layers.pairwise import blockwise_scores
from .._layers.pooling import l2_normalise

INTERACTIONS = ("wti", "ti")
CDCR_MODES = (0, 2, 3)


def weight_branch(width: int, layers: int) -> nn.Module:
    """The official ``text_weight_fc`` / ``video_weight_fc`` of ``wti_arch`` 1, 2 or 3 (same module layout, so the
    state-dict keys are the official ones)."""
    if layers == 1:
        return nn.Linear(width, 1)
    hidden: list[nn.Module] = []
    for _ in range(layers - 1):
        hidden += [nn.Linear(width, width), nn.ReLU(inplace=True)]
    return nn.Sequential(*hidden, nn.Linear(width, 1))


class Side(NamedTuple):
    """One side of the interaction: normalised states ``[N, P, D]``, the 0/1 mask ``[N, P]`` and the softmax
    weights ``[N, P]`` (None for ``ti``)."""

    states: torch.Tensor
    mask: torch.Tensor
    weights: torch.Tensor | None


class Interaction(NamedTuple):
    """Scores ``[Nt, Nv]`` and, for CDCR, each token's best frame ``[Nt, Nv, L]`` and each frame's best token
    ``[Nt, Nv, F]``."""

    scores: torch.Tensor
    best_frame: torch.Tensor
    best_token: torch.Tensor


CONSTANT_CHANNEL_STD = 1e-6
"""Below this standard deviation a channel counts as constant over the batch and standardises to 0."""


def standardised(features: torch.Tensor) -> torch.Tensor:
    """``(x − mean) / std`` per channel over the rows (unbiased std, as ``Tensor.std``).

    The official code divides by the std as it is, which gives NaN when a channel is constant: it happens when every
    frame's best word is the start-of-text token, whose state is the same in every caption (CLIP's causal text
    transformer lets position 0 see only itself), and it stops training. Such a channel carries no correlation;
    it standardises to 0 here. Any other channel is divided exactly as officially.
    """
    return (features - features.mean(dim=0)) / features.std(dim=0).clamp_min(CONSTANT_CHANNEL_STD)


class DrlHead(nn.Module):
    """Weighted token-wise interaction of words and frames, with the CDCR regulariser in the loss.

    Attributes:
        text_weight_fc, video_weight_fc: the weight branches (``wti`` only; official names).
        frame_encoder: the sequence transformer over frames (``frames=seqtransf``), or None.
        logit_scale: log of the scale s (officially CLIP's ``logit_scale``), clamped at ln 100 in training mode.
    """

    wants_alignment_tokens = False

    def __init__(self, width: int, interaction: str, weight_layers: int, frame_encoder: nn.Module | None,
                 cdcr: int, cdcr_alpha1: float, cdcr_alpha2: float, cdcr_weight: float, initial_log_scale: float,
                 legacy_padding: bool = False, learn_scale: bool = True):
        super().__init__()
        if interaction not in INTERACTIONS:
            raise C2VBenchError(f"drl: unknown interaction={interaction!r}", f"use one of {', '.join(INTERACTIONS)}")
        if cdcr not in CDCR_MODES:
            raise C2VBenchError(f"drl: cdcr={cdcr} is not offered", "use 0 (off), 2 or 3 (weighted, for wti)")
        if cdcr == 3 and interaction != "wti":
            raise C2VBenchError("drl: cdcr=3 weighs by the wti weights, and interaction=ti has none",
                                "use cdcr=2 with interaction=ti (the official TI + CDCR recipe)")
        self.interaction, self.cdcr = interaction, cdcr
        self.cdcr_alpha1, self.cdcr_alpha2 = float(cdcr_alpha1), float(cdcr_alpha2)
        self.cdcr_weight = float(cdcr_weight)
        self.legacy_padding = bool(legacy_padding)
        if interaction == "wti":
            self.text_weight_fc = weight_branch(width, weight_layers)
            self.video_weight_fc = weight_branch(width, weight_layers)
            init_like_official_(self.text_weight_fc)
            init_like_official_(self.video_weight_fc)
        self.frame_encoder = frame_encoder
        self.logit_scale = nn.Parameter(torch.tensor(float(initial_log_scale)), requires_grad=learn_scale)

    def scale(self) -> torch.Tensor:
        return learned_scale(self.logit_scale, self.training)

    # -- the two sides ---------------------------------------------------------------------------------------------

    def _side(self, states: torch.Tensor, mask: torch.Tensor, branch: str) -> Side:
        valid = mask != 0
        weights = None
        if self.interaction == "wti":
            # the weights come from the states before normalisation, as officially
            logits = getattr(self, branch)(states).squeeze(-1).masked_fill(~valid, float("-inf"))
            weights = torch.softmax(logits, dim=-1)
        return Side(l2_normalise(states), valid, weights)

    def text_side(self, text: TextFeatures) -> Side:
        tokens, mask = text.tokens.float(), text.token_mask
        if not self.legacy_padding and mask.shape[1]:
            # positions that are padding in every caption change nothing once padding is excluded
            length = int((mask != 0).any(dim=0).nonzero().max()) + 1 if bool((mask != 0).any()) else 1
            tokens, mask = tokens[:, :length], mask[:, :length]
        return self._side(tokens, mask, "text_weight_fc")

    def video_side(self, video: VideoFeatures) -> Side:
        frames = video.frames.float()
        if self.frame_encoder is not None:
            frames = self.frame_encoder.encode(frames, video.frame_mask).float()
        return self._side(frames, video.frame_mask, "video_weight_fc")

    # -- scores ----------------------------------------------------------------------------------------------------

    def interaction_of(self, text: Side, video: Side) -> Interaction:
        """The unscaled interaction scores of every text with every video (``[Nt, Nv]``)."""
        cosines = torch.einsum("atd,bvd->abtv", text.states, video.states)
        pair_mask = text.mask[:, None, :, None] & video.mask[None, :, None, :]
        if self.legacy_padding:
            cosines = cosines * pair_mask  # official: padded positions become cosines of 0 inside the maxima
            best_per_token, best_frame = cosines.max(dim=-1)
            best_per_frame, best_token = cosines.max(dim=-2)
        else:
            masked = cosines.masked_fill(~pair_mask, float("-inf"))
            best_per_token, best_frame = masked.max(dim=-1)
            best_per_frame, best_token = masked.max(dim=-2)
            best_per_token = best_per_token.masked_fill(~text.mask[:, None, :], 0.0)
            best_per_frame = best_per_frame.masked_fill(~video.mask[None, :, :], 0.0)
        if self.interaction == "wti":
            text_to_video = torch.einsum("abt,at->ab", best_per_token, text.weights)
            video_to_text = torch.einsum("abv,bv->ab", best_per_frame, video.weights)
        else:
            text_to_video = best_per_token.sum(dim=-1) / text.mask.sum(dim=-1, keepdim=True)
            video_to_text = best_per_frame.sum(dim=-1) / video.mask.sum(dim=-1)[None, :]
        return Interaction((text_to_video + video_to_text) / 2.0, best_frame, best_token)

    def interaction_scores(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        """``[n_text, n_video]`` unscaled scores, block by block of pairs (in fp32, also under autocast)."""
        with torch.autocast(device_type=text.eot.device.type, enabled=False):
            text_side, video_side = self.text_side(text), self.video_side(video)
            per_pair = 4 * text_side.states.shape[1] * video_side.states.shape[1]

            def block(rows: slice, columns: slice) -> torch.Tensor:
                return self.interaction_of(Side(*(None if part is None else part[rows] for part in text_side)),
                                           Side(*(None if part is None else part[columns] for part in video_side))
                                           ).scores

            return blockwise_scores(len(text), len(video), per_pair, block, text_side.states)

    def forward(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        return self.scale() * self.interaction_scores(text, video)

    # -- training --------------------------------------------------------------------------------------------------

    def decorrelation(self, text: Side, video: Side, matched: Interaction) -> torch.Tensor:
        """The CDCR term on a batch of matching pairs (mode 2 or 3, see the module docs)."""
        batch = text.states.shape[0]
        rows = torch.arange(batch, device=text.states.device)
        best_frame = matched.best_frame[rows, rows]  # [B, L]: each token's best frame in its own video
        best_token = matched.best_token[rows, rows]  # [B, F]: each frame's best token in its own caption
        frames_of_tokens = video.states[rows[:, None], best_frame][text.mask]
        tokens_of_frames = text.states[rows[:, None], best_token][video.mask]
        tokens, frames = text.states[text.mask], video.states[video.mask]
        pairs = ((standardised(tokens), standardised(frames_of_tokens)),
                 (standardised(frames), standardised(tokens_of_frames)))
        if self.cdcr == 2:
            correlations = [first.t() @ second / first.shape[0] for first, second in pairs]
        else:
            weights = (text.weights[text.mask], video.weights[video.mask])
            correlations = [(first * weight[:, None]).t() @ second / batch
                            for (first, second), weight in zip(pairs, weights, strict=True)]
        correlation = (correlations[0] + correlations[1]) / 2.0
        on_diagonal = (torch.diagonal(correlation) - 1.0).pow(2).sum()
        off_diagonal = correlation.pow(2).sum() - torch.diagonal(correlation).pow(2).sum()
        return self.cdcr_alpha1 * on_diagonal + self.cdcr_alpha2 * off_diagonal

    def loss(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        """Symmetric InfoNCE of the scaled scores (official ``CrossEn`` both ways) plus ``λ`` · CDCR."""
        with torch.autocast(device_type=text.eot.device.type, enabled=False):
            text_side, video_side = self.text_side(text), self.video_side(video)
            matched = self.interaction_of(text_side, video_side)
            loss = symmetric_infonce(self.scale() * matched.scores)
            if self.cdcr and self.cdcr_weight:
                loss = loss + self.cdcr_weight * self.decorrelation(text_side, video_side, matched)
            return loss
