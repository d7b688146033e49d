"""c2vbench: a plug-in benchmark suite for video-text retrieval."""

from __future__ import annotations

from typing import Any

from c2vbench.platform.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "load_checkpoint"]


def load_checkpoint(path: Any, format: str = "clip2video", legacy_mask: bool = False, **kwargs: Any) -> Any:
    """Load a retrieval model from a checkpoint file (see :mod:`c2vbench.model.checkpoints`)."""
    from c2vbench.model.checkpoints import load_checkpoint as _load

    return _load(path, format=format, legacy_mask=legacy_mask, **kwargs)
