"""c2vbench: a plug-in benchmark suite for video-text retrieval.

The Python API (imported on first use, so that ``import c2vbench`` stays light):

* :func:`c2vbench.run` and :func:`c2vbench.evaluate`: ``c2vbench run`` / ``c2vbench eval`` with their options as
  keyword arguments (:mod:`c2vbench.api`);
* :func:`c2vbench.results.load`: result files as a pandas DataFrame, with ``per_query``, ``compare`` and
  ``leaderboard`` beside it (:mod:`c2vbench.results`);
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

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "hookimpl", "load_checkpoint", "results", "run"]

_LAZY = {"run": ("c2vbench.api", "run"), "evaluate": ("c2vbench.api", "evaluate"),
         "results": ("c2vbench.results", None)}


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
