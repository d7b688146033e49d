"""``c2vbench check-plugin NAME``: run the conformance kit on a registered component."""

from __future__ import annotations

import click


@click.command("check-plugin")
@click.argument("name")
@click.option("--kind", default=None, help="The component's kind, when two kinds share the name.")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE",
              help="Build it with this option (repeatable); default: the spec's check_options.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder of a downloaded dataset (datasets that need one are skipped without it).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the kit's inputs and builds.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_plugin_command(name: str, kind: str | None, option_pairs: tuple[str, ...], data_root: str | None,
                         seed: int, as_json: bool) -> None:
    """Check that a registered component follows the rules of its kind (exit 0 when it conforms, 1 when not).

    Example: c2vbench check-plugin maxpool
    """
    from c2vbench.cli import terminal
    from c2vbench.config import parse_option_pairs
    from c2vbench.testing import check_plugin

    options = parse_option_pairs(option_pairs, "--option") if option_pairs else None
    report = check_plugin(name, kind, options=options, data_root=data_root, seed=seed)

    def render(console) -> None:
        rows = [[outcome.rule, outcome.status, outcome.detail] for outcome in report.outcomes]
        console.print(terminal.table(f"{report.kind} '{report.name}' ({report.provider})",
                                     ("rule", "status", "detail"), rows))
        for line in report.failure_lines():
            terminal.print_line(f"FAILED {line}")
        terminal.print_line(report.summary())

    terminal.emit(report.to_dict(), as_json, render)
    if not report.ok:
        raise SystemExit(1)
