"""Significance tests and intervals against scipy, simulations with a known truth, and hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from c2vbench.evaluation.metrics import metrics_from_ranks
from c2vbench.platform.errors import ResultFileError
from c2vbench.results.comparison import NO_SEED_LEVEL_TEST, SEED_LEVEL_TEST, compare_results
from c2vbench.results.stats import (
    bootstrap_differences,
    bootstrap_means,
    holm_adjust,
    paired_bootstrap_ci,
    paired_randomization_test,
    percentile_interval,
)


def mean_difference(x, y, axis=-1):
    return np.mean(y, axis=axis) - np.mean(x, axis=axis)


def make_result(t2v_rank, v2t_rank, protocol=None, seed=0, t2v_video=None, tie="optimistic", **extra):
    """A minimal result dict shaped like the pipeline's result files."""
    protocol = protocol or {"dataset": "synthetic-motion", "split": "test", "hash": "h" * 64}
    per_query = {
        "t2v_rank": list(map(float, t2v_rank)),
        "v2t_rank": list(map(float, v2t_rank)),
        "t2v_ties": [0] * len(t2v_rank),
        "v2t_ties": [0] * len(v2t_rank),
    }
    if t2v_video is not None:
        per_query["t2v_video"] = list(t2v_video)
    return {
        "schema_version": 1,
        "run_id": f"run-{seed}",
        "config": {"seed": seed, "tie": tie},
        "protocol": protocol,
        "metrics": {
            "t2v": metrics_from_ranks(t2v_rank, None, tie),
            "v2t": metrics_from_ranks(v2t_rank, None, tie),
        },
        "per_query": per_query,
        "tie": tie,
        "v2t_mode": "all-captions",
        **extra,
    }


# ------------------------------------------------------------------------------------------------------------
# randomisation test vs scipy


def test_exact_sign_flip_matches_scipy_permutation_test():
    rng = np.random.default_rng(0)
    a = rng.normal(size=11)
    b = a + rng.normal(0.4, 1.0, size=11)
    ours = paired_randomization_test(a, b, n_resamples=5000)  # 2**11 = 2048 <= 5000: exact
    reference = scipy_stats.permutation_test(
        (a, b), mean_difference, permutation_type="samples", vectorized=True, n_resamples=5000
    )
    assert ours == pytest.approx(reference.pvalue, rel=1e-12)


def test_exact_sign_flip_with_binary_hits_and_ties_in_the_statistic():
    # 0/100 hit contributions: many sign vectors give exactly the observed |sum|; both must count them as extreme
    a = np.array([100, 0, 0, 100, 0, 100, 0, 0, 0, 100], dtype=float)
    b = np.array([100, 100, 0, 100, 100, 0, 100, 0, 100, 100], dtype=float)
    ours = paired_randomization_test(a, b, n_resamples=2000)
    reference = scipy_stats.permutation_test(
        (a, b), mean_difference, permutation_type="samples", vectorized=True, n_resamples=2000
    )
    assert ours == pytest.approx(reference.pvalue, rel=1e-12)


def test_random_sign_flip_is_close_to_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=60)
    b = a + rng.normal(0.25, 1.0, size=60)
    ours = paired_randomization_test(a, b, n_resamples=20000, seed=3)
    reference = scipy_stats.permutation_test(
        (a, b), mean_difference, permutation_type="samples", vectorized=True, n_resamples=20000, rng=4
    )
    assert 0.005 < reference.pvalue < 0.5  # a case where the p-value is not degenerate
    assert ours == pytest.approx(reference.pvalue, abs=0.01)


def test_cluster_sign_flip_flips_whole_clusters():
    # with clusters, the test equals an exact test on the per-cluster sums of differences
    rng = np.random.default_rng(2)
    clusters = np.repeat(np.arange(9), rng.integers(1, 5, size=9))
    a = rng.normal(size=clusters.size)
    b = a + rng.normal(0.3, 1.0, size=clusters.size)
    ours = paired_randomization_test(a, b, clusters=clusters, n_resamples=1000)
    sums = np.bincount(clusters, weights=b - a)
    reference = scipy_stats.permutation_test(
        (np.zeros(9), sums), mean_difference, permutation_type="samples", vectorized=True, n_resamples=1000
    )
    assert ours == pytest.approx(reference.pvalue, rel=1e-12)


# ------------------------------------------------------------------------------------------------------------
# bootstrap vs scipy, coverage, type-I error


def test_paired_bootstrap_ci_is_close_to_scipy_percentile_bootstrap():
    rng = np.random.default_rng(5)
    a = rng.binomial(1, 0.4, size=200) * 100.0
    b = np.where(rng.random(200) < 0.8, a, rng.binomial(1, 0.55, size=200) * 100.0)
    low, high = paired_bootstrap_ci(a, b, n_resamples=20000, seed=1)
    reference = scipy_stats.bootstrap(
        (a, b), mean_difference, paired=True, vectorized=True, method="percentile", n_resamples=20000, rng=2
    )
    width = reference.confidence_interval.high - reference.confidence_interval.low
    assert width > 0
    assert low == pytest.approx(reference.confidence_interval.low, abs=0.05 * width)
    assert high == pytest.approx(reference.confidence_interval.high, abs=0.05 * width)


