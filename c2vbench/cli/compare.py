"""``c2vbench compare``: paired significance tests between two result files."""

from __future__ import annotations

from pathlib import Path

import click

QUERY_LEVEL_TEST_NOTE = ("paired sign-flip test over queries, conditional on the trained seeds: whether these trained "
                         "models differ, not whether the configurations do; never a verdict")


def _format_value(metric: str, value: float) -> str:
    return f"{value:.4f}" if metric == "MRR" else f"{value:.2f}"


def _format_p(row: dict) -> str:
    if row["p"] is None:
        return "–"
    return f"≤{row['p']:.4f}" if row.get("p_floor") is not None and row["p"] <= row["p_floor"] else f"{row['p']:.4f}"


def load_side(path: Path) -> list[dict]:
    """A result file, or a folder holding the seeds of one configuration (grouped as ``leaderboard`` groups them:
    every run must share protocol, post-processing and config_key; a re-run of a seed is set aside, named on
    stderr, and counts once)."""
    from c2vbench.results.inputs import comparison_side

    results, set_aside = comparison_side(path)
    for item in set_aside:
        click.echo(f"set aside {item.describe()}", err=True)
    return results


@click.command("compare")
@click.argument("result_a", type=click.Path(exists=True, path_type=Path))
@click.argument("result_b", type=click.Path(exists=True, path_type=Path))
@click.option("--n-resamples", default=10_000, show_default=True, type=click.IntRange(min=100), help="Resamples.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the resampling.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON only: {t2v|v2t: {METRIC: {a, b, diff, ci, p, p_query, detectable, test, ...}}}.")
def compare_command(result_a: Path, result_b: Path, n_resamples: int, seed: int, as_json: bool) -> None:
    """Paired comparison of RESULT_B against RESULT_A on the same test set (diff = B - A).

    Each side is a result file, or a folder with the runs of one configuration under several seeds.

    p and the interval are the verdict about the configurations, over training seeds and test queries: >= 2 seeds
    on both sides, the seed-level t test; 1 seed against several, the same test with the single run borrowing the
    other side's seed variance (equal seed variance assumed, and printed), its tails widened and p not resolved
    below 0.01 (shown as "≤0.0100"); 1 against 1, no verdict (p is "–" and the interval is conditional on the
    trained seeds). "detectable" is the smallest difference the test would find with 80% power at alpha 0.05.
    p_query (sign-flip over queries) only says whether these trained models differ.

    Example: c2vbench compare results/meanp.json results/tdb.json
    """
    from c2vbench.results.comparison import compare_results
    from c2vbench.results.inputs import refuse_shared_runs
    from c2vbench.results.integrity import integrity_notes

    first = load_side(result_a)
    second = load_side(result_b)
    for note in integrity_notes(first + second):
        click.echo(f"note: {note}", err=True)
    for note in refuse_shared_runs(first, second, str(result_a), str(result_b)):
        click.echo(f"note: {note}", err=True)
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

    def difference(metric: str, value: float) -> str:
        return f"{value:+.4f}" if metric == "MRR" else f"{value:+.2f}"

    rows = []
    for direction, label in terminal.DIRECTIONS.items():
        for metric, row in comparison[direction].items():
            low, high = row["ci"]
            rows.append([
                label,
                metric,
                _format_value(metric, row["a"]),
                _format_value(metric, row["b"]),
                difference(metric, row["diff"]),
                f"[{_format_value(metric, low)}, {_format_value(metric, high)}]",
                _format_p(row),
                "±" + _format_value(metric, row["detectable"]),
                f"{row['p_query']:.4f}",
            ])
    for name, groups in comparison.get("contrasts", {}).items():
        for group, row in groups.items():
            low, high = row["ci"]
            rows.append([f"{name}: {group}", "accuracy %", f"{row['a']:.2f}", f"{row['b']:.2f}",
                         f"{row['diff']:+.2f}", f"[{low:.2f}, {high:.2f}]", f"{row['p']:.4f}", "–", "–"])
    columns = ("direction", "metric", "A", "B", "B − A", "95% CI", "p", "detectable (80%)", "p_query (cond.)")
    terminal.console().print(terminal.table(f"A = {result_a}   B = {result_b}", columns, rows, right=columns[2:]))
    first_row = next(iter(comparison["t2v"].values()))
    seeds, test = first_row["seeds"], first_row["test"]
    if first_row["seed_level"]:
        verdict = f"p and 95% CI: {test}."
    else:
        verdict = (f"No verdict ({test}); the 95% CI is a paired bootstrap over queries, conditional on the trained "
                   f"seeds ({n_resamples} resamples, seed {seed}).")
    terminal.print_line(f"Seeds: A {seeds[0]}, B {seeds[1]}. {verdict}")
    if first_row["assumption"]:
        terminal.print_line(f"Assumption: {first_row['assumption']}.")
    if first_row.get("p_floor") is not None:
        terminal.print_line(
            "With one seed the reference has heavier tails (a single run's deviation may be skewed, and the other "
            f"side's seeds cannot check its shape) and p is not resolved below {first_row['p_floor']:g} "
            f"(≤{first_row['p_floor']:g} is shown). A 1% claim needs 2 seeds on each side.")
    terminal.print_line(
        "detectable (80%): the smallest difference this comparison would detect with 80% power at alpha 0.05, from "
        "the estimated variance components" + ("" if first_row["seed_level"] else " (query sampling only)")
        + "; no significant difference means no difference larger than that could have been seen. "
        f"p_query: {QUERY_LEVEL_TEST_NOTE}. Two-sided; not corrected for multiple metrics. Lower MnR is better; "
        "MRR in 0..1."
    )
