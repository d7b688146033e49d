"""The leaderboard as one self-contained web page (``c2vbench leaderboard ... --format html``).

The page holds the markdown's tables and tracks, cell for cell (both read :func:`~c2vbench.results.leaderboard.
row_cells`), and adds what a page can do: sortable columns, a filter by backbone, temporal module and align head,
each interval drawn as a bar, each entry's card (protocol card, configuration, runs, links to their result files)
one click away. Styles and scripts are inlined and nothing is fetched: the file opens from disk, offline, and can be
published as it is. The tables are rendered here, not by the script, so the page reads fine without JavaScript.

Like the markdown, the rendering is deterministic (no timestamps, inputs sorted), so ``--check`` can compare bytes;
every string from a result file is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from c2vbench.results.leaderboard import (
    TRACK_TITLES,
    Cell,
    Entry,
    LeaderboardTable,
    legend_lines,
    row_cells,
    table_header,
)

FILTERS = (("backbone", "Backbone"), ("temporal", "Temporal module"), ("align", "Align head"))


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def inline_markdown(text: str) -> str:
    """Our own legend text (code spans, escaped underscores) as HTML."""
    escaped = escape(text.replace("\\_", "_"))
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _plugin(entry: Entry, role: str) -> str:
    plugin = entry.results[0].get("plugins", {}).get(role)
    return str(plugin.get("name", "?")) if isinstance(plugin, Mapping) else "?"


def _link(path: Path, page_folder: Path) -> str:
    """The result file's address relative to the page (POSIX separators, each part URL-quoted)."""
    from urllib.parse import quote

    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(page_folder))
    return "/".join(quote(part) for part in Path(relative).parts)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False, default=str)


# ---------------------------------------------------------------------------------------------------------------
# the interval bars


def _column_scales(rows: Sequence[list[Cell]], titles: Sequence[str]) -> dict[int, tuple[float, float]]:
    """Per column with intervals: the range its bars are drawn on (0-100 for percentages, else 0 to the largest
    upper end), the same for every row of the table."""
    scales = {}
    for column, title in enumerate(titles):
        intervals = [row[column].interval for row in rows if row[column].interval is not None]
        if not intervals:
            continue
        low = min(0.0, *(interval[0] for interval in intervals))
        high = max(interval[1] for interval in intervals)
        if "R@" in title or "%" in title:
            high = max(high, 100.0)
        scales[column] = (low, high if high > low else low + 1.0)
    return scales


def _bar(cell: Cell, scale: tuple[float, float]) -> str:
    low, high = scale

    def at(value: float) -> str:
        return f"{100.0 * (value - low) / (high - low):.1f}%"

    start, end = cell.interval
    width = f"{100.0 * (end - start) / (high - low):.1f}%"
    return (f'<span class="bar" aria-hidden="true"><span class="range" style="left:{at(start)};width:{width}">'
            f'</span><span class="mean" style="left:{at(cell.value)}"></span></span>')


def _cell_html(cell: Cell, scale: tuple[float, float] | None) -> str:
    value = "" if cell.value is None else f' data-value="{cell.value:.6g}"'
    bar = _bar(cell, scale) if scale is not None and cell.interval is not None else ""
    return f'<td{value}><span class="text">{escape(cell.text)}</span>{bar}</td>'


# ---------------------------------------------------------------------------------------------------------------
# cards


