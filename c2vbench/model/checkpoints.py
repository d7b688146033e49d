"""``load_checkpoint``: read a checkpoint file of any registered format into a
:class:`~c2vbench.model.retrieval_model.RetrievalModel`.

Formats are plug-ins (hook ``c2vbench_register_checkpoint_formats``): the built-in ``clip2video`` reads the official
CLIP2Video release files; ``c2vbench`` is the native safetensors + JSON folder written by ``c2vbench run``. The
core finds formats through the registry only, never by importing a plug-in.

Example::

    import c2vbench
    model = c2vbench.load_checkpoint("pytorch_model.bin.2", format="clip2video", legacy_mask=True)
    text = model.encode_text(input_ids, attention_mask)          # [B, 32] ids, 0-padded
    video = model.encode_video(frames, frame_mask)               # [B, 12, 3, 224, 224], padded slots all-zero
    logits = model.similarity(text, video)                       # [B_text, B_video]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from c2vbench.platform.errors import C2VBenchError

NATIVE_FORMAT = "c2vbench"


def load_checkpoint(path: str | Path, format: str = "clip2video", legacy_mask: bool = False, **options: Any):
    """Load a model from ``path`` in the given ``format`` (eval mode, fp32, on the CPU).

    Args:
        path: the checkpoint file (or folder, for the native format).
        format: a registered checkpoint format (``clip2video``, ``c2vbench``, or one a plug-in adds).
        legacy_mask: reproduce the official per-head attention-mask tiling, which makes a video's score depend on
            the other videos in its batch (reference/clip2video.md §2.6); False uses the corrected mask.
        options: passed to the format's reader (e.g. ``max_frames``, ``center_proj`` for ``clip2video``).

    Raises:
        C2VBenchError: the file is missing, unreadable or does not fit the format; the format is unknown.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise C2VBenchError(f"checkpoint {path} does not exist", "check the path")
    if format == NATIVE_FORMAT:
        from c2vbench.model.native_checkpoint import load_native_checkpoint

        return load_native_checkpoint(path, legacy_mask=legacy_mask, **options)
    from c2vbench.platform.registry import get_registry

    spec = get_registry().get("checkpoint_format", format).spec
    return spec.factory(path, legacy_mask=legacy_mask, **options)
