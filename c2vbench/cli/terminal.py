"""Everything the commands print goes through here: one rich console per stream, one metrics table, ``--json``.

Commands build data, then either :func:`print_json` it (``--json``: the data alone on stdout, nothing else) or render
it for people with :func:`console` and the shared tables. Errors go to :func:`error_console` as one line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

METRIC_COLUMNS = ("R@1", "R@5", "R@10", "MdR", "MnR")
DIRECTIONS = {"t2v": "text → video", "v2t": "video → text"}

_consoles: dict[bool, Any] = {}


def console(stderr: bool = False):
    """The shared rich console for stdout (or stderr). Rich looks ``sys.stdout`` up on every write, so a console
    made once still writes wherever stdout points now (a test's capture included)."""
    if stderr not in _consoles:
        from rich.console import Console

        _consoles[stderr] = Console(stderr=stderr, soft_wrap=stderr)
    return _consoles[stderr]


def error_console():
    return console(stderr=True)


def print_json(data: Any) -> None:
    """``--json`` output: the data as one line of JSON on stdout and nothing else (every command the same)."""
    import click

    click.echo(json.dumps(data, default=str))


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``data`` as JSON when ``as_json``, else call ``render(console)`` to show it to people."""
    if as_json:
        print_json(data)
    else:
        render(console())


def print_line(text: str, stderr: bool = False) -> None:
    """A plain line (no markup, no highlighting): file names and numbers print as given."""
    console(stderr).print(text, markup=False, highlight=False, soft_wrap=True)


def print_error(error: Exception) -> None:
    """A user error as one red line on stderr."""
    from rich.markup import escape

    error_console().print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)


def table(title: str, columns: list[str] | tuple[str, ...], rows: list[list[Any]], right: tuple[str, ...] = ()):
    """A rich table with escaped cells (plug-in names and descriptions may hold brackets)."""
    from rich.markup import escape
    from rich.table import Table

    result = Table(title=escape(title), title_justify="left")
    for column in columns:
        result.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        result.add_row(*(escape(str(cell)) for cell in row))
    return result


def metrics_rows(blocks: list[tuple[str, dict[str, dict[str, float]]]]) -> list[list[str]]:
    """Rows of the metrics table: one per (label, direction), R@1/5/10, MdR, MnR with two decimals."""
    rows = []
    for label, metrics in blocks:
        for direction in ("t2v", "v2t"):
            if direction not in metrics:
                continue
            values = metrics[direction]
            name = f"{direction} ({label})" if label else DIRECTIONS[direction]
            rows.append([name, *(f"{values[key]:.2f}" for key in METRIC_COLUMNS)])
    return rows


def metrics_table(blocks: list[tuple[str, dict[str, dict[str, float]]]], title: str):
    """The one metrics table of ``run``, ``eval`` and ``score``: a row per direction of each block."""
    return table(title, ("queries", *METRIC_COLUMNS), metrics_rows(blocks), right=METRIC_COLUMNS)


def result_metrics_table(result: dict[str, Any], title: str):
    """The metrics table of a result file: all queries, each subset, and the plain scores when post-processed."""
    blocks = [("all", result["metrics"])]
    blocks += [(name, subset["metrics"]) for name, subset in (result.get("subsets") or {}).items()]
    if "plain" in result:
        blocks.append(("all, no post-processing", result["plain"]["metrics"]))
    return metrics_table(blocks, title)
