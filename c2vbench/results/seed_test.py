"""The configuration-level test: is configuration B better than A, over training seeds *and* test queries?

A configuration is trained under ``k`` seeds and every trained model ranks the same test queries. The per-query value
of seed ``i`` (a hit at K, a rank, a reciprocal rank) is modelled as

    query effect + configuration-by-query effect + seed offset_i + seed-by-query noise_iq

and the question is about the expectation over seeds and over the population of queries the test set samples. The
difference of the seed-averaged means, ``D = mean(b) - mean(a)``, has variance

    Var(D) = offsets_a / k_a + offsets_b / k_b + Q

* ``offsets_x``: the variance of side x's seed offsets (training noise proper). The spread of the per-seed means,
  ``s²_x`` (``k_x - 1`` degrees of freedom), holds these offsets *and* the seed-by-query noise averaged over the test
  set; the noise part, ``τ²_x``, is estimated far more precisely (about ``C·(k_x - 1)`` degrees of freedom) from how
  each query cluster's total varies across seeds once the seed offsets are removed, so ``offsets_x`` is estimated as
  ``max(0, s²_x - τ²_x)``.
* ``Q``: the query-sampling variance of the paired difference of the seed-averaged values, noise included: the
  cluster-robust variance of the mean over clusters (videos for multi-caption text queries), ``C - 1`` df.

``t = D / sqrt(Var(D))`` is referred to Student's t. Its degrees of freedom are where earlier versions went wrong
(issue 22): with 2 seeds a side's ``s²`` has a single degree of freedom, and when it comes out small by chance a
Satterthwaite df computed from the estimates jumps to the query part's (tens to thousands), so exactly the replicates
that underestimate Var(D) were judged against the flattest reference (size 0.03-0.04 at alpha = 0.01 with 2 vs 2
seeds, 0.08-0.12 at alpha = 0.05 with 2 vs 10). Two guards fix that, each computing a Satterthwaite df that the data
cannot push up by luck:

* **a floor that does not inflate the df**: in the df formula each side's seed term enters at
  ``f_ν · max(s²_x, τ²_x) / k_x``, never below the noise it contains, and scaled by ``f_ν = ν / χ²_ν(γ)``
  (``γ`` = :data:`DF_QUANTILE`), the factor that turns a ``ν``-df variance estimate into its one-sided upper
  ``1 - γ`` bound: a seed variance that came out small is not trusted to be small when the df are set. With equal
  seed counts and no query part the factor cancels (the plain Welch df);
* **no more df than an equal-variance design**: the df are at most the Satterthwaite df the same design has when
  the two sides' seed variances are replaced by their pooled estimate, so that a 2-seed side whose spread happened
  to be small cannot borrow the 10-seed side's df (with equal seed counts the bound is not applied).

**One seed on a side** (a new method's single run against a baseline's seeds): the single run's seed variance cannot
be estimated, so it is *borrowed* from the other side under the stated assumption that both configurations have the
same seed-to-seed variance: ``Var(D) = offsets_b · (1 + 1/k_b) + Q`` with ``k_b - 1`` df, guarded as above. Unlike a
mean of several seeds, the single run's deviation is not averaged towards normality, and its shape cannot be checked
from the other side's few seeds: the seed distributions of MnR and of R@10 near its ceiling are skewed, and
Student's reference then rejected up to 0.070 of true nulls at alpha = 0.05 and 0.035 at 0.01, from 1v3 to 1v20
(BENCHMARKS.md). Two allowances follow:

* **heavier tails**: the df are combined with :data:`ONE_SEED_SHAPE_DF` as ``1 / (1/ν + 1/12)``, as if a single
  run's deviation had the tails of a t with 12 df; the allowance stays however many seeds the other side has;
* **a floor**: p is not resolved below :data:`ONE_SEED_P_FLOOR` (0.01), since a smaller p would rest on the far tail
  of that unchecked shape. A 1% claim needs 2 seeds on each side.

With one seed on both sides no configuration-level test exists (:class:`NoSeedLevelTest`).

**Two seeds a side** cost power where the training noise is small: a one-df seed variance cannot exclude a spread
several times the observed one. Loosening the guard buys that power back only by breaking alpha = 0.01 when the
training noise is large (the frontier is measured by ``bench_stats_calibration.py --frontier``, in BENCHMARKS.md).

Calibration (size at alpha = 0.05 and 0.01, every metric, equal and unequal seed counts, query difficulty from a
U-shaped Beta, seed-by-topic interaction, failed seeds, multi-caption layouts) is measured by
``benchmarks/bench_stats_calibration.py`` and recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from c2vbench.results.stats import as_seed_matrix, cluster_ids, cluster_totals

DF_QUANTILE = 0.3  # γ: seed terms enter the df formula at their one-sided upper (1 - γ) bound
ONE_SEED_SHAPE_DF = 12.0  # a single run's deviation: tails of a t with this many df at most (module docstring)
ONE_SEED_P_FLOOR = 0.01  # a one-seed side's p is not resolved below this (see the module docstring)
POWER = 0.8
DETECTION_ALPHA = 0.05
EQUAL_SEED_VARIANCE = ("equal seed variance assumed: the 1-seed side borrows the other side's seed-to-seed "
                       "variance")


class NoSeedLevelTest(ValueError):
    """One seed on both sides: training noise cannot be estimated, so no configuration-level test exists."""


@dataclasses.dataclass(frozen=True)
class VarianceComponents:
    """The estimated parts of Var(D) for k statistics at once (arrays of length k; see the module docstring)."""

    difference: np.ndarray  # D = mean(b) - mean(a)
    seeds: tuple[int, int]
    seed_mean_variance: tuple[np.ndarray, np.ndarray]  # s²_x, variance of the per-seed means (0 with one seed)
    noise: tuple[np.ndarray, np.ndarray]  # τ²_x, the seed-by-query noise's share of s²_x (0 with one seed)
    query_variance: np.ndarray  # Q, paired, noise included
    clusters: int


@dataclasses.dataclass(frozen=True)
class SeedLevelTest:
    """Outcome of :func:`seed_level_test`, one value per statistic (arrays of length k)."""

    difference: np.ndarray
    standard_error: np.ndarray
    degrees_of_freedom: np.ndarray
    p_value: np.ndarray
    interval: np.ndarray  # [2, k]: low, high
    detectable: np.ndarray  # smallest |difference| detected with POWER at DETECTION_ALPHA (two-sided)
    assumption: str | None = None  # what the test assumed beyond the model (the borrowed seed variance)
    p_floor: float | None = None  # p is not resolved below this (one seed on a side), or None


def _noise_of_side(totals: np.ndarray, seed_means: np.ndarray, sizes: np.ndarray, n_queries: int) -> np.ndarray:
    """τ²: variance of a per-seed mean due to seed-by-query noise (cluster totals' spread across seeds, offsets
    removed)."""
    if totals.shape[0] < 2:
        return np.zeros(totals.shape[2])
    without_offsets = totals - sizes[None, :, None] * seed_means[:, None, :]
    return without_offsets.var(axis=0, ddof=1).sum(axis=0) / n_queries**2


def variance_components(a_values: Any, b_values: Any,
                        clusters: Sequence[int] | np.ndarray | None = None) -> VarianceComponents:
    """Estimate D and the parts of Var(D) from ``[k_seeds, n_queries(, m)]`` per-query values of both sides.

    Raises:
        ValueError: query counts that differ.
    """
    a_array = as_seed_matrix(a_values)
    b_array = as_seed_matrix(b_values)
    if a_array.shape[1:] != b_array.shape[1:]:
        raise ValueError(f"cannot pair {a_array.shape[1:]} with {b_array.shape[1:]} per-query values")
    n_queries = a_array.shape[1]
    dense, n_clusters = cluster_ids(clusters, n_queries)
    sizes = np.bincount(dense, minlength=n_clusters).astype(np.float64)
    a_seed_means = a_array.mean(axis=1)  # [k_a, m]
    b_seed_means = b_array.mean(axis=1)
    difference = b_seed_means.mean(axis=0) - a_seed_means.mean(axis=0)
    a_totals = cluster_totals(a_array, dense, n_clusters)  # [k_a, C, m]
    b_totals = cluster_totals(b_array, dense, n_clusters)
    paired = b_totals.mean(axis=0) - a_totals.mean(axis=0)  # [C, m]
    residuals = paired - sizes[:, None] * difference[None, :]
    query_variance = (residuals**2).sum(axis=0) * n_clusters / max(n_clusters - 1, 1) / n_queries**2

    def spread(seed_means: np.ndarray) -> np.ndarray:
        return seed_means.var(axis=0, ddof=1) if seed_means.shape[0] > 1 else np.zeros(seed_means.shape[1])

    return VarianceComponents(
        difference=difference,
        seeds=(a_array.shape[0], b_array.shape[0]),
        seed_mean_variance=(spread(a_seed_means), spread(b_seed_means)),
        noise=(_noise_of_side(a_totals, a_seed_means, sizes, n_queries),
               _noise_of_side(b_totals, b_seed_means, sizes, n_queries)),
        query_variance=query_variance,
        clusters=n_clusters,
    )


def upper_bound_factor(degrees: int, quantile: float = DF_QUANTILE) -> float:
    """``ν / χ²_ν(γ)``: a ``ν``-df variance estimate times this is its one-sided upper ``1 - γ`` confidence bound."""
    from scipy import stats as scipy_stats

    return float(degrees / scipy_stats.chi2.ppf(quantile, degrees))


def _satterthwaite(seed_terms: Sequence[tuple[np.ndarray, np.ndarray, int]], query_variance: np.ndarray,
                   query_degrees: int) -> np.ndarray:
    """Satterthwaite df of ``Σ (term - noise) + Q`` whose terms are ``(term, noise, ν)``: each term is a seed-mean
    variance (noise included) estimated with ν df; Q has ``query_degrees``."""
    total = query_variance.copy()
    denominator = query_variance**2 / query_degrees
    for term, noise, degrees in seed_terms:
        total = total + term - noise
        denominator = denominator + term**2 / degrees
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, total**2 / np.where(denominator > 0, denominator, 1.0), np.inf)


def _test_from(components: VarianceComponents, variance: np.ndarray, degrees: np.ndarray, confidence: float,
               assumption: str | None) -> SeedLevelTest:
    from scipy import stats as scipy_stats

    difference = components.difference
    degrees = np.maximum(degrees, 1.0)
    standard_error = np.sqrt(np.maximum(variance, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(standard_error > 0, np.abs(difference) / np.where(standard_error > 0, standard_error, 1),
                             0.0)
    p_value = 2.0 * scipy_stats.t.sf(statistic, degrees)
    # no variance at all: identical sides give p = 1, a constant non-zero shift p = 0
    p_value = np.where(standard_error > 0, p_value, np.where(difference == 0, 1.0, 0.0))
    half_width = scipy_stats.t.ppf(0.5 + confidence / 2.0, degrees) * standard_error
    detectable = (scipy_stats.t.ppf(1.0 - DETECTION_ALPHA / 2.0, degrees) + scipy_stats.t.ppf(POWER, degrees)) \
        * standard_error
    return SeedLevelTest(difference, standard_error, degrees, np.minimum(1.0, p_value),
                         np.stack([difference - half_width, difference + half_width]), detectable, assumption)


def configuration_test(components: VarianceComponents, confidence: float = 0.95,
                       df_quantile: float = DF_QUANTILE, one_seed_allowances: bool = True) -> SeedLevelTest:
    """The configuration-level test and interval from estimated variance components (see the module docstring).

    ``df_quantile`` (the guard's γ) and ``one_seed_allowances=False`` (Student's reference on the sampling df and no
    floor for a one-seed side) are for measuring the procedure (the calibration benchmark), not for verdicts.

    Raises:
        NoSeedLevelTest: one seed on both sides.
    """
    k_a, k_b = components.seeds
    query_variance = components.query_variance
    query_degrees = max(components.clusters - 1, 1)
    (spread_a, spread_b), (noise_a, noise_b) = components.seed_mean_variance, components.noise
    if k_a < 2 and k_b < 2:
        raise NoSeedLevelTest("one seed on each side: training noise cannot be estimated")
    if k_a >= 2 and k_b >= 2:
        variance = (np.maximum(spread_a - noise_a, 0.0) / k_a + np.maximum(spread_b - noise_b, 0.0) / k_b
                    + query_variance)
        factor_a, factor_b = upper_bound_factor(k_a - 1, df_quantile), upper_bound_factor(k_b - 1, df_quantile)
        separate = _satterthwaite(
            [(factor_a * np.maximum(spread_a, noise_a) / k_a, noise_a / k_a, k_a - 1),
             (factor_b * np.maximum(spread_b, noise_b) / k_b, noise_b / k_b, k_b - 1)],
            query_variance, query_degrees)
        if k_a == k_b:
            return _test_from(components, variance, separate, confidence, None)
        # unequal seed counts: at most the df the design has if both sides share one (the pooled) seed variance
        pooled_spread = ((k_a - 1) * spread_a + (k_b - 1) * spread_b) / (k_a + k_b - 2)
        pooled = _satterthwaite(
            [(np.maximum(pooled_spread, noise_a) / k_a, noise_a / k_a, k_a - 1),
             (np.maximum(pooled_spread, noise_b) / k_b, noise_b / k_b, k_b - 1)],
            query_variance, query_degrees)
        return _test_from(components, variance, np.minimum(separate, pooled), confidence, None)
    # one seed on one side: borrow the other side's seed-offset variance (equal seed variance assumed)
    k, spread, noise = (k_b, spread_b, noise_b) if k_a < 2 else (k_a, spread_a, noise_a)
    scale = 1.0 + 1.0 / k
    variance = scale * np.maximum(spread - noise, 0.0) + query_variance
    guarded = scale * upper_bound_factor(k - 1, df_quantile) * np.maximum(spread, noise)
    sampling = _satterthwaite([(guarded, scale * noise, k - 1)], query_variance, query_degrees)
    if not one_seed_allowances:
        return _test_from(components, variance, sampling, confidence, EQUAL_SEED_VARIANCE)
    degrees = 1.0 / (1.0 / sampling + 1.0 / ONE_SEED_SHAPE_DF)
    borrowed = _test_from(components, variance, degrees, confidence, EQUAL_SEED_VARIANCE)
    return dataclasses.replace(borrowed, p_value=np.maximum(borrowed.p_value, ONE_SEED_P_FLOOR),
                               p_floor=ONE_SEED_P_FLOOR)


def seed_level_test(a_values: Any, b_values: Any, clusters: Sequence[int] | np.ndarray | None = None,
                    confidence: float = 0.95) -> SeedLevelTest:
    """Test "mean(b) = mean(a)" over training seeds and query sampling (see the module docstring).

    Args:
        a_values, b_values: ``[k_seeds, n_queries]`` or ``[k_seeds, n_queries, m]`` per-query values (the same
            queries in the same order on both sides); at least one side needs 2 seeds.
        clusters: cluster label of each query (the video of each caption), or None.
        confidence: of the interval.

    Raises:
        NoSeedLevelTest: one seed on both sides. ValueError: query counts that differ.
    """
    return configuration_test(variance_components(a_values, b_values, clusters), confidence)


# ---------------------------------------------------------------------------------------------------------------
# one configuration's mean


@dataclasses.dataclass(frozen=True)
class MeanInterval:
    """A configuration's mean over seeds and queries with its interval (arrays of length k)."""

    mean: np.ndarray
    interval: np.ndarray  # [2, k]
    seed_level: bool  # False with one seed: the interval counts query sampling only


