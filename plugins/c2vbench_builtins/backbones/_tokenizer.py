"""CLIP tokenisation with the CLIP2Video / CLIP4Clip sequence rule.

``[SOT] w1 ... wn [EOT]`` truncated so that at most ``max_words`` ids remain (SOT included, EOT last), padded with
id 0; the attention mask is 1 from SOT through EOT. End-of-text has the largest id, so ``argmax(ids)`` finds it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=1)
def clip_bpe_tokenizer():
    """open_clip's byte-level BPE tokenizer (OpenAI CLIP's vocabulary, shipped inside the package)."""
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


def tokenize_captions(captions: list[str], max_words: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Captions to ``(input_ids, attention_mask)``, both ``int64 [len(captions), max_words]``."""
    tokenizer = clip_bpe_tokenizer()
    input_ids = np.zeros((len(captions), max_words), dtype=np.int64)
    attention_mask = np.zeros((len(captions), max_words), dtype=np.int64)
    for row, caption in enumerate(captions):
        ids = [tokenizer.sot_token_id] + tokenizer.encode(caption)
        ids = ids[: max_words - 1] + [tokenizer.eot_token_id]
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def text_features_at_eot(projected: Any, input_ids: Any, attention_mask: Any) -> Any:
    """:class:`TextFeatures` from every position's projected state: the sentence vector is the state at the
    end-of-text token, the largest id in CLIP's vocabulary (so ``argmax`` over the ids finds it)."""
    import torch

    from c2vbench.plugin import TextFeatures

    eot_position = input_ids.argmax(dim=-1)
    eot = projected[torch.arange(projected.shape[0], device=projected.device), eot_position]
    return TextFeatures(eot=eot, tokens=projected, token_mask=attention_mask)
