"""``c2vbench leaderboard``: render (or check) leaderboard markdown from result files."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

DEFAULT_RESAMPLES = 2000  # keep in step with c2vbench.leaderboard.DEFAULT_RESAMPLES (not imported: fast --help)


def leaderboard_command_line(
    inputs: tuple[str, ...], baseline: str | None, out: str, n_resamples: int, seed: int
) -> str:
    """The command that regenerates a leaderboard, as written into its header (never includes ``--check``)."""
    arguments = ["c2vbench", "leaderboard", *inputs]
    if baseline is not None:
        arguments += ["--baseline", baseline]
    if n_resamples != DEFAULT_RESAMPLES:
        arguments += ["--n-resamples", str(n_resamples)]
    if seed != 0:
        arguments += ["--seed", str(seed)]
    arguments += ["--out", out]
    return shlex.join(arguments)


@click.command("leaderboard")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--baseline", default=None, help="Entry name or run_id prefix that the other rows are tested against.")
@click.option("--out", required=True, help="Markdown file to write (or to check with --check).")
@click.option("--check", is_flag=True, help="Write nothing; exit non-zero if --out differs from a fresh rendering.")
@click.option(
    "--n-resamples", default=DEFAULT_RESAMPLES, show_default=True, type=click.IntRange(min=100), help="Resamples."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the resampling.")
def leaderboard_command(
    inputs: tuple[str, ...], baseline: str | None, out: str, check: bool, n_resamples: int, seed: int
) -> None:
    """Render leaderboard markdown from RESULT_FILES_OR_DIRS (directories are searched for *.json).

    Malformed or foreign files are reported on stderr, one line each, and skipped.

    Example: c2vbench leaderboard results/ --baseline "tiny-clip · meanp · cosine" --out leaderboards/synthetic.md
    """
    from ..errors import ResultFileError
    from ..leaderboard import render_leaderboard
    from ..results import ForeignFileError, iter_result_files

    explicit = {Path(entry) for entry in inputs}
    results = []
    foreign: list[Path] = []
    for path, loaded in iter_result_files(inputs):
        if isinstance(loaded, ForeignFileError) and path not in explicit:
            foreign.append(path)  # e.g. checkpoint config.json files in a results folder: summarised below
        elif isinstance(loaded, ResultFileError):
            click.echo(f"skipped {loaded}", err=True)
        else:
            results.append((path, loaded))
    if foreign:
        click.echo(
            f"skipped {len(foreign)} JSON file(s) that are not result files (no schema_version), e.g. {foreign[0]}",
            err=True,
        )
    command = leaderboard_command_line(inputs, baseline, out, n_resamples, seed)
    markdown = render_leaderboard(results, command=command, baseline=baseline, n_resamples=n_resamples, seed=seed)
    target = Path(out)
    if check:
        current = target.read_bytes() if target.is_file() else None
        if current != markdown.encode("utf-8"):
            state = "does not exist" if current is None else "differs from a fresh rendering"
            raise ResultFileError(f"{out} {state}", f"regenerate it: {command}")
        click.echo(f"{out} is up to date ({len(results)} result files).", err=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(markdown.encode("utf-8"))
    click.echo(f"wrote {out} ({len(results)} result files).", err=True)
