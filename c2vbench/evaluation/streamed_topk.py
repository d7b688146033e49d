"""Exact top-k retrieval without the whole score matrix: scores computed tile by tile (the tile sources of
:mod:`c2vbench.evaluation.streamed_ranking`), the best k of every query kept as the tiles go by.

Order: score descending, ties broken by the video's index (ascending), so the answer is one deterministic list.
Ties are not hidden: :attr:`TopK.tied_beyond` counts, per query, the videos *outside* the top k that score exactly
as the k-th one (they would be equally right in its place).

How the count stays exact while only k candidates are kept: the k-th score can only rise as tiles are merged in.
Every candidate that drops out of the top k at a merge is compared with the new k-th score; when the k-th score
rises, the earlier drop-outs all scored at most the old one, so none of them ties the new one and the count starts
again from this merge's drop-outs.

Dot-product scores (:func:`top_k_dot`) are defined as one row-wise float64 reduction per video, so that ties by
construction (the same video twice in a gallery) come out equal wherever the two copies lie (a blocked matrix
product may accumulate edge rows in another order). Computing every score that way is slow, so each tile is first
scored by one float32 matrix product, and only the videos whose float32 score lies within a proven error bound of
the running k-th score are scored exactly: the answer is that of the exact scores, at about the speed of the
float32 product.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from c2vbench.evaluation.streamed_ranking import DEFAULT_VIDEO_BLOCK, TileScores
from c2vbench.platform.errors import DataError

FLOAT32_UNIT_ROUNDOFF = 2.0 ** -24
DOT_VIDEO_BLOCK = 16384


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


class _RunningTopK:
    """The best k (score desc, index asc) of the candidates merged so far, per query, and the ties beyond them.

    Candidates must be merged in increasing index order (each batch's indices above every earlier one's)."""

    def __init__(self, rows: int, k: int, n_video: int, device: torch.device):
        # k placeholders below every real score (scores are finite), with indices past every real video
        self.scores = torch.full((rows, k), float("-inf"), dtype=torch.float64, device=device)
        self.indices = torch.arange(n_video, n_video + k, device=device).expand(rows, k).clone()
        self.tied = torch.zeros(rows, dtype=torch.int64, device=device)
        self.k = k

    @property
    def kth(self) -> torch.Tensor:
        return self.scores[:, -1]

    def merge(self, scores: torch.Tensor, indices: torch.Tensor, rows: slice | None = None) -> None:
        """Merge candidates ``[r, c]`` (float64 scores and their video indices) into the rows ``rows``."""
        rows = rows if rows is not None else slice(None)
        kept_scores, kept_indices = self.scores[rows], self.indices[rows]
        # kept candidates have lower indices than these and are in (score desc, index asc) order: a stable
        # descending sort of the two side by side is the (score desc, index asc) order of both
        merged = torch.cat([kept_scores, scores], dim=1)
        merged_indices = torch.cat([kept_indices, indices], dim=1)
        order = torch.sort(merged, dim=1, descending=True, stable=True).indices
        merged, merged_indices = merged.gather(1, order), merged_indices.gather(1, order)
        previous_kth = kept_scores[:, -1]
        kth = merged[:, self.k - 1]
        dropped_ties = (merged[:, self.k:] == kth[:, None]).sum(dim=1)
        tied = torch.where(kth == previous_kth, self.tied[rows], torch.zeros_like(self.tied[rows])) + dropped_ties
        self.scores[rows], self.indices[rows], self.tied[rows] = merged[:, :self.k], merged_indices[:, :self.k], tied

    def result(self) -> TopK:
        return TopK(self.indices.cpu().numpy(), self.scores.cpu().numpy(), self.tied.cpu().numpy())


def _check_sizes(n_text: int, n_video: int, k: int) -> int:
    if n_text == 0 or n_video == 0:
        raise DataError(f"nothing to search: {n_text} queries and {n_video} videos", "give at least one of each")
    if k < 1:
        raise DataError(f"top-k needs k >= 1, got {k}")
    return min(k, n_video)


@torch.no_grad()
def top_k_streamed(scores: TileScores, k: int, device: torch.device | str = "cpu", text_block: int | None = None,
                   video_block: int = DEFAULT_VIDEO_BLOCK) -> TopK:
    """The exact top ``k`` videos of every text query (``k`` is capped at the number of videos), for any tile
    source: every score of every tile is merged.

    Args:
        scores: a tile source (:class:`~c2vbench.evaluation.streamed_ranking.HeadScores`, or any other
            :class:`~c2vbench.evaluation.streamed_ranking.TileScores`).
        k: how many videos per query.
        device: where tiles are computed and merged.
        text_block: queries per tile (default: all of them).
        video_block: videos per tile.
    """
    device = torch.device(device)
    n_text, n_video = scores.n_text, scores.n_video
    k = _check_sizes(n_text, n_video, k)
    text_block = text_block or n_text
    scores.prepare(np.arange(n_text), text_block, video_block, device)
    parts = []
    for tb in range(-(-n_text // text_block)):
        running = _RunningTopK(min(text_block, n_text - tb * text_block), k, n_video, device)
        for vb in range(-(-n_video // video_block)):
            tile = scores.tile(tb, vb).to(torch.float64)
            columns = torch.arange(vb * video_block, vb * video_block + tile.shape[1], device=device)
            running.merge(tile, columns.expand(tile.shape[0], -1))
        parts.append(running.result())
    return TopK(np.concatenate([part.indices for part in parts]), np.concatenate([part.scores for part in parts]),
                np.concatenate([part.tied_beyond for part in parts]))


def exact_dot(text: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """``Σ_f text[f] · video[v, f]`` in float64 for one query ``text [F]`` and videos ``[c, F]``: each video's score
    reduced on its own, the same wherever the video lies (the definition :func:`top_k_dot` ranks by)."""
    return (video.to(torch.float64) * text.to(torch.float64)[None, :]).sum(dim=1)


@torch.no_grad()
def top_k_dot(text: Any, video: Any, k: int, device: torch.device | str = "cpu",
              video_block: int = DOT_VIDEO_BLOCK) -> TopK:
    """The exact top ``k`` videos of every query by dot product, ``score[t, v] = exact_dot(text[t], video[v])``.

    Each tile of videos is scored by one float32 product; a video can be in the top k (or tie the k-th) only if its
    float32 score is within ``δ = 2 γ_F ‖t‖ ‖v‖`` of the running k-th exact score (``γ_F = F u / (1 − F u)``, ``u``
    float32's unit roundoff: twice the classic bound on a float32 dot product's error, ``Σ |t_f v_f| ≤ ‖t‖ ‖v‖``).
    Those few are scored exactly and merged; the rest cannot matter.

    Args:
        text: ``[n_text, F]`` queries; video: ``[n_video, F]`` (tensors or arrays, any float dtype).
        k: how many videos per query (capped at the number of videos).
    """
    device = torch.device(device)
    text = torch.as_tensor(text)
    video = torch.as_tensor(video)
    if text.ndim != 2 or video.ndim != 2 or text.shape[1] != video.shape[1]:
        raise DataError(f"text and video factors must be [n, F] with the same F, got {tuple(text.shape)} and "
                        f"{tuple(video.shape)}", "the index and the model do not belong together")
    if not text.is_floating_point() or not video.is_floating_point() or not bool(torch.isfinite(text).all()):
        raise DataError("the factors are not finite floating-point numbers",
                        "re-embed with a model that gives finite features")
    n_text, n_video, width = text.shape[0], video.shape[0], text.shape[1]
    k = _check_sizes(n_text, n_video, k)
    text64 = text.to(device, torch.float64)
    text32 = text.to(device, torch.float32)
    gamma = width * FLOAT32_UNIT_ROUNDOFF / (1 - width * FLOAT32_UNIT_ROUNDOFF)
    # times a video's norm: twice the float32 error bound. The second half covers the float32 arithmetic of the
    # screen itself (the norm, the sum below, the floor rounded to float32, each at most a few units of roundoff).
    text_bound = (2.0 * gamma * text64.norm(dim=1)).to(torch.float32)[:, None]  # [n_text, 1]
    running = _RunningTopK(n_text, k, n_video, device)
    for start in range(0, n_video, video_block):
        block = video[start:start + video_block].to(device)
        approximate = text32 @ block.to(torch.float32).T  # [n_text, b]
        if not bool(torch.isfinite(approximate).all()):  # a NaN or infinite video factor shows up in its scores
            raise DataError(f"videos {start}..{start + len(block) - 1} have factors that are not finite",
                            "re-embed them with a model that gives finite features")
        margin = text_bound * block.to(torch.float32).norm(dim=1)[None, :]
        # what a candidate must reach: the running k-th exact score, or (while fewer than k are kept) what the
        # tile's own k-th best lower bound guarantees; lowered by two units of roundoff before going to float32
        floor = running.kth
        if not bool(torch.isfinite(floor).all()) and block.shape[0] >= k:
            floor = torch.maximum(floor, torch.topk(approximate - margin, k, dim=1).values[:, -1].to(torch.float64))
        floor32 = (floor - floor.abs() * (4 * FLOAT32_UNIT_ROUNDOFF)).to(torch.float32)
        chosen = (approximate + margin) >= floor32[:, None]
        for row in range(n_text):
            columns = torch.nonzero(chosen[row]).squeeze(1)
            if not len(columns):
                continue
            scores = exact_dot(text64[row], block[columns])
            running.merge(scores[None, :], (columns + start)[None, :], slice(row, row + 1))
    return running.result()
