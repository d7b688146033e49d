"""The accuracy interval and the paired test of text contrasts (VITATECS, RTime-Binary), validated by simulation:
type-I error under a realistic null (two models whose outcomes share each video's difficulty) and power under an
alternative, with several correlated pairs per video."""

from __future__ import annotations

import numpy as np
import pytest

from c2vbench.platform.errors import ResultFileError
from c2vbench.results.contrasts import ALL, compare_contrast, summarize_contrast


def simulated_pair(rng, n_videos=40, gain=0.0):
    """Outcomes of models A and B on 1-3 pairs per video: a video's difficulty moves every pair of it and both
    models (correlated), and B's success probability is A's plus ``gain``; 5% ties."""
    pairs_per_video = rng.integers(1, 4, size=n_videos)
    video = np.repeat(np.arange(n_videos), pairs_per_video)
    difficulty = rng.normal(0.0, 1.2, size=n_videos)[video]
    base = 1.0 / (1.0 + np.exp(-(0.3 + difficulty)))

    def outcomes(probability):
        won = (rng.random(len(video)) < np.clip(probability, 0, 1)).astype(float)
        return np.where(rng.random(len(video)) < 0.05, 0.5, won)

    groups = ["Direction" if v % 2 else "Sequence" for v in video]
    block = {"video": video.tolist(), "group": groups}
    return {**block, "outcome": outcomes(base).tolist()}, {**block, "outcome": outcomes(base + gain).tolist()}


def test_paired_test_holds_its_level_under_the_null_and_has_power():
    rng = np.random.default_rng(0)
    null_p = [compare_contrast(*simulated_pair(rng), n_resamples=400, seed=s)[ALL]["p"] for s in range(300)]
    size = np.mean(np.asarray(null_p) <= 0.05)
    assert 0.02 <= size <= 0.08, size  # nominal 5%
    power = np.mean([compare_contrast(*simulated_pair(rng, gain=0.25), n_resamples=400, seed=s)[ALL]["p"] <= 0.05
                     for s in range(100)])
    assert power >= 0.8, power


def test_accuracy_interval_covers_the_true_accuracy():
    rng = np.random.default_rng(1)
    covered, truth = [], None
    for seed in range(200):
        pair, _ = simulated_pair(rng, n_videos=60)
        summary = summarize_contrast(pair, n_resamples=400, seed=seed)
        low, high = summary[ALL]["ci"]
        # the population accuracy of this simulation (difficulty ~ N(0, 1.2^2), 5% ties), by a large draw
        if truth is None:
            big, _ = simulated_pair(np.random.default_rng(99), n_videos=200_000)
            truth = 100 * np.mean(big["outcome"])
        covered.append(low <= truth <= high)
    assert 0.90 <= np.mean(covered) <= 0.985, np.mean(covered)


def test_summary_groups_and_pairing_checks():
    block = {"outcome": [1, 0, 0.5, 1], "group": ["A", "B", "A", "B"], "video": [0, 1, 1, 2]}
    summary = summarize_contrast(block, n_resamples=200)
    assert summary[ALL]["accuracy"] == pytest.approx(62.5) and summary["A"]["accuracy"] == pytest.approx(75.0)
    assert summary["B"]["pairs"] == 2 and summary[ALL]["videos"] == 3
    with pytest.raises(ResultFileError, match="scored different pairs"):
        compare_contrast(block, {**block, "video": [0, 1, 2, 2]})