def test_bootstrap_ci_coverage_near_95_percent():
    rng = np.random.default_rng(11)
    true_difference = 0.3
    covered = 0
    simulations = 200
    for index in range(simulations):
        a = rng.normal(size=40)
        b = a + true_difference + rng.normal(0, 0.8, size=40)
        low, high = paired_bootstrap_ci(a, b, n_resamples=400, seed=index)
        covered += low <= true_difference <= high
    assert 0.88 <= covered / simulations <= 0.99


def test_randomization_test_type_one_error_near_5_percent():
    rng = np.random.default_rng(12)
    rejections = 0
    simulations = 200
    for index in range(simulations):
        a = rng.binomial(1, 0.3, size=60) * 100.0
        b = rng.binomial(1, 0.3, size=60) * 100.0
        rejections += paired_randomization_test(a, b, n_resamples=300, seed=index) < 0.05
    assert 0.01 <= rejections / simulations <= 0.10


def test_cluster_bootstrap_resamples_videos_not_captions():
    # 12 videos x 5 captions; every caption of a video has its video's difference: a caption-level bootstrap would
    # give an interval about sqrt(5) too narrow, the cluster bootstrap equals bootstrapping the 12 video means
    rng = np.random.default_rng(6)
    video_effect = rng.normal(0.5, 1.0, size=12)
    clusters = np.repeat(np.arange(12), 5)
    a = np.zeros(60)
    b = video_effect[clusters]
    ours = percentile_interval(bootstrap_differences(a, b, clusters=clusters, n_resamples=20000, seed=0))
    reference = scipy_stats.bootstrap(
        (video_effect,), np.mean, vectorized=True, method="percentile", n_resamples=20000, rng=1
    ).confidence_interval
    width = reference.high - reference.low
    assert ours[0] == pytest.approx(reference.low, abs=0.05 * width)
    assert ours[1] == pytest.approx(reference.high, abs=0.05 * width)
    naive = percentile_interval(bootstrap_differences(a, b, n_resamples=5000, seed=0))
    assert (naive[1] - naive[0]) < 0.6 * (ours[1] - ours[0])


def test_cluster_bootstrap_draws_contain_whole_videos_only():
    # a value pattern where any replicate mixing partial videos would give a mean off the lattice k/3
    clusters = np.repeat(np.arange(4), 3)
    values = np.tile([0.0, 0.0, 1.0], 4)  # every video has mean 1/3 exactly
    samples = bootstrap_means(values, clusters=clusters, n_resamples=500, seed=0)
    np.testing.assert_allclose(samples, 1 / 3)
    free = bootstrap_means(values, n_resamples=500, seed=0)
    assert free.std() > 0.05


def test_two_level_bootstrap_without_query_noise_is_a_bootstrap_over_seeds():
    # every query of a seed has the same value: only the seed level varies, so the two-level bootstrap of
    # mean(b) - mean(a) equals an unpaired bootstrap of the seed means
    a_seed = np.array([10.0, 12.0, 11.0, 15.0])
    b_seed = np.array([13.0, 14.0, 18.0, 16.0, 12.0])
    a = np.repeat(a_seed[:, None], 30, axis=1)
    b = np.repeat(b_seed[:, None], 30, axis=1)
    ours = percentile_interval(bootstrap_differences(a, b, n_resamples=20000, seed=0))
    reference = scipy_stats.bootstrap(
        (a_seed, b_seed), mean_difference, vectorized=True, method="percentile", n_resamples=20000, rng=1
    ).confidence_interval
    width = reference.high - reference.low
    assert ours[0] == pytest.approx(reference.low, abs=0.06 * width)
    assert ours[1] == pytest.approx(reference.high, abs=0.06 * width)


def test_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert paired_bootstrap_ci(a, b, n_resamples=300, seed=4) == paired_bootstrap_ci(a, b, n_resamples=300, seed=4)
    assert paired_bootstrap_ci(a, b, n_resamples=300, seed=4) != paired_bootstrap_ci(a, b, n_resamples=300, seed=5)


# ------------------------------------------------------------------------------------------------------------
# Holm


def test_holm_hand_worked_example():
    # sorted: 0.005*4 = 0.02; 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([]) == []


# ------------------------------------------------------------------------------------------------------------
# compare_results


