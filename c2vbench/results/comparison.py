"""Which paired test for which inputs: the comparison rules that ``compare`` and ``leaderboard`` share.

:mod:`c2vbench.results.stats` holds the array-level procedures (bootstraps, the sign-flip test, the seed-level t test,
Holm); this module decides, for result files, whether they may be compared at all (same protocol, tie policy,
video-to-text mode, test set), which runs form one configuration, and which procedure a comparison uses:

* **Grouping** (:func:`group_runs`): runs are one configuration when they share protocol hash, post-processing
  track and ``config_key`` (what can change a number, seed excluded). Each ``(config_key, seed)`` counts once: a
  re-run of the same seed is *set aside* and named (:class:`SetAside`), never counted as another seed.
* **Choice of test** (:func:`choose_test`): >= 2 seeds on both sides → the seed-level t test
  (:data:`SEED_LEVEL_TEST`, :mod:`c2vbench.results.seed_test`), which accounts for training noise and query sampling;
  1 seed against >= 2 → the same test with the single run borrowing the other side's seed variance
  (:data:`BORROWED_SEED_TEST`, equal seed variance assumed and said so); 1 seed against 1 → no configuration-level
  test (:data:`NO_SEED_LEVEL_TEST`): ``p`` is None and only the conditional query-level p is given.
  Every comparison also carries ``p_query``, the sign-flip test over queries (:data:`QUERY_LEVEL_TEST`), valid only
  *conditional on the trained models* and never shown as the verdict, and the smallest difference it could detect
  at 80% power. Post-processed results are compared with their own plain scores (:data:`PAIRED_POSTPROCESS_TEST`):
  same runs, same queries, exactly paired.
* **Caption map** (:func:`require_caption_map`): a result whose text queries outnumber its videos must say which
  video each caption describes (``per_query["t2v_video"]``); otherwise captions would count as independent queries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from c2vbench.evaluation.metrics import TIE_POLICIES, per_query_contributions
from c2vbench.platform.errors import ResultFileError
from c2vbench.results.seed_test import DETECTION_ALPHA, POWER, seed_level_test
from c2vbench.results.stats import (
    COMPARE_METRICS,
    DEFAULT_RESAMPLES,
    bootstrap_differences,
    paired_randomization_test,
    percentile_interval,
)

SEED_LEVEL_TEST = "seed-level t test (training noise + query sampling, guarded Satterthwaite df)"
BORROWED_SEED_TEST = ("seed-level t test, the 1-seed side borrowing the other side's seed variance "
                      "(equal seed variance assumed; a single run's tails widened, p not resolved "
                      "below 0.01)")
NO_SEED_LEVEL_TEST = "none: 1 seed on each side, so training noise cannot be estimated and there is no verdict"
QUERY_LEVEL_TEST = "paired sign-flip test over queries, conditional on the trained seeds"
PAIRED_POSTPROCESS_TEST = "paired sign-flip test over queries: post-processed vs the same runs' plain scores"
CONFIGURATION_TESTS = (SEED_LEVEL_TEST, BORROWED_SEED_TEST)


def choose_test(seeds_a: int, seeds_b: int) -> str:
    """The test a comparison of ``seeds_a`` vs ``seeds_b`` runs uses (see the module docstring)."""
    if seeds_a >= 2 and seeds_b >= 2:
        return SEED_LEVEL_TEST
    if max(seeds_a, seeds_b) >= 2:
        return BORROWED_SEED_TEST
    return NO_SEED_LEVEL_TEST


def require_caption_map(result: Mapping[str, Any], label: str) -> None:
    """Refuse a result whose text queries outnumber its videos but that does not say which video each caption
    belongs to: its captions would otherwise count as independent queries (overconfident by the caption count)."""
    per_query = result.get("per_query", {})
    captions, videos = len(per_query.get("t2v_rank", [])), len(per_query.get("v2t_rank", []))
    if captions > videos and per_query.get("t2v_video") is None:
        raise ResultFileError(
            f"{label} has {captions} text queries for {videos} videos but no caption -> video map "
            "(per_query.t2v_video), so its captions cannot be resampled by video",
            "re-score it with this c2vbench (`c2vbench eval` of its checkpoint writes the map)",
        )


# ---------------------------------------------------------------------------------------------------------------
# grouping runs into configurations


def postprocess_of(result: Mapping[str, Any]) -> tuple[str, str]:
    """``(name, track)`` of the post-processing a result used (``("none", "inductive")`` when absent)."""
    from c2vbench.evaluation.postprocess import POSTPROCESSORS

    info = result.get("postprocess")
    if isinstance(info, Mapping):
        name = str(info.get("name", "none"))
    else:
        name = str(result.get("config", {}).get("postprocess", "none"))
    if isinstance(info, Mapping) and "track" in info:
        return name, str(info["track"])
    known = POSTPROCESSORS.get(name)
    if known is not None:
        return name, known.track
    return name, "unknown"


def seed_of(result: Mapping[str, Any]) -> int | None:
    seed = result.get("config", {}).get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def configuration_of(result: Mapping[str, Any], path: Path | str) -> str:
    """``config:<config_key>``, or for a result without one ``run:<run_id>`` / ``file:<path>`` (never merged)."""
    if "config_key" in result:
        return f"config:{result['config_key']}"
    if "run_id" in result:
        return f"run:{result['run_id']}"
    return f"file:{path}"


@dataclasses.dataclass(frozen=True)
class SetAside:
    """A run not counted because its configuration already has a run of the same seed.

    ``drift`` says how its per-query ranks differ from the kept run's (None: identical, a true re-run)."""

    path: Path
    kept: Path
    seed: int | None
    drift: str | None = None

    def describe(self) -> str:
        same = f"{self.path} (same configuration and seed {self.seed} as {self.kept})"
        return same if self.drift is None else f"{same}; {self.drift}"


