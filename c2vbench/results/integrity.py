"""Integrity of a result file read back: its content checksum, and its metrics checked against its per-query ranks.

Every result file is written with ``checksum``: the SHA-256 of the canonical JSON of everything else in it
(:func:`seal_result`). Every reader (``results ls|show``, ``compare``, ``leaderboard``, :func:`c2vbench.results.load`)
goes through :func:`check_result`, which

* recomputes the ``metrics`` block from ``per_query`` (the ranks are the measurement; the metrics are derived from
  them), and when the two disagree, keeps the numbers of the per-query ranks and says so;
* compares the checksum: a file edited after it was written is named as such (files written before checksums
  existed, such as the committed ones under ``leaderboards/results``, carry none and read as before).

What a reader found is kept in memory under ``integrity`` (never written back): ``{"checksum": "ok" | "absent" |
"mismatch", "trusted": "per_query", "notes": [...]}``, present only when there is something to say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from c2vbench.runtime.hashing import canonical_hash

CHECKSUM_KEY = "checksum"
INTEGRITY_KEY = "integrity"  # in memory only: what the reader found
TOLERANCE = 1e-6  # metrics are recomputed with the same arithmetic; anything beyond rounding is a disagreement
DIRECTIONS = ("t2v", "v2t")


def content_checksum(result: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of every key but the checksum itself (and a reader's in-memory notes)."""
    return canonical_hash({key: value for key, value in result.items() if key not in (CHECKSUM_KEY, INTEGRITY_KEY)})


def seal_result(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with its ``checksum`` (replacing an older one); what a reader noted is not written back."""
    result.pop(INTEGRITY_KEY, None)
    result[CHECKSUM_KEY] = {"sha256": content_checksum(result),
                            "covers": "canonical JSON (sorted keys, no spaces) of every other key"}
    return result


def checksum_state(result: dict[str, Any]) -> str:
    """``ok``, ``absent`` (a file from before checksums) or ``mismatch`` (edited after it was written)."""
    recorded = result.get(CHECKSUM_KEY)
    if recorded is None:
        return "absent"
    if isinstance(recorded, dict) and recorded.get("sha256") == content_checksum(result):
        return "ok"
    return "mismatch"


def metrics_from_per_query(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The headline metrics recomputed from the per-query ranks (and tie counts) under the result's tie policy."""
    from c2vbench.evaluation.metrics import metrics_from_ranks

    tie = result.get("tie") or result.get("config", {}).get("tie", "expected")
    per_query = result["per_query"]
    return {direction: metrics_from_ranks(per_query[f"{direction}_rank"], per_query.get(f"{direction}_ties"), tie)
            for direction in DIRECTIONS}


def disagreements(stated: dict[str, Any], recomputed: dict[str, dict[str, float]]) -> list[str]:
    """``"t2v R@1 47.78 in metrics, 44.44 from per_query"`` for every number that differs beyond rounding."""
    found = []
    for direction in DIRECTIONS:
        for name, value in recomputed[direction].items():
            written = (stated.get(direction) or {}).get(name)
            if not isinstance(written, (int, float)) or abs(float(written) - value) > TOLERANCE:
                found.append(f"{direction} {name} {written} in metrics, {value:.2f} from per_query")
    return found


def check_result(result: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Check a validated result read from ``path`` (see the module docstring); returns it, with the metrics of
    its per-query ranks and an ``integrity`` block when the file was edited or its metrics disagree."""
    state = checksum_state(result)
    recomputed = metrics_from_per_query(result)
    differing = disagreements(result["metrics"], recomputed)
    notes = []
    if state == "mismatch":
        notes.append(f"{path} was edited after it was written (its content checksum differs)")
    if differing:
        notes.append(f"{path}: its metrics block disagrees with its per-query ranks ({'; '.join(differing[:3])}"
                     f"{'; ...' if len(differing) > 3 else ''}): the per-query ranks are trusted, and every number "
                     "shown is computed from them")
        result["metrics"] = recomputed
    if notes:
        result[INTEGRITY_KEY] = {"checksum": state, "trusted": "per_query", "notes": notes}
    return result


def integrity_notes(results: Any) -> list[str]:
    """Every note the readers of ``results`` (result dicts, or ``(path, result)`` pairs) should print."""
    notes = []
    for item in results:
        result = item[1] if isinstance(item, tuple) else item
        if isinstance(result, dict):
            notes.extend((result.get(INTEGRITY_KEY) or {}).get("notes", []))
    return notes


def same_content(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether two results hold the same measurement (protocol, configuration, seed and every per-query rank),
    whatever their run ids, file names or creation times say."""
    def identity(result: dict[str, Any]) -> str:
        return canonical_hash({"protocol": result["protocol"].get("hash"), "config_key": result.get("config_key"),
                               "seed": result.get("config", {}).get("seed"), "per_query": result["per_query"]})

    return identity(first) == identity(second)
