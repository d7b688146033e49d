"""The Python API: ``c2vbench.run(...)`` and ``c2vbench.evaluate(checkpoint, ...)`` for notebooks and scripts.

Each takes exactly the options of its command as keyword arguments, named as the flags are with ``-`` written
``_`` (``--max-frames 4`` is ``max_frames=4``, ``--backbone-option layers=2`` is ``backbone_option={"layers": 2}``
or ``backbone_option=["layers=2"]``, a switch such as ``--no-checkpoint`` is ``no_checkpoint=True``). The keywords
are turned into that command line and parsed by the command itself, so the API validates them the same way, with
the same defaults and the same errors, runs the same code and writes the same result file; it returns the result
instead of printing a table::

    import c2vbench

    result = c2vbench.run(temporal="tdb", align="tab", dataset="synthetic-motion", epochs=2, out="results")
    result["metrics"]["t2v"]["R@1"], result.path
    frame = c2vbench.results.load("results")          # every run there, one row each (pandas)

This module sits above the command line (import-linter's layers): the CLI never imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from c2vbench.platform.errors import C2VBenchError

# Options that only change what the command prints: the API prints no table and returns the result instead.
DISPLAY_ONLY = frozenset({"json"})


class RunResult(dict):
    """The result file's content (a ``dict``, as written), with where it was written.

    Attributes:
        path: the result file.
        checkpoint: the model folder ``run`` saved (None when it saved none, and for ``evaluate``).
    """

    def __init__(self, result: Mapping[str, Any], path: Path | None, checkpoint: Path | None = None):
        super().__init__(result)
        self.path = path
        self.checkpoint = checkpoint

    def __repr__(self) -> str:
        metrics = self.get("metrics", {}).get("t2v", {})
        headline = ", ".join(f"{name} {metrics[name]:.1f}" for name in ("R@1", "R@5", "R@10") if name in metrics)
        return f"RunResult({self.get('run_id')!r}, t2v {headline}, path={str(self.path)!r})"


def run(**options: Any) -> RunResult | None:
    """Train (unless ``protocol="zeroshot"``) and evaluate one configuration, as ``c2vbench run`` does.

    Args:
        options: the options of ``c2vbench run`` (``c2vbench run --help``), e.g. ``temporal="tdb"``,
            ``align="tab"``, ``dataset="synthetic-motion"``, ``epochs=2``, ``seed=1``, ``out="results"``.

    Returns:
        The result (a dict with ``.path``); None on the ranks other than 0 of a torchrun run, which write nothing.

    Raises:
        C2VBenchError: an unknown or invalid option, or anything ``c2vbench run`` refuses.
    """
    from c2vbench.cli.run import execute_run, run_command

    ctx = parse_options(run_command, "run", options)
    with ctx:
        outcome = execute_run(ctx, ctx.params)
    return _returned(outcome)


def evaluate(checkpoint: str | os.PathLike[str], **options: Any) -> RunResult | None:
    """Evaluate a saved (``c2vbench run``) or an official checkpoint on a dataset's test split, as ``c2vbench eval``.

    Args:
        checkpoint: the checkpoint folder or file (``--checkpoint``).
        options: the other options of ``c2vbench eval`` (``format``, ``legacy_mask``, ``checkpoint_option``,
            ``dataset``, ``data_root``, ``out``, ...).

    Returns:
        The result (a dict with ``.path``); None on the ranks other than 0 of a torchrun run.
    """
    from c2vbench.cli.evaluate import eval_command, execute_eval

    if "checkpoint" in options:
        raise C2VBenchError("c2vbench.evaluate() got the checkpoint twice", "pass it once, as the first argument")
    ctx = parse_options(eval_command, "evaluate", {"checkpoint": checkpoint, **options})
    with ctx:
        params = dict(ctx.params)
        outcome = execute_eval(ctx, params.pop("checkpoint"), params.pop("checkpoint_format"),
                               params.pop("legacy_mask"), params.pop("checkpoint_option"), params)
    return _returned(outcome)


def _returned(outcome) -> RunResult | None:
    if outcome.result is None:
        return None
    return RunResult(outcome.result, outcome.result_path, outcome.checkpoint_path)


# ---------------------------------------------------------------------------------------------------------------
# keywords -> the command's own parser


def keyword_options(command: click.Command) -> dict[str, click.Option]:
    """Every option of ``command`` by keyword: each long flag without its dashes, ``-`` written ``_``."""
    found: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for flag in param.opts:
                if flag.startswith("--"):
                    found[flag[2:].replace("-", "_")] = param
    return found


def command_line(command: click.Command, function: str, options: Mapping[str, Any]) -> list[str]:
    """The command-line arguments that give ``command`` these keyword ``options``.

    None leaves an option at its default; a switch takes True or False; a repeatable option takes one value, a
    list of values, or a mapping (``{"layers": 2}`` for ``layers=2``).
    """
    known = keyword_options(command)
    arguments: list[str] = []
    for keyword, value in options.items():
        if keyword in DISPLAY_ONLY:
            raise C2VBenchError(f"c2vbench.{function}() takes no {keyword}= option (it only changes what the command "
                                "prints)", "drop it: the result is returned")
        param = known.get(keyword)
        if param is None:
            usable = sorted(name for name in known if name not in DISPLAY_ONLY)
            raise C2VBenchError(f"c2vbench.{function}() got an unknown option {keyword}=",
                                f"its options are those of `c2vbench {command.name}`: {', '.join(usable)}")
        if value is None:
            continue
        flag = "--" + keyword.replace("_", "-")
        if param.is_flag:
            if not isinstance(value, bool):
                raise C2VBenchError(f"c2vbench.{function}(): {keyword}= is a switch, got {value!r}",
                                    f"give {keyword}=True or leave it out")
            if value:
                arguments.append(flag)
            continue
        for item in _values(value, keyword, function) if param.multiple else [value]:
            arguments += [flag, _text(item, keyword, function)]
    return arguments


def _values(value: Any, keyword: str, function: str) -> list[Any]:
    if isinstance(value, Mapping):
        return [f"{key}={_text(item, keyword, function)}" for key, item in value.items()]
    if isinstance(value, (str, os.PathLike)):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise C2VBenchError(f"c2vbench.{function}(): {keyword}= takes a value, a list of KEY=VALUE texts or a mapping, "
                        f"got {type(value).__name__}", f"for example {keyword}={{'layers': 2}}")


def _text(value: Any, keyword: str, function: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise C2VBenchError(f"c2vbench.{function}(): {keyword}= got a {type(value).__name__}",
                        "give text, a number, a path or True/False")


def parse_options(command: click.Command, function: str, options: Mapping[str, Any]) -> click.Context:
    """``command``'s context with ``options`` parsed by the command's own parser (its types, checks, defaults)."""
    arguments = command_line(command, function, options)
    try:
        return command.make_context(command.name or function, arguments)
    except click.UsageError as error:
        raise C2VBenchError(f"c2vbench.{function}(): {error.format_message()}",
                            f"see `c2vbench {command.name} --help` for the options and their values") from None
