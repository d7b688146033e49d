"""``c2vbench compare``: paired significance tests between two result files."""

from __future__ import annotations

from pathlib import Path

import click


def _format_value(metric: str, value: float) -> str:
    return f"{value:.4f}" if metric == "MRR" else f"{value:.2f}"


def load_side(path: Path) -> list[dict]:
    """A result file, or a folder holding the seeds of one configuration (every run must share its config_key)."""
    from ..errors import ResultFileError
    from ..results import iter_result_files, load_result_file

    if not path.is_dir():
        return [load_result_file(path)]
    runs = [item for _, item in iter_result_files([path]) if isinstance(item, dict)]
    if not runs:
        raise ResultFileError(f"{path} holds no result file", "run `c2vbench run --out` into it first")
    keys = {run.get("config_key") for run in runs}
    if len(keys) != 1 or None in keys:
        raise ResultFileError(f"{path} mixes {len(keys)} configurations",
                              "a folder given to compare must hold the seeds of a single configuration")
    return sorted(runs, key=lambda run: (run["config"].get("seed", 0), run["run_id"]))


def refuse_shared_runs(first: list[dict], second: list[dict], path_a: Path, path_b: Path) -> None:
    """A run compared with itself shows no difference by construction: say so instead of printing zeros."""
    from ..errors import ResultFileError

    shared = sorted({run["run_id"] for run in first} & {run["run_id"] for run in second})
    if not shared:
        return
    if len(first) == len(second) == 1:
        raise ResultFileError(f"{path_a} and {path_b} are the same run ({shared[0]}): every difference would be 0",
                              "compare two different result files")
    raise ResultFileError(f"{path_a} and {path_b} share {len(shared)} run(s) (e.g. {shared[0]}), so the two sides are "
                          "not independent", "give each side its own runs")


@click.command("compare")
@click.argument("result_a", type=click.Path(exists=True, path_type=Path))
@click.argument("result_b", type=click.Path(exists=True, path_type=Path))
@click.option("--n-resamples", default=10_000, show_default=True, type=click.IntRange(min=100), help="Resamples.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the resampling.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only: {t2v|v2t: {METRIC: {a, b, diff, ci, p}}}.")
def compare_command(result_a: Path, result_b: Path, n_resamples: int, seed: int, as_json: bool) -> None:
    """Paired comparison of RESULT_B against RESULT_A on the same test set (diff = B - A).

    Each side is a result file, or a folder with the runs of one configuration under several seeds; then the
    intervals and p-values come from a two-level bootstrap (seeds, then queries), so both sources of variance count.

    Confidence intervals: paired percentile bootstrap (videos resampled as clusters when captions share a video).
    p-values: paired sign-flip randomisation test, two-sided.

    Example: c2vbench compare results/meanp.json results/tdb.json
    """
    from ..comparison import compare_results

    first = load_side(result_a)
    second = load_side(result_b)
    refuse_shared_runs(first, second, result_a, result_b)
    comparison = compare_results(
        first if len(first) > 1 else first[0],
        second if len(second) > 1 else second[0],
        n_resamples=n_resamples,
        seed=seed,
        labels=(str(result_a), str(result_b)),
    )
    from . import terminal

    if as_json:
        terminal.print_json(comparison)
        return

    rows = []
    for direction, label in terminal.DIRECTIONS.items():
        for metric, row in comparison[direction].items():
            low, high = row["ci"]
            rows.append([
                label,
                metric,
                _format_value(metric, row["a"]),
                _format_value(metric, row["b"]),
                f"{row['diff']:+.4f}" if metric == "MRR" else f"{row['diff']:+.2f}",
                f"[{_format_value(metric, low)}, {_format_value(metric, high)}]",
                f"{row['p']:.4f}",
            ])
    columns = ("direction", "metric", "A", "B", "B − A", "95% CI", "p")
    terminal.console().print(terminal.table(f"A = {result_a}   B = {result_b}", columns, rows, right=columns[2:]))
    terminal.print_line(
        f"{n_resamples} resamples, seed {seed}. Lower MnR is better; MRR in 0..1. "
        "p: paired sign-flip randomisation test (two-sided); not corrected for multiple metrics."
    )
