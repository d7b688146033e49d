"""Retrieval metrics against brute force: explicit loops, and exact enumeration of tie orderings."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from c2vbench.evaluation.metrics import (
    TIE_POLICIES,
    V2T_MODES,
    evaluate_similarity,
    metrics_from_ranks,
    per_query_contributions,
)
from c2vbench.platform.errors import DataError

# ------------------------------------------------------------------------------------------------------------
# independent references


def orderings_outcomes(scores: list[float], truth: int) -> list[int]:
    """1-based position of ``truth`` in every score-sorted (descending) ordering of the candidates.

    Enumerates all permutations and keeps those sorted by score, which is exactly the set of orderings a uniform
    random tie-break can produce, each equally likely.
    """
    positions = []
    for order in itertools.permutations(range(len(scores))):
        if all(scores[order[i]] >= scores[order[i + 1]] for i in range(len(order) - 1)):
            positions.append(order.index(truth) + 1)
    return positions


def reference_query(scores: list[float], truth: int, tie: str, ks=(1, 5, 10)) -> dict[str, float]:
    """Rank, R@K contributions (0..1) and reciprocal rank of one query under a tie policy, by enumeration."""
    positions = orderings_outcomes(scores, truth)
    if tie == "optimistic":
        positions = [min(positions)]
    elif tie == "pessimistic":
        positions = [max(positions)]
    out = {"rank": statistics.fmean(positions), "rr": statistics.fmean(1.0 / p for p in positions)}
    for k in ks:
        out[f"R@{k}"] = statistics.fmean(1.0 if p <= k else 0.0 for p in positions)
    return out


def reference_t2v(sim: np.ndarray, text_to_video: list[int], tie: str) -> list[dict[str, float]]:
    return [reference_query(list(sim[i]), text_to_video[i], tie) for i in range(sim.shape[0])]


def reference_v2t_all_captions(sim: np.ndarray, text_to_video: list[int], tie: str) -> list[dict[str, float]]:
    """Candidates: every non-ground-truth caption plus one item holding the best ground-truth caption's score."""
    out = []
    for video in range(sim.shape[1]):
        truth_scores = [sim[c, video] for c in range(sim.shape[0]) if text_to_video[c] == video]
        others = [sim[c, video] for c in range(sim.shape[0]) if text_to_video[c] != video]
        out.append(reference_query([max(truth_scores), *others], 0, tie))
    return out


def reference_v2t_group_max(sim: np.ndarray, text_to_video: list[int], tie: str) -> list[dict[str, float]]:
    n_video = sim.shape[1]
    out = []
    for query in range(n_video):
        candidate_scores = []
        for candidate in range(n_video):
            candidate_scores.append(max(sim[c, query] for c in range(sim.shape[0]) if text_to_video[c] == candidate))
        out.append(reference_query(candidate_scores, query, tie))
    return out


def reference_metrics(per_query: list[dict[str, float]]) -> dict[str, float]:
    ranks = [q["rank"] for q in per_query]
    metrics = {f"R@{k}": 100.0 * statistics.fmean(q[f"R@{k}"] for q in per_query) for k in (1, 5, 10)}
    metrics["MdR"] = statistics.median(ranks)
    metrics["MnR"] = statistics.fmean(ranks)
    return metrics


@st.composite
def tie_heavy_problems(draw):
    n_video = draw(st.integers(1, 4))
    n_text = draw(st.integers(n_video, 6))
    text_to_video = list(range(n_video)) + draw(
        st.lists(st.integers(0, n_video - 1), min_size=n_text - n_video, max_size=n_text - n_video)
    )
    text_to_video = draw(st.permutations(text_to_video))
    values = draw(st.lists(st.integers(0, 2), min_size=n_text * n_video, max_size=n_text * n_video))
    sim = np.array(values, dtype=np.float32).reshape(n_text, n_video)
    return sim, list(text_to_video)


def assert_matches(evaluation, direction: str, reference: list[dict[str, float]], tie: str) -> None:
    ranks = evaluation.per_query[f"{direction}_rank"]
    ties = evaluation.per_query[f"{direction}_ties"]
    np.testing.assert_allclose(ranks, [q["rank"] for q in reference])
    for metric, value in reference_metrics(reference).items():
        assert evaluation.metrics[direction][metric] == pytest.approx(value), (direction, metric)
    np.testing.assert_allclose(
        per_query_contributions(ranks, ties, tie, "MRR"), [q["rr"] for q in reference], rtol=1e-12
    )
    for k in (1, 5, 10):
        np.testing.assert_allclose(
            per_query_contributions(ranks, ties, tie, f"R@{k}"), [100.0 * q[f"R@{k}"] for q in reference]
        )


