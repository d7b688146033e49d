"""The configuration-level test against closed forms (scipy), its size by simulation, rank intervals against exact
enumeration, and the refusal of multi-caption results without their caption -> video map."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from _cli_runner import run_cli
from scipy import stats as scipy_stats

from c2vbench.evaluation.metrics import metrics_from_ranks
from c2vbench.results.leaderboard import render_leaderboard
from c2vbench.results.rank_intervals import bootstrap_ranks, rank_intervals
from c2vbench.results.seed_test import (
    ONE_SEED_P_FLOOR,
    ONE_SEED_SHAPE_DF,
    NoSeedLevelTest,
    configuration_test,
    mean_interval,
    seed_level_test,
    variance_components,
)


def constant_over_queries(seed_means: np.ndarray, n_queries: int = 12) -> np.ndarray:
    """``[k, n]`` values whose every query equals its seed's mean: no query sampling, no seed-by-query noise."""
    return np.repeat(np.asarray(seed_means, dtype=np.float64)[:, None], n_queries, axis=1)


# ------------------------------------------------------------------------------------------------------------
# closed forms


@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_equal_seed_counts_without_query_variance_is_welchs_test(seeds):
    """Normal seed means, nothing else varying: the test must be Welch's t test (p, df and interval)."""
    rng = np.random.default_rng(seeds)
    a_means = rng.normal(40.0, 3.0, seeds)
    b_means = rng.normal(44.0, 6.0, seeds)
    outcome = seed_level_test(constant_over_queries(a_means), constant_over_queries(b_means))
    reference = scipy_stats.ttest_ind(b_means, a_means, equal_var=False)
    assert outcome.p_value[0] == pytest.approx(reference.pvalue, rel=1e-9)
    assert outcome.degrees_of_freedom[0] == pytest.approx(reference.df, rel=1e-9)
    low, high = reference.confidence_interval(0.95)
    assert outcome.interval[:, 0] == pytest.approx([low, high], rel=1e-9)


def test_one_seed_against_several_is_the_pooled_t_test_of_a_new_observation():
    """1 vs k with nothing but seed variance: borrowing B's seed variance is Student's statistic for one new draw
    from B's normal population (pooled t, k - 1 df), referred to a t whose df also carry the allowance for a single
    run's tails: 1 / (1/(k - 1) + 1/ONE_SEED_SHAPE_DF)."""
    b_means = np.array([41.0, 47.5, 44.0, 39.0])
    a_mean = np.array([35.0])
    outcome = seed_level_test(constant_over_queries(a_mean), constant_over_queries(b_means))
    reference = scipy_stats.ttest_ind(b_means, a_mean, equal_var=True)
    degrees = 1.0 / (1.0 / 3.0 + 1.0 / ONE_SEED_SHAPE_DF)
    assert outcome.degrees_of_freedom[0] == pytest.approx(degrees)
    assert outcome.p_value[0] == pytest.approx(2.0 * scipy_stats.t.sf(abs(reference.statistic), degrees), rel=1e-9)
    assert outcome.p_value[0] > reference.pvalue  # the allowance only ever widens
    assert "equal seed variance" in outcome.assumption
    with pytest.raises(NoSeedLevelTest):
        seed_level_test(constant_over_queries(a_mean), constant_over_queries(b_means[:1]))


def test_one_seed_p_is_not_resolved_below_the_floor():
    """A single run far outside the other side's seeds: Student's p is far below 0.01, the test reports the floor
    while its interval is not cut (the t interval of the widened df); with 2 seeds on each side no floor applies."""
    b_means = np.array([41.0, 47.5, 44.0, 39.0])
    a_mean = np.array([5.0])
    outcome = seed_level_test(constant_over_queries(a_mean), constant_over_queries(b_means))
    reference = scipy_stats.ttest_ind(b_means, a_mean, equal_var=True)
    assert reference.pvalue < 0.005
    assert outcome.p_value[0] == ONE_SEED_P_FLOOR and outcome.p_floor == ONE_SEED_P_FLOOR == 0.01
    half_width = scipy_stats.t.ppf(0.975, outcome.degrees_of_freedom[0]) * outcome.standard_error[0]
    assert outcome.difference[0] == pytest.approx(b_means.mean() - 5.0)
    assert outcome.interval[:, 0] == pytest.approx(outcome.difference[0] + np.array([-half_width, half_width]))
    both = seed_level_test(constant_over_queries(np.array([5.0, 6.0])), constant_over_queries(b_means))
    assert both.p_floor is None and both.p_value[0] < ONE_SEED_P_FLOOR


