"""Accuracy on text contrasts (VITATECS' counterfactuals, RTime-Binary's reversed captions): summaries with
intervals, and the paired test of two results.

A result's ``contrasts`` block holds, per contrast, the outcome of every pair (1: the video scores its caption
above the contrasting text, 0.5: a tie, 0: below), the pair's group (VITATECS' aspect) and its video. Pairs of one
video are not independent (one clip's frames decide them all), so the video is the resampling unit:

* **interval**: percentile bootstrap of the mean outcome (accuracy, percent), whole videos resampled;
* **paired test** of two results on the same pairs: the sign-flip randomisation test of
  :func:`c2vbench.results.stats.paired_randomization_test` on the per-pair differences, the differences of one
  video flipped together, with a cluster bootstrap interval of the difference. Its size and power are checked by
  simulation (``tests/test_contrasts.py``: correlated outcomes of two models, several pairs per video).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from c2vbench.platform.errors import ResultFileError
from c2vbench.results.stats import (
    bootstrap_means,
    paired_bootstrap_ci,
    paired_randomization_test,
    percentile_interval,
)

SUMMARY_RESAMPLES = 2000
ALL = "all"


def _groups(block: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{ALL: every pair, group: its pairs}`` as index arrays, groups in order of first appearance."""
    labels = list(block["group"])
    groups = {ALL: np.arange(len(labels))}
    for name in dict.fromkeys(labels):
        groups[name] = np.flatnonzero(np.asarray(labels, dtype=object) == name)
    return groups


def summarize_contrast(block: Mapping[str, Any], n_resamples: int = SUMMARY_RESAMPLES,
                       seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{ALL | group: {"accuracy", "ci": [low, high], "pairs", "videos"}}``, accuracy in percent."""
    outcome = np.asarray(block["outcome"], dtype=np.float64)
    videos = np.asarray(block["video"], dtype=np.int64)
    summary = {}
    for name, rows in _groups(block).items():
        samples = bootstrap_means(100.0 * outcome[rows], videos[rows], n_resamples, seed)
        low, high = percentile_interval(samples)
        summary[name] = {"accuracy": float(100.0 * outcome[rows].mean()), "ci": [float(low), float(high)],
                         "pairs": int(len(rows)), "videos": int(len(np.unique(videos[rows])))}
    return summary


def check_same_pairs(a: Mapping[str, Any], b: Mapping[str, Any], name: str) -> None:
    """Two contrast blocks are paired only on the same pairs (same videos and groups, in the same order)."""
    if list(a["video"]) != list(b["video"]) or list(a["group"]) != list(b["group"]):
        raise ResultFileError(f"contrast {name!r}: the two results scored different pairs",
                              "compare results of the same protocol (their protocol hashes must match)")


def compare_contrast(a: Mapping[str, Any], b: Mapping[str, Any], name: str = "",
                     n_resamples: int = 10_000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{ALL | group: {"a", "b", "diff", "ci", "p"}}``: accuracy of each side (percent), ``diff = b - a``, its
    cluster-bootstrap interval and the paired sign-flip p-value (videos flipped together)."""
    check_same_pairs(a, b, name)
    a_outcome = 100.0 * np.asarray(a["outcome"], dtype=np.float64)
    b_outcome = 100.0 * np.asarray(b["outcome"], dtype=np.float64)
    videos = np.asarray(a["video"], dtype=np.int64)
    compared = {}
    for group, rows in _groups(a).items():
        low, high = paired_bootstrap_ci(a_outcome[rows], b_outcome[rows], videos[rows], n_resamples, seed=seed)
        compared[group] = {
            "a": float(a_outcome[rows].mean()), "b": float(b_outcome[rows].mean()),
            "diff": float(b_outcome[rows].mean() - a_outcome[rows].mean()), "ci": [low, high],
            "p": float(paired_randomization_test(a_outcome[rows], b_outcome[rows], videos[rows], n_resamples, seed)),
        }
    return compared


def validate_contrasts_block(block: Any) -> None:
    """Raise ValueError unless ``block`` is ``{name: {"outcome", "group", "video", ...}}`` with aligned lists."""
    if not isinstance(block, Mapping):
        raise ValueError("'contrasts' must be an object")
    for name, contrast in block.items():
        if not isinstance(contrast, Mapping):
            raise ValueError(f"contrasts.{name} must be an object")
        lists = [contrast.get(key) for key in ("outcome", "group", "video")]
        if not all(isinstance(values, list) for values in lists) or len({len(values) for values in lists}) != 1:
            raise ValueError(f"contrasts.{name} needs 'outcome', 'group' and 'video' lists of one length")
        if any(value not in (0, 0.5, 1) for value in contrast["outcome"]):
            raise ValueError(f"contrasts.{name}.outcome must hold 0, 0.5 or 1")
