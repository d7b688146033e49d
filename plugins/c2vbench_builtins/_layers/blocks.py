"""Building blocks shared by the ``seqtransf`` and ``tdb`` temporal modules and the ``tab`` alignment head.

Everything here follows the CLIP4Clip / CLIP2Video "cross" modules (reference/clip2video.md §2.1, §2.6):

* :class:`CrossBlock`: a pre-LN residual attention block, ``x + attn(LN1(x))`` then ``x + mlp(LN2(x))``, with
  QuickGELU and **TF-style LayerNorm (eps 1e-12)**. Its parameter names are those of CLIP's text blocks
  (``attn.in_proj_weight``, ``attn.out_proj.weight``, ``ln_1.weight``, ``mlp.c_fc.weight`` …) so that it can be
  initialised from a CLIP text block and loaded from an official CLIP2Video state dict key for key.
* :class:`TemporalTransformer`: ``resblocks`` — a stack of cross blocks (the official ``transformerClip``,
  ``frame2t_attention`` and ``actionClip`` modules).
* :func:`key_padding_bias`: the additive key mask ``(1 - m_j) * -1e6``, either per sample (the corrected mask,
  ``repeat_interleave`` in CLIP4Clip after its fix) or with the official per-head tiling (``legacy=True``): head h
  of sample b uses the mask of sample ``(b * H + h) mod B``.

Nothing here chooses a device: index tensors are made on the device of the inputs.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

MASKED_KEY_BIAS = -1e6
"""Additive attention bias of a masked key (the official code uses -1e6, not -inf: rows never become NaN)."""

CROSS_LAYER_NORM_EPS = 1e-12
"""Epsilon of the TF-style LayerNorm inside the cross blocks (``until_module.LayerNorm``)."""

TRANS_LAYER_NORM_EPS = 1e-5
"""Epsilon of TDB's ``trans_layernorm`` (a plain ``torch.nn.LayerNorm``)."""

CLIP_BLOCK_KEYS = (
    "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
    "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
    "ln_2.weight", "ln_2.bias",
)
"""The twelve tensors of a CLIP / cross block, by their state-dict names."""


