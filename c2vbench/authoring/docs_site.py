"""MkDocs hooks of the documentation site (``mkdocs.yml`` names this file under ``hooks:``).

Two jobs, both so that ``mkdocs build --strict`` fails where the site would mislead:

* before the build, the generated sections of the pages (the hook reference in ``docs/plugins.md``, the command-line
  reference in ``docs/cli.md``) must be current: each generator's ``--check`` runs, and a stale page stops the build
  with the command that renders it;
* repository files that the pages link to but that live outside ``docs/`` (the committed leaderboards, their web
  pages and plot, BENCHMARKS.md, the example plug-in's README) become pages of the site at their repository paths.
  A page links to them exactly as on GitHub (``../leaderboards/synthetic-motion.md`` from ``docs/statistics.md``),
  and MkDocs checks those links like any other.

Only MkDocs imports this module; it needs the ``docs`` extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# the generators of page sections, each with a --check mode that exits 1 while its page is stale
GENERATORS = ("c2vbench.authoring.hook_reference", "c2vbench.cli.reference")
# repository files (relative to the root) published beside the pages, at the same relative place
REPOSITORY_FILES = ("BENCHMARKS.md", "leaderboards/*.md", "leaderboards/*.html", "leaderboards/*.png",
                    "examples/c2vbench-maxpool/README.md")


def stale_generated_pages() -> list[str]:
    """What each generator's ``--check`` says about its page, for every generated page that is not current.

    The generators are run as the commands a developer runs (the CLI reference sits above this layer, so it is run,
    not imported)."""
    stale = []
    for module in GENERATORS:
        done = subprocess.run([sys.executable, "-m", module, "--check"], cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            stale.append((done.stderr or done.stdout).strip() or f"python -m {module} --check failed")
    return stale


def repository_files(docs_dir: Path) -> list[tuple[str, str]]:
    """``(path from docs_dir, path from the repository root)`` of every repository file published with the site."""
    found = []
    for pattern in REPOSITORY_FILES:
        for path in sorted(ROOT.glob(pattern)):
            found.append((Path(os.path.relpath(path, docs_dir)).as_posix(), path.relative_to(ROOT).as_posix()))
    return found


def on_pre_build(config: Any, **_: Any) -> None:
    from mkdocs.exceptions import PluginError

    stale = stale_generated_pages()
    if stale:
        raise PluginError("generated documentation is not current: " + "; ".join(stale))


def on_files(files: Any, config: Any, **_: Any) -> Any:
    from mkdocs.structure.files import File, InclusionLevel

    docs_dir = Path(config["docs_dir"])
    for from_docs, from_root in repository_files(docs_dir):
        # the destination a file at that repository path would have if it were inside docs/
        place = File(from_root, str(docs_dir), config["site_dir"], config["use_directory_urls"])
        # included explicitly: a path that starts with ".." would otherwise fall under the default exclusion of
        # hidden files
        files.append(File(from_docs, str(docs_dir), config["site_dir"], config["use_directory_urls"],
                          dest_uri=place.dest_uri, inclusion=InclusionLevel.INCLUDED))
    return files
