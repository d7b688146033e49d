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
    """Load a retrieval model from a checkpoint, in eval mode, in float32, on the CPU.

    Every size (widths, layers, patch, resolution, vocabulary, context length, temporal layers, number of centres)
    is read from the tensors, and the file is read with ``weights_only=True``.

    Args:
        path: the checkpoint file, or the folder ``c2vbench run`` saved (``results/checkpoints/<run_id>``).
        format: a registered checkpoint format: ``clip2video`` (the official ``pytorch_model.bin.N`` files),
            ``c2vbench`` (c2vbench's own), or one a plug-in adds.
        legacy_mask: reproduce the official per-head attention-mask tiling, which makes a video's score depend on
            the other videos in its batch; False (the default) uses the corrected mask.
        **kwargs: options of the format, e.g. ``variant="TAB_TDB"`` for an official TDB + TAB checkpoint, whose
            ``TAB_TDB`` and ``TAB`` variants store the same tensors and are refused until one is named.

    Returns:
        A ``torch.nn.Module`` with ``encode_text(input_ids, attention_mask)`` (``LongTensor[B, L]`` each),
            ``encode_video(frames, frame_mask)`` (``FloatTensor[B, T, 3, H, W]``, ``LongTensor[B, T]``) and
            ``similarity(text_features, video_features)``, the retrieval logits ``[B_text, B_video]``.

    Raises:
        C2VBenchError: the file is missing, unreadable or does not fit the format; the format is unknown.

    Example::

        import c2vbench
        model = c2vbench.load_checkpoint("pytorch_model.bin.2", format="clip2video", variant="TAB_TDB")
        logits = model.similarity(model.encode_text(input_ids, attention_mask), model.encode_video(frames, mask))
    """
    from c2vbench.model.checkpoints import load_checkpoint as _load

    return _load(path, format=format, legacy_mask=legacy_mask, **kwargs)
