"""c2vbench: a plug-in benchmark suite for video-text retrieval."""

from __future__ import annotations

from typing import Any

from c2vbench.platform.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "load_checkpoint"]


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
