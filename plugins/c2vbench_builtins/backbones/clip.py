"""Backbone ``clip``: any open_clip architecture, with weights from an open_clip tag, a local file, or none.

``pretrained`` takes ``none`` (random initialisation, recorded in the result), an open_clip pretrained tag such as
``openai`` (read from the local open_clip / Hugging Face cache: nothing is downloaded when offline), or the path of a
local weights file (a plain OpenAI-layout state dict or an open_clip checkpoint, ``.safetensors`` or ``torch.save``;
OpenAI's TorchScript ``.pt`` archives hold code and are refused before anything in them is loaded).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from c2vbench.plugin import BackboneSpec, C2VBenchError, hookimpl, option

PRECISIONS = ("fp32", "fp16")


@dataclasses.dataclass(frozen=True)
class ClipOptions:
    """``model``: open_clip architecture name; ``pretrained``: none, a tag, or a file; ``precision``: fp32, or
    fp16 for CLIP2Video's fp16-stored towers (computation then follows the weights' dtype)."""

    model: str = option("ViT-B-32", help="open_clip architecture name (open_clip.list_models())")
    pretrained: str = option("none", help="none, an open_clip tag in the local cache, or a weights file")
    max_words: int = option(32, min=3, max=77, help="caption tokens kept, start and end tokens included")
    precision: str = option("fp32", choices=("fp32", "fp16"), help="dtype of the towers' weights")


def build_clip(options: ClipOptions):
    import open_clip

    from ._clip_model import ClipBackbone, clip_from_openai_state_dict, half_precision_towers
    from ._weights import read_weights_file

    if options.precision not in PRECISIONS:
        raise C2VBenchError(f"unknown precision {options.precision!r} for backbone 'clip'",
                            f"use one of {', '.join(PRECISIONS)}")
    if options.model not in open_clip.list_models():
        raise C2VBenchError(f"open_clip has no architecture '{options.model}'",
                            "see open_clip.list_models() for the names (e.g. ViT-B-32, ViT-B-16)")
    pretrained = options.pretrained
    path = Path(pretrained).expanduser()
    if pretrained.lower() == "none":
        clip = open_clip.create_model(options.model, pretrained=None)
    elif path.exists():
        state_dict = read_weights_file(path)
        if "visual.conv1.weight" in state_dict and "visual.proj" in state_dict:
            clip = clip_from_openai_state_dict(state_dict)
        else:
            clip = open_clip.create_model(options.model, pretrained=None)
            try:
                clip.load_state_dict(state_dict)
            except RuntimeError as error:
                raise C2VBenchError(f"weights file {path} does not fit open_clip '{options.model}': "
                                    f"{str(error).splitlines()[0]}",
                                    "pass the architecture the file was trained with as model=...") from None
    elif pretrained in open_clip.list_pretrained_tags_by_model(options.model):
        clip = _create_from_cache(open_clip, options.model, pretrained)
    else:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(options.model)) or "(none)"
        raise C2VBenchError(f"pretrained={pretrained!r} is neither a file nor an open_clip tag of {options.model}",
                            f"tags: {known}; or give the path of a weights file, or none")
    clip = clip.float()
    if options.precision == "fp16":
        half_precision_towers(clip)
    mean, std = _normalisation(open_clip, clip)
    return ClipBackbone(clip, max_words=options.max_words, pretrained=pretrained.lower() != "none",
                        image_mean=mean, image_std=std)


def _create_from_cache(open_clip, model: str, tag: str):
    """Build from a tag's weights if they are already in a local cache; never touch the network."""
    path = cached_pretrained_file(open_clip, model, tag)
    if path is None:
        raise C2VBenchError(
            f"pretrained weights '{tag}' for {model} are not in the local open_clip / Hugging Face cache",
            f"download them where there is internet (open_clip.create_model('{model}', pretrained='{tag}') fills the "
            "cache, or fetch the weights file) and pass --backbone-option pretrained=/path/to/weights, "
            "or use pretrained=none for random weights",
        )
    return create_for_tag(open_clip, model, tag, path)


def create_for_tag(open_clip, model: str, tag: str, weights: Path | None):
    """The architecture as open_clip configures it *for this tag*, with the tag's weights file loaded (or random
    weights when ``weights`` is None). A weights path alone would lose the tag's configuration: OpenAI's weights
    need QuickGELU (``quick_gelu`` in open_clip's pretrained config), and the tag names its own normalisation."""
    if weights is not None:
        from c2vbench.plugin import refuse_code_archive

        refuse_code_archive(weights, f"the cached weights of tag '{tag}'")  # open_clip would hand it to torch
    config = open_clip.get_pretrained_cfg(model, tag)
    preprocess = {key: config[key] for key in ("mean", "std", "interpolation", "resize_mode") if key in config}
    return open_clip.create_model(model, pretrained=None if weights is None else str(weights),
                                  force_quick_gelu=bool(config.get("quick_gelu", False)),
                                  force_preprocess_cfg=preprocess or None)


def cached_pretrained_file(open_clip, model: str, tag: str) -> Path | None:
    """The local file holding a tag's weights, looked up in the caches open_clip downloads to, or None."""
    config = open_clip.get_pretrained_cfg(model, tag)
    hub = config.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hub)
        for candidate in ([filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]):
            found = try_to_load_from_cache(repo_id, candidate)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    url = config.get("url", "")
    if url:
        local = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if local.is_file():
            return local
    return None


def _normalisation(open_clip, clip):
    try:
        config = open_clip.get_model_preprocess_cfg(clip)
        return tuple(config["mean"]), tuple(config["std"])
    except Exception:
        from c2vbench.plugin import CLIP_MEAN, CLIP_STD

        return CLIP_MEAN, CLIP_STD


@hookimpl
def c2vbench_register_backbones():
    yield BackboneSpec(
        name="clip",
        summary="Any open_clip architecture; weights from a tag (offline cache), a local file, or none",
        factory=build_clip,
        options_type=ClipOptions,
        paper="Radford et al., Learning Transferable Visual Models From Natural Language Supervision, 2021",
        url="https://github.com/mlfoundations/open_clip",
    )
