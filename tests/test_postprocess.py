"""Post-processors against direct formulas written with explicit loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from c2vbench.evaluation.postprocess import POSTPROCESSORS, TRACKS, dual_softmax, get_postprocessor, qb_norm
from c2vbench.platform.errors import DataError


def direct_dual_softmax(sim: np.ndarray, temperature: float) -> np.ndarray:
    n_text, n_video = sim.shape
    out = np.empty_like(sim, dtype=np.float64)
    for j in range(n_video):
        denominator = sum(math.exp(sim[t, j] / temperature) for t in range(n_text))
        for i in range(n_text):
            out[i, j] = sim[i, j] * math.exp(sim[i, j] / temperature) / denominator
    return out


def direct_qb_norm(sim: np.ndarray, bank: np.ndarray, beta: float, k: int) -> np.ndarray:
    n_video = sim.shape[1]
    active = set()
    for row in bank:
        ranked = sorted(range(n_video), key=lambda v: -row[v])
        active.update(ranked[:k])
    out = sim.astype(np.float64).copy()
    for i, row in enumerate(sim):
        if int(np.argmax(row)) in active:
            for v in range(n_video):
                out[i, v] = math.exp(beta * row[v]) / sum(math.exp(beta * b[v]) for b in bank)
    return out


@pytest.mark.parametrize("temperature", [1.0, 0.05, 10.0])
def test_dual_softmax_matches_direct_formula(temperature):
    sim = np.random.default_rng(0).uniform(-1, 1, size=(7, 5))
    np.testing.assert_allclose(dual_softmax(sim, temperature), direct_dual_softmax(sim, temperature), rtol=1e-10)


def test_dual_softmax_is_stable_and_keeps_float32():
    sim = np.random.default_rng(1).uniform(-1, 1, size=(6, 4)).astype(np.float32)
    out = dual_softmax(sim, temperature=1e-3)  # logits up to 1000: a naive exp overflows
    assert out.dtype == np.float32 and np.isfinite(out).all()


@pytest.mark.parametrize(("beta", "k"), [(20.0, 1), (1 / 1.99, 1), (5.0, 2)])
def test_qb_norm_matches_direct_formula(beta, k):
    rng = np.random.default_rng(2)
    sim = rng.uniform(-1, 1, size=(9, 6))
    bank = rng.uniform(-1, 1, size=(2, 6))  # few bank queries: some test queries stay unchanged
    expected = direct_qb_norm(sim, bank, beta, k)
    out = qb_norm(sim, bank, beta=beta, k=k)
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    unchanged = [i for i in range(9) if np.array_equal(expected[i], sim[i])]
    assert 0 < len(unchanged) < 9  # the case covers both kinds of rows


def test_qb_norm_is_stable_for_large_beta():
    rng = np.random.default_rng(3)
    sim = rng.uniform(0, 1, size=(5, 4))
    bank = rng.uniform(0, 1, size=(30, 4))
    out = qb_norm(sim, bank, beta=2000.0)  # exp(2000) overflows float64; log-space keeps it finite
    assert np.isfinite(out).all()


def test_qb_norm_refuses_mismatched_bank_and_bad_options():
    sim = np.zeros((3, 4))
    with pytest.raises(DataError, match="video columns"):
        qb_norm(sim, np.zeros((2, 5)))
    with pytest.raises(DataError, match="k must"):
        qb_norm(sim, np.zeros((2, 4)), k=9)
    with pytest.raises(DataError, match="needs a query bank"):
        POSTPROCESSORS["qbnorm"].apply(sim)


def test_registry_tracks():
    assert {name: p.track for name, p in POSTPROCESSORS.items()} == {
        "none": "inductive",
        "dsl": "transductive",
        "qbnorm": "query-bank",
    }
    assert all(p.track in TRACKS for p in POSTPROCESSORS.values())
    sim = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(get_postprocessor("none").apply(sim), sim)
    with pytest.raises(DataError, match="none, dsl, qbnorm"):
        get_postprocessor("sinkhorn")


def test_qb_norm_runs_per_direction_with_a_video_bank_for_video_to_text():
    """Video-to-text QB-Norm: each test video is a query over the test captions, normalised by a bank of training
    videos scored against the same captions (the direct formula applied to the transposed problem)."""
    from c2vbench.evaluation.metrics import evaluate_similarity
    from c2vbench.evaluation.postprocess import qb_norm_both_directions

    rng = np.random.default_rng(3)
    sim = rng.uniform(-1, 1, size=(8, 5))  # 8 captions, 5 videos
    text_bank = rng.uniform(-1, 1, size=(3, 5))  # training captions x test videos
    video_bank = rng.uniform(-1, 1, size=(2, 8))  # training videos x test captions
    both = qb_norm_both_directions(sim, text_bank, video_bank, beta=5.0)
    np.testing.assert_allclose(both.t2v, direct_qb_norm(sim, text_bank, 5.0, 1), rtol=1e-10)
    np.testing.assert_allclose(both.v2t, direct_qb_norm(sim.T, video_bank, 5.0, 1).T, rtol=1e-10)
    # the video-to-text ranking of the text-bank matrix is not that of the video-bank one
    text_to_video = [i % 5 for i in range(8)]
    from_text_bank = evaluate_similarity(both.t2v, text_to_video).per_query["v2t_rank"]
    from_video_bank = evaluate_similarity(both.v2t, text_to_video).per_query["v2t_rank"]
    assert list(from_text_bank) != list(from_video_bank)
