"""The ``xpool`` align head (``nn.Module`` implementation, imported only by the factory in :mod:`.xpool`).

X-Pool (Gorti et al., CVPR 2022) pools a video's frames with attention whose query is the caption: every
(text, video) pair gets its own video vector, and the score is the cosine of the caption's sentence vector with
it. Written from the official repository (layer6ai-labs/xpool at bc88718): ``modules/transformer.py``
(``MultiHeadedAttention``, ``Transformer``), ``modules/metrics.py`` (``sim_matrix_training``,
``sim_matrix_inference``), ``modules/loss.py`` (``CLIPLoss``), ``trainer/trainer.py`` and
``model/clip_transformer.py``. T-MASS (:mod:`._tmass_head`) reuses :class:`TextConditionedPooling` as its video side.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import nn

from c2vbench.plugin import C2VBenchError, TextFeatures, VideoFeatures

from .._layers.losses import learned_scale, symmetric_infonce
from .._layers.pairwise import blockwise_scores
from .._layers.pooling import l2_normalise


def canonical_frame_order(frames: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The valid frames sorted by their sum (padded slots last), and the sorted mask.

    Attention pooling without positions does not depend on the order of the frames, but float sums do in their
    last bits; pooling the frames in a canonical order makes a video and any permutation of it (synthetic-motion's
    order twins) score bit for bit alike, so that their tie is a tie.
    """
    key = frames.sum(dim=-1).masked_fill(frame_mask == 0, float("inf"))
    order = torch.argsort(key, dim=1, stable=True)
    return (torch.gather(frames, 1, order.unsqueeze(-1).expand_as(frames)),
            torch.gather(frame_mask, 1, order))


