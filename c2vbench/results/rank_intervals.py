"""Rank intervals: the ranks each leaderboard entry could hold, from a bootstrap over seeds and queries.

Every entry of a table ranks the same test queries, so one replicate draws the query clusters (videos for
multi-caption text queries) once, with replacement, and applies the draw to every entry; inside each entry its seeds
are drawn with replacement as well. The entries are ranked by their replicate means (rank 1 = the highest; equal
means share the better rank) and an entry's 95% rank interval runs from the 2.5% to the 97.5% quantile of its
replicate ranks. An entry whose interval reaches rank 1 cannot be separated from the top.

A plain bootstrap of k seed means has variance ``(k - 1) / k`` of the usual estimate of the seed spread (it is too
narrow with 2-3 seeds), so each replicate's resampled seed average is moved away from the replicate's all-seed average
by the factor ``sqrt(k / (k - 1))`` (the rescaled bootstrap); an entry with one seed counts query sampling only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from c2vbench.results.stats import cluster_draw_counts, cluster_ids, cluster_totals, resample_batches

DEFAULT_RANK_RESAMPLES = 2000


def bootstrap_ranks(
    entry_values: Sequence[np.ndarray],
    clusters: Sequence[int] | np.ndarray | None = None,
    n_resamples: int = DEFAULT_RANK_RESAMPLES,
    seed: int = 0,
    higher_is_better: bool = True,
) -> np.ndarray:
    """``[n_resamples, n_entries]`` rank of every entry in every bootstrap replicate (see the module docstring).

    Args:
        entry_values: one ``[k_seeds, n_queries]`` array of per-query values per entry, all on the same queries.
        clusters: cluster label of each query (the video of each caption), or None.

    Raises:
        ValueError: entries with different query counts.
    """
    arrays = [np.atleast_2d(np.asarray(values, dtype=np.float64)) for values in entry_values]
    n_queries = {array.shape[1] for array in arrays}
    if len(n_queries) != 1:
        raise ValueError(f"entries rank different query counts: {sorted(n_queries)}")
    dense, n_clusters = cluster_ids(clusters, arrays[0].shape[1])
    sizes = np.bincount(dense, minlength=n_clusters).astype(np.float64)
    totals = [cluster_totals(array[:, :, None], dense, n_clusters)[:, :, 0] for array in arrays]  # [k, C]
    rng = np.random.default_rng(seed)
    sign = 1.0 if higher_is_better else -1.0
    ranks = []
    for batch in resample_batches(n_resamples, n_clusters):
        draw_counts = cluster_draw_counts(rng, n_clusters, batch)  # [batch, C]
        counts = draw_counts @ sizes
        means = []
        for entry_totals in totals:
            seed_means = (draw_counts @ entry_totals.T) / counts[:, None]  # [batch, k]
            k = seed_means.shape[1]
            average = seed_means.mean(axis=1)
            if k > 1:
                picks = rng.integers(0, k, size=(batch, k))
                resampled = np.take_along_axis(seed_means, picks, axis=1).mean(axis=1)
                average = average + np.sqrt(k / (k - 1)) * (resampled - average)
            means.append(sign * average)
        stacked = np.stack(means, axis=1)  # [batch, entries]
        ranks.append(1 + (stacked[:, None, :] > stacked[:, :, None]).sum(axis=2))
    return np.concatenate(ranks)


def rank_intervals(
    entry_values: Sequence[np.ndarray],
    clusters: Sequence[int] | np.ndarray | None = None,
    n_resamples: int = DEFAULT_RANK_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
    higher_is_better: bool = True,
) -> list[tuple[int, int]]:
    """``(best, worst)`` rank each entry could hold at ``confidence``: the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` quantiles of its :func:`bootstrap_ranks`."""
    ranks = bootstrap_ranks(entry_values, clusters, n_resamples, seed, higher_is_better)
    tail = (1.0 - confidence) / 2.0
    low = np.quantile(ranks, tail, axis=0, method="inverted_cdf")
    high = np.quantile(ranks, 1.0 - tail, axis=0, method="inverted_cdf")
    return [(int(lo), int(hi)) for lo, hi in zip(low, high, strict=True)]
