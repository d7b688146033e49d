"""Backbone ``tiny-clip``: a small, randomly initialised CLIP (OpenAI architecture) that trains on 2 CPU cores."""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import BackboneSpec, hookimpl


@dataclasses.dataclass(frozen=True)
class TinyClipOptions:
    """Sizes of the tiny CLIP; heads are width / 64 as in CLIP."""

    embed_dim: int = 64
    image_size: int = 32
    patch_size: int = 8
    vision_width: int = 64
    vision_layers: int = 2
    text_width: int = 64
    text_layers: int = 2
    context_length: int = 32
    vocab_size: int = 49408
    max_words: int = 32


def build_tiny_clip(options: TinyClipOptions):
    from ._clip_model import ClipBackbone, make_clip

    # Initialised from torch's global generator, which the pipeline seeds with --seed.
    clip = make_clip(
        embed_dim=options.embed_dim, image_size=options.image_size, patch_size=options.patch_size,
        vision_width=options.vision_width, vision_layers=options.vision_layers,
        context_length=options.context_length, vocab_size=options.vocab_size,
        text_width=options.text_width, text_layers=options.text_layers,
    )
    return ClipBackbone(clip, max_words=options.max_words)


@hookimpl
def c2vbench_register_backbones():
    yield BackboneSpec(
        name="tiny-clip",
        summary="Small random-init CLIP (ViT 32px/8, width 64, 2+2 layers) for CPU training and tests",
        factory=build_tiny_clip,
        options_type=TinyClipOptions,
        paper="Radford et al., Learning Transferable Visual Models From Natural Language Supervision, 2021",
    )