def rank_drift(kept: Mapping[str, Any], rerun: Mapping[str, Any]) -> str | None:
    """How a re-run of the same configuration and seed differs from the kept run, query by query (None when every
    rank is the same): the number of queries whose rank moved, per direction, and the change of T2V R@1."""
    moved = {}
    for direction in ("t2v", "v2t"):
        first, second = kept["per_query"][f"{direction}_rank"], rerun["per_query"][f"{direction}_rank"]
        if len(first) != len(second):
            return f"its {direction} ranks cover {len(second)} queries, the kept run's {len(first)}"
        moved[direction] = (sum(a != b for a, b in zip(first, second, strict=True)), len(first))
    if not any(count for count, _ in moved.values()):
        return None
    before, after = float(kept["metrics"]["t2v"]["R@1"]), float(rerun["metrics"]["t2v"]["R@1"])
    return (f"its ranks differ on {moved['t2v'][0]} of {moved['t2v'][1]} text→video and {moved['v2t'][0]} of "
            f"{moved['v2t'][1]} video→text queries (T2V R@1 {after:.2f} vs {before:.2f}, {after - before:+.2f}): "
            f"the same seed computed differently ({numeric_differences(kept, rerun)})")


NUMERIC_FIELDS = {"intra_op_threads": "threads", "cpu_capability": "instruction set", "cpu": "CPU",
                  "build": "numeric libraries"}


def numeric_differences(first: Mapping[str, Any], second: Mapping[str, Any]) -> str:
    """What the two results' ``env`` records differently among what changes CPU arithmetic, in words."""
    env_a, env_b = first.get("env") or {}, second.get("env") or {}
    numerics_a, numerics_b = env_a.get("numerics"), env_b.get("numerics")
    found = [f"torch {env_a.get('torch')} vs {env_b.get('torch')}"] if env_a.get("torch") != env_b.get("torch") \
        else []
    if not isinstance(numerics_a, Mapping) or not isinstance(numerics_b, Mapping):
        found.append("one of them does not record its threads, CPU and libraries (env.numerics)")
    else:
        for key, words in NUMERIC_FIELDS.items():
            if numerics_a.get(key) != numerics_b.get(key):
                shown = (f"{numerics_b.get(key)} vs {numerics_a.get(key)}" if key != "build" else "differ")
                found.append(f"{words} {shown}")
    if env_a.get("c2vbench") != env_b.get("c2vbench"):
        found.append(f"c2vbench {env_b.get('c2vbench')} vs {env_a.get('c2vbench')}")
    return "; ".join(found) or "threads, CPU and libraries recorded alike: another code version or build?"


@dataclasses.dataclass
class RunGroup:
    """The runs of one configuration on one protocol and post-processing track, one per seed."""

    protocol_hash: str
    track: str
    configuration: str
    runs: list[tuple[Path, dict[str, Any]]]

    @property
    def results(self) -> list[dict[str, Any]]:
        return [result for _, result in self.runs]


