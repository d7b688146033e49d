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
                "rank_interval": None if row.rank_interval is None else list(row.rank_interval),
                "tied_with_top": row.tied_with_top,
                "seed_level_intervals": len(entry.runs) > 1,
            })
    return records


def records_table(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The records flattened into one table: its header and rows (a mean, low and high column per metric; None
    where a row has no value)."""
    subset_names = sorted({name for record in records for name in record["subsets"]})
    pairwise_names = sorted({name for record in records for name in record["pairwise"]})
    header = ["protocol_hash", "dataset", "split", "track", "rank", "entry", "seeds"]
    for column in METRIC_COLUMNS:
        header += [column, f"{column} low", f"{column} high"]
    for name in subset_names:
        header += [f"T2V R@1 ({name})", f"T2V R@1 ({name}) low", f"T2V R@1 ({name}) high"]
    for name in pairwise_names:
        header += [f"{name} own > rival %", f"{name} own > rival % low", f"{name} own > rival % high"]
    header += ["parameters", "selected_on_test", "T2V R@1 drop under shuffle", "vs_baseline", "p", "rank low",
               "rank high", "tied with top"]
    rows = []
    for record in records:
        row = [record[key] for key in ("protocol_hash", "dataset", "split", "track", "rank", "entry", "seeds")]
        for column in METRIC_COLUMNS:
            value = record["metrics"][column]
            row += [value["mean"], *value["ci"]]
        for name in subset_names:
            value = record["subsets"].get(name, {}).get("T2V R@1")
            row += [value["mean"], *value["ci"]] if value else [None, None, None]
        for name in pairwise_names:
            value = record["pairwise"].get(name)
            row += [value["mean"], *value["ci"]] if value else [None, None, None]
        baseline = record["vs_baseline"] or {}
        row += [record["parameters"], record["selected_on_test"], record["t2v_r1_drop_under_shuffle"] or None,
                baseline.get("mark"), None if baseline.get("p") is None else round(baseline["p"], 4)]
        row += [*(record["rank_interval"] or [None, None]), record["tied_with_top"]]
        rows.append(row)
    return header, rows


def records_as_csv(records: Sequence[dict[str, Any]]) -> str:
    """The records as CSV (:func:`records_table`; empty cells where a row has no value)."""
    header, rows = records_table(records)
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    for row in [header, *rows]:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return stream.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: Any) -> Any:
    """A text cell that a spreadsheet would evaluate as a formula (it starts with = + - @, a tab or a carriage
    return: entry names come from plug-ins and result files) gets a leading apostrophe, which spreadsheets show as
    text; numbers pass unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def plot_leaderboard(tables: Sequence[LeaderboardTable], path: str | Path, metric: str = "T2V R@1") -> Path:
    """Each entry's ``metric`` with its confidence interval, one panel per protocol and track, marked against
    the baseline (its mean as a dashed line; ▲ ▼ = from the Holm-adjusted tests). Headless (matplotlib's Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # entry labels come from plug-in names and result files: a '$' in one must be drawn, never parsed as mathtext
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _draw_leaderboard(plt, tables, Path(path), metric)


def _draw_leaderboard(plt, tables: Sequence[LeaderboardTable], path: Path, metric: str) -> Path:
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
    from c2vbench.runtime.atomic_files import write_bytes_atomic

    image = io.BytesIO()
    figure.savefig(image, dpi=110, format="png")
    plt.close(figure)
    write_bytes_atomic(path, image.getvalue())
    return path


def render_board(results: Sequence[tuple[Path, dict[str, Any]]], output_format: str, command: str,
                 baseline: str | None, n_resamples: int, seed: int, reported_numbers: dict[str, Any] | None = None,
                 plot: str | Path | None = None, page_folder: str | Path = ".") -> str:
    """The leaderboard in ``output_format`` (``md``, ``csv``, ``json`` or ``html``) and, when ``plot`` names a PNG
    file, its picture: what ``c2vbench leaderboard`` writes (``command`` goes into the markdown and HTML headers;
    the HTML page links result files relative to ``page_folder``)."""
    import json

    from c2vbench.results.leaderboard import leaderboard_tables, render_leaderboard

    tables = leaderboard_tables(results, baseline, n_resamples, seed) if results or reported_numbers is None else []
    if plot is not None:
        plot_leaderboard(tables, plot)
    if output_format == "md":
        return render_leaderboard(results, command=command, baseline=baseline, n_resamples=n_resamples, seed=seed,
                                  tables=tables, reported=reported_numbers)
    if output_format == "html":
        from c2vbench.results.comparison import group_runs
        from c2vbench.results.leaderboard_html import render_leaderboard_html

        set_aside = group_runs(results)[1] if results else []
        return render_leaderboard_html(tables, command, page_folder, baseline, n_resamples, seed, reported_numbers,
                                       set_aside)
    records = table_records(tables)
    return records_as_csv(records) if output_format == "csv" else json.dumps(records, indent=1) + "\n"
