"""Which paired test for which inputs: the comparison rules that ``compare`` and ``leaderboard`` share.

:mod:`c2vbench.stats` holds the array-level procedures (bootstraps, the sign-flip test, Holm); this module decides,
for result files, whether they may be compared at all (same protocol, tie policy, video-to-text mode, test set) and
which procedure a comparison uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ResultFileError
from .metrics import TIE_POLICIES, per_query_contributions
from .stats import (
    COMPARE_METRICS,
    DEFAULT_RESAMPLES,
    bootstrap_differences,
    bootstrap_p_value,
    paired_randomization_test,
    percentile_interval,
)


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


MAX_LISTED_DIFFERENCES = 3
DIFFERENCE_VALUE_WIDTH = 36
# protocol fields that are scoring settings: a mismatch there is fixed by re-scoring, not by another test set
SCORING_SETTINGS = {"tie": "--tie", "v2t_mode": "--v2t-mode"}


def _shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= DIFFERENCE_VALUE_WIDTH else text[: DIFFERENCE_VALUE_WIDTH - 1] + "…"


def protocol_difference_fields(protocol_a: Mapping[str, Any], protocol_b: Mapping[str, Any]) -> list[str]:
    """The flattened protocol fields (other than the hash) whose values differ, sorted."""
    flat_a = _flatten({k: v for k, v in protocol_a.items() if k != "hash"})
    flat_b = _flatten({k: v for k, v in protocol_b.items() if k != "hash"})
    missing = object()
    return sorted(field for field in set(flat_a) | set(flat_b)
                  if flat_a.get(field, missing) != flat_b.get(field, missing))


def protocol_differences(protocol_a: Mapping[str, Any], protocol_b: Mapping[str, Any]) -> list[str]:
    """``"field: A vs B"`` for every protocol field (other than the hash) that differs, values shortened."""
    flat_a = _flatten({k: v for k, v in protocol_a.items() if k != "hash"})
    flat_b = _flatten({k: v for k, v in protocol_b.items() if k != "hash"})
    return [f"{field}: {_shorten(flat_a.get(field, '<missing>'))} vs {_shorten(flat_b.get(field, '<missing>'))}"
            for field in protocol_difference_fields(protocol_a, protocol_b)]


def protocol_mismatch_hint(fields: Sequence[str]) -> str:
    """What to do about a protocol mismatch, given the fields that differ."""
    roots = {field.split(".", 1)[0] for field in fields}
    if roots and roots <= set(SCORING_SETTINGS):
        flags = " and ".join(SCORING_SETTINGS[root] for root in sorted(roots))
        return (f"the runs were scored with different {flags}: re-evaluate one of them with the other's {flags} "
                "(`c2vbench eval` of its checkpoint), or compare runs scored alike")
    if roots and roots <= {"skipped_videos", "partial_videos", "n_videos", "n_captions"}:
        return ("the runs used different videos of the test set (--allow-missing skipped some): fix the videos and "
                "re-run both, so that both see the same test set")
    return "compare only results of the same dataset, split and frame sampling"


def check_same_protocol(results: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> None:
    """Raise :class:`ResultFileError` naming the first few differing fields unless all share one protocol hash."""
    first = results[0]
    for result, label in zip(results[1:], labels[1:], strict=True):
        if result["protocol"]["hash"] != first["protocol"]["hash"]:
            fields = protocol_difference_fields(first["protocol"], result["protocol"])
            differences = protocol_differences(first["protocol"], result["protocol"])
            listed = "; ".join(differences[:MAX_LISTED_DIFFERENCES]) or "no listed field differs, only the hash"
            if len(differences) > MAX_LISTED_DIFFERENCES:
                listed += f"; and {len(differences) - MAX_LISTED_DIFFERENCES} more field(s)"
            raise ResultFileError(
                f"{labels[0]} and {label} were evaluated on different protocols "
                f"({first['protocol']['hash'][:12]} vs {result['protocol']['hash'][:12]}): {listed}",
                protocol_mismatch_hint(fields),
            )


def _setting(result: Mapping[str, Any], key: str, default: str) -> str:
    return str(result.get(key, result.get("config", {}).get(key, default)))


def _check_same_setting(results: Sequence[Mapping[str, Any]], labels: Sequence[str], key: str, default: str) -> str:
    values = [_setting(result, key, default) for result in results]
    if len(set(values)) > 1:
        shown = ", ".join(f"{label}: {value}" for label, value in zip(labels, values, strict=True))
        raise ResultFileError(f"results use different {key} settings ({shown})", f"re-score them with one {key}")
    return values[0]


def query_clusters(results: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> np.ndarray | None:
    """The caption -> video map shared by the results (``per_query["t2v_video"]``), or None if none carries it."""
    maps = [(label, r["per_query"].get("t2v_video")) for r, label in zip(results, labels, strict=True)]
    present = [(label, m) for label, m in maps if m is not None]
    if not present:
        return None
    reference_label, reference = present[0]
    for label, mapping in present[1:]:
        if list(mapping) != list(reference):
            raise ResultFileError(
                f"{reference_label} and {label} disagree on which video each caption belongs to (t2v_video)",
                "compare results of the same test set",
            )
    return np.asarray(reference)


def direction_values(
    results: Sequence[Mapping[str, Any]], direction: str, metrics: Sequence[str], tie: str
) -> np.ndarray:
    """``[n_seeds, n_queries, n_metrics]`` per-query contributions of each result."""
    per_seed = []
    for result in results:
        per_query = result["per_query"]
        ranks = np.asarray(per_query[f"{direction}_rank"], dtype=np.float64)
        ties = per_query.get(f"{direction}_ties")
        per_seed.append(np.stack([per_query_contributions(ranks, ties, tie, metric) for metric in metrics], axis=-1))
    lengths = {values.shape[0] for values in per_seed}
    if len(lengths) > 1:
        raise ResultFileError(f"{direction} query counts differ across results: {sorted(lengths)}")
    return np.stack(per_seed)


def _as_list(results: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(results, Mapping):
        return [results]
    results = list(results)
    if not results:
        raise ResultFileError("an empty list of results cannot be compared")
    return results


def compare_results(
    a: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    b: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    labels: tuple[str, str] = ("a", "b"),
    metrics: Sequence[str] = COMPARE_METRICS,
    confidence: float = 0.95,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Paired comparison of two results (or two lists of same-config results from different seeds).

    Returns:
        ``{"t2v": {METRIC: {"a", "b", "diff", "ci": [low, high], "p"}}, "v2t": {...}}`` for ``metrics`` (R@K in
        percent, MnR in ranks, MRR in 0..1), ``diff = b - a``. With one result per side, the CI is the paired
        (cluster-aware) bootstrap and ``p`` the sign-flip randomisation test; with several seeds on either side,
        both come from the two-level bootstrap.

    Raises:
        ResultFileError: different protocol hashes (naming the fields that differ), tie policies, video-to-text
            modes or query counts.
    """
    a_list = _as_list(a)
    b_list = _as_list(b)
    everything = a_list + b_list
    all_labels = [f"{labels[0]}[{i}]" if len(a_list) > 1 else labels[0] for i in range(len(a_list))] + [
        f"{labels[1]}[{i}]" if len(b_list) > 1 else labels[1] for i in range(len(b_list))
    ]
    check_same_protocol(everything, all_labels)
    tie = _check_same_setting(everything, all_labels, "tie", "expected")
    if tie not in TIE_POLICIES:
        raise ResultFileError(f"unknown tie policy {tie!r} in the results")
    _check_same_setting(everything, all_labels, "v2t_mode", "all-captions")
    multi_seed = len(a_list) > 1 or len(b_list) > 1

    comparison: dict[str, dict[str, dict[str, Any]]] = {}
    for direction in ("t2v", "v2t"):
        clusters = query_clusters(everything, all_labels) if direction == "t2v" else None
        a_values = direction_values(a_list, direction, metrics, tie)
        b_values = direction_values(b_list, direction, metrics, tie)
        if a_values.shape[1] != b_values.shape[1]:
            raise ResultFileError(
                f"{labels[0]} has {a_values.shape[1]} {direction} queries but {labels[1]} has {b_values.shape[1]}",
                "compare results of the same test set",
            )
        samples = bootstrap_differences(a_values, b_values, clusters, n_resamples, seed)
        low, high = percentile_interval(samples, confidence)
        if multi_seed:
            p_values = np.atleast_1d(bootstrap_p_value(samples))
        else:
            p_values = np.atleast_1d(paired_randomization_test(a_values[0], b_values[0], clusters, n_resamples, seed))
        a_means = a_values.mean(axis=1).mean(axis=0)
        b_means = b_values.mean(axis=1).mean(axis=0)
        comparison[direction] = {
            metric: {
                "a": float(a_means[i]),
                "b": float(b_means[i]),
                "diff": float(b_means[i] - a_means[i]),
                "ci": [float(low[i]), float(high[i])],
                "p": float(p_values[i]),
            }
            for i, metric in enumerate(metrics)
        }
    return comparison
