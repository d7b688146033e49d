"""The leaderboard as data (JSON, CSV) and as a picture (a PNG of each entry's metric with its interval).

All three read the ranked tables of :func:`c2vbench.results.leaderboard.leaderboard_tables`, so the numbers, the order
and the marks against the baseline are the markdown's own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from c2vbench.results.leaderboard import T2V_METRICS, LeaderboardTable

SHORT_TRACK_TITLES = {"inductive": "plain inference", "query-bank": "query bank (training captions)",
                      "transductive": "transductive (whole test query set)"}
METRIC_COLUMNS = tuple(f"T2V {name}" for name in T2V_METRICS) + ("V2T R@1",)


def _metric_key(column: str) -> str:
    return column[4:] if column.startswith("T2V ") else column


def _interval(mean: float, interval: tuple[float, float]) -> dict[str, Any]:
    return {"mean": round(mean, 4), "ci": [round(interval[0], 4), round(interval[1], 4)]}


def table_records(tables: Sequence[LeaderboardTable]) -> list[dict[str, Any]]:
    """One JSON-ready record per leaderboard row, in display order."""
    records = []
    for table in tables:
        for row in table.rows:
            entry, numbers = row.entry, row.numbers
            metrics = {column: _interval(numbers.means[_metric_key(column)], numbers.intervals[_metric_key(column)])
                       for column in METRIC_COLUMNS}
            costs = entry.results[0].get("cost", {})
            records.append({
                "protocol_hash": table.protocol_hash,
                "dataset": table.protocol.get("dataset"),
                "split": table.protocol.get("split"),
                "track": table.track,
                "rank": row.position,
                "entry": entry.label,
                "seeds": len(entry.runs),
                "run_ids": [str(result.get("run_id", "")) for result in entry.results],
                "metrics": metrics,
                "subsets": {name: {"T2V R@1": _interval(*row.subsets[name])} for name in table.subsets},
                "pairwise": {name: _interval(*row.pairwise[name]) for name in table.pairwise_subsets},
                "parameters": costs.get("parameters") if isinstance(costs, dict) else None,
                "selected_on_test": entry.selected_on_test,
                "t2v_r1_drop_under_shuffle": row.order_sensitivity,
                "contrast_accuracy": {column: _interval(*row.contrasts[column]) for column in table.contrast_columns},
                "vs_baseline": None if row.mark is None else {"mark": row.mark, "p": row.p_value},
            })
    return records


def records_as_csv(records: Sequence[dict[str, Any]]) -> str:
    """The records flattened into one CSV table (a mean, low and high column per metric)."""
    subset_names = sorted({name for record in records for name in record["subsets"]})
    pairwise_names = sorted({name for record in records for name in record["pairwise"]})
    header = ["protocol_hash", "dataset", "split", "track", "rank", "entry", "seeds"]
    for column in METRIC_COLUMNS:
        header += [column, f"{column} low", f"{column} high"]
    for name in subset_names:
        header += [f"T2V R@1 ({name})", f"T2V R@1 ({name}) low", f"T2V R@1 ({name}) high"]
    for name in pairwise_names:
        header += [f"{name} own > rival %", f"{name} own > rival % low", f"{name} own > rival % high"]
    header += ["parameters", "selected_on_test", "T2V R@1 drop under shuffle", "vs_baseline", "p"]
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        row = [record[key] for key in ("protocol_hash", "dataset", "split", "track", "rank", "entry", "seeds")]
        for column in METRIC_COLUMNS:
            value = record["metrics"][column]
            row += [value["mean"], *value["ci"]]
        for name in subset_names:
            value = record["subsets"].get(name, {}).get("T2V R@1")
            row += [value["mean"], *value["ci"]] if value else ["", "", ""]
        for name in pairwise_names:
            value = record["pairwise"].get(name)
            row += [value["mean"], *value["ci"]] if value else ["", "", ""]
        baseline = record["vs_baseline"] or {}
        row += [record["parameters"] if record["parameters"] is not None else "", record["selected_on_test"],
                record["t2v_r1_drop_under_shuffle"] or "", baseline.get("mark", ""),
                "" if baseline.get("p") is None else round(baseline["p"], 4)]
        writer.writerow(row)
    return stream.getvalue()


def plot_leaderboard(tables: Sequence[LeaderboardTable], path: str | Path, metric: str = "T2V R@1") -> Path:
    """Each entry's ``metric`` with its confidence interval, one panel per protocol and track, marked against
    the baseline (its mean as a dashed line; ▲ ▼ = from the Holm-adjusted tests). Headless (matplotlib's Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = _metric_key(metric)
    panels = [table for table in tables if table.rows]
    heights = [0.9 + 0.42 * len(table.rows) for table in panels]
    figure, axes = plt.subplots(len(panels), 1, figsize=(8.0, sum(heights) + 0.3), squeeze=False,
                                gridspec_kw={"height_ratios": heights})
    colours = {"▲": "#1b7837", "▼": "#b2182b", "=": "#555555", "n/a": "#999999", None: "#2166ac",
               "baseline": "#000000"}
    baselines = {table.protocol_hash: row for table in panels for row in table.rows if row.mark == "baseline"}
    for axis, table in zip(axes[:, 0], panels, strict=True):
        rows = list(reversed(table.rows))  # the best at the top
        baseline = baselines.get(table.protocol_hash)
        if baseline is not None:  # the baseline's mean in every track of its protocol
            axis.axvline(baseline.numbers.means[key], color="#000000", linestyle="--", linewidth=0.8, alpha=0.6,
                         label=f"baseline: {baseline.entry.label}")
            axis.legend(loc="lower right", fontsize=7, frameon=False)
        for y, row in enumerate(rows):
            mean, (low, high) = row.numbers.means[key], row.numbers.intervals[key]
            colour = colours.get(row.mark, "#2166ac")
            axis.errorbar(mean, y, xerr=[[mean - low], [high - mean]], fmt="s" if row.mark == "baseline" else "o",
                          color=colour, ecolor=colour, capsize=3, markersize=6)
            if row.mark:
                label = "baseline" if row.mark == "baseline" else (
                    row.mark if row.p_value is None else f"{row.mark} p={row.p_value:.3f}")
                axis.annotate(label, (high, y), xytext=(6, 0), textcoords="offset points", va="center",
                              fontsize=8, color=colour)
        axis.set_yticks(range(len(rows)), [row.entry.label for row in rows], fontsize=9)
        axis.set_ylim(-0.6, len(rows) - 0.4)
        axis.grid(axis="x", alpha=0.3)
        title = f"{table.protocol.get('dataset', '?')} / {table.protocol.get('split', '?')} · protocol " \
                f"{table.protocol_hash[:8]} · {SHORT_TRACK_TITLES.get(table.track, table.track)}"
        axis.set_title(title, fontsize=9, loc="left")
        axis.set_xlabel(f"{metric} (mean over seeds, 95% bootstrap interval)", fontsize=9)
        axis.margins(x=0.15)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