def test_without_seed_variance_the_test_is_the_paired_t_test_over_queries():
    """Seeds that agree exactly (no training noise): only query sampling remains, the paired t test."""
    rng = np.random.default_rng(7)
    a_query = rng.normal(50.0, 20.0, 40)
    b_query = a_query + rng.normal(3.0, 10.0, 40)
    outcome = seed_level_test(np.stack([a_query] * 3), np.stack([b_query] * 2))
    reference = scipy_stats.ttest_rel(b_query, a_query)
    assert outcome.p_value[0] == pytest.approx(reference.pvalue, rel=1e-9)
    assert outcome.degrees_of_freedom[0] == pytest.approx(39.0)
    # the smallest difference detected with 80% power at alpha 0.05: (t_.975 + t_.80) standard errors
    se = np.std(b_query - a_query, ddof=1) / np.sqrt(40)
    assert outcome.detectable[0] == pytest.approx((scipy_stats.t.ppf(0.975, 39) + scipy_stats.t.ppf(0.8, 39)) * se)


def test_one_configurations_interval_without_query_variance_is_students_interval_of_its_seed_means():
    seed_means = np.array([30.0, 36.0, 31.5])
    outcome = mean_interval(constant_over_queries(seed_means))
    reference = scipy_stats.ttest_1samp(seed_means, 0.0).confidence_interval(0.95)
    assert outcome.interval[:, 0] == pytest.approx([reference.low, reference.high], rel=1e-9)
    assert outcome.seed_level and not mean_interval(constant_over_queries(seed_means[:1])).seed_level


def test_unequal_seed_counts_never_get_more_df_than_an_equal_variance_design():
    """2 vs 10 seeds whose small side came out tight by chance: Welch's df borrow the 10-seed side's df; ours
    stay at most what the same design would have with equal seed variances."""
    a_means = np.array([40.0, 40.3])  # two seeds that happen to agree
    b_means = 40.0 + np.linspace(-6.0, 6.0, 10)
    outcome = seed_level_test(constant_over_queries(a_means), constant_over_queries(b_means))
    welch = scipy_stats.ttest_ind(b_means, a_means, equal_var=False)
    assert welch.df > 8 and outcome.degrees_of_freedom[0] < 2.0
    assert outcome.p_value[0] > welch.pvalue


# ------------------------------------------------------------------------------------------------------------
# size by simulation (vectorised over replicates: the last axis)