def heads_for_width(width: int) -> int:
    """Attention heads of a cross block of this width: CLIP's rule, width / 64 (at least one)."""
    return max(1, width // 64)


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``, the activation of OpenAI CLIP and of the CLIP4Clip cross blocks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def key_padding_bias(key_mask: torch.Tensor, heads: int, legacy: bool, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention bias ``[B, H, 1, L]`` (or ``[B, 1, 1, L]``) from a ``[B, L]`` key mask.

    Rows (queries) are never masked; a masked key gets ``-1e6``. With ``legacy=True`` the bias of head h of sample
    b is the one of sample ``(b * H + h) mod B``: the official blocks tile the ``[B, L, L]`` mask with
    ``repeat(n_head, 1, 1)`` while ``nn.MultiheadAttention`` reads a 3-D mask as ``[b * H + h]``
    (reference §2.6). The result then depends on which videos share the batch.
    """
    keep = key_mask.to(torch.float32)
    bias = as_attention_dtype((1.0 - keep) * MASKED_KEY_BIAS, dtype)
    batch = key_mask.shape[0]
    if not legacy or heads == 1:
        return bias[:, None, None, :]
    source = (torch.arange(batch, device=key_mask.device)[:, None] * heads
              + torch.arange(heads, device=key_mask.device)[None, :]) % batch
    return bias[source][:, :, None, :]


def as_attention_dtype(bias: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The additive bias in the attention's compute dtype. -1e6 overflows fp16 to -inf (NaN rows when every key is
    masked, e.g. under CUDA autocast), so there it becomes half the dtype's most negative value, which masks as well."""
    if dtype == bias.dtype:
        return bias
    if dtype == torch.float16:
        bias = bias.clamp(min=torch.finfo(dtype).min / 2)
    return bias.to(dtype)


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention with ``nn.MultiheadAttention``'s parameter layout and an additive key bias.

    ``in_proj_weight`` holds the q, k and v projections as row blocks; q is scaled by 1/sqrt(head width).
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.width = width
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.reshape(batch, length, 3, self.heads, self.width // self.heads).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=as_attention_dtype(bias, query.dtype))
        return self.out_proj(attended.transpose(1, 2).reshape(batch, length, self.width))


class CrossBlock(nn.Module):
    """One CLIP4Clip cross block: pre-LN attention and QuickGELU MLP, TF-style LayerNorms (eps 1e-12)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = MaskedSelfAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width, eps=CROSS_LAYER_NORM_EPS)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width, eps=CROSS_LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), bias)
        return x + self.mlp(self.ln_2(x))


class TemporalTransformer(nn.Module):
    """A stack of cross blocks over ``[B, L, D]`` tokens with a ``[B, L]`` key mask (no causal mask).

    Attributes:
        resblocks: the blocks (state-dict keys ``resblocks.<i>.<CLIP block key>``).
        legacy_mask: use the official per-head mask tiling (see :func:`key_padding_bias`).
    """

    def __init__(self, width: int, layers: int, heads: int | None = None, legacy_mask: bool = False):
        super().__init__()
        self.width = width
        self.heads = heads or heads_for_width(width)
        self.legacy_mask = legacy_mask
        self.resblocks = nn.ModuleList(CrossBlock(width, self.heads) for _ in range(layers))

    def forward(self, tokens: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] == 0:
            return tokens
        bias = key_padding_bias(key_mask, self.heads, self.legacy_mask, dtype=torch.float32)
        for block in self.resblocks:
            tokens = block(tokens, bias)
        return tokens


def init_like_official_(module: nn.Module) -> None:
    """The official ``init_weights`` on new modules: N(0, 0.02) for Linear and Embedding weights, zero biases,
    LayerNorm (1, 0); ``in_proj_weight`` keeps its xavier initialisation."""
    for submodule in module.modules():
        if isinstance(submodule, (nn.Linear, nn.Embedding)):
            nn.init.normal_(submodule.weight, mean=0.0, std=0.02)
            if isinstance(submodule, nn.Linear) and submodule.bias is not None:
                nn.init.zeros_(submodule.bias)
        elif isinstance(submodule, nn.LayerNorm):
            nn.init.ones_(submodule.weight)
            nn.init.zeros_(submodule.bias)


def copy_clip_blocks_(transformer: TemporalTransformer, clip_blocks: Sequence[dict[str, torch.Tensor]]) -> int:
    """Copy CLIP text blocks into the first blocks of ``transformer``; return how many were copied.

    A block is copied only when all twelve tensors exist with the right shapes; copying stops at the first block
    that does not fit (or when CLIP has fewer blocks), leaving the rest as initialised.
    """
    copied = 0
    for block, clip_block in zip(transformer.resblocks, clip_blocks, strict=False):
        own = block.state_dict()
        if any(key not in clip_block or clip_block[key].shape != own[key].shape for key in CLIP_BLOCK_KEYS):
            break
        block.load_state_dict({key: clip_block[key].detach().float() for key in CLIP_BLOCK_KEYS})
        copied += 1
    return copied


def fits_backbone(init_state, width: int) -> str | None:
    """Why a backbone's :class:`~c2vbench.platform.interfaces.TemporalInitState` cannot seed modules of this width, or
    None.

    CLIP2Video copies CLIP's text transformer into its temporal blocks, which only works when the text width equals
    the joint embedding width (512 for ViT-B/32 and B/16).
    """
    if init_state is None:
        return "the backbone offers no text transformer to initialise from"
    text_width = init_state.positional_embedding.shape[1]
    if text_width != width:
        return f"the backbone's text width {text_width} differs from the embedding width {width}"
    return None


def backbone_init_state(backbone):
    """The backbone's temporal init state, or None when it has no ``temporal_init_state`` method."""
    getter = getattr(backbone, "temporal_init_state", None)
    return getter() if callable(getter) else None


def subsample_half_rate(frames: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every second frame from the first: ``X[:, 0::2]`` and ``m[:, 0::2]`` (TAB's half-rate stream, §3.2)."""
    return frames[:, 0::2], frame_mask[:, 0::2]


def log_init_note(component: str, note: str) -> None:
    logger.info("%s: %s", component, note)
