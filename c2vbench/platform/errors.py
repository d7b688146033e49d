"""Errors a user can act on.

Every error that reaches the command line is a :class:`C2VBenchError`: the CLI prints its one-line message (what is
wrong, then what to do) and exits non-zero, never a traceback. Code deeper down raises the most specific subclass.
"""

from __future__ import annotations


class C2VBenchError(Exception):
    """A problem with the user's input or environment, with a hint on how to fix it."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem} — {fix}")


class PluginError(C2VBenchError):
    """A plug-in could not be loaded, clashes with another, or was not found."""


class UnknownComponentError(PluginError):
    """A component name that no loaded plug-in registers."""


class DuplicateComponentError(PluginError):
    """Two providers register the same kind and name."""


class DataError(C2VBenchError):
    """Missing, malformed or unreadable data: annotations, videos, similarity files."""


class ResultFileError(C2VBenchError):
    """A result file that is malformed, foreign, or not comparable with another."""


class PluginContractError(PluginError):
    """A plug-in returned something its interface does not allow (wrong type, width, shape, NaN...).

    ``rule`` names the broken rule (see :data:`c2vbench.model.contracts.RULES`).
    """

    def __init__(self, problem: str, fix: str | None = None, rule: str = ""):
        super().__init__(problem, fix)
        self.rule = rule


class PluginFailedError(PluginError):
    """A plug-in's own code raised an exception that is not a :class:`C2VBenchError` (a bug in the plug-in)."""


class RunInterrupted(C2VBenchError):
    """A run stopped by Ctrl-C (SIGINT): says what was kept and that the same command resumes (exit status 130).

    The command line adds the command to run (``fix`` ends with it).
    """

    exit_code = 130
