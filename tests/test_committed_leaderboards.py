"""Committed leaderboards (markdown and web pages) are generated, not hand-kept: re-rendering their result files must
change nothing."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from c2vbench.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
BOARDS = sorted([*(ROOT / "leaderboards").glob("*.md"), *(ROOT / "leaderboards").glob("*.html")])


def command_of(board: Path) -> list[str]:
    match = re.search(r"<!-- Command: c2vbench (.+?) -->", board.read_text())
    assert match, f"{board} has no generator header"
    return shlex.split(match.group(1))


@pytest.mark.parametrize("board", BOARDS, ids=[b.name for b in BOARDS])
def test_committed_leaderboard_matches_a_fresh_rendering(board, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    try:
        main([*command_of(board), "--check"])
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    assert code == 0, capsys.readouterr().err


def test_the_statistics_page_shows_the_committed_synthetic_motion_table():
    board = (ROOT / "leaderboards" / "synthetic-motion.md").read_text()
    page = (ROOT / "docs" / "statistics.md").read_text()
    plain_table = board.split("### Plain inference", 1)[1].split("###", 1)[0].strip()
    assert plain_table in page, "docs/statistics.md's example is stale: copy it from leaderboards/synthetic-motion.md"
