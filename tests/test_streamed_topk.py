"""Exact top-k, streamed: the same videos, order and tie counts as a brute-force ranking of every score (numpy),
with exact duplicates, near-ties below float32's resolution, rows of very different norms, and blocks that do not
divide the gallery."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c2vbench.evaluation.streamed_ranking import DotProductScores
from c2vbench.evaluation.streamed_topk import top_k_dot, top_k_streamed
from c2vbench.platform.errors import DataError


def brute_force(scores: np.ndarray, k: int) -> tuple[list[int], int]:
    """The top k by score, ties to the lower index, and how many videos outside it tie the k-th."""
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    kth = scores[order[-1]]
    return order.tolist(), int((scores == kth).sum() - (scores[order] == kth).sum())


def hard_gallery(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, width, queries = int(rng.integers(5, 120)), int(rng.integers(2, 64)), int(rng.integers(1, 4))
    base = rng.standard_normal((1, width))
    video = base + rng.standard_normal((n, width)) * 10.0 ** rng.uniform(-8, -5)  # closer than float32 can tell
    video *= 10.0 ** rng.uniform(-2, 2, size=(n, 1))  # norms over four orders of magnitude
    video[rng.integers(0, n, size=n // 4)] = video[rng.integers(0, n, size=n // 4)]  # exact duplicates: ties
    text = base + rng.standard_normal((queries, width)) * 0.01
    return text.astype(np.float32), video.astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_top_k_dot_equals_a_brute_force_ranking_of_the_exact_scores(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        text, video = hard_gallery(rng)
        k, block = int(rng.integers(1, len(video) + 2)), int(rng.integers(1, 40))
        found = top_k_dot(text, video, k, video_block=block)
        for row in range(len(text)):
            # every score in float64, each video's reduced on its own (a matrix product could break the ties of
            # duplicated rows by a last bit)
            exact = (video.astype(np.float64) * text[row].astype(np.float64)).sum(axis=1)
            expected, tied_beyond = brute_force(exact, min(k, len(video)))
            assert found.indices[row].tolist() == expected
            np.testing.assert_allclose(found.scores[row], exact[expected], rtol=1e-13)
            assert found.tied_beyond[row] == tied_beyond


def test_a_tie_at_the_cut_is_counted_and_broken_by_index():
    video = np.array([[1, 0], [0, 1], [1, 0], [0.5, 0.5], [1, 0], [0, 0]], dtype=np.float32)
    found = top_k_dot(np.array([[2, 1]], dtype=np.float32), video, 2, video_block=2)
    assert found.indices[0].tolist() == [0, 2] and found.tied_beyond[0] == 1  # video 4 ties the second place
    assert found.scores[0].tolist() == [2.0, 2.0]


def test_any_tile_source_merges_to_the_same_top_k():
    rng = np.random.default_rng(7)
    text = rng.integers(-2, 3, size=(3, 6)).astype(np.float32)
    video = (rng.integers(-2, 3, size=(50, 6)) * 0.5).astype(np.float32)  # exact products: the scores are exact
    for k in (1, 7, 50, 80):
        found = top_k_streamed(DotProductScores(text, video), k, video_block=9)
        for row in range(3):
            expected, tied_beyond = brute_force(text[row].astype(np.float64) @ video.T.astype(np.float64),
                                                min(k, 50))
            assert found.indices[row].tolist() == expected and found.tied_beyond[row] == tied_beyond


def test_unusable_inputs_are_refused():
    with pytest.raises(DataError, match="same F"):
        top_k_dot(np.zeros((1, 3), np.float32), np.zeros((4, 2), np.float32), 1)
    video = np.ones((4, 2), np.float32)
    video[2, 1] = np.nan
    with pytest.raises(DataError, match="not finite"):
        top_k_dot(np.ones((1, 2), np.float32), torch.from_numpy(video), 1)
    with pytest.raises(DataError, match="k >= 1"):
        top_k_dot(np.ones((1, 2), np.float32), np.ones((4, 2), np.float32), 0)