# ------------------------------------------------------------------------------------------------------------
# properties against the references


@settings(max_examples=60, deadline=None)
@given(problem=tie_heavy_problems(), tie=st.sampled_from(TIE_POLICIES), chunk_rows=st.sampled_from([1, 2, 1024]))
def test_tie_heavy_matrices_match_enumeration(problem, tie, chunk_rows):
    sim, text_to_video = problem
    evaluation = evaluate_similarity(sim, text_to_video, tie=tie, chunk_rows=chunk_rows)
    assert_matches(evaluation, "t2v", reference_t2v(sim, text_to_video, tie), tie)
    assert_matches(evaluation, "v2t", reference_v2t_all_captions(sim, text_to_video, tie), tie)


@settings(max_examples=40, deadline=None)
@given(problem=tie_heavy_problems(), tie=st.sampled_from(TIE_POLICIES), chunk_rows=st.sampled_from([1, 3, 1024]))
def test_legacy_group_max_matches_direct_formula(problem, tie, chunk_rows):
    sim, text_to_video = problem
    evaluation = evaluate_similarity(sim, text_to_video, tie=tie, v2t_mode="legacy-group-max", chunk_rows=chunk_rows)
    assert_matches(evaluation, "v2t", reference_v2t_group_max(sim, text_to_video, tie), tie)
    assert evaluation.v2t_mode == "legacy-group-max"


def test_tie_counts_are_other_candidates_at_the_truth_score():
    sim = np.array([[3, 3, 3, 1], [0, 2, 2, 2], [5, 5, 1, 0], [1, 1, 1, 1]], dtype=np.float64)
    evaluation = evaluate_similarity(sim, [0, 1, 2, 3], tie="expected")
    assert evaluation.per_query["t2v_ties"] == [2, 2, 0, 3]
    # g = 0, 0, 2, 0 -> expected ranks g + e/2 + 1
    assert evaluation.per_query["t2v_rank"] == [2.0, 2.0, 3.0, 2.5]
    # R@1 contributions: 1/3, 1/3, 0, 1/4
    assert evaluation.metrics["t2v"]["R@1"] == pytest.approx(100 * (1 / 3 + 1 / 3 + 0 + 1 / 4) / 4)


def test_random_continuous_matrix_matches_argsort_ranks():
    rng = np.random.default_rng(0)
    sim = rng.standard_normal((57, 40)).astype(np.float32)
    text_to_video = np.concatenate([np.arange(40), rng.integers(0, 40, 17)])
    evaluation = evaluate_similarity(sim, text_to_video, chunk_rows=7)
    order = np.argsort(-sim, axis=1)
    expected_t2v = [int(np.flatnonzero(order[i] == text_to_video[i])[0]) + 1 for i in range(57)]
    assert evaluation.per_query["t2v_rank"] == expected_t2v
    assert set(evaluation.per_query["t2v_ties"]) == {0}
    # v2t: best ground-truth caption among non-ground-truth captions, by loops
    for video in range(40):
        truth = sim[text_to_video == video, video].max()
        others = sim[text_to_video != video, video]
        assert evaluation.per_query["v2t_rank"][video] == 1 + int((others > truth).sum())
    ranks = np.array(expected_t2v)
    assert evaluation.metrics["t2v"]["R@5"] == pytest.approx(100 * np.mean(ranks <= 5))
    assert evaluation.metrics["t2v"]["MnR"] == pytest.approx(ranks.mean())
    assert evaluation.metrics["t2v"]["MdR"] == pytest.approx(np.median(ranks))


def test_multi_caption_v2t_ignores_other_ground_truth_captions():
    # video 0 has captions 0, 1, 2; for query video 0 caption 1 is best (0.9), caption 3 (video 1) beats caption 2
    sim = np.array([[0.5, 0.0], [0.9, 0.1], [0.2, 0.3], [0.95, 0.8]])
    evaluation = evaluate_similarity(sim, [0, 0, 0, 1], tie="optimistic")
    # only caption 3 (non-ground-truth) scores above 0.9 -> rank 2, although captions 0 and 2 are ground truths
    assert evaluation.per_query["v2t_rank"][0] == 2.0
    # video 1: truth 0.8 (caption 3); no non-ground-truth caption above it
    assert evaluation.per_query["v2t_rank"][1] == 1.0
    legacy = evaluate_similarity(sim, [0, 0, 0, 1], tie="optimistic", v2t_mode="legacy-group-max")
    # group max for query video 0: video0 -> 0.9, video1 -> 0.95 -> rank 2; query video 1: 0.3 vs 0.8 -> rank 1
    assert legacy.per_query["v2t_rank"] == [2.0, 1.0]


