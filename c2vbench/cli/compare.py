"""``c2vbench compare``: paired significance tests between two result files."""

from __future__ import annotations

from pathlib import Path

import click


def _format_value(metric: str, value: float) -> str:
    return f"{value:.4f}" if metric == "MRR" else f"{value:.2f}"


def load_side(path: Path) -> list[dict]:
    """A result file, or a folder holding the seeds of one configuration (grouped as ``leaderboard`` groups them:
    every run must share protocol, post-processing and config_key; a re-run of a seed is set aside, named on
    stderr, and counts once)."""
    from c2vbench.platform.errors import ResultFileError
    from c2vbench.results.comparison import group_runs
    from c2vbench.results.result_file import iter_result_files, load_result_file

    if not path.is_dir():
        return [load_result_file(path)]
    runs = [(file, item) for file, item in iter_result_files([path]) if isinstance(item, dict)]
    if not runs:
        raise ResultFileError(f"{path} holds no result file", "run `c2vbench run --out` into it first")
    groups, set_aside = group_runs(runs)
    if len(groups) != 1:
        raise ResultFileError(f"{path} mixes {len(groups)} configurations",
                              "a folder given to compare must hold the seeds of a single configuration")
    for item in set_aside:
        click.echo(f"set aside {item.describe()}", err=True)
    return groups[0].results


def refuse_shared_runs(first: list[dict], second: list[dict], path_a: Path, path_b: Path) -> None:
    """A run compared with itself shows no difference by construction: say so instead of printing zeros."""
    from c2vbench.platform.errors import ResultFileError

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

    Each side is a result file, or a folder with the runs of one configuration under several seeds.

    Both sides with >= 2 seeds: a seed-level t test (training noise + query sampling) gives p and the interval.
    A side with 1 seed: no seed-level test is possible; p is the paired sign-flip test over queries and the
    interval a paired bootstrap (videos resampled as clusters), both conditional on the trained seeds. The test
    used is printed under the table (and is each metric's "test" in --json).

    Example: c2vbench compare results/meanp.json results/tdb.json
    """
    from c2vbench.results.comparison import compare_results

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
    from c2vbench.cli import terminal

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
    for name, groups in comparison.get("contrasts", {}).items():
        for group, row in groups.items():
            low, high = row["ci"]
            rows.append([f"{name}: {group}", "accuracy %", f"{row['a']:.2f}", f"{row['b']:.2f}",
                         f"{row['diff']:+.2f}", f"[{low:.2f}, {high:.2f}]", f"{row['p']:.4f}"])
    columns = ("direction", "metric", "A", "B", "B − A", "95% CI", "p")
    terminal.console().print(terminal.table(f"A = {result_a}   B = {result_b}", columns, rows, right=columns[2:]))
    test = next(iter(comparison["t2v"].values()))["test"]
    seeds = next(iter(comparison["t2v"].values()))["seeds"]
    terminal.print_line(
        f"Seeds: A {seeds[0]}, B {seeds[1]}. p and 95% CI: {test}"
        + ("" if test.startswith("seed-level") else f" ({n_resamples} resamples, seed {seed})")
        + ". Two-sided; not corrected for multiple metrics. Lower MnR is better; MRR in 0..1."
    )
