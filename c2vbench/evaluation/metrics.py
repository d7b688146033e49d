"""Standardized retrieval metrics with explicit tie handling.

For one query with ground-truth score ``m``:

* ``g`` = number of *other* candidates scoring strictly more than ``m``;
* ``e`` = number of *other* candidates scoring exactly ``m`` (the tie count reported per query).

Tie policies (ranks are 1-based):

* ``optimistic``: rank = g + 1; R@K contribution = [rank <= K].
* ``pessimistic``: rank = g + e + 1; R@K contribution = [rank <= K].
* ``expected`` (default): rank = g + e/2 + 1, the mean rank when the tied candidates are ordered uniformly at
  random; R@K contribution = min(1, max(0, (K - g) / (e + 1))), the probability that the ground truth lands in the
  top K under that random order.

R@K is the mean contribution in percent, MdR the ordinary median of the ranks (the mean of the two middle values
for an even count), MnR their mean.

Video-to-text with several captions per video:

* ``all-captions`` (default): the ground truths of a video query are all its captions; its rank is that of its
  best-placed ground-truth caption among *all* captions, the other ground-truth captions not counting against it.
  So ``m`` is the best ground-truth score, ``g``/``e`` count only non-ground-truth captions (ground-truth captions
  tied at ``m`` are treated as the single best caption, not as extra tied items).
* ``legacy-group-max``: the CLIP4Clip/CLIP2Video convention: candidate video ``i`` scores, for query video ``j``,
  the maximum of ``sim[caption, j]`` over the captions of ``i``; videos are then ranked (a V x V problem), ties by
  the same policy. Rank is counted in videos, which is optimistic compared with ``all-captions``.

Memory: the similarity matrix is compared in its own dtype, in chunks of rows, so no float64 copy of a large
matrix is ever made; temporaries are ``chunk x n_candidates`` booleans.

This module imports numpy only (and the settings' vocabularies from :mod:`c2vbench.platform.choices`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from c2vbench.platform.choices import TIE_POLICIES, V2T_MODES  # shared with the configuration's checks
from c2vbench.platform.errors import DataError

RECALL_LEVELS = (1, 5, 10)
METRIC_NAMES = ("R@1", "R@5", "R@10", "MdR", "MnR")
DIRECTIONS = ("t2v", "v2t")

# Rows compared at once; each chunk allocates two chunk x n_candidates boolean temporaries.
DEFAULT_CHUNK_ROWS = 1024

_RECALL_PATTERN = re.compile(r"^R@([1-9][0-9]*)$")


@dataclasses.dataclass
class RetrievalEvaluation:
    """Metrics of one similarity matrix under one tie policy and video-to-text mode.

    Attributes:
        metrics: ``{"t2v": {"R@1", "R@5", "R@10", "MdR", "MnR"}, "v2t": {...}}``, recall in percent.
        per_query: ``{"t2v_rank", "v2t_rank", "t2v_ties", "v2t_ties", "t2v_video"}`` lists in query order; ranks
            are floats (the expected policy gives halves), ties are the ``e`` counts, ``t2v_video`` is the
            ground-truth video of each text query (the cluster of each caption, used by the significance tests).
        subsets: ``{name: {"metrics": ..., "per_query": ...}}`` for named query subsets.
        tie: the tie policy used.
        v2t_mode: the video-to-text mode used.
    """

    metrics: dict[str, dict[str, float]]
    per_query: dict[str, list]
    subsets: dict[str, dict[str, Any]]
    tie: str
    v2t_mode: str

    def to_dict(self) -> dict[str, Any]:
        """The result-file shaped dictionary (JSON-serialisable)."""
        return {
            "metrics": self.metrics,
            "per_query": self.per_query,
            "subsets": self.subsets,
            "tie": self.tie,
            "v2t_mode": self.v2t_mode,
        }


# ---------------------------------------------------------------------------------------------------------------
# validation


def check_tie_policy(tie: str) -> str:
    if tie not in TIE_POLICIES:
        raise DataError(f"unknown tie policy {tie!r}", f"use one of {', '.join(TIE_POLICIES)}")
    return tie


def check_v2t_mode(v2t_mode: str) -> str:
    if v2t_mode not in V2T_MODES:
        raise DataError(f"unknown video-to-text mode {v2t_mode!r}", f"use one of {', '.join(V2T_MODES)}")
    return v2t_mode


def validate_similarity(sim: Any, name: str = "sim") -> np.ndarray:
    """Return ``sim`` as a 2-D real numpy array (no copy when possible) or raise :class:`DataError`."""
    array = np.asarray(sim)
    if array.ndim != 2:
        raise DataError(
            f"{name} must be a 2-D [n_text, n_video] matrix, got shape {array.shape}",
            "save the similarity matrix with texts as rows and videos as columns",
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {array.shape})", "provide at least one text and one video")
    if array.dtype.kind not in "fiu":
        raise DataError(f"{name} must hold real numbers, got dtype {array.dtype}", "save it as float32 or float64")
    if array.dtype.kind == "f" and np.isnan(array).any():
        count = int(np.isnan(array).sum())
        raise DataError(f"{name} contains {count} NaN value(s)", "fix the model output (NaN scores cannot be ranked)")
    return array


def validate_text_to_video(text_to_video: Any, n_text: int, n_video: int) -> np.ndarray:
    """Return the caption -> video map as an int64 array or raise :class:`DataError`."""
    mapping = np.asarray(text_to_video)
    if mapping.ndim != 1 or mapping.shape[0] != n_text:
        raise DataError(
            f"text_to_video must be a 1-D array of length n_text={n_text}, got shape {mapping.shape}",
            "give the ground-truth video column of every text row",
        )
    if mapping.dtype.kind == "f":
        if not np.all(np.isfinite(mapping)) or not np.all(mapping == np.round(mapping)):
            raise DataError("text_to_video must hold integer video indices", "save it as an int array")
    elif mapping.dtype.kind not in "iu":
        raise DataError(f"text_to_video must hold integer video indices, got dtype {mapping.dtype}")
    mapping = mapping.astype(np.int64)
    out_of_range = (mapping < 0) | (mapping >= n_video)
    if out_of_range.any():
        first = int(np.flatnonzero(out_of_range)[0])
        raise DataError(
            f"text_to_video[{first}] = {int(mapping[first])} is outside the {n_video} video columns",
            "indices must be 0-based column numbers of sim",
        )
    captions_per_video = np.bincount(mapping, minlength=n_video)
    uncaptioned = np.flatnonzero(captions_per_video == 0)
    if uncaptioned.size:
        shown = ", ".join(str(int(v)) for v in uncaptioned[:5])
        more = "" if uncaptioned.size <= 5 else f" (and {uncaptioned.size - 5} more)"
        raise DataError(
            f"{uncaptioned.size} video column(s) have no caption: {shown}{more}",
            "every video needs at least one text row pointing at it; drop caption-less columns",
        )
    return mapping


# ---------------------------------------------------------------------------------------------------------------
# counting g and e


def count_above_and_tied(
    scores: np.ndarray, truth_columns: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """For each row, count other candidates strictly above (``g``) and exactly at (``e``) the ground-truth score.

    ``scores`` may be any 2-D view (e.g. a transpose); rows are processed ``chunk_rows`` at a time.
    """
    n_rows = scores.shape[0]
    above = np.empty(n_rows, dtype=np.int64)
    tied = np.empty(n_rows, dtype=np.int64)
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        rows = scores[start:stop]
        truth = rows[np.arange(stop - start), truth_columns[start:stop]][:, None]
        above[start:stop] = np.count_nonzero(rows > truth, axis=1)
        # the ground truth itself equals its own score: subtract it
        tied[start:stop] = np.count_nonzero(rows == truth, axis=1) - 1
    return above, tied


def _all_captions_video_counts(
    sim: np.ndarray, text_to_video: np.ndarray, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """g and e of every video query when all its captions are ground truths (see module docstring)."""
    n_text, n_video = sim.shape
    truth_scores = sim[np.arange(n_text), text_to_video]
    # float64 holds every value of the narrower dtypes exactly, so comparisons against it stay exact
    best = np.full(n_video, -np.inf, dtype=np.float64)
    np.maximum.at(best, text_to_video, truth_scores)
    above = np.zeros(n_video, dtype=np.int64)
    equal = np.zeros(n_video, dtype=np.int64)
    for start in range(0, n_text, chunk_rows):
        rows = sim[start : start + chunk_rows]
        above += np.count_nonzero(rows > best[None, :], axis=0)
        equal += np.count_nonzero(rows == best[None, :], axis=0)
    # ground-truth captions never score above the best one; those equal to it are not "other" candidates
    truth_at_best = np.bincount(text_to_video, weights=(truth_scores == best[text_to_video]), minlength=n_video)
    tied = equal - truth_at_best.astype(np.int64)
    return above, tied


def _group_max_matrix(sim: np.ndarray, text_to_video: np.ndarray, chunk_rows: int) -> np.ndarray:
    """``out[i, j]`` = max over the captions ``c`` of video ``i`` of ``sim[c, j]`` (V x V, sim's dtype)."""
    n_video = sim.shape[1]
    order = np.argsort(text_to_video, kind="stable")
    sorted_videos = text_to_video[order]
    group_starts = np.flatnonzero(np.r_[True, sorted_videos[1:] != sorted_videos[:-1]])
    group_ends = np.r_[group_starts[1:], len(order)]
    out = np.empty((n_video, n_video), dtype=sim.dtype)
    video = 0
    while video < n_video:
        # take whole videos until roughly chunk_rows captions are gathered
        last = int(np.searchsorted(group_starts, group_starts[video] + chunk_rows, side="left"))
        last = max(last, video + 1)
        rows = sim[order[group_starts[video] : group_ends[last - 1]]]
        out[video:last] = np.maximum.reduceat(rows, group_starts[video:last] - group_starts[video], axis=0)
        video = last
    return out


# ---------------------------------------------------------------------------------------------------------------
# ranks, contributions, aggregation


def ranks_from_counts(above: np.ndarray, tied: np.ndarray, tie: str) -> np.ndarray:
    """1-based float ranks from ``g`` (above) and ``e`` (tied) under a tie policy."""
    check_tie_policy(tie)
    above = np.asarray(above, dtype=np.float64)
    tied = np.asarray(tied, dtype=np.float64)
    if tie == "optimistic":
        return above + 1.0
    if tie == "pessimistic":
        return above + tied + 1.0
    return above + tied / 2.0 + 1.0


def above_from_ranks(ranks: Any, ties: Any, tie: str) -> np.ndarray:
    """Reconstruct ``g`` from a rank and its tie count under the policy that produced the rank."""
    check_tie_policy(tie)
    ranks = np.asarray(ranks, dtype=np.float64)
    ties = np.asarray(ties, dtype=np.float64)
    if tie == "optimistic":
        return ranks - 1.0
    if tie == "pessimistic":
        return ranks - 1.0 - ties
    return ranks - 1.0 - ties / 2.0


def _recall_contributions(above: np.ndarray, tied: np.ndarray, tie: str, k: int) -> np.ndarray:
    """Per-query probability (0..1) that the ground truth is in the top ``k``."""
    if tie == "expected":
        return np.clip((k - above) / (tied + 1.0), 0.0, 1.0)
    ranks = ranks_from_counts(above, tied, tie)
    return (ranks <= k).astype(np.float64)


def _harmonic_numbers(largest: int) -> np.ndarray:
    """``H[n] = sum_{r=1..n} 1/r`` for n = 0..largest."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, largest + 1, dtype=np.float64))])


def _reciprocal_rank_contributions(above: np.ndarray, tied: np.ndarray, tie: str) -> np.ndarray:
    if tie != "expected":
        return 1.0 / ranks_from_counts(above, tied, tie)
    # exact mean of 1/r over the tied positions r = g+1 .. g+e+1: (H[g+e+1] - H[g]) / (e + 1)
    above_int = np.rint(above).astype(np.int64)
    tied_int = np.rint(tied).astype(np.int64)
    if above_int.size == 0:
        return np.zeros(0)
    harmonic = _harmonic_numbers(int((above_int + tied_int).max()) + 1)
    return (harmonic[above_int + tied_int + 1] - harmonic[above_int]) / (tied_int + 1.0)


def per_query_contributions(ranks: Any, ties: Any, tie: str, metric: str) -> np.ndarray:
    """Per-query values whose mean is ``metric``.

    Args:
        ranks: per-query ranks as produced under ``tie``.
        ties: per-query tie counts ``e`` (zeros if unknown).
        tie: the tie policy that produced ``ranks``.
        metric: ``R@K`` (any positive K; values in percent, so the mean is R@K in percent), ``MnR`` (the rank) or
            ``MRR`` (reciprocal rank in 0..1; for ``expected``, the exact mean of 1/r over the tied positions).
            MdR is a median, not a mean, and has no per-query contribution.

    Returns:
        float64 array, one value per query.
    """
    ties_array = np.zeros(np.shape(ranks)) if ties is None else np.asarray(ties, dtype=np.float64)
    above = above_from_ranks(ranks, ties_array, tie)
    match = _RECALL_PATTERN.match(metric)
    if match:
        return 100.0 * _recall_contributions(above, ties_array, tie, int(match.group(1)))
    if metric == "MnR":
        return np.asarray(ranks, dtype=np.float64).copy()
    if metric == "MRR":
        return _reciprocal_rank_contributions(above, ties_array, tie)
    raise DataError(f"metric {metric!r} has no per-query contribution", "use R@K, MnR or MRR")


def metrics_from_ranks(ranks: Any, ties: Any, tie: str) -> dict[str, float]:
    """``{"R@1", "R@5", "R@10", "MdR", "MnR"}`` from per-query ranks and tie counts under ``tie``."""
    check_tie_policy(tie)
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise DataError("cannot compute metrics over zero queries")
    ties_array = np.zeros(ranks.shape) if ties is None else np.asarray(ties, dtype=np.float64)
    above = above_from_ranks(ranks, ties_array, tie)
    metrics = {f"R@{k}": float(100.0 * _recall_contributions(above, ties_array, tie, k).mean()) for k in RECALL_LEVELS}
    metrics["MdR"] = float(np.median(ranks))
    metrics["MnR"] = float(ranks.mean())
    return metrics


def _direction_results(above: np.ndarray, tied: np.ndarray, tie: str) -> tuple[dict[str, float], list, list]:
    ranks = ranks_from_counts(above, tied, tie)
    return metrics_from_ranks(ranks, tied, tie), ranks.tolist(), tied.astype(int).tolist()


def _check_indices(indices: Any, size: int, what: str, subset: str) -> np.ndarray:
    array = np.asarray(indices if indices is not None else [], dtype=np.int64).reshape(-1)
    if array.size and (array.min() < 0 or array.max() >= size):
        raise DataError(f"subset {subset!r}: {what} indices must lie in 0..{size - 1}")
    return array


def evaluate_similarity(
    sim: np.ndarray,
    text_to_video: Sequence[int],
    tie: str = "expected",
    v2t_mode: str = "all-captions",
    subsets: Mapping[str, tuple[Sequence[int], Sequence[int]]] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> RetrievalEvaluation:
    """Text-to-video and video-to-text metrics of a similarity matrix.

    Args:
        sim: ``[n_text, n_video]`` scores, higher is better (compared in its own dtype, never copied to float64).
        text_to_video: ground-truth video column of every text row; every video needs at least one caption.
        tie: one of :data:`TIE_POLICIES`.
        v2t_mode: one of :data:`V2T_MODES`.
        subsets: ``{name: (caption_indices, video_indices)}``; a subset averages only over those text queries and
            video queries, ranks still being computed against the whole gallery. An empty side gives ``None``
            metrics for that direction.
        chunk_rows: rows compared at once (memory knob).

    Raises:
        DataError: bad shapes, NaN scores, out-of-range ids, videos without a caption, unknown policy or mode.
    """
    check_tie_policy(tie)
    check_v2t_mode(v2t_mode)
    scores = validate_similarity(sim)
    n_text, n_video = scores.shape
    mapping = validate_text_to_video(text_to_video, n_text, n_video)

    t2v_above, t2v_tied = count_above_and_tied(scores, mapping, chunk_rows)
    if v2t_mode == "all-captions":
        v2t_above, v2t_tied = _all_captions_video_counts(scores, mapping, chunk_rows)
    else:
        group_max = _group_max_matrix(scores, mapping, chunk_rows)
        # query video j ranks candidate videos i by group_max[i, j]: rows of the transpose
        v2t_above, v2t_tied = count_above_and_tied(group_max.T, np.arange(n_video), chunk_rows)

    t2v_metrics, t2v_ranks, t2v_ties = _direction_results(t2v_above, t2v_tied, tie)
    v2t_metrics, v2t_ranks, v2t_ties = _direction_results(v2t_above, v2t_tied, tie)
    per_query = {
        "t2v_rank": t2v_ranks,
        "v2t_rank": v2t_ranks,
        "t2v_ties": t2v_ties,
        "v2t_ties": v2t_ties,
        "t2v_video": mapping.tolist(),
    }

    subset_results: dict[str, dict[str, Any]] = {}
    for name, (caption_indices, video_indices) in (subsets or {}).items():
        captions = _check_indices(caption_indices, n_text, "caption", name)
        videos = _check_indices(video_indices, n_video, "video", name)
        t2v_ranks_array = np.asarray(t2v_ranks)
        v2t_ranks_array = np.asarray(v2t_ranks)
        subset_metrics = {
            "t2v": metrics_from_ranks(t2v_ranks_array[captions], t2v_tied[captions], tie)
            if captions.size
            else dict.fromkeys(METRIC_NAMES),
            "v2t": metrics_from_ranks(v2t_ranks_array[videos], v2t_tied[videos], tie)
            if videos.size
            else dict.fromkeys(METRIC_NAMES),
        }
        subset_results[name] = {
            "metrics": subset_metrics,
            "per_query": {
                "t2v_rank": t2v_ranks_array[captions].tolist(),
                "v2t_rank": v2t_ranks_array[videos].tolist(),
                "t2v_ties": t2v_tied[captions].tolist(),
                "v2t_ties": v2t_tied[videos].tolist(),
                "t2v_video": mapping[captions].tolist(),
            },
        }

    return RetrievalEvaluation(
        metrics={"t2v": t2v_metrics, "v2t": v2t_metrics},
        per_query=per_query,
        subsets=subset_results,
        tie=tie,
        v2t_mode=v2t_mode,
    )


def pairwise_accuracy(sim: Any, queries: Sequence[int], own_videos: Sequence[int],
                      rival_videos: Sequence[int]) -> dict[str, Any]:
    """How often each text query scores its own video above one rival video (ties count one half).

    Returns ``{"accuracy": percent, "per_query": [1.0 | 0.5 | 0.0, ...]}``; 50% is what a model that cannot tell
    own and rival apart gets (synthetic-motion's order twins: the rival is the clip's time reversal).
    """
    sim = np.asarray(sim)
    rows = np.asarray(queries, dtype=np.int64)
    own = sim[rows, np.asarray(own_videos, dtype=np.int64)]
    rival = sim[rows, np.asarray(rival_videos, dtype=np.int64)]
    return pairwise_accuracy_from_scores(own, rival)


def pairwise_accuracy_from_scores(own: Any, rival: Any) -> dict[str, Any]:
    """:func:`pairwise_accuracy` from each query's score of its own video and of its rival."""
    own, rival = np.asarray(own), np.asarray(rival)
    per_query = np.where(own > rival, 1.0, np.where(own == rival, 0.5, 0.0))
    return {"accuracy": float(100.0 * per_query.mean()) if len(per_query) else float("nan"),
            "per_query": per_query.tolist()}
