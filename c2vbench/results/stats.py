"""Paired significance tests and confidence intervals on per-query outcomes.

The unit of analysis is the query: two results on the same protocol list a rank for every query in the same order,
so they can be compared query by query (paired). Choices, all deterministic for a given ``seed``:

* **Confidence intervals**: percentile bootstrap of the mean (difference). Resampling is *cluster-aware*: when the
  text queries are captions of videos (``per_query["t2v_video"]``), whole videos are resampled and their captions
  move together, because captions of one video are not independent. The resampled mean is the sum over the drawn
  captions divided by their count.
* **p-values (one run per side)**: paired randomisation test that flips the sign of each query's (or each video
  cluster's) difference. Two-sided, statistic |sum of differences|. When ``2**n_units <= n_resamples`` every sign
  vector is enumerated and the p-value is exact (the share of sign vectors at least as extreme, identity included);
  otherwise ``n_resamples`` random sign vectors are drawn and ``p = (1 + #extreme) / (1 + n_resamples)``, the
  correction that keeps a Monte-Carlo p-value valid (never 0).
* **Configuration-level test** (training noise and query sampling): :mod:`c2vbench.results.seed_test`. The
  bootstraps here that resample seeds are kept for rank intervals (:mod:`c2vbench.results.rank_intervals`), never
  for p-values: with 2-5 seeds a bootstrap of seeds underestimates their spread and rejected 8-13% of true nulls at
  alpha = 0.05 with 3 vs 3 seeds.
* **Conditional on the trained models**: the sign-flip test is valid for the question "do these trained models
  differ on queries like these", never for "do these configurations differ" (that needs the seed variance).
* **Multiple comparisons**: Holm-Bonferroni adjusted p-values (:func:`holm_adjust`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from c2vbench.platform.errors import ResultFileError

COMPARE_METRICS = ("R@1", "R@5", "R@10", "MnR", "MRR")
DEFAULT_RESAMPLES = 10_000
# bound on the integers drawn per batch of resamples (batch x clusters), to keep memory flat for large query sets
_BATCH_CELLS = 2_000_000


# ---------------------------------------------------------------------------------------------------------------
# clusters and resampling primitives


def cluster_ids(clusters: Sequence[int] | np.ndarray | None, n_queries: int) -> tuple[np.ndarray, int]:
    """Dense cluster index (0..C-1) of every query; every query is its own cluster when ``clusters`` is None."""
    if clusters is None:
        return np.arange(n_queries), n_queries
    labels = np.asarray(clusters)
    if labels.shape != (n_queries,):
        raise ResultFileError(f"cluster labels have shape {labels.shape}, expected ({n_queries},)")
    _, dense = np.unique(labels, return_inverse=True)
    return dense.reshape(-1), int(dense.max()) + 1


def as_seed_matrix(values: Any) -> np.ndarray:
    """``[n_seeds, n_queries, n_stats]`` float64 view of 1-D, 2-D (seeds x queries) or 3-D input."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[1] == 0:
        raise ValueError(
            f"per-query values must be [queries], [seeds, queries] or [seeds, queries, k], got {array.shape}"
        )
    return array


def cluster_totals(values: np.ndarray, dense: np.ndarray, n_clusters: int) -> np.ndarray:
    """``[n_seeds, n_clusters, k]`` sums of ``[n_seeds, n_queries, k]`` per-query values over each cluster."""
    if n_clusters == values.shape[1] and np.array_equal(dense, np.arange(n_clusters)):
        return values.copy()
    order = np.argsort(dense, kind="stable")
    sizes = np.bincount(dense, minlength=n_clusters)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.add.reduceat(values[:, order], starts, axis=1)


