"""Reading a result's ``probes`` block (written by :mod:`c2vbench.probes.order_probes`): its shape, and whether a
probe moved any rank."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def unmoved(unprobed: Mapping[str, Any], probed_runs: Sequence[Mapping[str, Any]]) -> bool:
    """True when every query's rank (both directions) is the same in every run as without the probe."""
    return all(list(run[key]) == list(unprobed[key]) for run in probed_runs for key in ("t2v_rank", "v2t_rank"))


def validate_probes_block(block: Any, n_t2v: int, n_v2t: int) -> None:
    """Raise ValueError unless ``block`` is a usable ``probes`` block over ``n_t2v`` text and ``n_v2t`` video
    queries (what the leaderboard and the tables read)."""
    if not isinstance(block, dict):
        raise ValueError("'probes' must be an object")
    probes = block.get("probes")
    if not isinstance(probes, dict):
        raise ValueError("probes.probes must be an object")
    for name, probe in probes.items():
        if not isinstance(probe, dict) or not isinstance(probe.get("runs"), list) or not probe["runs"]:
            raise ValueError(f"probes.probes.{name} must be an object with a non-empty 'runs' list")
        for run in probe["runs"]:
            per_query = run.get("per_query") if isinstance(run, dict) else None
            if not isinstance(per_query, dict) or not {"t2v_rank", "v2t_rank"} <= set(per_query):
                raise ValueError(f"probes.probes.{name}.runs need per_query t2v_rank and v2t_rank")
            for key, count in (("t2v_rank", n_t2v), ("v2t_rank", n_v2t)):
                if not isinstance(per_query[key], list) or len(per_query[key]) != count:
                    raise ValueError(f"probes.probes.{name}: per_query.{key} must list {count} ranks, one per "
                                     "query of the result")
