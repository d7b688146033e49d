"""Result files and what is made of them: the file itself, comparisons, leaderboards, and (for notebooks) tables.

The notebook helpers (pandas, the ``pandas`` extra: ``pip install 'c2vbench[pandas]'``) are imported on first use, so
that importing this package loads neither pandas nor torch:

* :func:`load` — result files, folders or a generated leaderboard as a DataFrame, one row per run;
* :func:`per_query` — the per-query ranks of those runs, one column per run;
* :func:`compare` — ``c2vbench compare`` on two runs or two groups of seeds (also ``c2vbench.compare``);
* ``c2vbench.leaderboard`` — ``c2vbench leaderboard`` on them (here the name is the leaderboard module's).

See :mod:`c2vbench.results.dataframe`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from c2vbench.results.dataframe import compare as compare
    from c2vbench.results.dataframe import load as load
    from c2vbench.results.dataframe import per_query as per_query

__all__ = ["compare", "load", "per_query"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from c2vbench.results import dataframe

        return getattr(dataframe, name)
    raise AttributeError(f"module 'c2vbench.results' has no attribute {name!r}")
