"""``c2vbench leaderboard``: render (or check) leaderboard markdown from result files."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

DEFAULT_RESAMPLES = 2000  # keep in step with c2vbench.results.leaderboard.DEFAULT_RESAMPLES (not imported: fast --help)


def leaderboard_command_line(
    inputs: tuple[str, ...], baseline: str | None, out: str | None, n_resamples: int, seed: int,
    reported: str | None = None
) -> str:
    """The command that regenerates a leaderboard, as written into its header (never includes ``--check``)."""
    arguments = ["c2vbench", "leaderboard", *inputs]
    if baseline is not None:
        arguments += ["--baseline", baseline]
    if reported is not None:
        arguments += ["--reported", reported]
    if n_resamples != DEFAULT_RESAMPLES:
        arguments += ["--n-resamples", str(n_resamples)]
    if seed != 0:
        arguments += ["--seed", str(seed)]
    if out is not None:
        arguments += ["--out", out]
    return shlex.join(arguments)


@click.command("leaderboard")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--baseline", default=None, help="Entry name or run_id prefix that the other rows are tested against.")
@click.option("--out", default=None, help="File to write (or to check with --check); without it, print.")
@click.option("--format", "output_format", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True,
              help="Markdown, CSV (a mean, low and high column per metric) or JSON (one record per row).")
@click.option("--plot", default=None, metavar="FILE.png",
              help="Also draw each entry's T2V R@1 with its interval, marked against the baseline.")
@click.option("--check", is_flag=True, help="Write nothing; exit non-zero if --out differs from a fresh rendering.")
@click.option(
    "--n-resamples", default=DEFAULT_RESAMPLES, show_default=True, type=click.IntRange(min=100), help="Resamples."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the resampling.")
@click.option("--reported", default=None, metavar="FILE.json",
              help="Numbers reported in papers (with sources), shown in a separate table, never ranked with the "
                   "measured rows; with it, the inputs may hold no result yet.")
def leaderboard_command(
    inputs: tuple[str, ...], baseline: str | None, out: str | None, output_format: str, plot: str | None,
    check: bool, n_resamples: int, seed: int, reported: str | None
) -> None:
    """Render a leaderboard from RESULT_FILES_OR_DIRS (directories are searched for *.json).

    Prints to the terminal unless --out is given. Malformed or foreign files are reported on stderr, one line each,
    and skipped (the config.json of saved checkpoints is not a result and is passed over silently).

    Example: c2vbench leaderboard results/ --baseline "tiny-clip · meanp · cosine" --out leaderboards/synthetic.md
    """
    import json

    from c2vbench.platform.errors import C2VBenchError, ResultFileError
    from c2vbench.results.leaderboard import leaderboard_tables, render_leaderboard
    from c2vbench.results.result_file import ForeignFileError, iter_result_files

    if check and out is None:
        raise C2VBenchError("--check compares a written file with a fresh rendering, and no --out was given",
                            "add --out FILE")
    if plot is not None and not plot.lower().endswith(".png"):
        raise C2VBenchError(f"--plot {plot}: the picture is written as PNG", "give a file name ending in .png")
    from c2vbench.runtime.atomic_files import check_writable_folder, write_bytes_atomic

    for flag, path in (("--out", None if check else out), ("--plot", plot)):
        if path is not None:  # before any result is read: an unwritable target fails at once
            check_writable_folder(Path(path).parent, f"the folder of {flag}")
    explicit = {Path(entry) for entry in inputs}
    results = []
    foreign: list[Path] = []
    for path, loaded in iter_result_files(inputs):
        if isinstance(loaded, ForeignFileError) and path not in explicit:
            foreign.append(path)
        elif isinstance(loaded, ResultFileError):
            click.echo(f"skipped {loaded}", err=True)
        else:
            results.append((path, loaded))
    from c2vbench.results.integrity import integrity_notes

    for note in integrity_notes(results):
        click.echo(f"note: {note}", err=True)
    from c2vbench.results.index import rerun_drifts

    for note in rerun_drifts(results).values():  # also under "Set aside" in the board
        click.echo(f"note: {note}", err=True)
    if foreign:
        click.echo(
            f"skipped {len(foreign)} JSON file(s) that are not result files (no schema_version), e.g. {foreign[0]}",
            err=True,
        )
    reported_numbers = None
    if reported is not None:
        from c2vbench.results.reported import load_reported

        reported_numbers = load_reported(reported)
    tables = leaderboard_tables(results, baseline, n_resamples, seed) if results or reported is None else []
    command = leaderboard_command_line(inputs, baseline, out, n_resamples, seed, reported)
    if output_format == "md":
        text = render_leaderboard(results, command=command, baseline=baseline, n_resamples=n_resamples, seed=seed,
                                  tables=tables, reported=reported_numbers)
    else:
        from c2vbench.results.leaderboard_export import records_as_csv, table_records

        records = table_records(tables)
        text = records_as_csv(records) if output_format == "csv" else json.dumps(records, indent=1) + "\n"
    if plot is not None:
        from c2vbench.results.leaderboard_export import plot_leaderboard

        plot_leaderboard(tables, plot)
        click.echo(f"wrote {plot}", err=True)
    if out is None:
        click.echo(text, nl=False)
        return
    target = Path(out)
    if check:
        current = target.read_bytes() if target.is_file() else None
        if current != text.encode("utf-8"):
            state = "does not exist" if current is None else "differs from a fresh rendering"
            again = command if output_format == "md" else f"{command} --format {output_format}"
            raise ResultFileError(f"{out} {state}", f"regenerate it: {again}")
        click.echo(f"{out} is up to date ({len(results)} result files).", err=True)
        return
    write_bytes_atomic(target, text.encode("utf-8"))
    click.echo(f"wrote {out} ({len(results)} result files).", err=True)
