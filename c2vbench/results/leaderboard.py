"""Leaderboard markdown rendered from result files.

Layout: one section per protocol hash (results on different protocols are never ranked together), and inside it one
table per post-processing track (plain inference, query bank, transductive). Runs are grouped by
:func:`c2vbench.results.comparison.group_runs`: runs that differ only by seed share a ``config_key`` and form one entry,
each (configuration, seed) counted once (re-runs are set aside and listed under the tables). An entry's numbers are the
mean over seeds with an interval over seeds and queries (:func:`c2vbench.results.seed_test.mean_interval`; a
single-seed entry's interval counts query sampling only, and the table says so), and a 95% rank interval from a
bootstrap over seeds and queries (:mod:`c2vbench.results.rank_intervals`). Text queries are resampled by video: a
result whose text queries outnumber its videos must carry the caption -> video map.

Marks: plain rows against the baseline use the test :func:`c2vbench.results.comparison.choose_test` picks (the
seed-level t test, borrowing the other side's seed variance when one side has one seed, Holm-adjusted, with the
smallest difference it could detect; with one seed on both sides no verdict, only the query-level p conditional on
the seeds); post-processed rows are tested against their own plain scores (same runs, exactly paired).

The rendering is deterministic — inputs sorted, fixed bootstrap seeds, no timestamps — so re-rendering the same
files gives identical bytes, and ``--check`` can detect drift. Every string that comes from a result file (plug-in
names, distributions, protocol fields) is escaped for markdown.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from c2vbench.platform.errors import C2VBenchError
from c2vbench.results.comparison import (
    BORROWED_SEED_TEST,
    CONFIGURATION_TESTS,
    PAIRED_POSTPROCESS_TEST,
    QUERY_LEVEL_TEST,
    SEED_LEVEL_TEST,
    SetAside,
    choose_test,
    compare_with_plain,
    direction_values,
    group_runs,
    postprocess_of,
    require_caption_map,
)
from c2vbench.results.rank_intervals import rank_intervals
from c2vbench.results.seed_test import mean_interval, seed_level_test
from c2vbench.results.stats import holm_adjust, paired_randomization_test

DEFAULT_RESAMPLES = 2000
SIGNIFICANCE_LEVEL = 0.05
TRACK_TITLES = {
    "inductive": "Plain inference",
    "query-bank": "Query bank (post-processing with training captions)",
    "transductive": "Transductive (uses the whole test query set)",
}
T2V_METRICS = ("R@1", "R@5", "R@10", "MnR")
METRIC_BOUNDS = (np.array([0.0, 0.0, 0.0, 1.0]), np.array([100.0, 100.0, 100.0, np.inf]))  # of T2V_METRICS
_MARKDOWN_REPLACEMENTS = {
    "\\": "\\\\",
    "|": "\\|",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "~": "\\~",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
}
_PROTOCOL_VALUE_WIDTH = 80
SELECTED_ON_TEST_MARK = "†"
_PLAIN_TOKEN = re.compile(r"^[0-9A-Za-z.-]+$")


def escape_markdown(text: Any) -> str:
    """``text`` safe inside a markdown paragraph or table cell: specials escaped, HTML neutralised, one line."""
    one_line = " ".join(str(text).splitlines()).replace("\r", " ")
    return "".join(_MARKDOWN_REPLACEMENTS.get(character, character) for character in one_line)


def _code(text: str) -> str:
    """A code span for simple tokens (hashes), escaped text otherwise."""
    return f"`{text}`" if _PLAIN_TOKEN.match(text) else escape_markdown(text)


# ---------------------------------------------------------------------------------------------------------------
# entries


@dataclasses.dataclass
class Entry:
    """One leaderboard row: every run of one configuration (seeds merged)."""

    protocol_hash: str
    track: str
    group_key: str
    runs: list[tuple[Path, dict[str, Any]]]
    name: str = ""
    label: str = ""  # name, disambiguated when two entries of a table share it

    @property
    def results(self) -> list[dict[str, Any]]:
        return [result for _, result in self.runs]

    @property
    def selected_on_test(self) -> bool:
        """Whether any run chose its checkpoint on the test split (labelled in the table)."""
        return any(
            isinstance(result.get("model_selection"), Mapping) and result["model_selection"].get("selected_on_test")
            for result in self.results
        )

    @property
    def tie(self) -> str:
        return str(self.results[0].get("tie", "expected"))

    def matches(self, wanted: str) -> bool:
        """Whether ``wanted`` names this entry (its name, label, or a run_id / config_key prefix)."""
        if wanted in (self.name, self.label):
            return True
        prefixes = [result.get("run_id", "") for result in self.results] + [self.group_key.partition(":")[2]]
        return any(prefix and prefix.startswith(wanted) for prefix in prefixes)


def _plugin_name(result: Mapping[str, Any], kind: str) -> str:
    plugin = result.get("plugins", {}).get(kind)
    return str(plugin.get("name", "?")) if isinstance(plugin, Mapping) else "?"


def entry_name(result: Mapping[str, Any]) -> str:
    """``backbone · temporal · align`` (+ the protocol unless finetune, + post-processor), unescaped."""
    name = " · ".join(_plugin_name(result, kind) for kind in ("backbone", "temporal", "align"))
    protocol = result.get("config", {}).get("protocol")
    if protocol in ("frozen", "zeroshot"):
        name = f"{name} ({protocol})"
    postprocess, _ = postprocess_of(result)
    return name if postprocess == "none" else f"{name} + {postprocess}"


def group_entries(results: Sequence[tuple[Path, dict[str, Any]]]) -> dict[str, dict[str, list[Entry]]]:
    """``{protocol_hash: {track: [Entry, ...]}}`` (see :func:`grouped_entries`, which also returns the set-aside
    re-runs)."""
    return grouped_entries(results)[0]


def grouped_entries(
    results: Sequence[tuple[Path, dict[str, Any]]],
) -> tuple[dict[str, dict[str, list[Entry]]], list[SetAside]]:
    """Entries per protocol and track, from :func:`c2vbench.results.comparison.group_runs`, and the runs it set
    aside."""
    groups, set_aside = group_runs(results)
    tables: dict[str, dict[str, list[Entry]]] = {}
    for group in groups:
        entry = Entry(group.protocol_hash, group.track, group.configuration, list(group.runs),
                      name=entry_name(group.runs[0][1]))
        tables.setdefault(group.protocol_hash, {}).setdefault(group.track, []).append(entry)
    for tracks in tables.values():
        for entries in tracks.values():
            counts: dict[str, int] = {}
            for entry in entries:
                counts[entry.name] = counts.get(entry.name, 0) + 1
            for entry in entries:
                suffix = entry.group_key.partition(":")[2][:8]
                if counts[entry.name] == 1:
                    entry.label = entry.name
                    continue
                # runs trained with other global batches are other configurations: say which, not only a hash
                batches = {_global_batch(other) for other in entries if other.name == entry.name}
                batch = _global_batch(entry)
                shown = f"global batch {batch}, " if len(batches) > 1 and batch is not None else ""
                entry.label = f"{entry.name} ({shown}config {suffix})"
    return tables, set_aside


def _global_batch(entry: Entry) -> int | None:
    """The global training batch of an entry's runs (``config.data_parallel``, else ``batch_size``); None when
    they trained nothing."""
    config = entry.results[0].get("config", {})
    if config.get("protocol") == "zeroshot":
        return None
    layout = config.get("data_parallel")
    if isinstance(layout, Mapping) and layout.get("global_batch") is not None:
        return int(layout["global_batch"])
    return config.get("batch_size")


# ---------------------------------------------------------------------------------------------------------------
# numbers


@dataclasses.dataclass
class EntryNumbers:
    means: dict[str, float]  # T2V metrics and "V2T R@1"
    intervals: dict[str, tuple[float, float]]


def _clusters(entry: Entry) -> np.ndarray | None:
    mapping = entry.results[0]["per_query"].get("t2v_video")
    return None if mapping is None else np.asarray(mapping)


def _mean_and_interval(values: np.ndarray, clusters: np.ndarray | None,
                       bounds: tuple[float, float] = (0.0, 100.0)) -> tuple[np.ndarray, np.ndarray]:
    """Means over seeds and queries of ``[k, n, m]`` values with their 95% intervals (``[2, m]``), from
    :func:`c2vbench.results.seed_test.mean_interval` (query sampling only with one seed), cut to the values the
    quantity can take (a recall in 0..100, a mean rank from 1)."""
    outcome = mean_interval(values, clusters)
    return outcome.mean, np.clip(outcome.interval, *bounds)


def entry_numbers(entry: Entry, n_resamples: int, seed: int) -> EntryNumbers:
    """Means over seeds of the per-query metric values, with intervals over seeds and queries."""
    t2v = direction_values(entry.results, "t2v", T2V_METRICS, entry.tie)
    v2t = direction_values(entry.results, "v2t", ("R@1",), entry.tie)
    t2v_means, (t2v_low, t2v_high) = _mean_and_interval(t2v, _clusters(entry), METRIC_BOUNDS)
    v2t_means, (v2t_low, v2t_high) = _mean_and_interval(v2t, None)
    means = {metric: float(t2v_means[i]) for i, metric in enumerate(T2V_METRICS)}
    intervals = {metric: (float(t2v_low[i]), float(t2v_high[i])) for i, metric in enumerate(T2V_METRICS)}
    means["V2T R@1"] = float(v2t_means[0])
    intervals["V2T R@1"] = (float(v2t_low[0]), float(v2t_high[0]))
    return EntryNumbers(means, intervals)


def shared_subsets(entries: Sequence[Entry]) -> list[str]:
    """Names of the query subsets every run of every entry reports (e.g. synthetic-motion's ``order_twins``)."""
    names: set[str] | None = None
    for entry in entries:
        for result in entry.results:
            present = set((result.get("subsets") or {}).keys())
            names = present if names is None else names & present
    return sorted(names or ())


def subset_numbers(entry: Entry, subset: str, n_resamples: int, seed: int) -> tuple[float, tuple[float, float]]:
    """Mean over seeds of the subset's T2V R@1 (ranks against the whole gallery), with a bootstrap CI."""
    views = [{"per_query": result["subsets"][subset]["per_query"]} for result in entry.results]
    values = direction_values(views, "t2v", ("R@1",), entry.tie)
    mapping = views[0]["per_query"].get("t2v_video")
    mean, (low, high) = _mean_and_interval(values, None if mapping is None else np.asarray(mapping))
    return float(mean[0]), (float(low[0]), float(high[0]))


def shared_pairwise_subsets(entries: Sequence[Entry], subsets: Sequence[str]) -> list[str]:
    """The shared subsets whose every run also reports a pairwise accuracy (own video vs. a rival)."""
    return [name for name in subsets
            if all("pairwise" in result["subsets"][name] for entry in entries for result in entry.results)]


def pairwise_numbers(entry: Entry, subset: str, n_resamples: int, seed: int) -> tuple[float, tuple[float, float]]:
    """Mean over seeds of a subset's pairwise accuracy (percent), with a bootstrap CI (queries of one video move
    together)."""
    blocks = [result["subsets"][subset] for result in entry.results]
    values = np.stack([100.0 * np.asarray(block["pairwise"]["per_query"], dtype=np.float64) for block in blocks])
    mapping = blocks[0]["per_query"].get("t2v_video")
    mean, (low, high) = _mean_and_interval(values[:, :, None], None if mapping is None else np.asarray(mapping))
    return float(mean[0]), (float(low[0]), float(high[0]))


def shared_contrast_columns(entries: Sequence[Entry]) -> list[str]:
    """``"<contrast>: <group>"`` columns every run of every entry carries (VITATECS' aspects, RTime-Binary), in the
    order of the first run: each contrast's overall accuracy first, then its groups."""
    from c2vbench.results.contrasts import ALL, _groups

    columns: list[str] | None = None
    for entry in entries:
        for result in entry.results:
            found = [f"{name}: {group}" for name, block in (result.get("contrasts") or {}).items()
                     for group in _groups(block) if group == ALL or len(set(block["group"])) > 1]
            columns = found if columns is None else [column for column in columns if column in found]
    return columns or []


def contrast_numbers(entry: Entry, column: str, n_resamples: int, seed: int) -> tuple[float, tuple[float, float]]:
    """Accuracy (percent) of one contrast column, mean over seeds pair by pair, with its interval over seeds and
    queries (videos as clusters)."""
    from c2vbench.results.contrasts import ALL

    name, group = column.split(": ", 1)
    blocks = [result["contrasts"][name] for result in entry.results]
    labels = np.asarray(blocks[0]["group"], dtype=object)
    rows = np.arange(len(labels)) if group == ALL else np.flatnonzero(labels == group)
    values = np.stack([100.0 * np.asarray(block["outcome"], dtype=np.float64)[rows] for block in blocks])
    mean, (low, high) = _mean_and_interval(values[:, :, None], np.asarray(blocks[0]["video"])[rows])
    return float(mean[0]), (float(low[0]), float(high[0]))


def has_probes(entries: Sequence[Entry]) -> bool:
    """Whether any run of any entry carries a ``probes`` block (the order-sensitivity column is shown then)."""
    return any(isinstance(result.get("probes"), Mapping) for entry in entries for result in entry.results)


def order_sensitivity_cell(entry: Entry, n_resamples: int, seed: int) -> str:
    """T2V R@1 drop under frame shuffling (unprobed - shuffled, per query, mean over the fixed permutations), with a
    bootstrap CI; ``unmoved`` when no rank changed, ``order-blind (declared)`` when the probe was refused."""
    from c2vbench.results.probes_block import unmoved

    blocks = [result.get("probes") for result in entry.results]
    probed = [(result, block) for result, block in zip(entry.results, blocks, strict=True)
              if isinstance(block, Mapping)]
    if not probed:
        return "–"
    if all("shuffle" in (block.get("refused") or {}) for _, block in probed):
        return "order-blind (declared)"
    usable = [(result, block["probes"]["shuffle"]) for result, block in probed
              if "shuffle" in (block.get("probes") or {})]
    if not usable:
        return "–"
    suffix = "" if len(usable) == len(entry.results) else f" ({len(usable)} of {len(entry.results)} seeds)"
    if all(unmoved(result["per_query"], [run["per_query"] for run in probe["runs"]]) for result, probe in usable):
        return "0 (unmoved)" + suffix
    drops = []
    for result, probe in usable:
        before = direction_values([result], "t2v", ("R@1",), entry.tie)[0, :, 0]
        after = direction_values([{"per_query": run["per_query"]} for run in probe["runs"]], "t2v", ("R@1",),
                                 entry.tie)[:, :, 0].mean(axis=0)
        drops.append(before - after)
    mean, (low, high) = _mean_and_interval(np.stack(drops)[:, :, None], _clusters(entry), (-100.0, 100.0))
    return _with_interval(float(mean[0]), (float(low[0]), float(high[0]))) + suffix


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A row's T2V R@1 comparison: difference, p-value and the test that gave it."""

    difference: float
    p_value: float
    test: str
    detectable: float | None = None  # smallest difference detected with 80% power at alpha 0.05

    @property
    def seed_level(self) -> bool:
        return self.test in CONFIGURATION_TESTS


def significance_vs_baseline(entry: Entry, baseline: Entry, n_resamples: int, seed: int) -> Verdict | None:
    """T2V R@1 of ``entry`` against ``baseline`` with the test :func:`choose_test` picks, or None when the two
    are not comparable (tie policy or query count)."""
    if entry.tie != baseline.tie:
        return None
    entry_values = direction_values(entry.results, "t2v", ("R@1",), entry.tie)[:, :, 0]
    baseline_values = direction_values(baseline.results, "t2v", ("R@1",), baseline.tie)[:, :, 0]
    if entry_values.shape[1] != baseline_values.shape[1]:
        return None
    clusters = _clusters(baseline)
    difference = float(entry_values.mean(axis=1).mean() - baseline_values.mean(axis=1).mean())
    test = choose_test(baseline_values.shape[0], entry_values.shape[0])
    if test in CONFIGURATION_TESTS:
        outcome = seed_level_test(baseline_values, entry_values, clusters)
        return Verdict(difference, float(outcome.p_value[0]), test, float(outcome.detectable[0]))
    p_value = float(paired_randomization_test(baseline_values.mean(axis=0), entry_values.mean(axis=0), clusters,
                                              n_resamples, seed))
    return Verdict(difference, p_value, test)


def significance_vs_plain(entry: Entry, n_resamples: int, seed: int) -> Verdict | None:
    """T2V R@1 of a post-processed entry against the plain scores of the same runs (exactly paired)."""
    outcome = compare_with_plain(entry.results, "R@1", "t2v", n_resamples, seed)
    return None if outcome is None else Verdict(outcome[0], outcome[1], PAIRED_POSTPROCESS_TEST)


def _symbol(difference: float, p_value: float) -> str:
    if p_value < SIGNIFICANCE_LEVEL:
        return "▲" if difference > 0 else "▼"
    return "="


def baseline_marks(ordered: Sequence[Entry], baseline: Entry, n_resamples: int, seed: int) -> dict[int, str]:
    """Cell text per entry: seed-level verdicts Holm-adjusted together; single-seed rows get no verdict."""
    compared = [entry for entry in ordered if entry is not baseline]
    verdicts = {id(entry): significance_vs_baseline(entry, baseline, n_resamples, seed) for entry in compared}
    seed_level = [entry for entry in compared if verdicts[id(entry)] is not None and verdicts[id(entry)].seed_level]
    adjusted = holm_adjust([verdicts[id(entry)].p_value for entry in seed_level])
    marks = {id(baseline): "baseline"}
    for entry, p_value in zip(seed_level, adjusted, strict=True):
        verdict = verdicts[id(entry)]
        borrowed = "; 1 seed, seed variance borrowed" if verdict.test == BORROWED_SEED_TEST else ""
        marks[id(entry)] = (f"{_symbol(verdict.difference, p_value)} p={p_value:.3f} "
                            f"(detectable ±{_number(verdict.detectable or 0.0)}{borrowed})")
    for entry in compared:
        verdict = verdicts[id(entry)]
        if verdict is None:
            marks[id(entry)] = "n/a"
        elif not verdict.seed_level:
            marks[id(entry)] = f"no verdict (1 seed each); p_q={verdict.p_value:.3f}"
    return marks


def plain_marks(ordered: Sequence[Entry], n_resamples: int, seed: int) -> dict[int, str]:
    """Cell text per post-processed entry: gain over its own plain scores, Holm-adjusted across the table."""
    verdicts = {id(entry): significance_vs_plain(entry, n_resamples, seed) for entry in ordered}
    testable = [entry for entry in ordered if verdicts[id(entry)] is not None]
    adjusted = holm_adjust([verdicts[id(entry)].p_value for entry in testable])
    marks = {id(entry): "n/a (no plain scores)" for entry in ordered}
    for entry, p_value in zip(testable, adjusted, strict=True):
        difference = verdicts[id(entry)].difference
        marks[id(entry)] = f"{_symbol(difference, p_value)} {difference:+.1f} p={p_value:.3f}"
    return marks


# ---------------------------------------------------------------------------------------------------------------
# formatting


def _number(value: float, digits: int = 1) -> str:
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _with_interval(value: float, interval: tuple[float, float]) -> str:
    return f"{_number(value)} [{_number(interval[0])}, {_number(interval[1])}]"


def _count(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= threshold:
            return f"{value / threshold:.1f}{suffix}"
    return f"{value:g}"


def _mean_cost(entry: Entry, key: str) -> float | None:
    values = [
        result.get("cost", {}).get(key)
        for result in entry.results
        if isinstance(result.get("cost", {}).get(key), (int, float))
        and not isinstance(result.get("cost", {}).get(key), bool)
    ]
    return float(np.mean(values)) if values else None


def _parameters_cell(entry: Entry) -> str:
    total = _mean_cost(entry, "parameters")
    trainable = _mean_cost(entry, "trainable_parameters")
    if total is None:
        return "–"
    return _count(total) if trainable is None else f"{_count(total)} ({_count(trainable)} trained)"


def _inference_cell(entry: Entry) -> str:
    videos = _mean_cost(entry, "videos_per_second")
    texts = _mean_cost(entry, "texts_per_second")
    parts = []
    if videos is not None:
        parts.append(f"{_number(videos)} videos/s")
    if texts is not None:
        parts.append(f"{_number(texts)} texts/s")
    return ", ".join(parts) or "–"


def _providers_cell(entry: Entry) -> str:
    providers = set()
    for result in entry.results:
        for plugin in result.get("plugins", {}).values():
            if isinstance(plugin, Mapping) and plugin.get("distribution"):
                providers.add(f"{plugin['distribution']} {plugin.get('version', '?')}")
    return ", ".join(sorted(providers)) or "–"


def _protocol_summary(protocol: Mapping[str, Any]) -> str:
    fields = []
    for key in sorted(protocol):
        if key == "hash":
            continue
        value = protocol[key]
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
        if len(text) > _PROTOCOL_VALUE_WIDTH:  # e.g. long lists of skipped videos: the hash still pins them
            text = text[: _PROTOCOL_VALUE_WIDTH - 1] + "…"
        fields.append(f"{escape_markdown(key)}={escape_markdown(text)}")
    return ", ".join(fields)


def _find_baseline(baseline: str, entries: list[Entry]) -> tuple[Entry | None, str | None]:
    matches = [entry for entry in entries if entry.matches(baseline)]
    plain = [entry for entry in matches if entry.track == "inductive"]
    if len(matches) > 1 and len(plain) == 1:
        matches = plain
    if not matches:
        return None, f"Baseline {escape_markdown(baseline)} has no result on this protocol."
    if len(matches) > 1:
        return None, (
            f"Baseline {escape_markdown(baseline)} matches {len(matches)} entries on this protocol; "
            "name it by a run\\_id prefix to get significance marks."
        )
    return matches[0], None


def _v2t_unpublished(entry: Entry) -> str | None:
    """Why V2T R@1 is not published (a post-processor that only applied to text-to-video), or None."""
    for result in entry.results:
        info = result.get("postprocess")
        # QB-Norm results written before it ran per direction normalised text-to-video only: their video-to-text
        # numbers come from a matrix whose rows sit on different scales and mean nothing
        if isinstance(info, Mapping) and info.get("name") == "qbnorm" and "v2t" not in info:
            return "not published (text bank only)"
    return None


def _mark_parts(cell: str) -> tuple[str, float | None]:
    """``(symbol, p)`` of a mark cell, for the exports (the p that decided the symbol, when there is one)."""
    found = re.search(r"p=([0-9.]+)", cell)
    return cell.split(" ")[0], (float(found.group(1)) if found else None)


@dataclasses.dataclass
class RankedRow:
    """One ranked row of a leaderboard table, with every number it shows (for markdown, CSV, JSON and plots)."""

    position: int
    entry: Entry
    numbers: EntryNumbers
    subsets: dict[str, tuple[float, tuple[float, float]]]  # subset -> T2V R@1 mean and interval
    pairwise: dict[str, tuple[float, tuple[float, float]]]  # subset -> own > rival % and interval
    mark: str | None = None  # "▲" / "▼" / "=" / "n/a" / "baseline"; None without a baseline
    p_value: float | None = None  # Holm-adjusted, against the baseline
    order_sensitivity: str | None = None  # T2V R@1 drop under frame shuffling (when the table has probes)
    cell: str | None = None  # the mark as printed, with the test's verdict (see baseline_marks / plain_marks)
    contrasts: dict[str, tuple[float, tuple[float, float]]] = dataclasses.field(default_factory=dict)
    rank_interval: tuple[int, int] | None = None  # the ranks it could hold at 95% (None: not rankable together)

    @property
    def tied_with_top(self) -> bool:
        """Whether its rank interval reaches 1: it cannot be separated from the top."""
        return self.rank_interval is not None and self.rank_interval[0] == 1


@dataclasses.dataclass
class LeaderboardTable:
    """One table: the entries of one protocol and post-processing track, ranked."""

    protocol_hash: str
    protocol: Mapping[str, Any]
    track: str
    rows: list[RankedRow]
    subsets: list[str]
    pairwise_subsets: list[str]
    baseline_note: str | None = None
    has_probes: bool = False
    contrast_columns: list[str] = dataclasses.field(default_factory=list)  # "<contrast>: <group>" accuracies


def rank_entries(
    entries: list[Entry],
    baseline: Entry | None,
    show_significance: bool,
    n_resamples: int,
    seed: int,
) -> tuple[list[RankedRow], list[str], list[str]]:
    """The entries ranked by T2V R@1 with their numbers and marks; also the shared (pairwise) subsets."""
    numbers = {id(entry): entry_numbers(entry, n_resamples, seed) for entry in entries}
    ordered = sorted(entries, key=lambda e: (-numbers[id(e)].means["R@1"], e.label, e.group_key))

    post_processed = bool(entries) and entries[0].track != "inductive"
    cells: dict[int, str] = {}
    if post_processed:
        cells = plain_marks(ordered, n_resamples, seed)
    elif baseline is not None and baseline in entries:
        cells = baseline_marks(ordered, baseline, n_resamples, seed)
    elif baseline is not None:
        cells = {id(entry): "n/a" for entry in ordered}
    show_marks = post_processed or show_significance

    subsets = shared_subsets(entries)
    pairwise = shared_pairwise_subsets(entries, subsets)
    probes = has_probes(entries)
    contrast_columns = shared_contrast_columns(entries)
    intervals = table_rank_intervals(ordered, n_resamples, seed)
    rows = []
    for position, entry in enumerate(ordered, start=1):
        cell = cells.get(id(entry), "n/a") if show_marks else None
        mark, p_value = _mark_parts(cell) if cell is not None else (None, None)
        rows.append(RankedRow(
            position, entry, numbers[id(entry)],
            {name: subset_numbers(entry, name, n_resamples, seed) for name in subsets},
            {name: pairwise_numbers(entry, name, n_resamples, seed) for name in pairwise},
            mark, p_value, order_sensitivity_cell(entry, n_resamples, seed) if probes else None, cell,
            {column: contrast_numbers(entry, column, n_resamples, seed) for column in contrast_columns},
            intervals[position - 1] if intervals is not None else None))
    return rows, subsets, pairwise


def table_rank_intervals(ordered: Sequence[Entry], n_resamples: int, seed: int) -> list[tuple[int, int]] | None:
    """95% rank interval of each entry by T2V R@1 (:mod:`c2vbench.results.rank_intervals`), or None when the
    entries do not rank the same queries under one tie policy."""
    if not ordered or len({entry.tie for entry in ordered}) > 1:
        return None
    values = [direction_values(entry.results, "t2v", ("R@1",), entry.tie)[:, :, 0] for entry in ordered]
    if len({array.shape[1] for array in values}) > 1:
        return None
    return rank_intervals(values, _clusters(ordered[0]), n_resamples, seed)


def _rank_cell(row: RankedRow) -> str:
    if row.rank_interval is None:
        return "–"
    low, high = row.rank_interval
    text = str(low) if low == high else f"{low}–{high}"
    return f"{text} (top)" if row.tied_with_top else text


def _seeds_cell(entry: Entry) -> str:
    return str(len(entry.runs)) if len(entry.runs) > 1 else "1 (intervals: queries only)"


@dataclasses.dataclass(frozen=True)
class Cell:
    """One cell of a leaderboard table, for every rendering: its text (plain, unescaped), the number it sorts by,
    and the interval it shows (for the HTML page's bars)."""

    text: str
    value: float | None = None
    interval: tuple[float, float] | None = None
    free_text: bool = False  # names from result files, verdict notes: may hold markup, escaped by each rendering


_LEADING_NUMBER = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?")


def _interval_cell(mean: float, interval: tuple[float, float]) -> Cell:
    return Cell(_with_interval(mean, interval), mean, interval)


def _text_cell(text: str) -> Cell:
    """A cell whose leading number (if any) is its sort value (``21.2 [9.6, 34.8]``, ``0 (unmoved)``)."""
    found = _LEADING_NUMBER.match(text)
    return Cell(text, float(found.group(0)) if found else None)


def table_header(table: LeaderboardTable, show_significance: bool,
                 escape: Callable[[str], str] = str) -> list[str]:
    """The column titles of a table (``escape`` applied to the names that come from result files)."""
    post_processed = table.track != "inductive"
    header = ["#", "Entry", "T2V R@1", "T2V R@5", "T2V R@10", "T2V MnR", "V2T R@1"]
    header += [f"T2V R@1 ({escape(name)})" for name in table.subsets]
    header += [f"{escape(name)}: own > rival %" for name in table.pairwise_subsets]
    header += [f"{escape(column)} acc. %" for column in table.contrast_columns]
    if table.has_probes:
        header.append("T2V R@1 drop under shuffle")
    header += ["Seeds", "Params", "Inference", "Provided by", "Rank (95%)"]
    if post_processed or show_significance:
        header.append("vs own plain scores (T2V R@1)" if post_processed else "vs baseline")
    return header


def row_cells(row: RankedRow, table: LeaderboardTable, show_significance: bool) -> list[Cell]:
    """The cells of one ranked row, in :func:`table_header`'s order."""
    entry, numbers = row.entry, row.numbers
    label = f"{entry.label} {SELECTED_ON_TEST_MARK}" if entry.selected_on_test else entry.label
    cells = [Cell(str(row.position), float(row.position)), Cell(label, free_text=True)]
    cells += [_interval_cell(numbers.means[m], numbers.intervals[m]) for m in T2V_METRICS]
    unpublished = _v2t_unpublished(entry)
    cells.append(Cell(unpublished) if unpublished else Cell(_number(numbers.means["V2T R@1"]),
                                                            numbers.means["V2T R@1"], numbers.intervals["V2T R@1"]))
    cells += [_interval_cell(*row.subsets[name]) for name in table.subsets]
    cells += [_interval_cell(*row.pairwise[name]) for name in table.pairwise_subsets]
    cells += [_interval_cell(*row.contrasts[column]) for column in table.contrast_columns]
    if table.has_probes:
        cells.append(_text_cell(row.order_sensitivity or "–"))
    parameters = _mean_cost(entry, "parameters")
    cells += [Cell(_seeds_cell(entry), float(len(entry.runs))), Cell(_parameters_cell(entry), parameters),
              _text_cell(_inference_cell(entry)), Cell(_providers_cell(entry), free_text=True),
              Cell(_rank_cell(row), None if row.rank_interval is None else float(row.rank_interval[0]))]
    if table.track != "inductive" or show_significance:
        cells.append(Cell(row.cell or "n/a", row.p_value, free_text=True))
    return cells


def _render_table(table: LeaderboardTable, show_significance: bool) -> list[str]:
    header = table_header(table, show_significance, escape_markdown)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in table.rows:
        cells = [escape_markdown(cell.text) if cell.free_text else cell.text
                 for cell in row_cells(row, table, show_significance)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def leaderboard_tables(
    results: Sequence[tuple[Path, dict[str, Any]]],
    baseline: str | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[LeaderboardTable]:
    """Every table of the leaderboard, in display order (protocols by dataset and split, then tracks).

    Raises:
        C2VBenchError: no results, or a baseline that matches no entry at all.
    """
    if not results:
        raise C2VBenchError("no usable result files", "give result files or directories that contain them")
    for path, result in results:
        require_caption_map(result, str(path))
    tables, _ = grouped_entries(results)
    if baseline is not None:
        everything = [entry for tracks in tables.values() for entries in tracks.values() for entry in entries]
        if everything and not any(entry.matches(baseline) for entry in everything):
            names = sorted({entry.label for entry in everything})
            raise C2VBenchError(
                f"baseline {baseline!r} matches no entry",
                f"use an entry name ({'; '.join(names[:10])}) or a run_id prefix",
            )

    def protocol_order(protocol_hash: str) -> tuple[str, str, str]:
        protocol = next(iter(tables[protocol_hash].values()))[0].results[0]["protocol"]
        return str(protocol.get("dataset", "")), str(protocol.get("split", "")), protocol_hash

    ranked: list[LeaderboardTable] = []
    for protocol_hash in sorted(tables, key=protocol_order):
        tracks = tables[protocol_hash]
        protocol = next(iter(tracks.values()))[0].results[0]["protocol"]
        baseline_entry, note = (None, None)
        if baseline is not None:
            all_entries = [entry for entries in tracks.values() for entry in entries]
            baseline_entry, note = _find_baseline(baseline, all_entries)
        track_order = [t for t in TRACK_TITLES if t in tracks] + sorted(t for t in tracks if t not in TRACK_TITLES)
        for index, track in enumerate(track_order):
            rows, subsets, pairwise = rank_entries(tracks[track], baseline_entry, baseline is not None,
                                                   n_resamples, seed)
            ranked.append(LeaderboardTable(protocol_hash, protocol, track, rows, subsets, pairwise,
                                           note if index == 0 else None, has_probes(tracks[track]),
                                           shared_contrast_columns(tracks[track])))
    return ranked


def render_leaderboard(
    results: Sequence[tuple[Path, dict[str, Any]]],
    command: str,
    baseline: str | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    tables: list[LeaderboardTable] | None = None,
    reported: Mapping[str, Any] | None = None,
) -> str:
    """The leaderboard markdown of validated results (and, apart from them, numbers reported in papers).

    Args:
        results: ``(path, result)`` pairs (validated by :func:`c2vbench.results.result_file.load_result_file`).
        command: the command line that produced the file, written into the header comment.
        baseline: entry name, run_id prefix or config_key prefix of the entry to test the others against.
        n_resamples: bootstrap / randomisation resamples.
        seed: resampling seed.
        tables: the ranked tables when already computed (:func:`leaderboard_tables` of the same arguments).
        reported: a reported-numbers file (:func:`c2vbench.results.reported.load_reported`), rendered as its own
            section after the measured ones; with it, an empty set of results is allowed.

    Raises:
        C2VBenchError: no results (and nothing reported), or a baseline that matches no entry at all.
    """
    if tables is None:
        tables = leaderboard_tables(results, baseline, n_resamples, seed) if results or reported is None else []
    set_aside = group_runs(results)[1] if results else []

    safe_command = command.replace("-->", "--&gt;")
    lines = [
        "<!-- Generated by c2vbench from result files; do not edit by hand. -->",
        f"<!-- Command: {safe_command} -->",
        "",
        "# c2vbench leaderboard",
        "",
    ]
    previous_hash = None
    for table in tables:
        if table.protocol_hash != previous_hash:
            previous_hash = table.protocol_hash
            protocol = table.protocol
            title = f"{protocol.get('dataset', '?')} / {protocol.get('split', '?')}"
            lines += [f"## {escape_markdown(title)} — protocol {_code(table.protocol_hash[:12])}", ""]
            lines += [f"Protocol hash: {_code(table.protocol_hash)}", ""]
            summary = _protocol_summary(protocol)
            if summary:
                lines += [f"Protocol: {summary}", ""]
            if table.baseline_note:
                lines += [table.baseline_note, ""]
        title = TRACK_TITLES.get(table.track, f"Track: {escape_markdown(table.track)}")
        lines += [f"### {title}", ""]
        lines += _render_table(table, baseline is not None)
        lines.append("")

    if not tables:
        lines += ["## Measured here", "",
                  "No result files yet. Results of `c2vbench run` / `c2vbench eval` on this dataset, put in the "
                  "folder this page is rendered from, appear here with intervals and significance marks.", ""]
    if reported is not None:
        from c2vbench.results.reported import render_reported

        lines += render_reported(reported, escape_markdown)

    if set_aside:
        lines += ["## Set aside", "",
                  "Re-runs of a configuration and seed already counted (each seed counts once; the first created is "
                  "kept):", ""]
        lines += [f"- {escape_markdown(item.describe())}" for item in set_aside]
        lines.append("")

    lines += ["## Legend", ""]
    lines += [f"- {line}" for line in legend_lines(tables, baseline is not None, n_resamples, seed)]
    lines.append("")
    return "\n".join(lines)


def legend_lines(tables: Sequence[LeaderboardTable], has_baseline: bool, n_resamples: int, seed: int) -> list[str]:
    """The legend's items (markdown inline text: code spans, escaped underscores), shared by every rendering."""
    lines = [
        "Numbers are means over seeds with 95% intervals for the configuration, over training seeds and test "
        "queries (a t interval whose variance adds the seed-to-seed spread, net of the seed-by-query noise, to the "
        "query-sampling variance, with guarded degrees of freedom; `c2vbench.results.seed_test`). An entry with one "
        "seed (Seeds: 1, intervals: queries only) has intervals that count query sampling alone: training noise cannot "
        "be estimated from one run, so they are not intervals for the configuration. Text queries are resampled by "
        "video when they are captions of videos. Recall in percent; lower MnR is better.",
        f"Rank (95%): the ranks by T2V R@1 the entry could hold, from a bootstrap over seeds and queries "
        f"({n_resamples} resamples, seed {seed}; the test queries drawn once for all entries, seeds drawn within each "
        "entry and rescaled by sqrt(k / (k - 1))). (top): the interval reaches rank 1, so the entry cannot be "
        "separated from the top.",
        "Tracks are never ranked together: post-processed rows use extra information (a training-caption bank, "
        "or the whole test query set).",
        f"{SELECTED_ON_TEST_MARK} the checkpoint was selected on the test split (optimistic).",
        "T2V R@1 (subset): the subset's text queries, ranked against the whole gallery. "
        "own > rival %: how often a subset query scores its own video above its rival (synthetic-motion: the "
        "clip's exact time reversal); 50 is chance, and all an order-blind model can reach.",
    ]
    if any(table.contrast_columns for table in tables):
        lines.append(
            "<contrast>: <group> acc. % (temporal benchmarks: VITATECS' aspects, RTime-Binary): how often a video "
            "scores its caption above the contrasting text (a counterfactual that changes one temporal aspect, or "
            "the caption of the reversed video); ties count one half, 50 is chance. Interval: bootstrap over "
            "videos (pairs of one video move together); `c2vbench compare` tests two results pair by pair. Read "
            "it beside the shuffle drop: the probe asks whether the model's scores depend on frame order at all, "
            "these ask whether that dependence picks the right text."
        )
    if any(table.has_probes for table in tables):
        lines.append(
            "T2V R@1 drop under shuffle (`--probe order`): the unprobed T2V R@1 minus the T2V R@1 with every "
            "video's valid frames shuffled (mean over the fixed permutations), query by query, with its bootstrap "
            "interval; above 0: the model uses frame order. 0 (unmoved): no query's rank changed under any "
            "shuffle. order-blind (declared): temporal module and align head declare themselves order-invariant, "
            "so the probe was refused. –: the results carry no probes (`c2vbench probe RESULT` adds them)."
        )
    if has_baseline:
        lines.append(
            f"vs baseline (T2V R@1, level {SIGNIFICANCE_LEVEL}): when the entry and the baseline both have >= 2 "
            f"seeds, the {escape_markdown(SEED_LEVEL_TEST)}; when one of them has a single seed, the "
            f"{escape_markdown(BORROWED_SEED_TEST)} (marked: seed variance borrowed); Holm-adjusted across those rows "
            "of the table: ▲ significantly better, ▼ significantly worse, = no significant difference. detectable: "
            "the smallest difference that comparison would detect with 80% power at level 0.05 (from its estimated "
            "variance components), so = reads as no difference larger than that could have been seen. With 1 seed on "
            "both sides training noise cannot be estimated: no verdict, and p\\_q is the "
            f"{escape_markdown(QUERY_LEVEL_TEST)} (it says whether these particular trained models differ, not "
            "whether the configurations do). n/a: not comparable (different tie policy or query count)."
        )
    lines.append(
        "vs own plain scores (post-processing tracks, T2V R@1): post-processed minus plain scores of the same "
        f"runs, {escape_markdown(PAIRED_POSTPROCESS_TEST)}, Holm-adjusted across the rows of the table."
    )
    return lines
