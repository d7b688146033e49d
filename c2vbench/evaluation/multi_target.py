"""Retrieval metrics when a query has several correct items (SSv2 template retrieval: every video of a template
answers its text; RTime-Hard: a video and its time-reversed copy may both fit a caption that names no direction).

Definitions, per query, for a relevance set ``R`` (the correct items; never empty) and scores ``s``:

* **Rank** is the rank of the best-scoring correct item: with ``m = max(s[R])``, ``g`` = incorrect items scoring
  strictly above ``m`` and ``e`` = incorrect items scoring exactly ``m``, the tie policies of
  :mod:`c2vbench.evaluation.metrics` apply unchanged (``expected``: ``g + e/2 + 1``). Correct items tied at ``m``
  count as one item and never against the query, as the all-captions video-to-text convention already does; with
  one correct item per query everything reduces to the single-target metrics.
* **R@K** = the query has a correct item in the top K (any of them): the same per-query contribution as the
  single-target path (``expected``: ``min(1, max(0, (K - g) / (e + 1)))``), so per-query ranks and tie counts
  keep meaning what the paired tests of :mod:`c2vbench.results.stats` read from them.
* **AP** (average precision) = the mean over the correct items of the precision at each one's position, and
  **mAP** its mean over queries (in percent). Ties: ``optimistic`` puts correct items first inside every group of
  equal scores, ``pessimistic`` last, ``expected`` is the exact mean over every order of each tie group
  (McSherry & Najork, ECIR 2008): position ``k + j`` of a group of ``n`` items holding ``r`` correct ones, after
  ``k`` items of which ``a`` correct, is correct with probability ``r / n`` and is then preceded inside the group
  by ``(j - 1)(r - 1)/(n - 1)`` correct items on average, which by linearity gives the mean precision exactly.

Video-to-text: the correct texts of a video are the texts whose relevance set holds it; every video needs one.

Everything is computed on the dense ``[n_text, n_video]`` score matrix and a dense relevance matrix: the
multi-target test sets (SSv2's val_small: 174 templates x ~2,000 videos; RTime: a few thousand of each) are small.
This module imports numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from c2vbench.evaluation.metrics import (
    METRIC_NAMES,
    RetrievalEvaluation,
    check_tie_policy,
    metrics_from_ranks,
    ranks_from_counts,
    validate_similarity,
)
from c2vbench.platform.errors import DataError

MULTI_TARGET_METRICS = (*METRIC_NAMES, "mAP")


def relevance_matrix(relevant: Sequence[Sequence[int]], n_text: int, n_video: int) -> np.ndarray:
    """``[n_text, n_video]`` booleans from each text's correct videos; every text needs one, every video one text."""
    if len(relevant) != n_text:
        raise DataError(f"relevance lists {len(relevant)} texts, the scores {n_text}",
                        "give the correct videos of every text row")
    matrix = np.zeros((n_text, n_video), dtype=bool)
    for row, videos in enumerate(relevant):
        columns = np.asarray(list(videos), dtype=np.int64)
        if columns.size == 0:
            raise DataError(f"text {row} has no correct video", "every text query needs at least one")
        if columns.min() < 0 or columns.max() >= n_video:
            raise DataError(f"text {row} names a correct video outside the {n_video} columns")
        matrix[row, columns] = True
    orphans = np.flatnonzero(~matrix.any(axis=0))
    if orphans.size:
        raise DataError(f"{orphans.size} video(s) are correct for no text, e.g. column {int(orphans[0])}",
                        "every video needs a text it answers (a video-to-text query has no answer otherwise)")
    return matrix


def best_relevant_counts(scores: np.ndarray, relevant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: incorrect items strictly above (``g``) and exactly at (``e``) the best correct item's score."""
    best = np.where(relevant, scores, -np.inf).max(axis=1, keepdims=True)
    above = np.count_nonzero((scores > best) & ~relevant, axis=1)
    tied = np.count_nonzero((scores == best) & ~relevant, axis=1)
    return above.astype(np.int64), tied.astype(np.int64)


def _harmonic(largest: int) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, largest + 1, dtype=np.float64))])


