"""The ``tmass`` align head (``nn.Module`` implementation, imported only by the factory in :mod:`.tmass`).

T-MASS (Wang et al., CVPR 2024) treats a caption as a mass around its sentence vector rather than a point. Written
from the official repository (Jiamian-Wang/T-MASS-text-video-retrieval at 417fdf1): ``modules/stochastic_module.py``
(``LinearCosRadius``, ``StochasticText``), ``model/clip_stochastic.py``, ``trainer/trainer_stochastic.py``
(``_train_epoch``: the loss and the support text; ``_valid_epoch_step``: the test-time trials) and
``modules/metrics.py`` (``sim_matrix_training``, ``sim_matrix_inference_stochastic``). Its video side is X-Pool's
text-conditioned pooling (:class:`._xpool_head.TextConditionedPooling`, the official ``modules/transformer.py``).

For a pair (t, v) with frames ``f_1..f_T`` and the X-Pool vector ``p(t, v)``:

* radius (the similarity-aware radius module): ``R(t, v) = exp(W [cos(t, f_1) … cos(t, f_T)] + b)``, ``[D]``;
* stochastic text: ``t_s = t + σ ⊙ R`` with ``σ ~ U(0, 1)^D`` (or ``N(0, std²)``);
* training: ``L = CE(s · cos(t_s,i, p(t_i, v_j)))`` with the radius of each caption's own video, plus
  ``w · CE(s · cos(t_sup,i, p(t_i, v_j)))`` for the support text ``t_sup = t + R ⊙ (p̄_i − t) / |p̄_i − t|``,
  where ``p̄_i`` is video i's pooled vector averaged over the batch's captions (as the official code does);
* test time, ``trials`` K ≥ 1: ``S(t, v) = s · max_k cos(t + σ_k(t, v) ⊙ R(t, v), p(t, v))`` with K draws per
  pair (the official loop keeps the draw closest to the pooled video); K = 0 scores the mass's centre,
  ``s · cos(t, p(t, v))``: one deterministic pass.

Draws at test time come from :mod:`._stochastic_draws` (the same for a pair in every tile); in training from
torch's generator, in the official order (the pooling's dropout first, then ``torch.rand_like``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from c2vbench.plugin import C2VBenchError, TextFeatures, VideoFeatures

from .._layers.losses import learned_scale, symmetric_infonce
from .._layers.pairwise import blockwise_scores
from .._layers.pooling import l2_normalise
from ._stochastic_draws import codes_per_row, draws_from_codes, pair_codes, row_keys
from ._xpool_head import TextConditionedPooling, pair_cosines

PRIORS = ("uniform01", "normal")
SELECTION = "max"
"""The official selection rule: the trial whose stochastic text has the largest cosine with the pooled video counts."""


class SimilarityAwareRadius(nn.Module):
    """Official ``LinearCosRadius``: ``log R = W · cos(t, frames) + b`` with ``W`` ``[D, T]`` (identity-initialised:
    ones on the diagonal) and ``b = 0``.

    The official loaders never pad; here a padded frame slot contributes a cosine of 0 (no evidence either way).
    """

    def __init__(self, slots: int, width: int):
        super().__init__()
        self.width = width
        self.linear_proj = nn.Linear(slots, width)
        with torch.no_grad():
            nn.init.eye_(self.linear_proj.weight)
            self.linear_proj.bias.zero_()

    def frame_cosines(self, text: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor,
                      paired: bool) -> torch.Tensor:
        """``[B, T]`` (text i with video i) when ``paired``, else ``[Nt, Nv, T]``."""
        if frames.shape[1] != self.linear_proj.in_features:
            raise C2VBenchError(f"tmass: the radius module was built for {self.linear_proj.in_features} frame slots, "
                                f"the videos have {frames.shape[1]}", "evaluate with the --max-frames it was built for")
        text, frames = l2_normalise(text), l2_normalise(frames) * (frame_mask != 0).unsqueeze(-1)
        if paired:
            return torch.einsum("bd,bfd->bf", text, frames)
        return torch.einsum("td,vfd->tvf", text, frames)

    def forward(self, text: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor,
                paired: bool = False) -> torch.Tensor:
        """``R`` itself (``exp`` of the official ``log_var``): ``[B, D]`` when ``paired``, else ``[Nt, Nv, D]``."""
        return torch.exp(self.linear_proj(self.frame_cosines(text, frames, frame_mask, paired)))


def best_trial_cosine(sentence: torch.Tensor, pooled: torch.Tensor, radius: torch.Tensor,
                      sigma: torch.Tensor) -> torch.Tensor:
    """``max_k cos(t + σ_k ⊙ R, p̂)`` for every pair: ``sentence [Nt, 1, D]``, unit ``pooled [Nt, Nv, D]``,
    ``radius [Nt, Nv, D]``, ``sigma [Nt, Nv, K, D]`` to ``[Nt, Nv]``.

    Expanded so that each trial costs three dot products done as batched matrix products, with no ``[.., K, D]``
    temporaries beyond ``σ²``: ``t_k · p̂ = t · p̂ + σ_k · (R ⊙ p̂)`` and
    ``|t_k|² = |t|² + σ_k · (2 R ⊙ t) + σ_k² · R²``.
    """
    n_text, n_video, trials, width = sigma.shape
    flat_sigma = sigma.reshape(n_text * n_video, trials, width)
    linear = torch.stack([radius * pooled, 2.0 * radius * sentence], dim=-1).reshape(n_text * n_video, width, 2)
    terms = torch.bmm(flat_sigma, linear)  # [pairs, K, 2]
    quadratic = torch.bmm(flat_sigma.square(), radius.square().reshape(n_text * n_video, width, 1))
    along = (sentence * pooled).sum(dim=-1).reshape(-1, 1) + terms[..., 0]
    squared_norm = sentence.square().sum(dim=-1).expand(n_text, n_video).reshape(-1, 1) + terms[..., 1]
    squared_norm = squared_norm + quadratic[..., 0]
    return (along / squared_norm.sqrt()).amax(dim=-1).reshape(n_text, n_video)


class TMassHead(nn.Module):
    """Stochastic text embeddings scored against X-Pool's text-conditioned video vectors.

    Attributes:
        pool_frames: :class:`TextConditionedPooling` (official ``pool_frames``).
        radius: :class:`SimilarityAwareRadius` (official ``stochastic.std_branch``).
        logit_scale: log of the scale s (officially CLIP's ``logit_scale``), clamped at ln 100 in training mode.
        trials, prior, prior_std, trial_seed: the test-time protocol (see the module docs).
        support_weight: weight of the support-text loss.
    """

    wants_alignment_tokens = False

    def __init__(self, width: int, slots: int, heads: int, dropout: float, initial_log_scale: float, trials: int,
                 prior: str = "uniform01", prior_std: float = 1.0, support_weight: float = 0.8,
                 trial_seed: int = 24, learn_scale: bool = True):
        super().__init__()
        if prior not in PRIORS:
            raise C2VBenchError(f"tmass: unknown prior={prior!r}", f"use one of {', '.join(PRIORS)}")
        self.pool_frames = TextConditionedPooling(width, heads, dropout)
        self.radius = SimilarityAwareRadius(slots, width)
        self.logit_scale = nn.Parameter(torch.tensor(float(initial_log_scale)), requires_grad=learn_scale)
        self.trials, self.prior, self.prior_std = int(trials), prior, float(prior_std)
        self.support_weight, self.trial_seed = float(support_weight), int(trial_seed)

    def scale(self) -> torch.Tensor:
        return learned_scale(self.logit_scale, self.training)

    def evaluation_protocol(self) -> dict[str, Any]:
        """The test-time protocol, for the result's protocol card: scores with different trial counts (or a
        stochastic and a deterministic one) are never ranked together. Empty for the deterministic pass."""
        if self.trials == 0:
            return {}
        protocol = {"head": "tmass", "n_trials": self.trials, "prior": self.prior, "selection": SELECTION}
        if self.prior == "normal":
            protocol["prior_std"] = self.prior_std
        return protocol

    # -- test time -----------------------------------------------------------------------------------------------

    def row_keys(self, text: TextFeatures, video: VideoFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """The keys of the texts and videos from which the test-time draws are hashed (:mod:`._stochastic_draws`)."""
        return row_keys(text.eot), row_keys(video.frames, video.frame_mask)

    def trial_draws(self, text_keys: torch.Tensor, video_keys: torch.Tensor) -> torch.Tensor:
        """``[Nt, Nv, trials, D]`` draws of σ for the given rows' keys."""
        codes = pair_codes(text_keys, video_keys, self.trials, codes_per_row(self.prior, self.radius.width),
                           self.trial_seed)
        return draws_from_codes(codes, self.prior, self.prior_std)

    def stochastic_cosines(self, text: TextFeatures, video: VideoFeatures,
                           draws: torch.Tensor | None = None) -> torch.Tensor:
        """``max_k cos(t + σ_k ⊙ R, p)`` as ``[Nt, Nv]``; ``draws`` ``[K, Nt, Nv, D]`` replaces the hashed draws
        (the parity tests hand in the official ones). With ``trials == 0`` and no draws: ``cos(t, p)``."""
        with torch.autocast(device_type=text.eot.device.type, enabled=False):
            sentences, frames = text.eot.float(), video.frames.float()
            keys = self.row_keys(text, video) if draws is None and self.trials > 0 else None
            width, slots = frames.shape[-1], frames.shape[1]
            trials = draws.shape[0] if draws is not None else self.trials
            pooler = self.pool_frames.pair_pooler(sentences, frames, video.frame_mask)

            def block(rows: slice, columns: slice) -> torch.Tensor:
                mask = video.frame_mask[columns]
                pooled = l2_normalise(pooler(rows, columns)).transpose(0, 1)
                sentence = sentences[rows][:, None]  # [Nt, 1, D]
                if trials == 0:
                    return (l2_normalise(sentence) * pooled).sum(dim=-1)
                radius = self.radius(sentences[rows], frames[columns], mask)  # [Nt, Nv, D]
                if draws is None:
                    sigma = self.trial_draws(keys[0][rows], keys[1][columns])
                else:
                    sigma = draws[:, rows, columns].float().permute(1, 2, 0, 3)
                return best_trial_cosine(sentence, pooled, radius, sigma)

            per_pair = TextConditionedPooling.floats_per_pair(width, slots, self.pool_frames.cross_attn.heads)
            per_pair += 4 * width + 4 * trials * width  # the draws, their squares, and their integer codes
            return blockwise_scores(len(text), len(video), per_pair, block, sentences)

    def forward(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        return self.scale() * self.stochastic_cosines(text, video)

    def official_indexing_cosines(self, text: TextFeatures, video: VideoFeatures, video_of_text: torch.Tensor,
                                  draws: torch.Tensor | None = None) -> torch.Tensor:
        """The official evaluation's scores, for comparison only: ``[Nt, Nv]``, NaN where it has none.

        The official ``sim_matrix_inference_stochastic`` picks each pair's trial against ``p(t, v)`` as the head
        does, but then scores the chosen text against ``p(c, v)``, where c is the caption of v that sits in t's
        place among its own video's captions (NaN when v has no caption there): for every pair but the matching
        one, the video is pooled for one of *its own* captions (a reshape that pairs the wrong axes). It needs
        each caption's ground-truth video (``video_of_text``), which no align head sees in a run, so it is not an
        option of the head. Small splits only (everything is held at once).
        """
        video_of_text = torch.as_tensor(video_of_text).long()
        n_text, n_video = len(text), len(video)
        slot = torch.zeros(n_text, dtype=torch.long)
        captions_of: dict[int, list[int]] = {}
        for row, owner in enumerate(video_of_text.tolist()):
            slot[row] = len(captions_of.setdefault(owner, []))
            captions_of[owner].append(row)
        condition = torch.full((n_text, n_video), -1, dtype=torch.long)
        for owner, rows in captions_of.items():
            for position, caption in enumerate(rows):
                condition[slot == position, owner] = caption
        with torch.no_grad(), torch.autocast(device_type=text.eot.device.type, enabled=False):
            sentences, frames = text.eot.float(), video.frames.float()
            pooled = l2_normalise(self.pool_frames(sentences, frames, video.frame_mask))  # [Nv, Nt, D]
            radius = self.radius(sentences, frames, video.frame_mask)
            if draws is None:
                sigma = self.trial_draws(*self.row_keys(text, video)).permute(2, 0, 1, 3)
            else:
                sigma = draws.float()
            stochastic = l2_normalise(sentences[None, :, None] + sigma * radius[None])  # [K, Nt, Nv, D]
            own = pooled.transpose(0, 1)  # p(t, v) as [Nt, Nv, D]
            chosen = (stochastic * own[None]).sum(dim=-1).argmax(dim=0)  # [Nt, Nv]
            picked = torch.gather(stochastic, 0, chosen[None, ..., None].expand(1, *stochastic.shape[1:]))[0]
            columns = torch.arange(n_video)[None, :].expand(n_text, n_video)
            target = pooled[columns, condition.clamp(min=0)]  # p(c, v) as [Nt, Nv, D]
            scores = (picked * target).sum(dim=-1)
            return scores.masked_fill(condition < 0, float("nan"))

    # -- training ------------------------------------------------------------------------------------------------

    def training_draws(self, sentences: torch.Tensor) -> torch.Tensor:
        """One draw per caption from torch's generator (official ``torch.rand_like`` / ``torch.normal``)."""
        if self.prior == "uniform01":
            return torch.rand_like(sentences)
        return torch.normal(0.0, self.prior_std, size=sentences.shape, device=sentences.device)

    def loss(self, text: TextFeatures, video: VideoFeatures, draws: torch.Tensor | None = None) -> torch.Tensor:
        """The stochastic-text InfoNCE plus ``support_weight`` times the support-text InfoNCE (row i matches video
        i). ``draws`` ``[B, D]`` replaces the generator's draw (parity tests)."""
        with torch.autocast(device_type=text.eot.device.type, enabled=False):
            sentences, frames = text.eot.float(), video.frames.float()
            pooled = self.pool_frames(sentences, frames, video.frame_mask)  # [B_video, B_text, D]
            sigma = self.training_draws(sentences) if draws is None else draws.float()
            radius = self.radius(sentences, frames, video.frame_mask, paired=True)
            scale = self.scale()
            loss = symmetric_infonce(scale * pair_cosines(sentences + sigma * radius, pooled))
            if self.support_weight:
                anchor = pooled.mean(dim=1)  # official: each video's vectors averaged over the batch's captions
                support = l2_normalise(anchor - sentences) * radius + sentences
                loss = loss + self.support_weight * symmetric_infonce(scale * pair_cosines(support, pooled))
            return loss
