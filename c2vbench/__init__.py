"""c2vbench: a plug-in benchmark suite for video-text retrieval.

The Python API (imported on first use, so that ``import c2vbench`` stays light):

* :func:`c2vbench.run` and :func:`c2vbench.evaluate`: ``c2vbench run`` / ``c2vbench eval`` with their options as
  keyword arguments (:mod:`c2vbench.api`);
* :func:`c2vbench.results.load`: result files as a pandas DataFrame (``c2vbench.results.per_query`` gives their
  per-query ranks), and :func:`c2vbench.compare` / :func:`c2vbench.leaderboard` on them
  (:mod:`c2vbench.results.dataframe`);
* :func:`c2vbench.load_checkpoint`: a model from a checkpoint file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from c2vbench.platform.hookspecs import hookimpl

if TYPE_CHECKING:
    from c2vbench import results as results
    from c2vbench.api import evaluate as evaluate
    from c2vbench.api import run as run
    from c2vbench.results.dataframe import compare as compare
    from c2vbench.results.dataframe import leaderboard as leaderboard

__version__ = "0.1.0"

__all__ = ["__version__", "compare", "evaluate", "hookimpl", "leaderboard", "load_checkpoint", "results", "run"]

_LAZY = {"run": ("c2vbench.api", "run"), "evaluate": ("c2vbench.api", "evaluate"),
         "compare": ("c2vbench.results.dataframe", "compare"),
         "leaderboard": ("c2vbench.results.dataframe", "leaderboard"), "results": ("c2vbench.results", None)}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'c2vbench' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


def load_checkpoint(path: Any, format: str = "clip2video", legacy_mask: bool = False, **kwargs: Any) -> Any:
    """Load a retrieval model from a checkpoint file (see :mod:`c2vbench.model.checkpoints`)."""
    from c2vbench.model.checkpoints import load_checkpoint as _load

    return _load(path, format=format, legacy_mask=legacy_mask, **kwargs)
