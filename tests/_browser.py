"""Headless Chromium from the distribution's packages (``apt-get install chromium``), driven by Playwright.

Playwright never downloads a browser here: it is pointed at ``/usr/bin/chromium`` and started with the flags this
machine needs (no sandbox as root, no GPU, no background networking: the network is closed) and a fresh profile.

Run as a script it writes the screenshot shown in the documentation::

    .venv/bin/python tests/_browser.py leaderboards/synthetic-motion.html docs/images/leaderboard-html.png
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """The distribution's Chromium, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def chromium_page(width: int = 1500, height: int = 950) -> Iterator[object]:
    """A Playwright page in headless Chromium with a fresh, empty profile (removed afterwards)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="c2vbench-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def screenshot(page_file: Path, png: Path) -> None:
    """The page with the filter set to TDB and the first entry's card open, as the documentation shows it."""
    with chromium_page() as page:
        page.goto(page_file.resolve().as_uri())
        page.select_option("select[data-filter=temporal]", "tdb")
        page.click("table.board >> nth=0 >> th >> nth=2")
        png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(png))


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
