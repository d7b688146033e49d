"""The README as a front page and the documentation site: the README starts with the two commands (the second is
the one .ci/run runs), its links resolve, the architecture page names every import-linter layer in order, and the
site builds with --strict, publishing the repository files its pages link to (when the ``docs`` extra is there)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def code_lines(markdown: str) -> list[str]:
    """The lines of the indented code blocks of a markdown text, in order."""
    return [line[4:] for line in markdown.splitlines() if line.startswith("    ") and line.strip()]


def test_the_readme_starts_with_the_main_job_and_the_test_command_that_ci_runs():
    text = README.read_text(encoding="utf-8")
    head = text.split("\n---\n", 1)[0]
    first, second = code_lines(head)[:2]
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")
    assert first.endswith(".venv/bin/c2vbench run --temporal tdb --align tab --dataset synthetic-motion")
    assert second.startswith("python3 -m venv .venv && .venv/bin/pip install -e '.[test]' -e examples/c2vbench-maxpool")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    pytest_command = second.rsplit("&& ", 1)[1]
    assert pytest_command in ci, f".ci/run no longer runs the README's test command: {pytest_command}"
    assert "pip install -q -e '.[test]' -e examples/c2vbench-maxpool" in ci


def test_every_relative_link_of_the_readme_resolves():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    relative = [target for target in targets if "://" not in target]
    assert len(relative) >= 10
    missing = [target for target in relative if not (ROOT / target).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_the_snippets_the_home_page_includes_are_marked_in_the_readme():
    home = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    sections = re.findall(r'--8<-- "README\.md:([\w-]+)"', home)
    assert sections
    for name in sections:
        start, end = readme.find(f"--8<-- [start:{name}]"), readme.find(f"--8<-- [end:{name}]")
        assert 0 <= start < end, name


def test_the_architecture_page_explains_every_layer_in_order():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = next(contract["layers"] for contract in contracts["contracts"] if contract["type"] == "layers")
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    headings = re.findall(r"^### `(c2vbench[\w.]*)`$", page, re.M)
    assert headings == layers


def test_the_site_builds_strictly_and_publishes_the_linked_repository_files(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    for board in (ROOT / "leaderboards").glob("*.md"):
        assert (site / "leaderboards" / board.stem / "index.html").exists(), board.name
    assert (site / "leaderboards" / "synthetic-motion.png").exists()
    statistics = (site / "statistics" / "index.html").read_text(encoding="utf-8")
    assert 'href="../leaderboards/synthetic-motion/"' in statistics
    assert 'src="../leaderboards/synthetic-motion.png"' in statistics
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    # names c2vbench.plugin resolves lazily are documented through the griffe extension
    for name in ("VideoFeatures", "RetrievalModel", "FrameSampling"):
        assert f'id="c2vbench.plugin.{name}"' in api, name
    assert ":class:`" not in api
