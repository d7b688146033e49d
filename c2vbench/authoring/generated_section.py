"""A section of a hand-written page that a generator renders: the text between two HTML-comment markers.

The documentation pages that are generated in part (the hook reference in ``docs/plugins.md``, the command-line
reference in ``docs/cli.md``) share this: the generator replaces only what lies between its markers, leaves the rest
of the page as it was written, and has a ``--check`` mode that fails while the committed page is not current (the
tests and the documentation build run it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

END_MARKER = "<!-- END GENERATED -->"


@dataclass(frozen=True)
class GeneratedSection:
    """The generated section of one page.

    Attributes:
        begin: the opening marker line (an HTML comment naming the command that renders the section).
        render_body: returns the section's text, without the markers.
        command: the command that rewrites the page, named in the ``--check`` error.
        default_path: the page the command rewrites when given no path.
        end: the closing marker line.
    """

    begin: str
    render_body: Callable[[], str]
    command: str
    default_path: Path
    end: str = END_MARKER

    def render(self) -> str:
        """The whole generated section, markers included."""
        return f"{self.begin}\n\n{self.render_body().strip()}\n\n{self.end}"

    def updated(self, text: str) -> str:
        """``text`` with its generated section replaced by a fresh rendering (appended when it has none)."""
        if self.begin in text and self.end in text:
            head, rest = text.split(self.begin, 1)
            _, tail = rest.split(self.end, 1)
            return head + self.render() + tail
        return text.rstrip() + "\n\n" + self.render() + "\n"

    def main(self, argv: list[str] | None = None) -> int:
        """``[PATH] [--check]``: rewrite the page in place, or exit 1 when it is not current; ``--help`` prints the
        usage, and any other option or a second path is refused (exit 2) before anything is written."""
        args = list(sys.argv[1:] if argv is None else argv)
        usage = f"usage: {self.command} [PAGE] [--check]   (PAGE defaults to {self.default_path})"
        if "-h" in args or "--help" in args:
            print(usage)
            return 0
        unknown = [arg for arg in args if arg.startswith("-") and arg != "--check"]
        paths = [arg for arg in args if not arg.startswith("-")]
        if unknown or len(paths) > 1:
            problem = f"unknown option {unknown[0]}" if unknown else f"one page at a time, not {len(paths)}"
            print(f"{problem}; {usage}", file=sys.stderr)
            return 2
        check = "--check" in args
        path = Path(paths[0]) if paths else self.default_path
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        fresh = self.updated(current)
        if check:
            if fresh != current:
                print(f"{path} is not current: run {self.command}", file=sys.stderr)
                return 1
            return 0
        if fresh != current:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(fresh, encoding="utf-8")
            print(f"updated {path}")
        return 0
