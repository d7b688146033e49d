"""Numbers reported in papers, shown beside a leaderboard and never mixed into its measured rows.

A reported-numbers file (JSON) lists what others published for a protocol, with where it comes from::

    {"dataset": "msvd", "protocol": "MSVD test (670 videos, all captions)",
     "entries": [{"method": "CLIP2Video", "backbone": "ViT-B/32", "t2v_r1": 47.0,
                  "source": "Fang et al., 2021 (arXiv:2106.11097), README main results",
                  "post_processing": "none", "model_selection": "not stated (no training code released)",
                  "split": "...", "test_time": "single pass"}]}

``test_time`` (optional) says how the scores were computed at test time: ``single pass``, or a stochastic protocol
with its trial count (T-MASS's 20 trials), which no single-pass number is comparable with.

``c2vbench leaderboard ... --reported FILE`` renders it as a separate table, "reported in papers, not reproduced
here": these numbers come from other code, other frame pipelines and often other model-selection rules, so they
carry no interval and no significance mark and are never ranked with results measured by c2vbench. While no number
has been checked against its source yet, ``entries`` may be empty with a ``note`` saying so (the page then prints
the note instead of a table).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from c2vbench.platform.errors import ResultFileError

REQUIRED_FIELDS = ("method", "backbone", "t2v_r1", "source", "post_processing", "model_selection")


def load_reported(path: str | Path) -> dict[str, Any]:
    """Read and check a reported-numbers file (one clear error naming the file and the problem)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file", "give the reported-numbers JSON file") from None
    except json.JSONDecodeError as error:
        raise ResultFileError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not (entries or isinstance(data.get("note"), str) and data["note"].strip()):
        raise ResultFileError(f"{path}: needs a non-empty 'entries' list (or, while none is collected, a 'note' "
                              "saying why)", "see c2vbench/results/reported.py for the format")
    for index, entry in enumerate(entries):
        missing = [field for field in REQUIRED_FIELDS if not isinstance(entry, dict) or field not in entry]
        if missing:
            raise ResultFileError(f"{path}: entry {index} lacks {', '.join(missing)}",
                                  "every reported number names its source, backbone, post-processing and "
                                  "model selection")
        if not isinstance(entry["t2v_r1"], (int, float)) or isinstance(entry["t2v_r1"], bool):
            raise ResultFileError(f"{path}: entry {index} t2v_r1 must be a number")
    return data


REPORTED_HEADER = ("Method", "Backbone", "T2V R@1", "Split / setting", "Post-processing", "Test time",
                   "Model selection", "Source")
REPORTED_NOTE = ("Copied from the sources named; not measured by c2vbench, not comparable row by row with the measured "
                 "table (other code, frame pipelines and model-selection rules), so no interval and no significance "
                 "mark.")


def reported_rows(data: dict[str, Any]) -> list[list[str]]:
    """The reported numbers as table rows (plain text, in :data:`REPORTED_HEADER`'s order), best first."""
    ordered = sorted(data["entries"], key=lambda entry: (-float(entry["t2v_r1"]), str(entry["method"])))
    return [[str(entry["method"]), str(entry["backbone"]), f"{float(entry['t2v_r1']):.1f}",
             str(entry.get("split", "–")), str(entry["post_processing"]), str(entry.get("test_time", "–")),
             str(entry["model_selection"]), str(entry["source"])] for entry in ordered]


def render_reported(data: dict[str, Any], escape) -> list[str]:
    """Markdown lines of the reported-numbers section (``escape`` makes file strings safe for a table)."""
    lines = ["## Reported in papers, not reproduced here", ""]
    if data.get("protocol"):
        lines += [f"Protocol as the papers describe it: {escape(data['protocol'])}", ""]
    if not data["entries"]:
        return lines + [escape(data["note"]), ""]
    lines += [REPORTED_NOTE, "", "| " + " | ".join(REPORTED_HEADER) + " |",
              "|" + "---|" * len(REPORTED_HEADER)]
    for row in reported_rows(data):
        lines.append("| " + " | ".join(cell if column == 2 else escape(cell) for column, cell in enumerate(row))
                     + " |")
    lines.append("")
    return lines