def _entry_card(card_id: str, entry: Entry, table: LeaderboardTable, page_folder: Path) -> str:
    runs = []
    for path, result in entry.runs:
        seed = result.get("config", {}).get("seed")
        runs.append(f'<li><a href="{escape(_link(path, page_folder))}">{escape(path.name)}</a> · run '
                    f'<code>{escape(result.get("run_id", "?"))}</code> · seed {escape(seed)} · '
                    f'{escape(result.get("created", ""))}</li>')
    first = entry.results[0]
    seeds = sorted(str(result.get("config", {}).get("seed")) for result in entry.results)
    return (
        f'<template id="{card_id}"><h2>{escape(entry.label)}</h2>'
        f'<p>{escape(TRACK_TITLES.get(table.track, table.track))} · {len(entry.runs)} run(s), seeds '
        f'{escape(", ".join(seeds))} · configuration <code>{escape(entry.group_key.partition(":")[2][:16])}</code>'
        f'</p><h3>Result files</h3><ul class="runs">{"".join(runs)}</ul>'
        f'<h3>Plug-ins</h3><pre>{escape(_pretty(first.get("plugins", {})))}</pre>'
        f'<h3>Configuration</h3><p>of the first run; the runs differ only by seed.</p>'
        f'<pre class="config">{escape(_pretty(first.get("config", {})))}</pre>'
        f'<h3>Protocol card</h3><p>hash <code>{escape(table.protocol_hash)}</code></p>'
        f'<pre class="protocol">{escape(_pretty(table.protocol))}</pre></template>'
    )


def _protocol_card(card_id: str, table: LeaderboardTable) -> str:
    protocol = table.protocol
    return (f'<template id="{card_id}"><h2>Protocol {escape(protocol.get("dataset", "?"))} / '
            f'{escape(protocol.get("split", "?"))}</h2><p>hash <code>{escape(table.protocol_hash)}</code></p>'
            f'<pre class="protocol">{escape(_pretty(protocol))}</pre></template>')


# ---------------------------------------------------------------------------------------------------------------
# the page


