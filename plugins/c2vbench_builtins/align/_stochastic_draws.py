"""Reproducible random draws for T-MASS's test-time trials: the same numbers for a (text, video) pair wherever and
however often it is scored.

The official evaluation draws, for every video, ``trials`` fresh uniform vectors per caption (``torch.rand_like``
in a loop), so every pair gets its own independent draws. c2vbench scores a split tile by tile and computes every
tile twice (:mod:`c2vbench.evaluation.streamed_ranking`: once for the ground-truth scores, once to count), in an
order that depends on the tile size; draws from a generator would differ between the two passes and break the
exact rank counts. Here the draw of a pair is a function of the pair itself:

* each text gets a key from the bits of its sentence vector, each video a key from the bits of its valid frames
  (summed over frames, so a reordering of the frames keeps the key: the order probes then change only what the
  model sees, not the dice);
* a pair's key mixes its text's and its video's keys, and the pair's ``trials × width`` draws are an integer hash
  of that key and the position (:func:`pair_codes`), 24 bits each, scaled to [0, 1).

Distinct pairs thus get unrelated draws, as in the official loop; ``tests/test_successor_heads.py`` checks the
marginals and the independence across candidates, across queries and across coordinates.

A normal prior (the official ``--stochastic_prior normal``) turns two such uniforms into a normal draw
(Box-Muller). The seed (``trial_seed``, the official ``--seed 24``) salts every key.
"""

from __future__ import annotations

import math

import torch

MASK_32 = 0xFFFFFFFF
CODE_BITS = 24
CODE_RANGE = 1 << CODE_BITS


def mix32(values: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xor-shift-multiply rounds) of int64 values in [0, 2^32); every product stays below
    2^63, so nothing overflows."""
    values = ((values ^ (values >> 16)) * 0x7FEB352D) & MASK_32
    values = ((values ^ (values >> 15)) * 0x5BD1E995) & MASK_32
    return values ^ (values >> 16)


def _salt(seed: int, stream: int) -> int:
    return int(mix32(torch.tensor((2 * seed + stream) & MASK_32, dtype=torch.int64)))


def row_keys(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """One 32-bit key per row of ``values [N, ..., D]`` from the bits of its float32 values.

    With ``mask [N, T]`` (for frames ``[N, T, D]``) only the slots with mask 1 count, and their per-slot hashes are
    added, so the key does not depend on the order of the slots or on what the padded ones hold.
    """
    bits = values.detach().float().contiguous().view(torch.int32).to(torch.int64) & MASK_32
    coordinate = mix32(torch.arange(1, values.shape[-1] + 1, device=values.device, dtype=torch.int64))
    per_slot = mix32(bits ^ coordinate).sum(dim=-1)
    if mask is not None:
        per_slot = (per_slot * (mask != 0)).sum(dim=-1)
    per_row = per_slot.reshape(values.shape[0], -1).sum(dim=-1)
    return mix32((per_row ^ (per_row >> 32)) & MASK_32)


def pair_codes(text_keys: torch.Tensor, video_keys: torch.Tensor, trials: int, columns: int,
               seed: int) -> torch.Tensor:
    """``[n_text, n_video, trials, columns]`` integers in [0, 2^24): a hash of each pair's key, the seed and the
    position.

    The pair's key is fully mixed once; each of its ``trials × columns`` codes then costs one xor-multiply-xorshift
    round (the test-time trials draw ``trials × width`` numbers for every pair, so this is the hot loop).
    """
    counter = mix32(torch.arange(1, trials * columns + 1, device=text_keys.device, dtype=torch.int64))
    pair_key = mix32(text_keys[:, None] ^ mix32(video_keys[None, :] ^ _salt(seed, 1)))
    codes = pair_key[:, :, None] ^ counter  # the only allocation of this size: the rest works in place
    codes.mul_(0x2C1B3C6D).bitwise_and_(MASK_32)
    codes.bitwise_xor_(codes >> 17).bitwise_right_shift_(32 - CODE_BITS)
    return codes.reshape(len(text_keys), len(video_keys), trials, columns)


def draws_from_codes(codes: torch.Tensor, prior: str, prior_std: float) -> torch.Tensor:
    """The draws (``[..., width]``, float32) from :func:`pair_codes`: uniform on [0, 1), or normal with standard
    deviation ``prior_std`` from two uniforms (``columns`` twice the width)."""
    if prior == "uniform01":
        return codes.to(torch.float32).mul_(1.0 / CODE_RANGE)
    width = codes.shape[-1] // 2
    radius = torch.sqrt(-2.0 * torch.log((codes[..., :width].to(torch.float32) + 0.5) / CODE_RANGE))
    angle = (2.0 * math.pi / CODE_RANGE) * codes[..., width:].to(torch.float32)
    return prior_std * radius * torch.cos(angle)


def codes_per_row(prior: str, width: int) -> int:
    """How many codes a pair needs per trial: one per dimension, two for the normal prior."""
    return width if prior == "uniform01" else 2 * width
