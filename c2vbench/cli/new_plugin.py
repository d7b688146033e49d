"""``c2vbench new-plugin NAME --kind KIND``: scaffold an installable plug-in distribution."""

from __future__ import annotations

import click


@click.command("new-plugin")
@click.argument("name")
@click.option("--kind", required=True, help="backbone, temporal, align or dataset.")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder to create c2vbench-NAME/ in.")
def new_plugin_command(name: str, kind: str, folder: str) -> None:
    """Scaffold the distribution c2vbench-NAME: pyproject with its entry point, a working component, tests.

    Example: c2vbench new-plugin lstm-pool --kind temporal --dir ~/src
    """
    from c2vbench.authoring.scaffold import scaffold
    from c2vbench.cli import terminal

    target = scaffold(name, kind, folder)
    terminal.print_line(f"created {target}")
    terminal.print_line(f"next: pip install -e '{target}[test]' && c2vbench check-plugin {name} "
                        f"&& pytest -q {target / 'tests'}")