def test_compare_results_shape_and_values():
    rng = np.random.default_rng(7)
    captions_of = [i % 20 for i in range(40)]
    a = make_result(rng.integers(1, 20, 40), rng.integers(1, 20, 20), t2v_video=captions_of)
    b = make_result(
        np.maximum(1, np.array(a["per_query"]["t2v_rank"]) - rng.integers(0, 3, 40)), rng.integers(1, 20, 20),
        t2v_video=captions_of, seed=1,
    )
    comparison = compare_results(a, b, n_resamples=2000, seed=0)
    assert set(comparison) == {"t2v", "v2t"}
    for direction in ("t2v", "v2t"):
        assert set(comparison[direction]) == {"R@1", "R@5", "R@10", "MnR", "MRR"}
        for metric in ("R@1", "R@5", "R@10", "MnR"):
            row = comparison[direction][metric]
            assert {"a", "b", "diff", "ci", "p", "test", "p_query", "detectable"} <= set(row)
            # 1 seed each: no verdict; the query-level p has its own field and never stands in for the verdict
            assert row["test"] == NO_SEED_LEVEL_TEST and not row["seed_level"] and row["ci_conditional"]
            assert row["p"] is None and 0 < row["p_query"] <= 1 and row["detectable"] > 0
            assert row["a"] == pytest.approx(a["metrics"][direction][metric])
            assert row["b"] == pytest.approx(b["metrics"][direction][metric])
            assert row["diff"] == pytest.approx(row["b"] - row["a"])
    mrr = comparison["t2v"]["MRR"]
    assert mrr["a"] == pytest.approx(np.mean(1 / np.array(a["per_query"]["t2v_rank"])))
    # b improves ranks: MnR diff negative with an interval below zero (conditional on the two trained models)
    assert comparison["t2v"]["MnR"]["ci"][1] < 0 and comparison["t2v"]["MnR"]["p_query"] < 0.05


def test_compare_refuses_different_protocols_naming_fields():
    a = make_result([1, 2], [1, 2], protocol={"dataset": "msrvtt", "split": "1k-A", "frames": 12, "hash": "a" * 64})
    b = make_result([1, 2], [1, 2], protocol={"dataset": "msrvtt", "split": "full", "frames": 12, "hash": "b" * 64})
    with pytest.raises(ResultFileError, match=r"different protocols.*split: '1k-A' vs 'full'") as error:
        compare_results(a, b, labels=("A.json", "B.json"))
    assert "A.json" in str(error.value) and "frames" not in str(error.value)


def test_compare_refuses_different_tie_policies_and_query_counts():
    with pytest.raises(ResultFileError, match="tie"):
        compare_results(make_result([1, 2], [1, 2]), make_result([1, 2], [1, 2], tie="expected"))
    with pytest.raises(ResultFileError, match="queries"):
        compare_results(make_result([1, 2], [1, 2]), make_result([1, 2, 3], [1, 2]))


def test_compare_uses_t2v_video_clusters():
    rng = np.random.default_rng(8)
    clusters = np.repeat(np.arange(10), 4)
    a_ranks = rng.integers(1, 10, 40)
    b_ranks = a_ranks.copy()
    improved = np.isin(clusters, [0, 1, 2, 3, 4])  # whole videos improve together
    b_ranks[improved] = 1
    a = make_result(a_ranks, rng.integers(1, 5, 10), t2v_video=clusters)
    b = make_result(b_ranks, rng.integers(1, 5, 10), t2v_video=clusters)
    clustered = compare_results(a, b, n_resamples=3000)["t2v"]["MnR"]
    independent = compare_results(  # the same ranks as 40 single-caption videos
        make_result(a_ranks, rng.integers(1, 5, 40)), make_result(b_ranks, rng.integers(1, 5, 40)), n_resamples=3000
    )["t2v"]["MnR"]
    assert clustered["diff"] == pytest.approx(independent["diff"])
    assert clustered["ci"][1] - clustered["ci"][0] > independent["ci"][1] - independent["ci"][0]
    assert clustered["p_query"] == pytest.approx(
        paired_randomization_test(a_ranks.astype(float), b_ranks.astype(float), clusters=clusters)
    )


def test_compare_multi_seed_lists_use_seed_means():
    rng = np.random.default_rng(9)
    base = rng.integers(1, 15, 30)
    captions_of = [i % 15 for i in range(30)]
    a_runs = [make_result(base + shift, rng.integers(1, 9, 15), seed=s, t2v_video=captions_of)
              for s, shift in enumerate([0, 1, 2])]
    b_runs = [make_result(np.maximum(1, base - 3 + s), rng.integers(1, 9, 15), seed=s, t2v_video=captions_of)
              for s in range(3)]
    comparison = compare_results(a_runs, b_runs, n_resamples=2000)
    assert comparison["t2v"]["MnR"]["test"] == SEED_LEVEL_TEST
    expected_a = np.mean([r["metrics"]["t2v"]["MnR"] for r in a_runs])
    assert comparison["t2v"]["MnR"]["a"] == pytest.approx(expected_a)
    assert comparison["t2v"]["MnR"]["p"] < 0.05
    with pytest.raises(ResultFileError, match=r"a\[0\] and b\[1\]"):
        b_runs[1]["protocol"] = {"dataset": "other", "hash": "z" * 64}
        compare_results(a_runs, b_runs)
