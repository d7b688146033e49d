"""``c2vbench leaderboard``: render (or check) a leaderboard from result files: markdown, CSV, JSON or a web page."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_RESAMPLES = 2000  # keep in step with c2vbench.results.leaderboard.DEFAULT_RESAMPLES (not imported: fast --help)


@click.command("leaderboard")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--baseline", default=None, help="Entry name or run_id prefix that the other rows are tested against.")
@click.option("--out", default=None,
              help="File to write (or to check with --check); without it, print. For --format html a folder "
                   "(the page is its index.html) or a file name ending in .html.")
@click.option("--format", "output_format", type=click.Choice(["md", "csv", "json", "html"]), default="md",
              show_default=True,
              help="Markdown, CSV (a mean, low and high column per metric), JSON (one record per row), or html: "
                   "one self-contained web page (sortable, filterable, each entry's card one click away).")
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

    Example: c2vbench leaderboard results/ --format html --out site/
    """
    from c2vbench.platform.errors import C2VBenchError, ResultFileError
    from c2vbench.results.comparison import require_caption_map
    from c2vbench.results.inputs import collect_results, leaderboard_command_line
    from c2vbench.results.leaderboard_export import render_board

    if check and out is None:
        raise C2VBenchError("--check compares a written file with a fresh rendering, and no --out was given",
                            "add --out FILE")
    if plot is not None and not plot.lower().endswith(".png"):
        raise C2VBenchError(f"--plot {plot}: the picture is written as PNG", "give a file name ending in .png")
    from c2vbench.runtime.atomic_files import check_writable_folder, write_bytes_atomic

    target = None if out is None else page_path(out) if output_format == "html" else Path(out)
    for flag, path in (("--out", None if check else target), ("--plot", plot)):
        if path is not None:  # before any result is read: an unwritable target fails at once
            check_writable_folder(Path(path).parent, f"the folder of {flag}")
    collected = collect_results(inputs)
    for line in collected.messages():
        click.echo(line, err=True)
    results = []
    for path, loaded in collected.results:
        try:  # several captions per video and no caption→video map: the queries cannot be paired honestly
            require_caption_map(loaded, str(path))
        except ResultFileError as error:
            click.echo(f"skipped {error}", err=True)
            continue
        results.append((path, loaded))
    reported_numbers = None
    if reported is not None:
        from c2vbench.results.reported import load_reported

        reported_numbers = load_reported(reported)
    command = leaderboard_command_line(inputs, baseline, out, n_resamples, seed, reported, output_format)
    text = render_board(results, output_format, command, baseline, n_resamples, seed, reported_numbers, plot,
                        target.parent if target is not None else Path.cwd())
    if plot is not None:
        click.echo(f"wrote {plot}", err=True)
    if target is None:
        click.echo(text, nl=False)
        return
    if check:
        current = target.read_bytes() if target.is_file() else None
        if current != text.encode("utf-8"):
            state = "does not exist" if current is None else "differs from a fresh rendering"
            raise ResultFileError(f"{target} {state}", f"regenerate it: {command}")
        click.echo(f"{target} is up to date ({len(results)} result files).", err=True)
        return
    write_bytes_atomic(target, text.encode("utf-8"))
    click.echo(f"wrote {target} ({len(results)} result files).", err=True)


def page_path(out: str) -> Path:
    """Where ``--format html --out OUT`` writes: OUT itself when it ends in .html, else OUT/index.html."""
    return Path(out) if out.lower().endswith((".html", ".htm")) else Path(out) / "index.html"
