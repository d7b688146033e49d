"""Backbone ``timm``: any timm image model as the frame encoder, with the text tower of an open_clip architecture.

Nothing is downloaded: both towers are created with random weights (timm ``pretrained=False``), then filled from
local files when given (``recommended_lr_scale`` is CLIP4Clip's 1e-3 when both are, else 1):

* ``image_weights``: a checkpoint of the timm model (``.safetensors`` or a ``torch.save`` state dict), passed
  through the model's own timm conversion (``checkpoint_filter_fn``: OpenAI / open_clip layouts, position
  embeddings resized) and then loaded strictly: a file that does not fit stops with one line, it never leaves the
  weights silently random. A classifier head in the file is dropped (and recorded) unless ``model_kwargs`` keeps
  one of the same width: ``num_classes=512`` keeps the 512-wide head of timm's ``vit_base_patch32_clip_224.openai``
  weights, CLIP's image projection.
* ``text_weights``: an open_clip or OpenAI CLIP checkpoint (the text tensors are taken from it, and its
  ``logit_scale`` becomes the align head's starting temperature), or the text tower's own state dict.

Widths: the image model's pooled features (width F, measured on one blank image) are mapped to the joint width D
(``embed_dim``, default: the open_clip architecture's) by a new linear projection when F != D, and used as they are
when F == D. Both widths and the projection are recorded in the result (``config.backbone_details``).

Preprocessing: image side, mean and std from timm's data config of the model (``image_size`` overrides the side; an
``img_size`` in ``model_kwargs`` sets it too). Text: CLIP's BPE tokenizer, so the text tower must be one that uses it
(ViT-B-32, ViT-B-16, ViT-L-14, RN50, ...; not SigLIP or HF-text models).

Tiny models for tests and CPU: ``model_kwargs=img_size=32,patch_size=8,embed_dim=48,depth=1,num_heads=2`` and
``text_kwargs=width=32,layers=1,heads=2,context_length=16``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from c2vbench.plugin import BackboneSpec, C2VBenchError, hookimpl, option

# text-tower settings that need something other than CLIP's tokenizer and argmax (EOT) pooling
_UNSUPPORTED_TEXT = {"hf_model_name": None, "hf_tokenizer_name": None, "embed_cls": False, "no_causal_mask": False,
                     "pool_type": "argmax", "final_ln_after_pool": False}
CLIP_VOCABULARY = 49408


@dataclasses.dataclass(frozen=True)
class TimmOptions:
    """Options of the ``timm`` backbone (see the module documentation)."""

    model: str = option("vit_base_patch32_clip_224", help="timm image model name (timm.list_models())")
    model_kwargs: str = option("", help="extra timm.create_model arguments: k=v,k=v or a JSON object")
    image_weights: str = option("", help="local weights file of the image model (empty: random)")
    text_model: str = option("ViT-B-32", help="open_clip architecture whose text tower is used")
    text_kwargs: str = option("", help="text config overrides: k=v,k=v (width, layers, heads, context_length...)")
    text_weights: str = option("", help="local open_clip / OpenAI CLIP checkpoint with the text tower (empty: random)")
    embed_dim: int = option(0, min=0, help="joint embedding width D (0: the open_clip architecture's)")
    image_size: int = option(0, min=0, help="input image side (0: from timm's data config)")
    max_words: int = option(32, min=3, max=77, help="caption tokens kept, start and end tokens included")

    def __post_init__(self) -> None:
        # checked with the other options, before anything is built
        kwargs = _parse_kwargs(self.model_kwargs, "model_kwargs")
        side, patch = self.image_size or kwargs.get("img_size"), kwargs.get("patch_size")
        if isinstance(side, int) and isinstance(patch, int) and patch > 0 and side % patch:
            raise C2VBenchError(f"backbone 'timm': patch_size={patch} does not divide the image side {side}",
                                "use a patch_size that divides the image side, or another img_size / image_size")


def build_timm_backbone(options: TimmOptions):
    import timm

    from ._timm_model import TimmTextBackbone, image_feature_width, load_text_weights
    from ._weights import read_weights_file

    image_path = _weights_path(options.image_weights, "image_weights")
    text_path = _weights_path(options.text_weights, "text_weights")
    image_model, data_config, dropped_head = _image_model(timm, options, image_path)
    image_size = options.image_size or _kwargs_image_size(options) or int(data_config["input_size"][-1])
    try:
        width = image_feature_width(image_model, image_size)
    except Exception as error:
        raise C2VBenchError(f"timm model '{options.model}' does not encode a {image_size}px image: "
                            f"{_first_line(error)}",
                            "set image_size (or img_size in model_kwargs) to a size the model accepts, and "
                            "num_classes=0 for pooled features") from None

    tower, embed_dim, text_config = _text_tower(options)
    logit_scale = None
    if text_path is not None:
        try:
            logit_scale, _ = load_text_weights(tower, read_weights_file(text_path), text_path)
        except ValueError as error:
            raise C2VBenchError(f"text_weights: {error}",
                                f"give a checkpoint of open_clip '{options.text_model}' (or set text_model / "
                                "text_kwargs to the architecture it was trained with)") from None
    details = {
        "image_model": options.model,
        "image_model_kwargs": _parse_kwargs(options.model_kwargs, "model_kwargs"),
        "image_weights": _file_record(image_path, dropped=dropped_head),
        "text_model": options.text_model,
        "text_config": text_config,
        "text_weights": _file_record(text_path),
        "timm_data_config": {key: (list(value) if isinstance(value, tuple) else value)
                             for key, value in data_config.items()},
    }
    return TimmTextBackbone(image_model, width, tower, embed_dim, image_size, data_config["mean"],
                            data_config["std"], options.max_words, details, logit_scale=logit_scale,
                            pretrained=image_path is not None and text_path is not None)


def _image_model(timm, options: TimmOptions, weights: Path | None):
    """The timm model (random, or filled from ``weights`` by timm's own file loader) and its data config."""
    name = options.model
    if ":" in name:
        raise C2VBenchError(f"timm model '{name}' names a hub source; this backbone never downloads",
                            "give the architecture name (e.g. vit_base_patch32_clip_224) and the weights file "
                            "as image_weights=PATH")
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('.')[0][:12]}*")[:5]
        raise C2VBenchError(f"timm has no model '{name}'",
                            f"see timm.list_models(){'; close: ' + ', '.join(close) if close else ''}")
    kwargs = {"num_classes": 0, **_parse_kwargs(options.model_kwargs, "model_kwargs")}
    try:
        model = timm.create_model(name, pretrained=False, **kwargs)
    except (TypeError, ValueError, AssertionError, RuntimeError) as error:
        raise C2VBenchError(f"timm could not build '{name}' with model_kwargs={options.model_kwargs!r}: "
                            f"{_first_line(error)}", "check the argument names of this timm model") from None
    dropped: list[str] = []
    if weights is not None:
        from ._timm_model import load_image_weights
        from ._weights import read_weights_file

        try:
            dropped = load_image_weights(model, read_weights_file(weights), weights)
        except (ValueError, RuntimeError) as error:
            raise C2VBenchError(f"image_weights: {_first_line(error)}",
                                f"give a checkpoint of timm '{name}' built with the same model_kwargs "
                                "(num_classes=N keeps an N-wide head)") from None
    args = {"img_size": kwargs["img_size"]} if isinstance(kwargs.get("img_size"), int) else None
    return model, timm.data.resolve_model_data_config(model, args=args), dropped


