"""Checkpoint format ``clip2video``: the official CLIP2Video release files (``pytorch_model.bin.N``).

An official file is a plain state dict (no wrapper, no ``module.`` prefix): the OpenAI-layout CLIP under ``clip.``
(its Conv/Linear/projection tensors possibly stored in fp16) and the CLIP2Video modules at the top level
(reference/clip2video.md §5.2). Every size is read from the tensors: CLIP's widths, layers, patch, resolution,
vocabulary and context length; the number of ``transformerClip`` blocks; K from ``weight_center``; and the variant
from which modules are present. The file is read as tensors only (``c2vbench.plugin.read_tensor_file``: no code
runs, a TorchScript archive is refused) and the model is rebuilt in fp32 (the official model runs its CLIP towers
in fp16; fp32 is the reproducible target).

Variant inference (override with the options in brackets):

* temporal: ``type_position_embeddings`` present → ``tdb`` (``frame2t_projection`` → ``sigmoid_mlp``, else
  ``frame2t_attention`` → ``sigmoid_selfA``, else ``raw``) [``temporal_proj``]; only ``transformerClip`` →
  ``seqtransf``; neither → ``meanp``.
* alignment: ``weight_center`` present → ``tab`` with K = its rows; ``actionClip`` with TDB → **ambiguous**:
  ``TAB_TDB`` (stream ``tdb``) and ``TAB`` (stream ``plain``) store identical keys, so the reader refuses to guess
  and asks for ``variant=TAB_TDB`` (the released models) or ``variant=TAB``; ``actionClip`` without TDB → ``TAB``
  (stream ``plain``), no ``actionClip`` → ``''`` (stream ``frames``) [``center_proj``]; no ``weight_center`` →
  ``cosine``.

Key mapping (official key → ``RetrievalModel`` key; one parameter per official tensor):

=====================================================  ==========================================================
``clip.<k>``                                           ``backbone.clip.<k>`` (open_clip uses OpenAI's names)
``clip.logit_scale``                                   also ``align_head.logit_scale`` (the scale s the
                                                       heads use; the backbone copy is unused at inference)
``frame_position_embeddings.weight``                   ``temporal.frame_position_embeddings.weight``
``type_position_embeddings.weight``                    ``temporal.type_position_embeddings.weight``
``frame2t_attention.resblocks.0.*``                    ``temporal.frame2t_attention.resblocks.0.*``
``frame2t_projection``                                 ``temporal.frame2t_projection``
``trans_layernorm.{weight,bias}``                      ``temporal.trans_layernorm.{weight,bias}``
``transformerClip.resblocks.<i>.*``                    ``temporal.transformerClip.resblocks.<i>.*``
``actionClip.resblocks.0.*``                           ``temporal.actionClip.resblocks.0.*`` (TAB_TDB), or
                                                       ``align_head.actionClip.resblocks.0.*`` (TAB)
``weight_center``, ``emb_center``                      ``align_head.weight_center``, ``.emb_center``
=====================================================  ==========================================================

With ``center_proj=TAB`` the head's plain stream also receives a copy of ``frame_position_embeddings.weight``
(``align_head.frame_position_embeddings.weight``): the official model shares that table between the two.
Tensors of modules the inferred variant never uses (for example ``frame2t_attention`` beside ``frame2t_projection``)
are reported in ``model.checkpoint_info["unused_keys"]``; any other key that does not fit is an error naming it.

Official inference facts the rest of c2vbench follows: captions are ``[SOT] words [EOT]`` in at most ``max_words``
= 32 ids, padded with 0 (``ClipBackbone`` with ``max_words=32``); videos have 12 frame slots, padded slots hold
all-zero images. The official evaluation encodes videos in batches of 64 rows (1k-A: the 64 videos of each caption
batch; multi-caption sets: only the videos whose last caption falls in the batch), which matters only with
``legacy_mask=True``, where a video's score depends on its batch-mates (reference §2.6, §6.1).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from c2vbench.plugin import C2VBenchError, CheckpointFormatSpec, hookimpl

OFFICIAL_MAX_WORDS = 32
OFFICIAL_MAX_FRAMES = 12
CENTER_PROJ_STREAM = {"TAB_TDB": "tdb", "TAB": "plain", "": "frames"}
TEMPORAL_KEYS = ("frame_position_embeddings.", "type_position_embeddings.", "frame2t_attention.",
                 "frame2t_projection", "trans_layernorm.", "transformerClip.", "actionClip.")


@dataclasses.dataclass
class OfficialLayout:
    """What a CLIP2Video state dict holds, inferred from its keys and shapes."""

    temporal: str
    temporal_options: dict[str, Any]
    align: str
    align_options: dict[str, Any]
    center_proj: str | None
    unused_prefixes: tuple[str, ...]


def read_official_state_dict(path: str | Path) -> dict[str, Any]:
    """The tensors of an official file, loaded safely, ``module.`` prefixes stripped, ``gamma``/``beta`` renamed
    to ``weight``/``bias`` as the official loader does."""
    import torch

    from c2vbench.plugin import CodeArchiveError, read_tensor_file

    path = Path(path).expanduser()
    if path.is_dir():
        candidates = sorted(path.glob("pytorch_model.bin*"))
        if len(candidates) != 1:
            found = ", ".join(c.name for c in candidates) or "none"
            raise C2VBenchError(f"{path} is a folder with {len(candidates)} pytorch_model.bin.N files ({found})",
                                "pass the file itself, e.g. .../pytorch_model.bin.2")
        path = candidates[0]
    if not path.exists():
        raise C2VBenchError(f"checkpoint file {path} does not exist",
                            "give the path of a released pytorch_model.bin.N file")
    try:
        state = read_tensor_file(path, "checkpoint file")
    except CodeArchiveError:
        raise
    except C2VBenchError as error:
        raise C2VBenchError(error.problem,
                            "the file is truncated, corrupt or not a CLIP2Video checkpoint; download it again",
                            ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise C2VBenchError(f"{path} holds a {type(state).__name__}, not a dict of tensors",
                            "give an official CLIP2Video pytorch_model.bin.N file")
    cleaned = {}
    for key, value in state.items():
        key = key.removeprefix("module.").replace("gamma", "weight").replace("beta", "bias")
        cleaned[key] = value
    if not any(key.startswith("clip.") for key in cleaned):
        raise C2VBenchError(f"{path} has no 'clip.' tensors, so it is not a CLIP2Video checkpoint",
                            "use format='c2vbench' for c2vbench's own checkpoints")
    return cleaned


def block_count(state: dict[str, Any], name: str) -> int:
    pattern = re.compile(rf"^{re.escape(name)}\.resblocks\.(\d+)\.")
    return len({match.group(1) for key in state if (match := pattern.match(key))})


def infer_layout(state: dict[str, Any], legacy_mask: bool = False, temporal_proj: str | None = None,
                 center_proj: str | None = None) -> OfficialLayout:
    """Temporal and alignment plug-ins and their options for an official state dict (see the module docs)."""
    def has(prefix: str) -> bool:
        return any(key.startswith(prefix) for key in state)

    unused: list[str] = []
    positions = int(state["frame_position_embeddings.weight"].shape[0]) if has("frame_position_embeddings.") else 0
    layers = block_count(state, "transformerClip")
    if has("type_position_embeddings."):
        temporal = "tdb"
        if temporal_proj is None:
            temporal_proj = ("sigmoid_mlp" if has("frame2t_projection") else
                             "sigmoid_selfA" if has("frame2t_attention.") else "raw")
        if temporal_proj not in ("sigmoid_selfA", "sigmoid_mlp", "raw"):
            raise C2VBenchError(f"unknown temporal_proj={temporal_proj!r}", "use sigmoid_selfA, sigmoid_mlp or raw")
        unused += [prefix for prefix, needed in (("frame2t_attention.", "sigmoid_selfA"),
                                                 ("frame2t_projection", "sigmoid_mlp")) if temporal_proj != needed]
        if temporal_proj == "raw":
            unused.append("trans_layernorm.")
        temporal_options = {"layers": layers, "difference": temporal_proj, "legacy_mask": legacy_mask,
                            "positions": positions, "alignment_stream": False}
    elif layers:
        temporal = "seqtransf"
        temporal_options = {"layers": layers, "legacy_mask": legacy_mask, "positions": positions}
        unused += ["frame2t_attention.", "frame2t_projection", "trans_layernorm."]
    else:
        temporal, temporal_options = "meanp", {}
        unused += ["frame_position_embeddings.", "frame2t_attention.", "frame2t_projection", "trans_layernorm."]

    if has("weight_center"):
        align = "tab"
        if center_proj is None and has("actionClip.") and temporal == "tdb":
            # TAB_TDB and TDB with center_proj=TAB store exactly the same tensors: the keys cannot tell them apart,
            # and the two give different logits. Guessing would silently score the wrong model.
            raise C2VBenchError(
                "this CLIP2Video checkpoint is ambiguous: TDB with TAB on the TDB stream (center_proj=TAB_TDB) and "
                "TDB with TAB on its own plain stream (center_proj=TAB) have identical keys",
                "say which it is: --checkpoint-option variant=TAB_TDB (the released MSR-VTT / MSVD / VATEX models) "
                "or --checkpoint-option variant=TAB (load_checkpoint(..., variant=...))")
        if center_proj is None:
            center_proj = "" if not has("actionClip.") else "TAB"
        if center_proj not in CENTER_PROJ_STREAM:
            raise C2VBenchError(f"unknown center_proj={center_proj!r}", "use TAB_TDB, TAB or '' (empty)")
        stream = CENTER_PROJ_STREAM[center_proj]
        if stream == "tdb" and temporal != "tdb":
            raise C2VBenchError("center_proj=TAB_TDB needs the TDB modules, which this checkpoint lacks",
                                "use center_proj=TAB or ''")
        if stream == "plain" and not positions:
            raise C2VBenchError("center_proj=TAB needs frame_position_embeddings, which this checkpoint lacks",
                                "use center_proj=''")
        if stream == "tdb":
            temporal_options["alignment_stream"] = True
        if stream == "frames":
            unused.append("actionClip.")
        align_options = {"centers": int(state["weight_center"].shape[0]), "global_weight": 0.5, "stream": stream,
                         "legacy_mask": legacy_mask, "positions": positions if stream == "plain" else 0}
    else:
        align, align_options, center_proj = "cosine", {}, None
        unused.append("actionClip.")
    return OfficialLayout(temporal, temporal_options, align, align_options, center_proj, tuple(unused))


def map_official_keys(state: dict[str, Any], layout: OfficialLayout) -> tuple[dict[str, Any], list[str]]:
    """Official non-CLIP tensors (and the logit scale) under their ``RetrievalModel`` names, plus unused keys."""
    mapped: dict[str, Any] = {"align_head.logit_scale": state["clip.logit_scale"]}
    unused: list[str] = []
    plain_stream = layout.align_options.get("stream") == "plain"
    for key, value in state.items():
        if key.startswith("clip."):
            continue
        if key.startswith(layout.unused_prefixes):
            unused.append(key)
        elif key in ("weight_center", "emb_center"):
            mapped[f"align_head.{key}"] = value
        elif key.startswith("actionClip.") and plain_stream:
            mapped[f"align_head.{key}"] = value
        else:
            mapped[f"temporal.{key}"] = value  # unknown keys land here and are refused by the strict check
            if plain_stream and key == "frame_position_embeddings.weight":
                mapped["align_head.frame_position_embeddings.weight"] = value
    return mapped, unused


def load_clip2video_checkpoint(path: str | Path, legacy_mask: bool = False, **options: Any):
    """Rebuild an official CLIP2Video model from ``pytorch_model.bin.N`` (fp32, eval mode).

    Args:
        path: the file (or a folder holding exactly one ``pytorch_model.bin.N``).
        legacy_mask: reproduce the official per-head mask tiling (reference §2.6); False gives the corrected mask.
        options: ``max_words`` (32), ``max_frames`` (12), ``temporal_proj`` and ``center_proj`` to override the
            inferred variant (see the module docs), ``variant`` (``TAB_TDB`` or ``TAB``: required for a TDB
            checkpoint with TAB, whose two variants have identical keys), ``clip_precision`` (``fp32``, or ``fp16``
            to run the CLIP towers
            with fp16 weights as the official model does; about 1e-2 off the fp32 logits on a tiny model).

    Returns:
        a :class:`c2vbench.model.retrieval_model.RetrievalModel` with ``component_names`` (the plug-ins it was rebuilt
        from) and ``checkpoint_info`` (inferred sizes, variant and unused keys).
    """
    import torch

    from c2vbench.plugin import BuildContext, RetrievalModel

    from ..backbones._clip_model import ClipBackbone, clip_from_openai_state_dict, clip_sizes_from_openai_state_dict

    known = {"max_words", "max_frames", "temporal_proj", "center_proj", "variant", "clip_precision"}
    clip_precision = options.get("clip_precision", "fp32")
    if clip_precision not in ("fp32", "fp16"):
        raise C2VBenchError(f"clip_precision={clip_precision!r} is not fp32 or fp16",
                            "fp32 (default, reproducible) or fp16 (the official towers' storage precision)")
    if set(options) - known:
        raise C2VBenchError(f"clip2video checkpoints take no option {', '.join(sorted(set(options) - known))}",
                            f"known options: {', '.join(sorted(known))}")
    state = read_official_state_dict(path)
    clip_state = {key[len("clip."):]: value for key, value in state.items() if key.startswith("clip.")}
    try:
        sizes = clip_sizes_from_openai_state_dict(clip_state)
        clip = clip_from_openai_state_dict(clip_state)
    except (KeyError, ValueError, RuntimeError) as error:
        raise C2VBenchError(f"the 'clip.' tensors of {path} are not an OpenAI-layout CLIP ({error})",
                            "is this a CLIP2Video checkpoint with a ViT image tower?") from None
    max_frames = int(options.get("max_frames", OFFICIAL_MAX_FRAMES))
    center_proj = options.get("center_proj")
    variant = options.get("variant")
    if variant is not None:
        by_name = {name.lower(): name for name in CENTER_PROJ_STREAM if name}
        if str(variant).lower() not in by_name or (center_proj is not None and center_proj != by_name[
                str(variant).lower()]):
            raise C2VBenchError(f"unknown or conflicting variant={variant!r}",
                                "use variant=TAB_TDB or variant=TAB (the official center_proj values)")
        center_proj = by_name[str(variant).lower()]
    layout = infer_layout(state, legacy_mask, options.get("temporal_proj"), center_proj)
    backbone = ClipBackbone(clip.float(), max_words=int(options.get("max_words", OFFICIAL_MAX_WORDS)),
                            pretrained=True)
    context = BuildContext(backbone=backbone, embed_dim=int(backbone.embed_dim), max_frames=max_frames)
    # Built with a fixed seed so that nothing depends on the caller's generator (all weights are overwritten).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        temporal = build_component("temporal", layout.temporal, layout.temporal_options, context)
        similarity = build_component("align", layout.align, layout.align_options,
                                     dataclasses.replace(context, temporal=temporal))
    model = RetrievalModel(backbone, temporal, similarity, max_frames=max_frames)
    mapped, unused = map_official_keys(state, layout)
    load_strictly(model, mapped, path)
    model.component_names = {"backbone": "clip", "temporal": layout.temporal, "align": layout.align}
    model.component_options = {"backbone": {"clip_sizes": sizes, "clip_precision": clip_precision,
                                            "max_words": backbone.max_words if hasattr(backbone, "max_words")
                                            else int(options.get("max_words", OFFICIAL_MAX_WORDS))},
                               "temporal": dict(layout.temporal_options), "align": dict(layout.align_options)}
    model.checkpoint_info = {
        "format": "clip2video", "path": str(path), "legacy_mask": legacy_mask, "clip_sizes": sizes,
        "temporal": layout.temporal, "temporal_options": layout.temporal_options, "align": layout.align,
        "align_options": layout.align_options, "center_proj": layout.center_proj, "unused_keys": sorted(unused),
        "clip_dtypes": sorted({str(value.dtype).removeprefix("torch.") for value in clip_state.values()}),
    }
    model = model.float().eval()
    if clip_precision == "fp16":
        from ..backbones._clip_model import half_precision_towers

        # The official model converts CLIP's Conv/Linear/attention/projection weights to fp16 and runs both towers
        # in fp16 with fp32 LayerNorms (reference §1.5); everything after the encoders stays fp32.
        half_precision_towers(model.backbone.clip)
    model.checkpoint_info["clip_precision"] = clip_precision
    return model


def build_component(kind: str, name: str, option_values: dict[str, Any], context):
    """Build one of the built-in plug-ins this format maps onto, with its options type filled in."""
    from ..align.cosine import CosineOptions, build_cosine
    from ..align.tab import TabOptions, build_tab
    from ..temporal.meanp import build_meanp
    from ..temporal.seqtransf import SeqTransfOptions, build_seqtransf
    from ..temporal.tdb import TdbOptions, build_tdb

    builders = {
        ("temporal", "tdb"): (TdbOptions, build_tdb), ("temporal", "seqtransf"): (SeqTransfOptions, build_seqtransf),
        ("temporal", "meanp"): (None, build_meanp), ("align", "tab"): (TabOptions, build_tab),
        ("align", "cosine"): (CosineOptions, build_cosine),
    }
    options_type, factory = builders[(kind, name)]
    options = options_type(**option_values) if options_type is not None else None
    return factory(options, context)


def load_strictly(model, mapped: dict[str, Any], path) -> None:
    """Load the mapped tensors into ``temporal`` and ``align_head``; every parameter must be covered and every
    tensor used, with matching shapes, or the error names the keys."""
    import torch

    expected = {key: value for key, value in model.state_dict().items()
                if key.startswith(("temporal.", "align_head."))}
    missing = sorted(set(expected) - set(mapped))
    unexpected = sorted(set(mapped) - set(expected))
    mismatched = sorted(f"{key} {tuple(mapped[key].shape)} vs {tuple(expected[key].shape)}"
                        for key in set(mapped) & set(expected) if mapped[key].shape != expected[key].shape)
    if missing or unexpected or mismatched:
        parts = [f"{label}: {', '.join(keys[:8])}{' …' if len(keys) > 8 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", mismatched)) if keys]
        raise C2VBenchError(f"{path} does not fit the CLIP2Video model inferred from it ({'; '.join(parts)})",
                            "is it a CLIP2Video checkpoint? override the variant with temporal_proj= / center_proj=")
    with torch.no_grad():
        own = model.state_dict(keep_vars=True)
        for key, value in mapped.items():
            own[key].copy_(value.to(own[key].dtype))


@hookimpl
def c2vbench_register_checkpoint_formats():
    yield CheckpointFormatSpec(
        name="clip2video",
        summary="Official CLIP2Video release files (pytorch_model.bin.N): sizes and variant inferred, fp32",
        factory=load_clip2video_checkpoint,
        paper="Fang et al., CLIP2Video: Mastering Video-Text Retrieval via Image CLIP, 2021",
        url="https://github.com/CryhanFang/CLIP2Video",
    )
