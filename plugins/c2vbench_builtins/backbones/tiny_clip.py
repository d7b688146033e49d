"""Backbone ``tiny-clip``: a small, randomly initialised CLIP (OpenAI architecture) that trains on 2 CPU cores."""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import BackboneSpec, C2VBenchError, hookimpl, option


@dataclasses.dataclass(frozen=True)
class TinyClipOptions:
    """Sizes of the tiny CLIP; heads are width / 64 as in CLIP."""

    embed_dim: int = option(64, min=1, help="joint embedding width D")
    image_size: int = option(32, min=8, help="input image side")
    patch_size: int = option(8, min=1, help="ViT patch side (must divide image_size)")
    vision_width: int = option(64, min=8, help="vision transformer width")
    vision_layers: int = option(2, min=1, help="vision transformer blocks")
    text_width: int = option(64, min=8, help="text transformer width")
    text_layers: int = option(2, min=1, help="text transformer blocks")
    context_length: int = option(32, min=3, help="text positions")
    vocab_size: int = option(49408, min=49408, help="vocabulary (CLIP's BPE needs 49408)")
    max_words: int = option(32, min=3, help="caption tokens kept, start and end tokens included")

    def __post_init__(self) -> None:
        # checked with the other options, before anything is built: a ViT cuts the image into whole patches
        if self.patch_size > 0 and self.image_size % self.patch_size:
            raise C2VBenchError(f"backbone 'tiny-clip': patch_size={self.patch_size} does not divide "
                                f"image_size={self.image_size}",
                                f"use a patch_size that divides {self.image_size} (e.g. 8), or another image_size")


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
        check_options={"vision_layers": 1, "text_layers": 1},
        paper="Radford et al., Learning Transferable Visual Models From Natural Language Supervision, 2021",
    )
