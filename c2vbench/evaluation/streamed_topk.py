"""Exact top-k retrieval without the whole score matrix: scores computed tile by tile (the tile sources of
:mod:`c2vbench.evaluation.streamed_ranking`), the best k of every query kept as the tiles go by.

Order: score descending, ties broken by the video's index (ascending), so the answer is one deterministic list.
Ties are not hidden: :attr:`TopK.tied_beyond` counts, per query, the videos *outside* the top k that score exactly
as the k-th one (they would be equally right in its place).

How the count stays exact while only k candidates are kept: the k-th score can only rise as tiles are merged in.
Every candidate that drops out of the top k at a merge is compared with the new k-th score; when the k-th score
rises, the earlier drop-outs all scored at most the old one, so none of them ties the new one and the count starts
again from this merge's drop-outs.

Ties that are ties by construction (the same video twice in a gallery) must come out equal wherever the two copies
lie: :class:`RowwiseDotScores` computes each score as one row-wise reduction in float64, whose result does not
depend on the row's position in a tile (a blocked matrix product may accumulate edge rows in another order).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from c2vbench.evaluation.streamed_ranking import DEFAULT_VIDEO_BLOCK, TileScores
from c2vbench.platform.errors import DataError

ROWWISE_TILE_ELEMENTS = 1 << 22  # text rows × videos × width of one tile's products (32 MB of float64)


class RowwiseDotScores:
    """``score[t, v] = Σ_f text[t, f] · video[v, f]`` in float64, each score reduced on its own (position-independent).

    Args:
        text: ``[n_text, F]``; video: ``[n_video, F]`` (torch tensors or numpy arrays, any float dtype).
    """

    def __init__(self, text: Any, video: Any):
        self.text = torch.as_tensor(text).to(torch.float64)
        self.video = torch.as_tensor(video)
        if self.text.ndim != 2 or self.video.ndim != 2 or self.text.shape[1] != self.video.shape[1]:
            raise DataError(f"text and video factors must be [n, F] with the same F, got {tuple(self.text.shape)} "
                            f"and {tuple(self.video.shape)}", "the index and the model do not belong together")
        if not bool(torch.isfinite(self.text).all()) or not bool(torch.isfinite(self.video).all()):
            raise DataError("the embeddings contain NaN or infinite values", "re-embed with a model that gives "
                            "finite features")
        self.n_text, self.n_video = self.text.shape[0], self.video.shape[0]

    def prepare(self, text_order: np.ndarray, text_block: int, video_block: int, device: torch.device) -> None:
        self._text = self.text[torch.from_numpy(np.asarray(text_order))].to(device)
        self._blocks = (text_block, video_block)
        self._device = device

    def tile(self, text_block_index: int, video_block_index: int) -> torch.Tensor:
        text_block, video_block = self._blocks
        text = self._text[text_block_index * text_block:(text_block_index + 1) * text_block]
        start = video_block_index * video_block
        video = self.video[start:start + video_block].to(self._device, torch.float64)
        return (text[:, None, :] * video[None, :, :]).sum(dim=2)


def rowwise_video_block(n_text: int, width: int) -> int:
    """Videos per tile so that one tile's products stay near :data:`ROWWISE_TILE_ELEMENTS`."""
    return max(256, ROWWISE_TILE_ELEMENTS // max(1, n_text * width))


@dataclasses.dataclass
class TopK:
    """The best k videos of every query.

    Attributes:
        indices: ``[n_text, k]`` video indices, best first (ties: the lower index first).
        scores: ``[n_text, k]`` their scores (float64).
        tied_beyond: ``[n_text]`` videos outside the top k scoring exactly the k-th score.
    """

    indices: np.ndarray
    scores: np.ndarray
    tied_beyond: np.ndarray


@torch.no_grad()
def top_k_streamed(scores: TileScores, k: int, device: torch.device | str = "cpu", text_block: int | None = None,
                   video_block: int = DEFAULT_VIDEO_BLOCK) -> TopK:
    """The exact top ``k`` videos of every text query (``k`` is capped at the number of videos).

    Args:
        scores: a tile source (:class:`RowwiseDotScores`, :class:`~c2vbench.evaluation.streamed_ranking.HeadScores`).
        k: how many videos per query.
        device: where tiles are computed and merged.
        text_block: queries per tile (default: all of them).
        video_block: videos per tile.
    """
    device = torch.device(device)
    n_text, n_video = scores.n_text, scores.n_video
    if n_text == 0 or n_video == 0:
        raise DataError(f"nothing to search: {n_text} queries and {n_video} videos", "give at least one of each")
    if k < 1:
        raise DataError(f"top-k needs k >= 1, got {k}")
    k = min(k, n_video)
    text_block = text_block or n_text
    scores.prepare(np.arange(n_text), text_block, video_block, device)
    indices, best, beyond = [], [], []
    for tb in range(-(-n_text // text_block)):
        rows = min(text_block, n_text - tb * text_block)
        # k placeholders below every real score (scores are finite), with indices past every real video
        kept_scores = torch.full((rows, k), float("-inf"), dtype=torch.float64, device=device)
        kept_indices = torch.arange(n_video, n_video + k, device=device).expand(rows, k)
        tied = torch.zeros(rows, dtype=torch.int64, device=device)
        for vb in range(-(-n_video // video_block)):
            tile = scores.tile(tb, vb).to(torch.float64)
            columns = torch.arange(vb * video_block, vb * video_block + tile.shape[1], device=device)
            # kept candidates all have lower indices than this tile's, and are in (score desc, index asc) order:
            # a stable descending sort of the two side by side is the (score desc, index asc) order of both
            merged = torch.cat([kept_scores, tile], dim=1)
            merged_indices = torch.cat([kept_indices, columns.expand(rows, -1)], dim=1)
            order = torch.sort(merged, dim=1, descending=True, stable=True).indices
            merged, merged_indices = merged.gather(1, order), merged_indices.gather(1, order)
            previous_kth = kept_scores[:, -1]
            kept_scores, kept_indices = merged[:, :k], merged_indices[:, :k]
            kth = kept_scores[:, -1]
            dropped_ties = (merged[:, k:] == kth[:, None]).sum(dim=1)
            tied = torch.where(kth == previous_kth, tied, torch.zeros_like(tied)) + dropped_ties
        indices.append(kept_indices.cpu())
        best.append(kept_scores.cpu())
        beyond.append(tied.cpu())
    return TopK(torch.cat(indices).numpy(), torch.cat(best).numpy(), torch.cat(beyond).numpy())
