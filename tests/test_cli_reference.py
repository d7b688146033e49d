"""docs/cli.md: the command-line reference is rendered from the click commands, and the committed page is current."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from c2vbench.cli import reference
from c2vbench.cli.main import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]
CLI_DOC = ROOT / "docs" / "cli.md"


def section_of(page: str, command_path: str) -> str:
    """The text of one command's section: from its heading to the next heading of any command."""
    start = page.index(f" `{command_path}`\n")
    following = re.search(r"\n#+ `c2vbench", page[start + 1:])
    return page[start: start + 1 + following.start()] if following else page[start:]


def help_flags(args: list[str]) -> list[str]:
    """Every option flag that ``c2vbench ARGS --help`` prints, read from click's own help formatter."""
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="c2vbench", terminal_width=200)
    assert result.exit_code == 0, result.output
    options = result.output.split("Options:", 1)[1].split("Commands:", 1)[0]
    flags = []
    for line in options.splitlines():
        if line.strip().startswith("-"):
            first_column = re.split(r"\s{2,}", line.strip())[0]
            flags += [flag for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", first_column)
                      if flag not in {"-h", "--help"}]
    return flags


def test_the_committed_cli_reference_is_current():
    committed = CLI_DOC.read_text(encoding="utf-8")
    assert reference.SECTION.updated(committed) == committed, "run: python -m c2vbench.cli.reference"
    assert reference.SECTION.main([str(CLI_DOC), "--check"]) == 0


def test_every_flag_that_help_prints_is_in_its_commands_section():
    page = CLI_DOC.read_text(encoding="utf-8")
    invocations = [[], *([name] for name in COMMANDS), ["results", "ls"], ["results", "show"], ["cache", "ls"],
                   ["cache", "rm"]]
    for args in invocations:
        section = section_of(page, " ".join(["c2vbench", *args]))
        flags = help_flags(args)
        assert flags or args in (["results"], ["cache"]), args
        for flag in flags:
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", section), (args, flag)


def test_the_page_follows_the_click_objects(monkeypatch, tmp_path):
    run = cli.get_command(click.Context(cli), "run")
    monkeypatch.setattr(run, "params", [*run.params, click.Option(["--warp-speed"], type=int, default=9,
                                                                  show_default=True, help="Engage | fast.")])
    page = reference.render_cli()
    row = next(line for line in section_of(page, "c2vbench run").splitlines() if "--warp-speed" in line)
    # the pipe in the help text is escaped: the row keeps its two cells
    assert row == "| `--warp-speed INTEGER` | Engage \\| fast.  [default: 9] |"
    stale = tmp_path / "cli.md"
    stale.write_text(CLI_DOC.read_text(encoding="utf-8"), encoding="utf-8")
    assert reference.SECTION.main([str(stale), "--check"]) == 1
    assert reference.SECTION.main([str(stale)]) == 0
    assert "--warp-speed" in stale.read_text(encoding="utf-8")
    assert reference.SECTION.main([str(stale), "--check"]) == 0


def test_a_small_group_renders_usage_help_examples_and_sub_commands():
    @click.group("tool")
    def tool() -> None:
        """A tool.

        Example: tool go --fast
        """

    @tool.command("go")
    @click.argument("target")
    @click.option("--fast", is_flag=True, help="Go *fast*, <now>.")
    def go(target: str, fast: bool) -> None:
        """Go to TARGET."""

    @tool.group("db")
    def db() -> None:
        """The database."""

    @db.command("init")
    def init() -> None:
        """Create it."""

    page = reference.render_cli(tool, prog_name="tool")
    assert "```shell\ntool go --fast\n```" in page
    assert "```text\ntool go [OPTIONS] TARGET\n```" in page
    headings = re.findall(r"^(#+) `([^`]+)`$", page, re.M)
    assert headings == [("##", "tool"), ("##", "tool db"), ("###", "tool db init"), ("##", "tool go")]  # click sorts
    assert "| `--fast` | Go \\*fast\\*, &lt;now&gt;. |" in page


def test_the_generator_prints_its_usage_and_refuses_unknown_options_without_writing(tmp_path, monkeypatch, capsys):
    """``--help`` once became the name of a file the generator wrote the page into."""
    monkeypatch.chdir(tmp_path)
    assert reference.SECTION.main(["--help"]) == 0
    assert "usage: python -m c2vbench.cli.reference [PAGE] [--check]" in capsys.readouterr().out
    assert reference.SECTION.main(["--verbose"]) == 2
    assert "unknown option --verbose" in capsys.readouterr().err
    assert reference.SECTION.main(["a.md", "b.md"]) == 2
    assert list(tmp_path.iterdir()) == []