def _table_html(table: LeaderboardTable, show_significance: bool, card_prefix: str, page_folder: Path,
                cards: list[str]) -> str:
    titles = table_header(table, show_significance)
    rows = [row_cells(row, table, show_significance) for row in table.rows]
    scales = _column_scales(rows, titles)
    numeric = {column for column in range(len(titles)) if any(cells[column].value is not None for cells in rows)}
    head = "".join(f'<th scope="col" data-column="{column}"{" data-numeric" if column in numeric else ""}>'
                   f'<button type="button" class="sort">{escape(title)}</button></th>'
                   for column, title in enumerate(titles))
    body = []
    for index, (row, cells) in enumerate(zip(table.rows, rows, strict=True)):
        card_id = f"{card_prefix}-{index}"
        cards.append(_entry_card(card_id, row.entry, table, page_folder))
        data = " ".join(f'data-{role}="{escape(_plugin(row.entry, role))}"' for role, _ in FILTERS)
        body.append(f'<tr {data}>' + "".join(_cell_html(cell, scales.get(column)) for column, cell in enumerate(cells))
                    + f'<td><button type="button" class="card-button" data-card="{card_id}">card</button></td></tr>')
    return (f'<div class="scroll"><table class="board" data-track="{escape(table.track)}"><thead><tr>{head}'
            f'<th scope="col">Details</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def _filters_html(tables: Sequence[LeaderboardTable]) -> str:
    controls = []
    for role, label in FILTERS:
        names = sorted({_plugin(row.entry, role) for table in tables for row in table.rows})
        options = "".join(f'<option value="{escape(name)}">{escape(name)}</option>' for name in names)
        controls.append(f'<label>{label} <select data-filter="{role}"><option value="">all</option>{options}'
                        f'</select></label>')
    return f'<form id="filters" class="filters">{"".join(controls)}<output id="shown"></output></form>'


def render_leaderboard_html(
    tables: Sequence[LeaderboardTable],
    command: str,
    page_folder: str | Path,
    baseline: str | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    reported: Mapping[str, Any] | None = None,
    set_aside: Sequence[Any] = (),
) -> str:
    """The page (one HTML document) for the ranked ``tables`` of :func:`~c2vbench.results.leaderboard.
    leaderboard_tables`.

    Args:
        command: the command line that produced the page, written into its header comment.
        page_folder: where the page will be written; result files are linked relative to it.
        reported: a reported-numbers file, shown as its own table (never ranked).
        set_aside: re-runs the grouping set aside (:class:`~c2vbench.results.comparison.SetAside`).
    """
    page_folder = Path(page_folder)
    cards: list[str] = []
    sections = []
    previous_hash = None
    for number, table in enumerate(tables):
        if table.protocol_hash != previous_hash:
            if previous_hash is not None:
                sections.append("</section>")
            previous_hash = table.protocol_hash
            protocol = table.protocol
            card_id = f"protocol-{len(cards)}"
            cards.append(_protocol_card(card_id, table))
            sections.append(
                f'<section class="protocol"><h2>{escape(protocol.get("dataset", "?"))} / '
                f'{escape(protocol.get("split", "?"))} — protocol <code>{escape(table.protocol_hash[:12])}</code></h2>'
                f'<p>Protocol hash: <code>{escape(table.protocol_hash)}</code> <button type="button" '
                f'class="card-button" data-card="{card_id}">protocol card</button></p>')
            if table.baseline_note:
                sections.append(f'<p class="note">{inline_markdown(table.baseline_note)}</p>')
        title = TRACK_TITLES.get(table.track, f"Track: {table.track}")
        sections.append(f"<h3>{escape(title)}</h3>")
        sections.append(_table_html(table, baseline is not None, f"entry-{number}", page_folder, cards))
    if previous_hash is not None:
        sections.append("</section>")
    if not tables:
        sections.append("<section><h2>Measured here</h2><p>No result files yet. Results of <code>c2vbench run</code> "
                        "/ <code>c2vbench eval</code> on this dataset, put in the folder this page is rendered from, "
                        "appear here with intervals and significance marks.</p></section>")
    if reported is not None:
        sections.append(_reported_html(reported))
    if set_aside:
        items = "".join(f"<li>{escape(item.describe())}</li>" for item in set_aside)
        sections.append("<section><h2>Set aside</h2><p>Re-runs of a configuration and seed already counted (each "
                        f"seed counts once; the first created is kept):</p><ul>{items}</ul></section>")
    legend = "".join(f"<li>{inline_markdown(line)}</li>"
                     for line in legend_lines(tables, baseline is not None, n_resamples, seed))
    sections.append(f'<section><h2>Legend</h2><ul class="legend">{legend}<li>Bars: each interval on the '
                    "column's scale (0-100 for percentages), the tick at the mean. Click a column title to sort, "
                    "the card button for an entry's runs, configuration and protocol card.</li></ul></section>")
    return "\n".join([
        "<!DOCTYPE html>",
        "<!-- Generated by c2vbench from result files; do not edit by hand. -->",
        f"<!-- Command: {command.replace('-->', '--&gt;')} -->",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>c2vbench leaderboard</title>",
        f"<style>{STYLE}</style></head><body>",
        f'<header><h1>c2vbench leaderboard</h1><p class="command"><code>{escape(command)}</code></p>'
        f"{_filters_html(tables)}</header>",
        "<main>",
        *sections,
        "</main>",
        '<dialog id="card"><form method="dialog"><button class="close" aria-label="close">×</button></form>'
        '<div class="card-body"></div></dialog>',
        *cards,
        f"<script>{SCRIPT}</script>",
        "</body></html>",
        "",
    ])


def _reported_html(data: Mapping[str, Any]) -> str:
    from c2vbench.results.reported import REPORTED_HEADER, REPORTED_NOTE, reported_rows

    protocol = (f"<p>Protocol as the papers describe it: {escape(data['protocol'])}</p>"
                if data.get("protocol") else "")
    if not data["entries"]:  # none checked against its source yet: the file's note says so
        return (f'<section class="reported"><h2>Reported in papers, not reproduced here</h2>{protocol}'
                f'<p>{escape(data["note"])}</p></section>')
    head = "".join(f'<th scope="col">{escape(title)}</th>' for title in REPORTED_HEADER)
    rows = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
                   for row in reported_rows(dict(data)))
    return (f'<section class="reported"><h2>Reported in papers, not reproduced here</h2>{protocol}'
            f'<p>{escape(REPORTED_NOTE)}</p><table class="reported"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></section>")


STYLE = """
:root{--ink:#1d2330;--muted:#5b6475;--line:#d9dde5;--accent:#2166ac;--bar:#c6dbef;--head:#f3f5f8}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);margin:0 1.5rem 3rem}
header{position:sticky;top:0;background:#fff;padding:.6rem 0;border-bottom:1px solid var(--line);z-index:2}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}h3{font-size:1rem;margin:1rem 0 .3rem}
.command{color:var(--muted);margin:.2rem 0;overflow-wrap:anywhere}code{font-size:.92em}
.filters{display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
.filters select{font:inherit;padding:.1rem .3rem}#shown{color:var(--muted)}
table{border-collapse:collapse;margin:.3rem 0 1rem;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:var(--head);white-space:nowrap}
th button.sort{all:unset;cursor:pointer}th button.sort:focus-visible{outline:2px solid var(--accent)}
th[aria-sort=ascending] button.sort::after{content:" ▲"}th[aria-sort=descending] button.sort::after{content:" ▼"}
td .text{display:block;white-space:nowrap}
.bar{display:block;position:relative;height:6px;margin-top:3px;background:#eef1f5;border-radius:3px;min-width:7rem}
.bar .range{position:absolute;top:0;bottom:0;background:var(--bar);border-radius:3px}
.bar .mean{position:absolute;top:-2px;width:2px;height:10px;margin-left:-1px;background:var(--accent)}
.scroll{overflow-x:auto}tr[hidden]{display:none}.note{color:#8a4b00}
.card-button{font:inherit;cursor:pointer;border:1px solid var(--line);background:#fff;border-radius:4px;padding:0 .5rem}
dialog{max-width:min(60rem,92vw);max-height:85vh;border:1px solid var(--line);border-radius:6px;padding:1rem 1.4rem}
dialog::backdrop{background:rgba(20,25,35,.35)}
dialog .close{float:right;font-size:1.3rem;cursor:pointer;border:0;background:none}
dialog pre{background:var(--head);padding:.6rem;overflow:auto;max-height:22rem;font-size:12px}
.legend li{margin:.3rem 0}
"""

SCRIPT = """
(function(){
  "use strict";
  function sortValue(cell, numeric){
    if(numeric){var v=cell.getAttribute("data-value");return v===null?null:parseFloat(v);}
    return cell.textContent.trim().toLowerCase();
  }
  document.querySelectorAll("table.board").forEach(function(table){
    var heads=table.querySelectorAll("thead th[data-column]");
    heads.forEach(function(th){
      th.querySelector("button.sort").addEventListener("click",function(){
        var column=parseInt(th.getAttribute("data-column"),10);
        var numeric=th.hasAttribute("data-numeric");
        var descending=th.getAttribute("aria-sort")==="ascending";
        heads.forEach(function(other){other.removeAttribute("aria-sort");});
        th.setAttribute("aria-sort",descending?"descending":"ascending");
        var body=table.tBodies[0];
        var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){
          var x=sortValue(a.cells[column],numeric),y=sortValue(b.cells[column],numeric);
          if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
          var order=x<y?-1:(x>y?1:0);return descending?-order:order;
        });
        rows.forEach(function(row){body.appendChild(row);});
      });
    });
  });
  var selects=document.querySelectorAll("#filters select");
  function applyFilters(){
    var shown=0,total=0;
    document.querySelectorAll("table.board tbody tr").forEach(function(row){
      var keep=true;
      selects.forEach(function(select){
        if(select.value&&row.getAttribute("data-"+select.getAttribute("data-filter"))!==select.value)keep=false;
      });
      row.hidden=!keep;total+=1;if(keep)shown+=1;
    });
    var out=document.getElementById("shown");if(out)out.textContent=shown+" of "+total+" rows shown";
  }
  selects.forEach(function(select){select.addEventListener("change",applyFilters);});
  applyFilters();
  var dialog=document.getElementById("card");
  document.querySelectorAll("button.card-button").forEach(function(button){
    button.addEventListener("click",function(){
      var template=document.getElementById(button.getAttribute("data-card"));
      var body=dialog.querySelector(".card-body");
      body.replaceChildren(template.content.cloneNode(true));
      dialog.showModal();
    });
  });
})();
"""