def average_precision(scores: np.ndarray, relevant: np.ndarray, tie: str = "expected") -> np.ndarray:
    """Per-row average precision (0..1) of ``scores`` against the boolean ``relevant`` rows, ties by ``tie``."""
    check_tie_policy(tie)
    n_rows, n_items = scores.shape
    harmonic = _harmonic(n_items)
    out = np.empty(n_rows, dtype=np.float64)
    for row in range(n_rows):
        order = np.argsort(-scores[row], kind="stable")
        values, hits = scores[row][order], relevant[row][order]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        sizes = np.diff(np.r_[starts, n_items])
        correct = np.add.reduceat(hits.astype(np.int64), starts)
        before = starts  # items ranked ahead of each tie group (k)
        correct_before = np.r_[0, np.cumsum(correct)[:-1]]  # correct items ahead of it (a)
        keep = correct > 0
        k, n, r, a = before[keep], sizes[keep], correct[keep], correct_before[keep]
        if tie == "optimistic":  # correct items first in the group: positions k+1 .. k+r
            total = r + (a - k) * (harmonic[k + r] - harmonic[k])
        elif tie == "pessimistic":  # correct items last: positions k+n-r+1 .. k+n
            base = k + n - r
            total = r + (a - base) * (harmonic[base + r] - harmonic[base])
        else:
            spread = harmonic[k + n] - harmonic[k]  # sum over the group's positions of 1 / position
            inner = np.where(n > 1, (r - 1) / np.maximum(n - 1, 1), 0.0) * (n - (k + 1) * spread)
            total = r / n * ((a + 1) * spread + inner)
        out[row] = float(total.sum()) / int(hits.sum())
    return out


def _direction(scores: np.ndarray, relevant: np.ndarray, tie: str) -> dict[str, Any]:
    above, tied = best_relevant_counts(scores, relevant)
    ranks = ranks_from_counts(above, tied, tie)
    ap = average_precision(scores, relevant, tie)
    metrics = metrics_from_ranks(ranks, tied, tie)
    metrics["mAP"] = float(100.0 * ap.mean())
    return {"metrics": metrics, "ranks": ranks, "ties": tied, "ap": ap}


def evaluate_multi_target(sim: Any, relevant: Sequence[Sequence[int]], tie: str = "expected",
                          subsets: Mapping[str, tuple[Sequence[int], Sequence[int]]] | None = None
                          ) -> RetrievalEvaluation:
    """Text-to-video and video-to-text metrics when a text may have several correct videos (module docs).

    Args:
        sim: ``[n_text, n_video]`` scores, higher is better.
        relevant: for every text row, the columns of its correct videos.
        tie: one of :data:`c2vbench.evaluation.metrics.TIE_POLICIES`.
        subsets: ``{name: (text rows, video columns)}`` averaged separately (ranks against the whole gallery).

    Returns:
        a :class:`RetrievalEvaluation` shaped as the single-target one, with ``mAP`` in both directions' metrics,
        ``t2v_ap`` / ``v2t_ap`` in ``per_query``, and ``t2v_video`` = each text's first correct video (the cluster
        the paired tests resample); ``v2t_mode`` is ``all-captions``.
    """
    check_tie_policy(tie)
    scores = validate_similarity(sim)
    n_text, n_video = scores.shape
    matrix = relevance_matrix(relevant, n_text, n_video)
    t2v = _direction(scores, matrix, tie)
    v2t = _direction(scores.T, matrix.T, tie)
    first_video = matrix.argmax(axis=1)
    per_query = {"t2v_rank": t2v["ranks"].tolist(), "v2t_rank": v2t["ranks"].tolist(),
                 "t2v_ties": t2v["ties"].tolist(), "v2t_ties": v2t["ties"].tolist(),
                 "t2v_ap": t2v["ap"].tolist(), "v2t_ap": v2t["ap"].tolist(), "t2v_video": first_video.tolist()}
    subset_results = {}
    for name, (texts, videos) in (subsets or {}).items():
        texts, videos = np.asarray(texts, dtype=np.int64), np.asarray(videos, dtype=np.int64)

        def part(block: dict[str, Any], rows: np.ndarray) -> dict[str, float | None]:
            if rows.size == 0:
                return dict.fromkeys(MULTI_TARGET_METRICS)
            metrics = metrics_from_ranks(block["ranks"][rows], block["ties"][rows], tie)
            return {**metrics, "mAP": float(100.0 * block["ap"][rows].mean())}

        subset_results[name] = {
            "metrics": {"t2v": part(t2v, texts), "v2t": part(v2t, videos)},
            "per_query": {"t2v_rank": t2v["ranks"][texts].tolist(), "v2t_rank": v2t["ranks"][videos].tolist(),
                          "t2v_ties": t2v["ties"][texts].tolist(), "v2t_ties": v2t["ties"][videos].tolist(),
                          "t2v_video": first_video[texts].tolist()},
        }
    return RetrievalEvaluation(metrics={"t2v": t2v["metrics"], "v2t": v2t["metrics"]}, per_query=per_query,
                               subsets=subset_results, tie=tie, v2t_mode="all-captions")