def cluster_draw_counts(rng: np.random.Generator, n_clusters: int, batch: int) -> np.ndarray:
    """``[batch, n_clusters]``: how often each cluster is drawn when drawing n_clusters with replacement."""
    draws = rng.integers(0, n_clusters, size=(batch, n_clusters))
    flat = (draws + (np.arange(batch) * n_clusters)[:, None]).ravel()
    return np.bincount(flat, minlength=batch * n_clusters).reshape(batch, n_clusters).astype(np.float64)


def resample_batches(n_resamples: int, n_clusters: int) -> list[int]:
    size = max(1, min(n_resamples, _BATCH_CELLS // max(1, n_clusters)))
    return [min(size, n_resamples - start) for start in range(0, n_resamples, size)]


def _seed_means(draw_counts: np.ndarray, sums: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``[batch, n_seeds, k]`` mean of every seed's values over the drawn clusters."""
    totals = np.matmul(draw_counts, sums)  # [n_seeds, batch, k]
    counts = draw_counts @ sizes  # [batch]
    return np.transpose(totals, (1, 0, 2)) / counts[:, None, None]


def _resample_seed_average(rng: np.random.Generator, seed_means: np.ndarray) -> np.ndarray:
    """Average over seeds drawn with replacement (the outer level of the two-level bootstrap)."""
    batch, n_seeds, _ = seed_means.shape
    if n_seeds == 1:
        return seed_means[:, 0, :]
    picks = rng.integers(0, n_seeds, size=(batch, n_seeds))
    return np.take_along_axis(seed_means, picks[:, :, None], axis=1).mean(axis=1)


# ---------------------------------------------------------------------------------------------------------------
# bootstrap


def bootstrap_means(
    values: Any,
    clusters: Sequence[int] | np.ndarray | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap distribution of the mean of per-query values (two-level when several seeds are given).

    Args:
        values: ``[n_queries]``, ``[n_seeds, n_queries]`` or ``[n_seeds, n_queries, k]`` (k statistics at once,
            all resampled with the same draws).
        clusters: cluster label of each query (e.g. the video of each caption), or None for independent queries.

    Returns:
        ``[n_resamples, k]`` (``[n_resamples]`` when the input had no statistics axis).
    """
    array = as_seed_matrix(values)
    dense, n_clusters = cluster_ids(clusters, array.shape[1])
    sums = cluster_totals(array, dense, n_clusters)
    sizes = np.bincount(dense, minlength=n_clusters).astype(np.float64)
    rng = np.random.default_rng(seed)
    parts = []
    for batch in resample_batches(n_resamples, n_clusters):
        draw_counts = cluster_draw_counts(rng, n_clusters, batch)
        parts.append(_resample_seed_average(rng, _seed_means(draw_counts, sums, sizes)))
    samples = np.concatenate(parts)
    return samples if np.ndim(values) == 3 else samples[:, 0]


def bootstrap_differences(
    a_values: Any,
    b_values: Any,
    clusters: Sequence[int] | np.ndarray | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> np.ndarray:
    """Paired bootstrap distribution of ``mean(b) - mean(a)``.

    Queries (or clusters) are resampled once per replicate and applied to both sides, which keeps the comparison
    paired; with several seeds per side, each side's seeds are also resampled, independently (two-level bootstrap).
    Shapes as in :func:`bootstrap_means`; both sides must have the same number of queries.
    """
    a_array = as_seed_matrix(a_values)
    b_array = as_seed_matrix(b_values)
    if a_array.shape[1:] != b_array.shape[1:]:
        raise ResultFileError(
            f"cannot pair {a_array.shape[1]} queries with {b_array.shape[1]} queries",
            "compare results of the same test set",
        )
    dense, n_clusters = cluster_ids(clusters, a_array.shape[1])
    a_sums = cluster_totals(a_array, dense, n_clusters)
    b_sums = cluster_totals(b_array, dense, n_clusters)
    sizes = np.bincount(dense, minlength=n_clusters).astype(np.float64)
    rng = np.random.default_rng(seed)
    parts = []
    for batch in resample_batches(n_resamples, n_clusters):
        draw_counts = cluster_draw_counts(rng, n_clusters, batch)
        a_mean = _resample_seed_average(rng, _seed_means(draw_counts, a_sums, sizes))
        b_mean = _resample_seed_average(rng, _seed_means(draw_counts, b_sums, sizes))
        parts.append(b_mean - a_mean)
    samples = np.concatenate(parts)
    return samples if np.ndim(a_values) == 3 else samples[:, 0]


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Percentile interval along the first axis: ``[2, ...]`` (low, high)."""
    tail = (1.0 - confidence) / 2.0
    return np.quantile(samples, [tail, 1.0 - tail], axis=0)


def bootstrap_p_value(samples: np.ndarray) -> np.ndarray | float:
    """Two-sided bootstrap p-value of "difference = 0", +1 corrected (see the module docstring)."""
    count = samples.shape[0]
    below = (samples <= 0).sum(axis=0)
    above = (samples >= 0).sum(axis=0)
    p_value = np.minimum(1.0, 2.0 * (np.minimum(below, above) + 1) / (count + 1))
    return float(p_value) if np.ndim(p_value) == 0 else p_value


def paired_bootstrap_ci(
    a: Any,
    b: Any,
    clusters: Sequence[int] | np.ndarray | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``mean(b - a)`` for paired per-query values (cluster-aware)."""
    low, high = percentile_interval(bootstrap_differences(a, b, clusters, n_resamples, seed), confidence)
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------------------------
# randomisation test


def paired_randomization_test(
    a: Any,
    b: Any,
    clusters: Sequence[int] | np.ndarray | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> np.ndarray | float:
    """Two-sided paired sign-flip randomisation test of "mean(b - a) = 0".

    Args:
        a, b: ``[n_queries]`` or ``[n_queries, k]`` per-query values (k statistics tested at once).
        clusters: when given, the differences of one cluster are flipped together.
        n_resamples: random sign vectors; if ``2**n_units <= n_resamples`` all sign vectors are enumerated instead
            (exact p-value).

    Returns:
        the p-value (an array of k p-values for 2-D input).
    """
    a_array = np.asarray(a, dtype=np.float64)
    b_array = np.asarray(b, dtype=np.float64)
    if a_array.shape != b_array.shape:
        raise ResultFileError(f"cannot pair per-query values of shapes {a_array.shape} and {b_array.shape}")
    differences = (b_array - a_array).reshape(a_array.shape[0], -1)
    dense, n_units = cluster_ids(clusters, differences.shape[0])
    unit_sums = cluster_totals(differences[None, :, :], dense, n_units)[0]
    observed = np.abs(unit_sums.sum(axis=0))
    # relative tolerance so that floating-point noise in equal sums does not make a statistic "less extreme"
    threshold = observed - 1e-9 * np.maximum(1.0, np.abs(unit_sums).sum(axis=0))

    if 2**n_units <= n_resamples:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n_units)))
        extreme = (np.abs(signs @ unit_sums) >= threshold).sum(axis=0)
        p_value = extreme / signs.shape[0]
    else:
        rng = np.random.default_rng(seed)
        extreme = np.zeros(differences.shape[1])
        for batch in resample_batches(n_resamples, n_units):
            signs = rng.choice(np.array([1.0, -1.0]), size=(batch, n_units))
            extreme += (np.abs(signs @ unit_sums) >= threshold).sum(axis=0)
        p_value = (extreme + 1.0) / (n_resamples + 1.0)
    p_value = np.minimum(1.0, p_value)
    return float(p_value[0]) if a_array.ndim == 1 else p_value


# ---------------------------------------------------------------------------------------------------------------
# multiple comparisons


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    With the p-values sorted ascending, ``adjusted_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j))`` (1-based).
    """
    values = np.asarray(p_values, dtype=np.float64)
    m = values.size
    if m == 0:
        return []
    order = np.argsort(values, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted.tolist()
