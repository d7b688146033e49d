"""``c2vbench plugins``: every registered component, with its provider, and plug-ins that failed to load."""

from __future__ import annotations

import json

import click


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List every registered plug-in component: kind, name, distribution, version, description."""
    from ..registry import get_registry

    registry = get_registry()
    rows = [{"kind": c.kind, "name": c.name, "distribution": c.provider.distribution,
             "version": c.provider.version, "description": c.spec.summary} for c in registry.all()]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="c2vbench plug-ins", title_justify="left")
    for column in ("kind", "name", "distribution", "version", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(row[key])) for key in ("kind", "name", "distribution", "version", "description")))
    console = Console()
    console.print(table)
    for (kind, name), clashing in sorted(registry.clashes.items()):
        providers = "; ".join(c.provider.describe() for c in clashing)
        console.print(f"[red]clash:[/] {kind} '{escape(name)}' is registered by {escape(providers)}")
    for failure in registry.failures:
        console.print(f"[red]failed:[/] {escape(failure.describe())}")
