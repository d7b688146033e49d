"""The web leaderboard in a real browser (headless Chromium from the distribution's packages): the page shows the
markdown's tables, sorts a column, filters by plug-in, opens an entry's card with working links to its result files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

from tests._browser import chromium_path

ROOT = Path(__file__).resolve().parents[1]
BOARD_RESULTS = ROOT / "leaderboards" / "results" / "synthetic-motion"
BASELINE = "tiny-clip · meanp · cosine"

pytestmark = [
    pytest.mark.skipif(chromium_path() is None,
                       reason="chromium is not installed: apt-get install chromium chromium-driver (.ci/run does)"),
]
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every table of a markdown board: its rows of cells, header first, markdown escapes removed."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [re.sub(r"\\(.)", r"\1", cell.strip()) for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if current is None:
                current = []
                tables.append(current)
            current.append([cell.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&") for cell in cells])
        elif not line.startswith("|---"):
            current = None
    return tables


def leaderboard(*arguments: str) -> None:
    from c2vbench.cli.main import main

    try:
        main(["leaderboard", *arguments])
    except SystemExit as exit_:
        assert not exit_.code, f"c2vbench leaderboard {' '.join(arguments)} exited with {exit_.code}"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("board")
    common = [str(BOARD_RESULTS), "--baseline", BASELINE, "--n-resamples", "200"]
    leaderboard(*common, "--format", "html", "--out", str(folder / "site"))
    leaderboard(*common, "--out", str(folder / "board.md"))
    page = folder / "site" / "index.html"
    assert page.is_file()
    return page, (folder / "board.md").read_text()


@pytest.fixture(scope="module")
def browser(rendered):
    from tests._browser import chromium_page

    with chromium_page() as page:
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        assert not errors, errors


@pytest.fixture
def browser_page(browser, rendered):
    """The page freshly loaded (no sorting, filter or card left from another test)."""
    browser.goto(rendered[0].as_uri())
    return browser


def dom_tables(page) -> list[list[list[str]]]:
    return page.eval_on_selector_all("table", """tables => tables.map(t => Array.from(t.rows).map(
        r => Array.from(r.cells).map(c => (c.querySelector('.text') || c).textContent.trim())))""")


def visible_rows(page, table_index: int) -> list[dict]:
    return page.eval_on_selector_all(f"table.board >> nth={table_index} >> tbody tr", """rows => rows
        .filter(r => !r.hidden).map(r => ({temporal: r.dataset.temporal, align: r.dataset.align,
        cells: Array.from(r.cells).map(c => c.dataset.value === undefined ? null : parseFloat(c.dataset.value))}))""")


def test_the_page_shows_the_markdowns_tables_cell_for_cell(browser_page, rendered):
    expected = markdown_tables(rendered[1])
    shown = dom_tables(browser_page)
    assert len(shown) == len(expected) >= 3
    for table, markdown in zip(shown, expected, strict=True):
        assert [row[:-1] for row in table] == markdown  # the page adds a Details column (the card button)
    assert [h.inner_text() for h in browser_page.query_selector_all("h3")] == re.findall(r"^### (.+)$", rendered[1],
                                                                                           re.M)


def test_a_column_sorts_both_ways_and_back(browser_page):
    titles = browser_page.eval_on_selector_all("table.board >> nth=0 >> thead th", "t => t.map(x => x.innerText)")
    column = titles.index("T2V R@5")
    header = browser_page.locator("table.board").first.locator("thead th").nth(column)
    header.click()
    ascending = [row["cells"][column] for row in visible_rows(browser_page, 0)]
    assert ascending == sorted(ascending) and len(set(ascending)) > 1
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = [row["cells"][column] for row in visible_rows(browser_page, 0)]
    assert descending == sorted(ascending, reverse=True)
    browser_page.locator("table.board").first.locator("thead th").first.click()  # back to the rank order
    ranks = [row["cells"][0] for row in visible_rows(browser_page, 0)]
    assert ranks == sorted(ranks)


def test_filters_keep_only_the_chosen_plug_ins(browser_page, rendered):
    all_rows = sum(len(table) - 1 for table in markdown_tables(rendered[1]))
    browser_page.select_option("select[data-filter=temporal]", "tdb")
    kept = [row for index in range(3) for row in visible_rows(browser_page, index)]
    expected = [row for table in markdown_tables(rendered[1]) for row in table[1:] if " · tdb · " in row[1]]
    assert len(kept) == len(expected) > 0 and {row["temporal"] for row in kept} == {"tdb"}
    browser_page.select_option("select[data-filter=align]", "tab")
    both = [row for index in range(3) for row in visible_rows(browser_page, index)]
    assert 0 < len(both) < len(kept) and {(row["temporal"], row["align"]) for row in both} == {("tdb", "tab")}
    assert browser_page.inner_text("#shown") == f"{len(both)} of {all_rows} rows shown"
    browser_page.select_option("select[data-filter=temporal]", "")
    browser_page.select_option("select[data-filter=align]", "")
    assert browser_page.inner_text("#shown") == f"{all_rows} of {all_rows} rows shown"


def test_an_entrys_card_shows_its_runs_configuration_and_protocol(browser_page, rendered):
    from c2vbench.results.leaderboard import leaderboard_tables
    from c2vbench.results.result_file import iter_result_files

    tables = leaderboard_tables(list(iter_result_files([BOARD_RESULTS])), BASELINE, n_resamples=200)
    first_row = tables[0].rows[0]
    row = browser_page.locator("table.board").first.locator("tbody tr").nth(0)
    assert row.locator("td").nth(1).inner_text() == first_row.entry.label
    row.locator("button.card-button").click()
    dialog = browser_page.locator("dialog#card")
    assert dialog.evaluate("d => d.open")
    text = dialog.inner_text()
    assert first_row.entry.label in text and tables[0].protocol_hash in text
    shown_config = json.loads(dialog.locator("pre.config").inner_text())
    assert shown_config == first_row.entry.results[0]["config"]
    hrefs = dialog.locator("ul.runs a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert len(hrefs) == len(first_row.entry.runs)
    for href, (path, result) in zip(hrefs, first_row.entry.runs, strict=True):
        target = Path(unquote(urlparse(urljoin(rendered[0].as_uri(), href)).path))
        assert target.resolve() == path.resolve() and result["run_id"] in text
    browser_page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")


def test_a_screenshot_of_the_page(browser_page, tmp_path):
    png = tmp_path / "page.png"
    browser_page.screenshot(path=str(png), full_page=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