@pytest.mark.parametrize(("ranks", "median"), [([1, 2, 3, 4], 2.5), ([1, 2, 10], 2.0), ([7], 7.0), ([1, 1, 2, 9], 1.5)])
def test_median_is_ordinary_median(ranks, median):
    assert metrics_from_ranks(ranks, [0] * len(ranks), "optimistic")["MdR"] == median


@pytest.mark.parametrize("tie", TIE_POLICIES)
def test_metrics_from_ranks_reconstructs_evaluation(tie):
    rng = np.random.default_rng(3)
    sim = rng.integers(0, 4, size=(30, 12)).astype(np.float64)
    text_to_video = np.r_[np.arange(12), rng.integers(0, 12, 18)]
    evaluation = evaluate_similarity(sim, text_to_video, tie=tie)
    for direction in ("t2v", "v2t"):
        rebuilt = metrics_from_ranks(
            evaluation.per_query[f"{direction}_rank"], evaluation.per_query[f"{direction}_ties"], tie
        )
        assert rebuilt == pytest.approx(evaluation.metrics[direction])


def test_subsets_average_over_their_queries_with_whole_gallery_ranks():
    rng = np.random.default_rng(1)
    sim = rng.standard_normal((20, 10))
    text_to_video = np.r_[np.arange(10), np.arange(10)]
    evaluation = evaluate_similarity(sim, text_to_video, subsets={"twins": ([0, 3, 15], [2, 4]), "texts": ([1], [])})
    full = evaluation.per_query
    twins = evaluation.subsets["twins"]
    assert twins["per_query"]["t2v_rank"] == [full["t2v_rank"][i] for i in (0, 3, 15)]
    assert twins["per_query"]["v2t_rank"] == [full["v2t_rank"][i] for i in (2, 4)]
    assert twins["metrics"]["t2v"]["MnR"] == pytest.approx(np.mean([full["t2v_rank"][i] for i in (0, 3, 15)]))
    assert evaluation.subsets["texts"]["metrics"]["v2t"]["R@1"] is None
    assert set(evaluation.to_dict()) == {"metrics", "per_query", "subsets", "tie", "v2t_mode"}


def test_integer_and_float_dtypes_agree():
    rng = np.random.default_rng(5)
    scores = rng.integers(-3, 3, size=(15, 6))
    text_to_video = np.r_[np.arange(6), rng.integers(0, 6, 9)]
    for mode in V2T_MODES:
        as_int = evaluate_similarity(scores, text_to_video, v2t_mode=mode)
        as_float = evaluate_similarity(scores.astype(np.float16), text_to_video, v2t_mode=mode)
        assert as_int.per_query == as_float.per_query


# ------------------------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize(
    ("sim", "text_to_video", "message"),
    [
        (np.zeros(3), [0, 1, 2], "2-D"),
        (np.zeros((0, 3)), [], "empty"),
        (np.array([[0.0, np.nan], [1.0, 0.0]]), [0, 1], "NaN"),
        (np.zeros((2, 2)), [0, 2], "outside"),
        (np.zeros((2, 2)), [0, -1], "outside"),
        (np.zeros((2, 3)), [0, 1], "no caption: 2"),
        (np.zeros((2, 2)), [0, 1, 1], "length"),
        (np.zeros((2, 2)), [0.5, 1.0], "integer"),
        (np.array([["a", "b"]]), [0], "real numbers"),
    ],
)
def test_bad_inputs_raise_data_error(sim, text_to_video, message):
    with pytest.raises(DataError, match=message):
        evaluate_similarity(sim, text_to_video)


def test_unknown_policy_mode_metric_and_subset_are_refused():
    sim = np.eye(2)
    with pytest.raises(DataError, match="tie policy"):
        evaluate_similarity(sim, [0, 1], tie="average")
    with pytest.raises(DataError, match="video-to-text mode"):
        evaluate_similarity(sim, [0, 1], v2t_mode="max")
    with pytest.raises(DataError, match="subset 'x'"):
        evaluate_similarity(sim, [0, 1], subsets={"x": ([5], [])})
    with pytest.raises(DataError, match="MdR"):
        per_query_contributions([1.0], [0], "expected", "MdR")


def test_large_float32_matrix_is_never_copied_to_float64():
    import tracemalloc

    rng = np.random.default_rng(0)
    sim = rng.standard_normal((1500, 1500), dtype=np.float32)
    text_to_video = np.arange(1500)
    tracemalloc.start()
    evaluate_similarity(sim, text_to_video)  # legacy-group-max needs its own V x V matrix by definition
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # a float64 copy alone would be 2x sim.nbytes; chunked counting needs a fraction of one float32 copy
    assert peak < 0.6 * sim.nbytes
