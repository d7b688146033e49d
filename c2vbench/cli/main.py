"""Entry point of the ``c2vbench`` command.

Sub-commands live in their own modules and are imported only when invoked, so ``c2vbench --help`` stays instant and
never loads plug-ins or torch. Every :class:`c2vbench.platform.errors.C2VBenchError` becomes one red line on stderr and
exit status 2.
"""

from __future__ import annotations

import importlib
import os
import shlex
import signal
import sys

import click

from c2vbench import __version__

# command name -> (module, attribute, one-line help shown by --help without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("c2vbench.cli.run", "run_command", "Train (unless zero-shot) and evaluate one configuration."),
    "eval": ("c2vbench.cli.evaluate", "eval_command", "Evaluate a saved or an official checkpoint."),
    "plugins": ("c2vbench.cli.plugins", "plugins_command", "List every registered plug-in component."),
    "score": ("c2vbench.cli.score", "score_command", "Standardized metrics for your own similarity matrix."),
    "compare": ("c2vbench.cli.compare", "compare_command", "Paired significance tests between two result files."),
    "leaderboard": ("c2vbench.cli.leaderboard", "leaderboard_command", "Render leaderboard markdown from results."),
    "probe": ("c2vbench.cli.probe", "probe_command", "Order probes for a result file or a checkpoint."),
    "prepare": ("c2vbench.cli.prepare", "prepare_command", "Extract frames and write manifests for a dataset."),
    "check-plugin": ("c2vbench.cli.check_plugin", "check_plugin_command",
                     "Check that a registered component follows the rules of its kind."),
    "new-plugin": ("c2vbench.cli.new_plugin", "new_plugin_command", "Scaffold a new plug-in distribution."),
    "cache": ("c2vbench.cli.cache", "cache_command", "List or remove cached backbone embeddings."),
    "results": ("c2vbench.cli.results", "results_group", "Browse past result files: results ls, results show."),
    "embed": ("c2vbench.cli.embed", "embed_command", "Embed your own videos into one file (new videos only)."),
    "search": ("c2vbench.cli.search", "search_command", "The best videos of an embeddings file for a text."),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, _, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="c2vbench")
def cli() -> None:
    """c2vbench: a plug-in benchmark suite for video-text retrieval.

    Example: c2vbench run --temporal tdb --align tab --dataset synthetic-motion
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled exactly as Ctrl-C is (the same "what was kept" line), with exit status 143."""


class InterruptSignals:
    """SIGINT and SIGTERM while a command runs: the first stops the work where it is (KeyboardInterrupt, or
    :class:`Terminated`), so that what was kept is reported in one line; a second one while that happens stops the
    process at once, also in one line (every file c2vbench writes is written atomically: nothing is torn).

    Installed for the duration of :func:`main` only (the handlers in place before are restored after)."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.previous: dict[int, object] = {}
        self.reported = False  # the first interrupt's line is out: a second one ends the process silently
        self.owner = os.getpid()  # forked children (data-loader workers) inherit the handlers: they get the old ones

    def __enter__(self) -> InterruptSignals:
        import threading

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    @property
    def terminated(self) -> bool:
        return bool(self.received) and self.received[0] == signal.SIGTERM

    def handle(self, signum: int, frame) -> None:
        if os.getpid() != self.owner:  # a forked worker: what it would have done without us (torch handles it)
            signal.signal(signum, self.previous.get(signum, signal.SIG_DFL))
            os.kill(os.getpid(), signum)
            return
        self.received.append(signum)
        if len(self.received) > 1:
            if not self.reported:
                os.write(2, b"interrupted again: stopped at once (what the first interrupt kept stays kept, and every "
                            b"file c2vbench wrote is whole); run the same command to go on\n")
            os._exit(143 if self.terminated else 130)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one line and exit 2."""
    with InterruptSignals() as signals:
        _main(argv, signals)


def _main(argv: list[str] | None, signals: InterruptSignals) -> None:
    from c2vbench.platform.errors import C2VBenchError, RunInterrupted

    command = shlex.join(["c2vbench", *(sys.argv[1:] if argv is None else argv)])
    try:
        cli.main(args=argv, prog_name="c2vbench", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        how = "terminated (SIGTERM)" if signals.terminated else "interrupted"
        click.echo(f"{how} — run the same command to start again: {command}", err=True)
        signals.reported = True
        sys.exit(143 if signals.terminated else 130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except RunInterrupted as error:
        how = "terminated (SIGTERM)" if signals.terminated else "interrupted"
        problem = how + error.problem.removeprefix("interrupted") if signals.terminated else error.problem
        report_error(RunInterrupted(problem, f"{error.fix}: {command}"))
        signals.reported = True
        sys.exit(143 if signals.terminated else error.exit_code)
    except C2VBenchError as error:
        report_error(error)
        sys.exit(error.exit_code)


def report_error(error: Exception) -> None:
    """Print a user error as one line on stderr."""
    from c2vbench.cli.terminal import print_error

    print_error(error)


if __name__ == "__main__":
    main()