class CrossModalAttention(nn.Module):
    """Multi-head attention with the caption as the only query and the frames as keys and values.

    Official ``MultiHeadedAttention``: ``q = W_q t``, ``k = W_k f``, ``v = W_v f`` split into heads,
    ``softmax_f(k·q / sqrt(d_head))`` over the frames, heads concatenated, ``W_o``. Padded frames (mask 0) get no
    weight; the official loaders never pad, so with full masks the two agree.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        if heads < 1 or width % heads:
            raise C2VBenchError(f"xpool: {heads} attention heads do not divide the embedding width {width}",
                                "choose heads among the divisors of the width (X-Pool uses 1)")
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def split(self, projected: torch.Tensor) -> torch.Tensor:
        """``[..., D]`` to ``[..., H, D / H]``."""
        return projected.reshape(*projected.shape[:-1], self.heads, projected.shape[-1] // self.heads)

    def weights(self, query: torch.Tensor, key: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """Attention weights ``[Nv, H, Nt, T]`` from ``query [Nt, H, d]`` and ``key [Nv, T, H, d]``."""
        logits = torch.einsum("vfhd,thd->vhtf", key, query) / math.sqrt(query.shape[-1])
        logits = logits.masked_fill((frame_mask == 0)[:, None, None, :], float("-inf"))
        return torch.softmax(logits, dim=-1)

    def forward(self, text: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """``text [Nt, D]``, ``frames [Nv, T, D]``, ``frame_mask [Nv, T]`` to ``[Nv, Nt, D]``."""
        weights = self.weights(self.split(self.q_proj(text)), self.split(self.k_proj(frames)), frame_mask)
        mixed = torch.einsum("vhtf,vfhd->vthd", weights, self.split(self.v_proj(frames)))
        return self.out_proj(mixed.reshape(frames.shape[0], text.shape[0], text.shape[1]))


@dataclasses.dataclass
class PreparedVideos:
    """What :meth:`TextConditionedPooling.factored` needs of a set of videos, computed once per video.

    Attributes:
        keys: ``[Nv, T, H, d]``; mask: ``[Nv, T]`` (frames in canonical order);
        frames: ``[Nv, H·T, D]`` the centred per-frame, per-head outputs of ``W_o`` (``ũ_hf``);
        gram: ``[Nv, H·T, H·T]`` their Gram matrix; bias_products: ``[Nv, H·T]`` their products with ``b̃``;
        mixed: ``[Nv, H·T, D]`` ``γ2 ⊙ ũ_hf + W_l(γ2 ⊙ ũ_hf)``.
    """

    keys: torch.Tensor
    mask: torch.Tensor
    frames: torch.Tensor
    gram: torch.Tensor
    bias_products: torch.Tensor
    mixed: torch.Tensor

    def index(self, columns: slice) -> PreparedVideos:
        return PreparedVideos(*(getattr(self, field.name)[columns] for field in dataclasses.fields(self)))


class TextConditionedPooling(nn.Module):
    """X-Pool's pooling block (official ``Transformer``): one video vector per (text, video) pair.

    ``t' = LN1(t)``, ``F' = LN1(F)`` (one LayerNorm for both, as officially), ``a = LN2(attention(t', F'))``,
    ``out = LN3(a + dropout(W_l a + b_l))``. Every linear layer starts as the identity with zero bias (official
    ``_init_parameters``). State-dict keys are the official ones (``cross_attn.q_proj.weight``,
    ``linear_proj.bias``, ``layer_norm1.weight`` …).

    In training the official order of operations runs (dropout acts on every pair's ``W_l a``); at evaluation the
    same function runs factored (:meth:`factored`): the two ``D × D`` products move from the pairs to the frames,
    and the text and video sides are prepared once (:meth:`prepare_texts`, :meth:`prepare_videos`) for every block
    of pairs.
    """

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.cross_attn = CrossModalAttention(width, heads)
        self.linear_proj = nn.Linear(width, width)
        self.layer_norm1 = nn.LayerNorm(width)
        self.layer_norm2 = nn.LayerNorm(width)
        self.layer_norm3 = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)
        for name, parameter in self.named_parameters():
            if "proj" in name:
                with torch.no_grad():
                    if name.endswith("weight"):
                        nn.init.eye_(parameter)
                    else:
                        parameter.zero_()

    def forward(self, text: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """``text [Nt, D]`` (sentence vectors), ``frames [Nv, T, D]``, ``frame_mask [Nv, T]`` to ``[Nv, Nt, D]``."""
        if not self.training:
            return self.factored(self.prepare_texts(text), self.prepare_videos(frames, frame_mask))
        frames, frame_mask = canonical_frame_order(frames, frame_mask)
        attended = self.layer_norm2(self.cross_attn(self.layer_norm1(text), self.layer_norm1(frames), frame_mask))
        return self.layer_norm3(attended + self.dropout(self.linear_proj(attended)))

    def pair_pooler(self, text: torch.Tensor, frames: torch.Tensor,
                    frame_mask: torch.Tensor) -> Callable[[slice, slice], torch.Tensor]:
        """``pooled(rows, columns)``: the ``[Nv, Nt, D]`` vectors of a block of pairs; at evaluation both sides are
        prepared once here and every block only combines them."""
        if self.training:
            return lambda rows, columns: self(text[rows], frames[columns], frame_mask[columns])
        queries, videos = self.prepare_texts(text), self.prepare_videos(frames, frame_mask)
        return lambda rows, columns: self.factored(queries[rows], videos.index(columns))

    def prepare_texts(self, text: torch.Tensor) -> torch.Tensor:
        """The queries ``[Nt, H, d]``."""
        return self.cross_attn.split(self.cross_attn.q_proj(self.layer_norm1(text)))

    def prepare_videos(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> PreparedVideos:
        """Everything per video that :meth:`factored` reads."""
        attention = self.cross_attn
        frames, frame_mask = canonical_frame_order(frames, frame_mask)
        frames = self.layer_norm1(frames)
        n_video, width = frames.shape[0], frames.shape[-1]
        out_weight = attention.split(attention.out_proj.weight)  # [D, H, d]
        values = attention.split(attention.v_proj(frames))  # [Nv, T, H, d]
        per_frame = torch.einsum("vfhe,dhe->vhfd", values, out_weight).reshape(n_video, -1, width)
        per_frame = per_frame - per_frame.mean(dim=-1, keepdim=True)
        scaled = per_frame * self.layer_norm2.weight
        return PreparedVideos(attention.split(attention.k_proj(frames)), frame_mask, per_frame,
                              per_frame @ per_frame.transpose(1, 2), per_frame @ self._centred_bias(),
                              scaled + scaled @ self.linear_proj.weight.t())

    def _centred_bias(self) -> torch.Tensor:
        bias = self.cross_attn.out_proj.bias
        return bias - bias.mean()

    def factored(self, queries: torch.Tensor, videos: PreparedVideos) -> torch.Tensor:
        """The pooling without dropout, from prepared texts and videos, as ``[Nv, Nt, D]``.

        ``W_o`` is linear and a head's attention weights sum to 1, so the centred output of ``W_o`` is a weighted
        sum of centred per-frame vectors, ``x̃ = Σ a_hf ũ_hf + b̃`` with ``ũ_hf = centre(W_o[:, h] v_hf)``.
        LayerNorm 2 only centres (done) and divides by one number per pair, ``σ``, whose square is a quadratic form
        in the weights (``|x̃|² = aᵀ G a + 2 aᵀ ũ b̃ + |b̃|²``, G the frames' Gram matrix). So the block's output
        before LayerNorm 3 is ``(Σ a_hf w_hf + w_b) / σ + c`` with per-frame ``w_hf = γ2 ⊙ ũ_hf + W_l(γ2 ⊙ ũ_hf)``:
        a pair costs one weighted sum of ``H·T`` vectors instead of two ``D × D`` products.
        """
        n_video, n_text, width = videos.keys.shape[0], queries.shape[0], videos.frames.shape[-1]
        weights = self.cross_attn.weights(queries, videos.keys, videos.mask)  # [Nv, H, Nt, T]
        coefficients = weights.permute(0, 2, 1, 3).reshape(n_video, n_text, -1)  # [Nv, Nt, H·T]
        bias = self._centred_bias()
        squared = (torch.bmm(coefficients, videos.gram) * coefficients).sum(dim=-1)
        squared = squared + 2.0 * torch.bmm(coefficients, videos.bias_products[..., None])[..., 0]
        squared = squared + bias.square().sum()
        sigma = torch.sqrt(squared.clamp(min=0.0) / width + self.layer_norm2.eps)[..., None]  # [Nv, Nt, 1]
        gain, shift = self.layer_norm2.weight, self.layer_norm2.bias
        mixed_bias = gain * bias + self.linear_proj.weight @ (gain * bias)
        summed = torch.baddbmm(mixed_bias.expand(n_video, n_text, width), coefficients, videos.mixed)
        return self.layer_norm3(torch.addcdiv(shift + self.linear_proj(shift), summed, sigma))

    @staticmethod
    def floats_per_pair(width: int, slots: int, heads: int) -> int:
        """Rough size of the intermediate tensors of one (text, video) pair, for :func:`blockwise_scores`."""
        return 6 * width + 2 * heads * slots


def pair_cosines(text: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """``cos(t_i, p[j, i])`` as ``[Nt, Nv]`` from ``text [Nt, D]`` and per-pair video vectors ``pooled [Nv, Nt, D]``
    (official ``sim_matrix_training`` with pooling ``transformer``)."""
    return torch.einsum("td,vtd->tv", l2_normalise(text), l2_normalise(pooled))


class XPoolHead(nn.Module):
    """``S[t, v] = s · cos(t, pool(t, F_v))`` and the symmetric InfoNCE of ``S`` on a batch.

    Attributes:
        pool_frames: :class:`TextConditionedPooling` (official name ``pool_frames``).
        logit_scale: log of the scale s (officially CLIP's own ``logit_scale``, clamped at ln 100 after every step;
            here clamped in training mode, as ``cosine`` does).
    """

    wants_alignment_tokens = False

    def __init__(self, width: int, heads: int, dropout: float, initial_log_scale: float, learn_scale: bool = True):
        super().__init__()
        self.pool_frames = TextConditionedPooling(width, heads, dropout)
        self.logit_scale = nn.Parameter(torch.tensor(float(initial_log_scale)), requires_grad=learn_scale)

    def scale(self) -> torch.Tensor:
        return learned_scale(self.logit_scale, self.training)

    def cosines(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        """``[n_text, n_video]`` cosines, block by block of pairs (in fp32, also under autocast)."""
        with torch.autocast(device_type=text.eot.device.type, enabled=False):
            sentences, frames = text.eot.float(), video.frames.float()
            width, slots = frames.shape[-1], frames.shape[1]
            pooled = self.pool_frames.pair_pooler(sentences, frames, video.frame_mask)

            def block(rows: slice, columns: slice) -> torch.Tensor:
                return pair_cosines(sentences[rows], pooled(rows, columns))

            per_pair = TextConditionedPooling.floats_per_pair(width, slots, self.pool_frames.cross_attn.heads)
            return blockwise_scores(len(text), len(video), per_pair, block, sentences)

    def forward(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        return self.scale() * self.cosines(text, video)

    def loss(self, text: TextFeatures, video: VideoFeatures) -> torch.Tensor:
        """Official ``CLIPLoss``: the mean of the text→video and video→text cross-entropies of the scaled cosines."""
        return symmetric_infonce(self.forward(text, video))