def group_runs(results: Sequence[tuple[Path | str, dict[str, Any]]]) -> tuple[list[RunGroup], list[SetAside]]:
    """Group runs by (protocol hash, track, configuration); each (configuration, seed) counts once.

    Of several runs with the same configuration and seed, the one created first (then the first path) is kept and
    the others are returned as :class:`SetAside`. The same file reached twice (a file and its folder) is dropped
    silently. Groups are sorted; runs inside a group by seed.
    """
    groups: dict[tuple[str, str, str], RunGroup] = {}
    kept_by_seed: dict[tuple[str, str, str, Any], tuple[Path, dict[str, Any]]] = {}
    set_aside: list[SetAside] = []
    seen_files: set[str] = set()
    ordered = sorted(((Path(path), result) for path, result in results),
                     key=lambda item: (str(item[1].get("created", "")), str(item[0])))
    for path, result in ordered:
        identity = str(path.resolve()) if path.exists() else str(path)
        if identity in seen_files:
            continue
        seen_files.add(identity)
        protocol_hash = result["protocol"]["hash"]
        _, track = postprocess_of(result)
        configuration = configuration_of(result, path)
        seed = seed_of(result)
        seed_key = (protocol_hash, track, configuration, seed)
        if seed_key in kept_by_seed:
            kept_path, kept_result = kept_by_seed[seed_key]
            set_aside.append(SetAside(path, kept_path, seed, rank_drift(kept_result, result)))
            continue
        kept_by_seed[seed_key] = (path, result)
        key = (protocol_hash, track, configuration)
        groups.setdefault(key, RunGroup(protocol_hash, track, configuration, [])).runs.append((path, result))
    for group in groups.values():
        group.runs.sort(key=lambda run: (seed_of(run[1]) if seed_of(run[1]) is not None else -1,
                                         str(run[1].get("run_id", ""))))
    set_aside.sort(key=lambda item: str(item.path))
    return [groups[key] for key in sorted(groups)], set_aside


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
        ``{"t2v": {METRIC: {...}}, "v2t": {...}}`` for ``metrics`` (R@K in percent, MnR in ranks, MRR in 0..1), each
        with ``a``, ``b``, ``diff = b - a``, and

        * ``p`` and ``ci``: the verdict, from the test :func:`choose_test` names in ``test`` (``seed_level`` true).
          With 1 seed on each side there is no verdict: ``p`` is None and ``ci`` is the paired (cluster-aware)
          bootstrap interval over queries, conditional on the trained seeds (``ci_conditional`` true);
        * ``p_query``: the sign-flip test over queries of the seed-averaged values (:data:`QUERY_LEVEL_TEST`),
          conditional on the trained seeds, for every design; never the verdict;
        * ``detectable``: the smallest difference the verdict's test would detect with 80% power at alpha 0.05,
          from the estimated variance components (conditional on the seeds when ``ci_conditional``);
        * ``df``, ``se``: the test's degrees of freedom and standard error (None without a verdict);
        * ``assumption``: what the test assumed beyond its model (the borrowed seed variance), or None;
        * ``p_floor``: the p below which the test does not resolve (0.01 with one seed on a side: ``p`` equal to it
          means "at most 0.01"), or None;
        * ``seeds``: ``[k_a, k_b]``.

    Raises:
        ResultFileError: different protocol hashes (naming the fields that differ), tie policies, video-to-text
            modes or query counts, or a multi-caption result without its caption -> video map.
    """
    from scipy import stats as scipy_stats

    a_list = _as_list(a)
    b_list = _as_list(b)
    everything = a_list + b_list
    all_labels = [f"{labels[0]}[{i}]" if len(a_list) > 1 else labels[0] for i in range(len(a_list))] + [
        f"{labels[1]}[{i}]" if len(b_list) > 1 else labels[1] for i in range(len(b_list))
    ]
    check_same_protocol(everything, all_labels)
    for result, label in zip(everything, all_labels, strict=True):
        require_caption_map(result, label)
    tie = _check_same_setting(everything, all_labels, "tie", "expected")
    if tie not in TIE_POLICIES:
        raise ResultFileError(f"unknown tie policy {tie!r} in the results")
    _check_same_setting(everything, all_labels, "v2t_mode", "all-captions")
    test = choose_test(len(a_list), len(b_list))

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
        a_mean, b_mean = a_values.mean(axis=0), b_values.mean(axis=0)  # [n_queries, n_metrics], seed-averaged
        p_query = np.atleast_1d(paired_randomization_test(a_mean, b_mean, clusters, n_resamples, seed))
        verdict = None
        if test in CONFIGURATION_TESTS:
            verdict = seed_level_test(a_values, b_values, clusters, confidence)
            low, high = verdict.interval
            detectable = verdict.detectable
        else:
            samples = bootstrap_differences(a_mean[None], b_mean[None], clusters, n_resamples, seed)
            low, high = percentile_interval(samples, confidence)
            # conditional on the seeds: query sampling only (the standard deviation of the bootstrap differences)
            quantiles = scipy_stats.norm.ppf(1 - DETECTION_ALPHA / 2) + scipy_stats.norm.ppf(POWER)
            detectable = quantiles * samples.std(axis=0, ddof=1)
        a_means = a_values.mean(axis=1).mean(axis=0)
        b_means = b_values.mean(axis=1).mean(axis=0)
        comparison[direction] = {
            metric: {
                "a": float(a_means[i]),
                "b": float(b_means[i]),
                "diff": float(b_means[i] - a_means[i]),
                "ci": [float(low[i]), float(high[i])],
                "p": None if verdict is None else float(verdict.p_value[i]),
                "test": test,
                "seed_level": verdict is not None,
                "ci_conditional": verdict is None,
                "df": None if verdict is None else float(verdict.degrees_of_freedom[i]),
                "se": None if verdict is None else float(verdict.standard_error[i]),
                "detectable": float(detectable[i]),
                "assumption": None if verdict is None else verdict.assumption,
                "p_floor": None if verdict is None else verdict.p_floor,
                "p_query": float(p_query[i]),
                "seeds": [len(a_list), len(b_list)],
            }
            for i, metric in enumerate(metrics)
        }
    contrasts = compare_contrasts(a_list, b_list, n_resamples, seed)
    if contrasts:
        comparison["contrasts"] = contrasts
    return comparison


def compare_contrasts(a_list: Sequence[Mapping[str, Any]], b_list: Sequence[Mapping[str, Any]],
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Per contrast both sides carry: accuracy per group of each side, ``diff = b - a``, interval and paired p
    (:func:`c2vbench.results.contrasts.compare_contrast`); several seeds on a side are averaged pair by pair first
    (the test is then conditional on the trained seeds, as the sign-flip test of the retrieval metrics)."""
    from c2vbench.results.contrasts import compare_contrast

    def averaged(runs: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any] | None:
        blocks = [(run.get("contrasts") or {}).get(name) for run in runs]
        if any(block is None for block in blocks):
            return None
        outcome = np.mean([np.asarray(block["outcome"], dtype=np.float64) for block in blocks], axis=0)
        return {**blocks[0], "outcome": outcome.tolist()}

    names = [name for name in (a_list[0].get("contrasts") or {}) if name in (b_list[0].get("contrasts") or {})]
    compared = {}
    for name in names:
        a_block, b_block = averaged(a_list, name), averaged(b_list, name)
        if a_block is not None and b_block is not None:
            compared[name] = compare_contrast(a_block, b_block, name, n_resamples, seed)
    return compared


def compare_with_plain(results: Sequence[Mapping[str, Any]], metric: str = "R@1", direction: str = "t2v",
                       n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> tuple[float, float] | None:
    """``(difference, p)`` of post-processed minus plain scores of the same runs (exactly paired), or None.

    Every run must carry its plain scores (``result["plain"]``). The per-query differences are averaged over the
    runs (seeds) and tested with the sign-flip test (:data:`PAIRED_POSTPROCESS_TEST`); videos' captions flip
    together on multi-caption sets.
    """
    if not results or any(not isinstance(result.get("plain"), Mapping) for result in results):
        return None
    tie = str(results[0].get("tie", "expected"))
    post = direction_values(results, direction, (metric,), tie)[:, :, 0]
    plain = direction_values([{"per_query": result["plain"]["per_query"]} for result in results], direction,
                             (metric,), tie)[:, :, 0]
    if post.shape != plain.shape:
        return None
    mapping = results[0]["per_query"].get("t2v_video") if direction == "t2v" else None
    clusters = None if mapping is None else np.asarray(mapping)
    difference = float(post.mean() - plain.mean())
    p_value = paired_randomization_test(plain.mean(axis=0), post.mean(axis=0), clusters, n_resamples, seed)
    return difference, float(p_value)
