"""Running the real ``c2vbench`` entry point (with its error handling) inside a test."""

from __future__ import annotations

from c2vbench.cli.main import main


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``c2vbench ARGS``."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
