"""How many worker processes decode by default: one per CPU core this process may run on."""

from __future__ import annotations

import os


def default_num_workers() -> int:
    """Worker processes that keep every available CPU core decoding (2 on the reference machine)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores)