def _text_tower(options: TimmOptions):
    import open_clip
    from open_clip.model import CLIPTextCfg, _build_text_tower

    config = open_clip.get_model_config(options.text_model)
    if config is None:
        raise C2VBenchError(f"open_clip has no architecture '{options.text_model}'",
                            "see open_clip.list_models() (e.g. ViT-B-32, ViT-B-16, ViT-L-14)")
    text_config = {**config.get("text_cfg", {}), **_parse_kwargs(options.text_kwargs, "text_kwargs")}
    known = {field.name for field in dataclasses.fields(CLIPTextCfg)}
    unknown = sorted(set(text_config) - known)
    if unknown:
        raise C2VBenchError(f"text_kwargs: open_clip's text config has no {', '.join(unknown)}",
                            f"known keys: {', '.join(sorted(known))}")
    defaults = CLIPTextCfg()
    for key, required in _UNSUPPORTED_TEXT.items():
        value = text_config.get(key, getattr(defaults, key))
        if value != required:
            raise C2VBenchError(f"the text tower of '{options.text_model}' has {key}={value!r}, which needs another "
                                "tokenizer or pooling than CLIP's",
                                "choose an architecture with CLIP's text tower (ViT-B-32, ViT-B-16, ViT-L-14, RN50)")
    if text_config.get("vocab_size", defaults.vocab_size) < CLIP_VOCABULARY:
        raise C2VBenchError(f"text vocab_size {text_config['vocab_size']} is smaller than CLIP's {CLIP_VOCABULARY}",
                            f"use vocab_size={CLIP_VOCABULARY} (CLIP's BPE tokenizer)")
    embed_dim = options.embed_dim or int(config["embed_dim"])
    if text_config.get("proj_type", defaults.proj_type) == "none" and \
            text_config.get("width", defaults.width) != embed_dim:
        raise C2VBenchError(f"the text tower has no projection, so embed_dim must equal its width "
                            f"{text_config.get('width', defaults.width)}", "set embed_dim to it, or 0")
    try:
        tower = _build_text_tower(embed_dim, text_config, quick_gelu=bool(config.get("quick_gelu", False)),
                                  cast_dtype=None)
    except (TypeError, ValueError, AssertionError, RuntimeError) as error:
        raise C2VBenchError(f"open_clip could not build the text tower of '{options.text_model}' with "
                            f"text_kwargs={options.text_kwargs!r}: {_first_line(error)}",
                            "check the sizes (width must be divisible by heads)") from None
    return tower, embed_dim, text_config


