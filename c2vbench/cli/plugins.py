"""``c2vbench plugins``: every registered component, with its provider, and plug-ins that failed to load;
``--options NAME``: one component's options (type, default, allowed values, help)."""

from __future__ import annotations

import click


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--options", "options_of", default=None, metavar="NAME",
              help="List the options of the component NAME: type, default, allowed values, help.")
@click.option("--kind", default=None, help="With --options: the component's kind, when two kinds share the name.")
def plugins_command(as_json: bool, options_of: str | None, kind: str | None) -> None:
    """List every registered plug-in component: kind, name, distribution, version, description.

    Exits with status 1 when a plug-in failed to load or two plug-ins clash (each is listed, on stderr with --json).

    Example: c2vbench plugins --options tdb
    """
    from c2vbench.cli import terminal
    from c2vbench.platform.registry import get_registry

    registry = get_registry()
    if options_of is not None:
        show_options(registry, options_of, kind, as_json)
        return
    rows = registry.listing()
    columns = ("kind", "name", "distribution", "version", "description")

    def render(console) -> None:
        from rich.markup import escape

        console.print(terminal.table("c2vbench plug-ins", columns, [[row[key] for key in columns] for row in rows]))
        for (clash_kind, name), clashing in sorted(registry.clashes.items()):
            providers = "; ".join(c.provider.describe() for c in clashing)
            console.print(f"[red]clash:[/] {clash_kind} '{escape(name)}' is registered by {escape(providers)}")
        for failure in registry.failures:
            console.print(f"[red]failed:[/] {escape(failure.describe())}")

    terminal.emit(rows, as_json, render)
    if as_json:  # the JSON stays a clean list; the problems go to stderr
        for (clash_kind, name), clashing in sorted(registry.clashes.items()):
            terminal.print_line(f"clash: {clash_kind} '{name}' is registered by "
                                f"{'; '.join(c.provider.describe() for c in clashing)}", stderr=True)
        for failure in registry.failures:
            terminal.print_line(f"failed: {failure.describe()}", stderr=True)
    if registry.failures or registry.clashes:  # a broken installation is not a success
        raise SystemExit(1)


def show_options(registry, name: str, kind: str | None, as_json: bool) -> None:
    from c2vbench.cli import terminal
    from c2vbench.platform.options import describe_options
    from c2vbench.testing import find_component

    component = find_component(name, kind, registry)
    rows = [row.to_dict() for row in describe_options(component.spec.options_type, component.describe())]
    columns = ("name", "type", "default", "allowed", "help")

    def render(console) -> None:
        title = f"options of {component.describe()}"
        if not rows:
            terminal.print_line(f"{title}: none")
            return
        console.print(terminal.table(title, ("option", *columns[1:]), [[row[key] for key in columns]
                                                                       for row in rows]))
        terminal.print_line(f"set with --{component.spec.role}-option KEY=VALUE" if component.spec.role
                            else "")

    terminal.emit(rows, as_json, render)
