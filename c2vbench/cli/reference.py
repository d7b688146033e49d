"""The command-line reference page, ``docs/cli.md``, rendered from the click objects themselves.

    python -m c2vbench.cli.reference            # rewrite the generated section of docs/cli.md in place
    python -m c2vbench.cli.reference --check    # exit 1 when the committed page is not current

Every command and sub-command gets its usage line, its help text and a table of its options as ``--help`` prints
them (the same help records, defaults included). It lives in the CLI layer because it reads the CLI; the marker
handling is shared with the hook reference (:mod:`c2vbench.authoring.generated_section`).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import click

from c2vbench.authoring.generated_section import GeneratedSection

PROG_NAME = "c2vbench"
BEGIN = ("<!-- BEGIN GENERATED: python -m c2vbench.cli.reference renders this section from the click commands; "
         "do not edit -->")
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _text(text: str, in_table: bool = False) -> str:
    """Help text as markdown that reads literally: characters markdown would take as markup are escaped outside
    code spans (a table cell also escapes ``|``; pipes inside code spans do not split a cell)."""
    pieces = re.split(r"(`[^`]*`)", text.replace("\n", " "))
    escaped = []
    for piece in pieces:
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1:
            escaped.append(piece)
            continue
        piece = piece.replace("\\", "\\\\").replace("*", "\\*").replace("<", "&lt;").replace(">", "&gt;")
        escaped.append(piece.replace("|", "\\|") if in_table else piece)
    return "".join(escaped)


def _help_markdown(help_text: str) -> list[str]:
    """A command's help as markdown: one paragraph per paragraph, ``Example:`` lines as shell blocks."""
    out: list[str] = []
    for paragraph in inspect.cleandoc(help_text).split("\n\n"):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip() != "\b"]
        if not lines:
            continue
        if lines[0].startswith("Example:"):
            first = lines[0].removeprefix("Example:").strip()
            examples = ([first] if first else []) + lines[1:]
            out += ["Example:", "", "```shell", *examples, "```", ""]
        else:
            out += [_text(" ".join(lines)), ""]
    return out


def _visible_options(command: click.Command, ctx: click.Context) -> list[tuple[str, str]]:
    """The help records of the command's options, as ``--help`` shows them (``--help`` itself left out)."""
    help_option = command.get_help_option(ctx)
    records = []
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or param is help_option:
            continue
        record = param.get_help_record(ctx)
        if record is not None:
            records.append(record)
    return records


def _section(command: click.Command, ctx: click.Context, heading: str) -> list[str]:
    """One command's own section: heading, help, usage line, options table."""
    path = ctx.command_path
    out = [f"{heading} `{path}`", ""]
    out += _help_markdown(command.help or command.short_help or "")
    out += ["```text", " ".join([path, *command.collect_usage_pieces(ctx)]), "```", ""]
    options = _visible_options(command, ctx)
    if options:
        out += ["| option | meaning |", "|---|---|"]
        out += [f"| `{flags}` | {_text(meaning, in_table=True)} |" for flags, meaning in options]
        out.append("")
    return out


def _subcommands(group: click.Group, ctx: click.Context) -> list[tuple[click.Command, click.Context]]:
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            found.append((command, click.Context(command, info_name=name, parent=ctx)))
    return found


def render_command(command: click.Command, ctx: click.Context, heading: str = "##") -> list[str]:
    """A command's section, followed by its sub-commands' (one heading level down) when it is a group."""
    out = _section(command, ctx, heading)
    if isinstance(command, click.Group):
        for sub, sub_ctx in _subcommands(command, ctx):
            out += render_command(sub, sub_ctx, heading + "#")
    return out


def render_cli(root: click.Group | None = None, prog_name: str = PROG_NAME) -> str:
    """The reference of every command under ``root`` (the ``c2vbench`` command by default), in its listed order."""
    if root is None:
        from c2vbench.cli.main import cli as root
    ctx = click.Context(root, info_name=prog_name, **root.context_settings)
    parts = _section(root, ctx, "##")
    for command, command_ctx in _subcommands(root, ctx):
        parts += render_command(command, command_ctx, "##")
    return "\n".join(parts)


# SECTION.updated(text) re-renders a page's section; SECTION.main([PATH] [--check]) is the command
SECTION = GeneratedSection(begin=BEGIN, render_body=render_cli, command="python -m c2vbench.cli.reference",
                           default_path=DEFAULT_PATH)


if __name__ == "__main__":
    raise SystemExit(SECTION.main())
