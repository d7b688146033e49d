"""A backbone made of a timm image model (the frame encoder) and the text tower of an open_clip architecture.

The image model's pooled features (width F) are mapped to the joint width D by a linear projection when F != D
(no projection when they match, e.g. when the timm model keeps a D-wide head). The text tower is open_clip's own
``TextTransformer`` with CLIP's byte-level BPE tokenizer, run position by position as in the ``clip`` backbone so
that token-level heads (TAB) see every token's projected state.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from c2vbench.plugin import C2VBenchError, TemporalInitState, TextFeatures

from ._tokenizer import text_features_at_eot, tokenize_captions

CLIP_INITIAL_LOGIT_SCALE = math.log(1 / 0.07)  # CLIP's initial temperature


class TimmTextBackbone(nn.Module):
    """Frame encoder from timm, text encoder from open_clip, joined at width ``embed_dim``.

    Args:
        image_model: a timm model whose forward gives ``[N, F]`` pooled features.
        image_width: F.
        text_tower: an open_clip ``TextTransformer`` (argmax pooling, causal mask, CLIP vocabulary).
        embed_dim: D, the width of both towers' outputs.
        image_size, image_mean, image_std: preprocessing (from timm's data config unless overridden).
        max_words: token positions per caption.
        details: what was built and from which files, for the result file (:meth:`describe`).
        logit_scale: the log logit scale to start from (a text weights file's, else CLIP's ln(1/0.07)).
        pretrained: whether both towers were loaded from weights files (sets ``recommended_lr_scale``).
    """

    def __init__(self, image_model: nn.Module, image_width: int, text_tower: nn.Module, embed_dim: int,
                 image_size: int, image_mean: tuple[float, ...], image_std: tuple[float, ...], max_words: int,
                 details: dict[str, Any], logit_scale: float | None = None, pretrained: bool = False):
        super().__init__()
        self.image_model = image_model
        self.text_tower = text_tower
        self.image_projection = None
        if image_width != embed_dim:
            self.image_projection = nn.Linear(image_width, embed_dim, bias=False)
            nn.init.normal_(self.image_projection.weight, std=image_width ** -0.5)
        self.embed_dim = int(embed_dim)
        self.image_size = int(image_size)
        self.image_mean = tuple(float(v) for v in image_mean)
        self.image_std = tuple(float(v) for v in image_std)
        self.max_words = min(max_words, text_tower.positional_embedding.shape[0])
        self.context_length = self.max_words
        self.logit_scale = CLIP_INITIAL_LOGIT_SCALE if logit_scale is None else float(logit_scale)
        self.pretrained = pretrained
        self.recommended_lr_scale = 1e-3 if pretrained else 1.0
        self.details = {
            **details,
            "image_feature_width": int(image_width),
            "embed_dim": self.embed_dim,
            "image_projection": "none (widths match)" if self.image_projection is None
            else f"linear {image_width} -> {embed_dim} (new, trained)",
            "image_size": self.image_size,
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
            "max_words": self.max_words,
        }

    def describe(self) -> dict[str, Any]:
        """What was built: models, widths, the projection, preprocessing and the weights files (with SHA-256)."""
        return dict(self.details)

    def set_activation_checkpointing(self, enabled: bool) -> None:
        """Recompute the image model's blocks in the backward pass (timm's own ``set_grad_checkpointing``)."""
        switch = getattr(self.image_model, "set_grad_checkpointing", None)
        if not callable(switch):
            raise C2VBenchError(f"the timm model {type(self.image_model).__name__} offers no activation "
                                "checkpointing", "leave out --checkpoint-activations")
        switch(enabled)

    def encode_frames(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` normalised images to ``[N, D]`` (pooled timm features, projected when widths differ)."""
        features = self.image_model(images)
        if self.image_projection is not None:
            features = self.image_projection(features)
        return features.float()

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
        """Token ids to the EOT vector and every position's projected state (causal: cutting the positions to the
        batch's length L gives the same outputs as the full context)."""
        tower = self.text_tower
        length = input_ids.shape[1]
        tokens = tower.token_embedding(input_ids) + tower.positional_embedding[:length]
        causal = torch.full((length, length), float("-inf"), device=input_ids.device).triu_(1)
        hidden = tower.ln_final(tower.transformer(tokens, attn_mask=causal.to(tokens.dtype)))
        projection = tower.text_projection
        if isinstance(projection, nn.Linear):
            projected = projection(hidden)
        elif projection is not None:
            projected = hidden @ projection
        else:
            projected = hidden
        projected = projected.float()
        return text_features_at_eot(projected, input_ids, attention_mask)

    def tokenize(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        input_ids, attention_mask = tokenize_captions(captions, self.max_words)
        return torch.from_numpy(input_ids), torch.from_numpy(attention_mask)

    def temporal_init_state(self) -> TemporalInitState:
        """The text transformer's positions and blocks (CLIP key names; temporal modules copy those that fit)."""
        tower = self.text_tower
        blocks = [{key: value.detach().float().clone() for key, value in block.state_dict().items()}
                  for block in tower.transformer.resblocks]
        projection = None if self.image_projection is None else self.image_projection.weight.detach().t().clone()
        return TemporalInitState(positional_embedding=tower.positional_embedding.detach().float().clone(),
                                 blocks=blocks, visual_projection=projection, logit_scale=self.logit_scale)

    def initial_logit_scale(self) -> float:
        return self.logit_scale


def image_feature_width(model: nn.Module, image_size: int) -> int:
    """F, measured with one blank image (robust to heads, pooling and models that report widths differently)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(torch.zeros(1, 3, image_size, image_size))
    finally:
        model.train(was_training)
    if not isinstance(output, torch.Tensor) or output.ndim != 2:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f"returns {shape} for one image, not pooled features [1, F]")
    return int(output.shape[1])


def load_text_weights(tower: nn.Module, state: dict[str, torch.Tensor], path: Path) -> tuple[float | None, int]:
    """Copy the text tower's tensors out of ``state`` (an open_clip / OpenAI CLIP checkpoint, a CustomTextCLIP one
    with ``text.`` keys, or the tower's own state dict). Returns the file's log logit scale (or None) and how many
    tensors were copied; raises ValueError naming what is missing or mis-shaped."""
    wanted = tower.state_dict()
    picked: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for prefix in ("text.", ""):
            name = key[len(prefix):] if key.startswith(prefix) else None
            if name in wanted and name not in picked:
                picked[name] = value
    missing = sorted(set(wanted) - set(picked))
    if missing:
        raise ValueError(f"{path} lacks {len(missing)} text-tower tensor(s), e.g. {missing[:3]}")
    wrong = [f"{key} {tuple(picked[key].shape)} != {tuple(wanted[key].shape)}" for key in wanted
             if picked[key].shape != wanted[key].shape]
    if wrong:
        raise ValueError(f"{path} has text-tower tensors of other shapes: {'; '.join(wrong[:2])}")
    tower.load_state_dict({key: value.float() for key, value in picked.items()})
    scale = state.get("logit_scale")
    return (float(scale) if isinstance(scale, torch.Tensor) and scale.numel() == 1 else None), len(picked)


def load_image_weights(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> list[str]:
    """Fill a timm model from a state dict, strictly; return the classifier-head keys dropped from the file.

    The model's own timm conversion (``checkpoint_filter_fn`` of its module: OpenAI / open_clip layouts, position
    embeddings resized to the model's grid) is applied first. A head in the file is dropped when the model has none
    or one of another shape (the model was built with ``num_classes=0``, or another width). Everything else must
    match: a missing or unexpected tensor raises ValueError naming it, so a wrong file never leaves weights random.
    """
    import sys

    convert = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
    if callable(convert):
        state = convert(state, model)
    own = model.state_dict()
    heads = model.pretrained_cfg.get("classifier") if hasattr(model, "pretrained_cfg") else None
    heads = (heads,) if isinstance(heads, str) else tuple(heads or ())
    dropped = []
    for head in heads:
        for key in (f"{head}.weight", f"{head}.bias"):
            if key in state and (key not in own or own[key].shape != state[key].shape):
                dropped.append(key)
                del state[key]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{path} does not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    wrong = [f"{key} {tuple(state[key].shape)} != {tuple(own[key].shape)}" for key in own
             if state[key].shape != own[key].shape]
    if wrong:
        raise ValueError(f"{path} has tensors of other shapes: {'; '.join(wrong[:2])}")
    model.load_state_dict({key: value.to(own[key].dtype) for key, value in state.items()})
    return dropped