def null_world(rng: np.random.Generator, replicates: int, seeds_a: int, seeds_b: int, n_queries: int = 300,
               seed_sd: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """T2V hits of two configurations of equal skill: U-shaped query difficulty, query-by-configuration affinity,
    seed offsets and seed-by-query noise (a world built here, independent of the benchmark's)."""
    difficulty = np.log(rng.beta(0.5, 0.5, (n_queries, replicates)).clip(0.01, 0.99))
    difficulty = difficulty - np.log1p(-np.exp(difficulty))  # logit

    def side(seeds: int) -> np.ndarray:
        logits = (difficulty + rng.normal(0.0, 0.5, (n_queries, replicates)) + rng.normal(0.0, seed_sd,
                  (seeds, 1, replicates)) + rng.normal(0.0, 0.5, (seeds, n_queries, replicates)))
        return 100.0 * (rng.random((seeds, n_queries, replicates)) < 1.0 / (1.0 + np.exp(-logits)))

    return side(seeds_a), side(seeds_b)


@pytest.mark.parametrize(("seeds_a", "seeds_b"), [(2, 10), (2, 2), (1, 5), (1, 10)])
def test_size_holds_at_both_levels_with_unequal_seed_counts(seeds_a, seeds_b):
    rng = np.random.default_rng(20261127 + seeds_b)
    replicates = 3000
    a, b = null_world(rng, replicates, seeds_a, seeds_b)
    p_values = seed_level_test(a, b).p_value
    # Monte-Carlo standard errors: 0.004 at 0.05, 0.0018 at 0.01. In this world the previous procedure (Satterthwaite
    # df from the raw estimates, query-level p for a 1-seed side) rejected 9% (2v10), 3% at 0.01 (2v2) and 43% (1v5)
    assert np.mean(p_values < 0.05) <= 0.062 and np.mean(p_values < 0.01) <= 0.0145


def test_one_seed_against_ten_needs_its_allowances_where_a_run_is_skewed():
    """MnR of a single run is skewed (ranks have a long upper tail: a worse seed multiplies them): with 1 seed
    against 10, Student's reference over-rejects at 0.01; the floor keeps the 1% level, and the widened tails the
    5% level."""
    rng = np.random.default_rng(20261207)
    replicates, n_queries = 3000, 300
    difficulty = rng.normal(-5.0, 1.0, (n_queries, replicates))  # logit of "a distractor outranks the ground truth"

    def ranks(seeds: int) -> np.ndarray:
        logits = (difficulty[None] + rng.normal(0.0, 0.5, (seeds, 1, replicates))
                  + rng.normal(0.0, 0.3, (seeds, n_queries, replicates)))
        return 1.0 + rng.binomial(999, 1.0 / (1.0 + np.exp(-logits)))  # rank among 1000 candidates

    a, b = ranks(1), ranks(10)
    components = variance_components(a, b)
    outcome = configuration_test(components)
    deviation = a.mean(axis=1)[0] - b.mean(axis=(0, 1))
    assert scipy_stats.skew(deviation) > 1.0  # the single run's MnR against the ten: skewed to the right
    student = configuration_test(components, one_seed_allowances=False).p_value
    assert np.mean(student < 0.01) > 0.02  # without the allowances (Monte-Carlo standard error 0.0018)
    assert np.mean(outcome.p_value < 0.01) == 0.0 and np.mean(outcome.p_value < 0.05) <= 0.062


# ------------------------------------------------------------------------------------------------------------
# rank intervals


def test_bootstrap_ranks_follow_the_exact_bootstrap_distribution():
    """3 queries, 2 seeds an entry: every replicate is one of 27 query draws x 4 x 4 x 4 seed draws, all equally
    likely; the sampled rank frequencies must match that enumeration."""
    entries = [np.array([[100.0, 0.0, 100.0], [100.0, 100.0, 0.0]]),
               np.array([[100.0, 0.0, 0.0], [0.0, 100.0, 100.0]]),
               np.array([[0.0, 0.0, 100.0], [100.0, 0.0, 0.0]])]
    exact: dict[tuple[int, ...], float] = {}
    outcomes = list(itertools.product(itertools.product(range(3), repeat=3), *[list(itertools.product(range(2),
                                                                                                     repeat=2))] * 3))
    for queries, *seed_picks in outcomes:
        means = []
        for values, picks in zip(entries, seed_picks, strict=True):
            seed_means = values[:, list(queries)].mean(axis=1)
            average = seed_means.mean()
            means.append(average + np.sqrt(2.0) * (seed_means[list(picks)].mean() - average))
        ranks = tuple(1 + sum(other > mine + 1e-9 for other in means) for mine in means)
        exact[ranks] = exact.get(ranks, 0.0) + 1.0 / len(outcomes)
    sampled = bootstrap_ranks(entries, n_resamples=20_000, seed=3)
    for ranks, probability in exact.items():
        frequency = np.mean(np.all(sampled == np.array(ranks), axis=1))
        assert abs(frequency - probability) < 4 * np.sqrt(probability * (1 - probability) / 20_000) + 1e-3


def test_rank_intervals_on_a_constructed_board():
    rng = np.random.default_rng(11)
    n_queries = 400
    hits = lambda rate, seeds: 100.0 * (rng.random((seeds, n_queries)) < rate)  # noqa: E731
    entries = [hits(0.70, 3), hits(0.69, 3), hits(0.40, 3), hits(0.10, 2)]
    intervals = rank_intervals(entries, n_resamples=2000, seed=0)
    assert intervals[0][0] == 1 and intervals[1][0] == 1  # 70% and 69% cannot be told apart: both reach the top
    assert intervals[0][1] == 2 and intervals[1][1] == 2
    assert intervals[2] == (3, 3) and intervals[3] == (4, 4)  # far apart: a single rank each


# ------------------------------------------------------------------------------------------------------------
# the caption -> video map


def multi_caption_result(seed: int, with_map: bool, name: str = "meanp") -> dict:
    rng = np.random.default_rng(seed)
    t2v = rng.integers(1, 20, 40).astype(float)  # 2 captions for each of 20 videos
    v2t = rng.integers(1, 20, 20).astype(float)
    per_query = {"t2v_rank": t2v.tolist(), "v2t_rank": v2t.tolist()}
    if with_map:
        per_query["t2v_video"] = [i // 2 for i in range(40)]
    return {
        "schema_version": 1, "c2vbench_version": "0.1.0", "created": f"2026-11-27T10:00:0{seed}+00:00",
        "run_id": f"{name}-{seed}",
        "plugins": {role: {"name": plugin, "distribution": "c2vbench", "version": "0.1.0"}
                    for role, plugin in (("backbone", "tiny-clip"), ("temporal", name), ("align", "cosine"),
                                         ("dataset", "msvd"))},
        "config": {"seed": seed}, "config_key": name.ljust(64, "0"),
        "protocol": {"dataset": "msvd", "split": "test", "hash": "m" * 64},
        "metrics": {"t2v": metrics_from_ranks(t2v, None, "expected"), "v2t": metrics_from_ranks(v2t, None, "expected")},
        "per_query": per_query, "tie": "expected", "v2t_mode": "all-captions", "env": {},
    }


def test_compare_and_leaderboard_refuse_multi_caption_results_without_the_caption_map(tmp_path, capsys):
    with_map = tmp_path / "with_map.json"
    without = tmp_path / "without.json"
    with_map.write_text(json.dumps(multi_caption_result(1, True)))
    without.write_text(json.dumps(multi_caption_result(2, False, name="tdb")))
    code, out, err = run_cli(["compare", str(with_map), str(without)], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "without.json has 40 text queries for 20 videos but no caption -> video map" in err and "t2v_video" in err

    code, out, err = run_cli(["leaderboard", str(with_map), str(without)], capsys)
    assert code == 0 and "skipped" in err and "without.json has 40 text queries for 20 videos" in err
    assert "tiny-clip · meanp · cosine" in out and "tiny-clip · tdb · cosine" not in out
    with pytest.raises(Exception, match="no caption -> video map"):
        render_leaderboard([(Path("without.json"), multi_caption_result(2, False))], command="c")
