"""A CLIP backbone (an open_clip ``CLIP`` model) behind the c2vbench :class:`~c2vbench.platform.interfaces.Backbone`
API.

Used by the ``clip`` and ``tiny-clip`` plug-ins and by checkpoint readers. The text tower is run position by
position (not only pooled) because alignment heads such as TAB need every token's projected state.
"""

from __future__ import annotations

import torch
from torch import nn

from c2vbench.plugin import TemporalInitState, TextFeatures

from ._tokenizer import text_features_at_eot, tokenize_captions


class ClipBackbone(nn.Module):
    """Frame and text encoders of an open_clip ``CLIP`` with OpenAI-style towers.

    Args:
        clip: an ``open_clip.model.CLIP`` (ViT image tower, transformer text tower).
        max_words: token positions per caption (CLIP2Video uses 32).
        image_mean, image_std: normalisation constants of the checkpoint's preprocessing.
        pretrained: whether the weights were trained; it sets the backbone learning-rate scale a run uses when none
            is given (CLIP4Clip's 1e-3 for trained CLIP weights, 1 for random ones that must learn from scratch).
    """

    def __init__(self, clip: nn.Module, max_words: int = 32, pretrained: bool = False,
                 image_mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073),
                 image_std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)):
        super().__init__()
        if not hasattr(clip, "transformer") or not hasattr(clip.visual, "proj"):
            raise TypeError("ClipBackbone needs an open_clip CLIP with a ViT image tower and a transformer text tower")
        self.clip = clip
        # The encoders never use CLIP's logit scale: align heads start from a copy (initial_logit_scale) and learn
        # their own. Frozen, it is not handed to the optimiser as a parameter that can never receive a gradient.
        clip.logit_scale.requires_grad_(False)
        self.max_words = min(max_words, clip.positional_embedding.shape[0])
        image_size = clip.visual.image_size
        self.image_size = int(image_size[0] if isinstance(image_size, (tuple, list)) else image_size)
        self.image_mean = tuple(float(v) for v in image_mean)
        self.image_std = tuple(float(v) for v in image_std)
        self.embed_dim = int(clip.text_projection.shape[1])
        self.context_length = self.max_words
        self.pretrained = pretrained
        self.recommended_lr_scale = 1e-3 if pretrained else 1.0

    @property
    def storage_dtype(self) -> torch.dtype:
        return self.clip.visual.conv1.weight.dtype

    def set_activation_checkpointing(self, enabled: bool) -> None:
        """Recompute each block of the image tower in the backward pass instead of keeping its activations
        (open_clip's own per-block checkpointing: the same arithmetic, less memory)."""
        self.clip.visual.set_grad_checkpointing(enabled)

    def encode_frames(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` normalised images to ``[N, D]`` CLS embeddings (after ``ln_post`` and ``proj``)."""
        return self.clip.visual(images.to(self.storage_dtype)).float()

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
        """Token ids to the EOT vector and every position's projected state.

        Positional embeddings and the causal mask are cut to the actual length L, which gives exactly the same
        outputs as running the full context (the mask is causal) at a fraction of the cost.
        """
        length = input_ids.shape[1]
        clip = self.clip
        dtype = self.storage_dtype
        tokens = clip.token_embedding(input_ids).to(dtype) + clip.positional_embedding[:length].to(dtype)
        causal = torch.full((length, length), float("-inf"), device=input_ids.device).triu_(1)
        hidden = clip.transformer(tokens, attn_mask=causal.to(dtype))
        hidden = clip.ln_final(hidden)
        projected = (hidden @ clip.text_projection.to(hidden.dtype)).float()
        return text_features_at_eot(projected, input_ids, attention_mask)

    def tokenize(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        input_ids, attention_mask = tokenize_captions(captions, self.max_words)
        return torch.from_numpy(input_ids), torch.from_numpy(attention_mask)

    def temporal_init_state(self) -> TemporalInitState:
        clip = self.clip
        blocks = [
            {key: value.detach().float().clone() for key, value in block.state_dict().items()}
            for block in clip.transformer.resblocks
        ]
        return TemporalInitState(
            positional_embedding=clip.positional_embedding.detach().float().clone(),
            blocks=blocks,
            visual_projection=clip.visual.proj.detach().float().clone(),
            logit_scale=float(clip.logit_scale.detach()),
        )

    def initial_logit_scale(self) -> float:
        return float(self.clip.logit_scale.detach())


class Fp32LayerNorm(nn.LayerNorm):
    """A LayerNorm that normalises in float32 and casts back, as official CLIP's does: with fp16 towers the
    hidden states are fp16 while the norms keep fp32 weights, and CUDA's layer_norm refuses mixed dtypes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return torch.nn.functional.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


def half_precision_towers(clip: nn.Module) -> nn.Module:
    """CLIP2Video's fp16 towers: Conv/Linear/attention/projection weights in fp16 (open_clip's
    ``convert_weights_to_lp``), every LayerNorm kept in fp32 and computed in fp32 (:class:`Fp32LayerNorm`); the
    parameters and state-dict keys are unchanged."""
    from open_clip.model import convert_weights_to_lp

    convert_weights_to_lp(clip, dtype=torch.float16)
    for parent in list(clip.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.LayerNorm) and not isinstance(child, Fp32LayerNorm):
                replacement = Fp32LayerNorm(child.normalized_shape, eps=child.eps,
                                            elementwise_affine=child.elementwise_affine)
                replacement.weight, replacement.bias = child.weight, child.bias
                setattr(parent, name, replacement)
    return clip


def make_clip(embed_dim: int, image_size: int, patch_size: int, vision_width: int, vision_layers: int,
              context_length: int, vocab_size: int, text_width: int, text_layers: int) -> nn.Module:
    """An OpenAI-architecture CLIP (QuickGELU, heads = width / 64) of the given sizes, randomly initialised."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=vision_layers, width=vision_width, patch_size=patch_size, image_size=image_size,
                           head_width=64)
    text = CLIPTextCfg(context_length=context_length, vocab_size=vocab_size, width=text_width,
                       heads=max(1, text_width // 64), layers=text_layers)
    # CLIP's own initial temperature (logit scale 1/0.07); pretrained weights overwrite it.
    return CLIP(embed_dim, vision_cfg=vision, text_cfg=text, quick_gelu=True, cast_dtype=None)


def clip_sizes_from_openai_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, int]:
    """Every architecture size of an OpenAI-layout CLIP state dict, read from the tensors' shapes."""
    conv = state_dict["visual.conv1.weight"]
    patch_size = conv.shape[-1]
    grid = round((state_dict["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    return {
        "embed_dim": state_dict["text_projection"].shape[1],
        "image_size": patch_size * grid,
        "patch_size": patch_size,
        "vision_width": conv.shape[0],
        "vision_layers": len({key.split(".")[3] for key in state_dict
                              if key.startswith("visual.transformer.resblocks.")}),
        "context_length": state_dict["positional_embedding"].shape[0],
        "vocab_size": state_dict["token_embedding.weight"].shape[0],
        "text_width": state_dict["ln_final.weight"].shape[0],
        "text_layers": len({key.split(".")[2] for key in state_dict if key.startswith("transformer.resblocks.")}),
    }


def clip_from_openai_state_dict(state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Build an fp32 CLIP from an OpenAI-layout state dict (fp16 tensors are upcast), sizes inferred."""
    model = make_clip(**clip_sizes_from_openai_state_dict(state_dict))
    cleaned = {key: value.float() for key, value in state_dict.items()
               if key not in {"input_resolution", "context_length", "vocab_size"}}
    missing, unexpected = model.load_state_dict(cleaned, strict=False)
    # open_clip keeps a causal-mask buffer that OpenAI state dicts do not store; nothing else may be missing.
    missing = [key for key in missing if key != "attn_mask"]
    if missing or unexpected:
        raise ValueError(f"not an OpenAI-layout CLIP state dict: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model
