"""Metrics with several correct videos per query, against brute force over every order of the tied items."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from c2vbench.evaluation.metrics import evaluate_similarity
from c2vbench.evaluation.multi_target import average_precision, evaluate_multi_target, relevance_matrix
from c2vbench.platform.errors import DataError


def orderings(scores):
    """Every order of the items that sorts ``scores`` from high to low (ties in every possible order)."""
    items = range(len(scores))
    return [order for order in itertools.permutations(items)
            if all(scores[order[i]] >= scores[order[i + 1]] for i in range(len(order) - 1))]


def brute_force_ap(scores, relevant):
    """AP of every order: (mean, max, min) = (expected, optimistic, pessimistic)."""
    values = []
    for order in orderings(scores):
        hits, total = 0, 0.0
        for position, item in enumerate(order, start=1):
            if relevant[item]:
                hits += 1
                total += hits / position
        values.append(total / sum(relevant))
    return np.mean(values), max(values), min(values)


def brute_force_rank(scores, relevant, k):
    """Rank of the best correct item, the correct items tied at the best score merged into one item; over every
    order: (mean rank, min rank, max rank, probability of rank <= k)."""
    best = max(s for s, r in zip(scores, relevant, strict=True) if r)
    merged = [s for s, r in zip(scores, relevant, strict=True) if not r] + [best]
    target = len(merged) - 1
    ranks = [order.index(target) + 1 for order in orderings(merged)]
    return np.mean(ranks), min(ranks), max(ranks), np.mean([rank <= k for rank in ranks])


def random_case(rng, n_text=4, n_video=6):
    scores = rng.integers(0, 4, size=(n_text, n_video)).astype(np.float64)  # many ties
    relevant = rng.random((n_text, n_video)) < 0.35
    for row in range(n_text):
        relevant[row, rng.integers(n_video)] = True
    for column in np.flatnonzero(~relevant.any(axis=0)):
        relevant[rng.integers(n_text), column] = True
    return scores, relevant


@pytest.mark.parametrize("seed", range(12))
def test_average_precision_is_the_mean_over_every_order_of_the_ties(seed):
    scores, relevant = random_case(np.random.default_rng(seed))
    for tie, pick in (("expected", 0), ("optimistic", 1), ("pessimistic", 2)):
        computed = average_precision(scores, relevant, tie)
        expected = [brute_force_ap(scores[row], relevant[row])[pick] for row in range(len(scores))]
        np.testing.assert_allclose(computed, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_any_correct_rank_and_recall_match_brute_force_in_both_directions(seed):
    scores, relevant = random_case(np.random.default_rng(100 + seed))
    lists = [np.flatnonzero(row).tolist() for row in relevant]
    for tie, statistic in (("expected", 0), ("optimistic", 1), ("pessimistic", 2)):
        evaluation = evaluate_multi_target(scores, lists, tie=tie)
        for direction, matrix, truth in (("t2v", scores, relevant), ("v2t", scores.T, relevant.T)):
            ranks = evaluation.per_query[f"{direction}_rank"]
            brute = [brute_force_rank(matrix[row], truth[row], 1) for row in range(len(matrix))]
            np.testing.assert_allclose(ranks, [b[statistic] for b in brute], atol=1e-12)
            for k in (1, 5):
                hits = [brute_force_rank(matrix[row], truth[row], k)[3] for row in range(len(matrix))]
                if tie != "expected":  # a fixed order: the rank decides
                    hits = [float(rank <= k) for rank in ranks]
                assert evaluation.metrics[direction][f"R@{k}"] == pytest.approx(100 * np.mean(hits), abs=1e-9)
            aps = [brute_force_ap(matrix[row], truth[row])[statistic] for row in range(len(matrix))]
            assert evaluation.metrics[direction]["mAP"] == pytest.approx(100 * np.mean(aps), abs=1e-9)
            np.testing.assert_allclose(evaluation.per_query[f"{direction}_ap"], aps, atol=1e-12)


def test_one_correct_video_per_text_is_the_single_target_path():
    rng = np.random.default_rng(7)
    n_video = 9
    text_to_video = np.r_[np.arange(n_video), rng.integers(0, n_video, size=7)]
    scores = rng.normal(size=(len(text_to_video), n_video)).round(1)  # some ties
    single = evaluate_similarity(scores, text_to_video)
    multi = evaluate_multi_target(scores, [[video] for video in text_to_video])
    assert multi.metrics["t2v"] | {"mAP": None} == single.metrics["t2v"] | {"mAP": None}
    assert multi.per_query["t2v_rank"] == single.per_query["t2v_rank"]
    assert multi.per_query["t2v_video"] == text_to_video.tolist()
    # with one correct item, AP is the reciprocal rank (exactly averaged over the ties)
    from c2vbench.evaluation.metrics import per_query_contributions

    reciprocal = per_query_contributions(single.per_query["t2v_rank"], single.per_query["t2v_ties"], "expected",
                                         "MRR")
    np.testing.assert_allclose(multi.per_query["t2v_ap"], reciprocal, atol=1e-12)


def test_subsets_average_their_queries_only():
    scores, relevant = random_case(np.random.default_rng(3), n_text=5, n_video=6)
    lists = [np.flatnonzero(row).tolist() for row in relevant]
    evaluation = evaluate_multi_target(scores, lists, subsets={"some": ([0, 2], [1, 4, 5])})
    part = evaluation.subsets["some"]
    assert part["per_query"]["t2v_rank"] == [evaluation.per_query["t2v_rank"][i] for i in (0, 2)]
    assert part["metrics"]["v2t"]["mAP"] == pytest.approx(
        100 * np.mean([evaluation.per_query["v2t_ap"][i] for i in (1, 4, 5)]))


def test_relevance_must_cover_every_text_and_video():
    with pytest.raises(DataError, match="text 1 has no correct video"):
        relevance_matrix([[0], []], 2, 2)
    with pytest.raises(DataError, match=r"1 video\(s\) are correct for no text"):
        relevance_matrix([[0], [0]], 2, 2)
    with pytest.raises(DataError, match="outside the 2 columns"):
        relevance_matrix([[0], [2]], 2, 2)


def test_a_split_with_several_correct_videos_is_scored_by_them_and_survives_screening(tmp_path):
    from c2vbench.config import RunConfig
    from c2vbench.data.integrity import drop_videos
    from c2vbench.data.types import CaptionRecord, RetrievalSplit, VideoRecord
    from c2vbench.results.result_file import evaluation_block

    videos = [VideoRecord(f"v{i}", tmp_path / f"v{i}.mp4") for i in range(5)]
    captions = [CaptionRecord("template a", 0), CaptionRecord("template b", 2)]
    split = RetrievalSplit("test", videos, captions, relevant_videos=[(0, 1, 4), (2, 3)])
    scores = np.array([[0.1, 0.9, 0.3, 0.2, 0.5], [0.8, 0.1, 0.2, 0.7, 0.0]])
    block = evaluation_block(scores, split, RunConfig())
    assert block["per_query"]["t2v_rank"] == [1.0, 2.0]  # v1 is correct for "template a"; v3 second for b
    assert block["metrics"]["t2v"]["mAP"] == pytest.approx(100 * np.mean([(1 + 2 / 2 + 3 / 5) / 3,
                                                                          (1 / 2 + 2 / 3) / 2]))
    single = evaluation_block(scores[:, :2], RetrievalSplit("test", videos[:2], [CaptionRecord("a", 0),
                                                                                 CaptionRecord("b", 1)]), RunConfig())
    assert "mAP" not in single["metrics"]["t2v"]  # the single-target path is untouched
    with pytest.raises(ValueError, match="must hold its own video"):
        RetrievalSplit("test", videos, captions, relevant_videos=[(1, 4), (2, 3)])
    screened = drop_videos(split, {"v0", "v3"})  # a template's own video missing: the query stays
    assert screened.video_ids() == ["v1", "v2", "v4"]
    assert [c.video_index for c in screened.captions] == [0, 1] and screened.relevant_videos == [(0, 2), (1,)]