def mean_interval(values: Any, clusters: Sequence[int] | np.ndarray | None = None,
                  confidence: float = 0.95) -> MeanInterval:
    """Interval of one configuration's expected value over seeds and queries, from ``[k, n(, m)]`` values.

    The same model and guards as :func:`configuration_test`, unpaired: ``Var = offsets / k + Q₁`` with ``Q₁`` the
    cluster-robust variance of the mean of the seed-averaged values. With one seed, only ``Q₁`` (an interval
    conditional on the trained model, flagged by ``seed_level`` False).
    """
    from scipy import stats as scipy_stats

    array = as_seed_matrix(values)
    k, n_queries = array.shape[0], array.shape[1]
    dense, n_clusters = cluster_ids(clusters, n_queries)
    sizes = np.bincount(dense, minlength=n_clusters).astype(np.float64)
    seed_means = array.mean(axis=1)
    mean = seed_means.mean(axis=0)
    totals = cluster_totals(array, dense, n_clusters)
    residuals = totals.mean(axis=0) - sizes[:, None] * mean[None, :]
    query_variance = (residuals**2).sum(axis=0) * n_clusters / max(n_clusters - 1, 1) / n_queries**2
    query_degrees = max(n_clusters - 1, 1)
    if k >= 2:
        spread = seed_means.var(axis=0, ddof=1)
        noise = _noise_of_side(totals, seed_means, sizes, n_queries)
        variance = np.maximum(spread - noise, 0.0) / k + query_variance
        guarded = upper_bound_factor(k - 1) * np.maximum(spread, noise) / k
        degrees = np.maximum(_satterthwaite([(guarded, noise / k, k - 1)], query_variance, query_degrees), 1.0)
    else:
        variance = query_variance
        degrees = np.full_like(mean, float(query_degrees))
    half_width = scipy_stats.t.ppf(0.5 + confidence / 2.0, degrees) * np.sqrt(variance)
    return MeanInterval(mean, np.stack([mean - half_width, mean + half_width]), k >= 2)