def _parse_kwargs(text: str, option_name: str) -> dict[str, Any]:
    """``k=v,k=v`` (values read as JSON where they parse: numbers, true/false, lists) or a JSON object."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            raise C2VBenchError(f"{option_name} is not a valid JSON object ({error})",
                                f'write {option_name}=k=v,k=v or {option_name}={{"k": v}}') from None
        if not isinstance(parsed, dict):
            raise C2VBenchError(f"{option_name} must be a JSON object")
        return parsed
    parsed = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise C2VBenchError(f"{option_name}: {pair!r} is not key=value", f"write {option_name}=k=v,k=v")
        try:
            parsed[key.strip()] = json.loads(value.strip())
        except json.JSONDecodeError:
            parsed[key.strip()] = value.strip()
    return parsed


def _kwargs_image_size(options: TimmOptions) -> int | None:
    size = _parse_kwargs(options.model_kwargs, "model_kwargs").get("img_size")
    return size if isinstance(size, int) else None


def _weights_path(value: str, option_name: str) -> Path | None:
    if not value.strip() or value.strip().lower() == "none":
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise C2VBenchError(f"{option_name} file {path} does not exist",
                            "give the path of a local weights file (nothing is downloaded), or leave it empty for "
                            "random weights")
    from c2vbench.plugin import refuse_code_archive

    refuse_code_archive(path, option_name)  # before any model is built: a file of code is never loaded
    return path


def _file_record(path: Path | None, dropped: list[str] | None = None) -> dict[str, Any] | None:
    from c2vbench.plugin import sha256_file

    if path is None:
        return None
    record: dict[str, Any] = {"file": path.name, "sha256": sha256_file(path)}
    if dropped:
        record["dropped_head"] = dropped
    return record


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@hookimpl
def c2vbench_register_backbones():
    yield BackboneSpec(
        name="timm",
        summary="Any timm image model as frame encoder + an open_clip text tower; weights from local files only",
        factory=build_timm_backbone,
        options_type=TimmOptions,
        # the conformance kit builds tiny random towers (a full ViT-B/32 is too slow for 2 CPU cores)
        check_options={"model_kwargs": "img_size=32,patch_size=8,embed_dim=48,depth=1,num_heads=2",
                       "text_kwargs": "width=32,layers=1,heads=2,context_length=16", "embed_dim": 24},
        paper="Wightman, PyTorch Image Models (timm), 2019",
        url="https://github.com/huggingface/pytorch-image-models",
    )
