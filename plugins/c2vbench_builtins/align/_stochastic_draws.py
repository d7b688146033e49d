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
* each key gives ``trials × width`` 24-bit codes through an integer hash (:func:`uniform_codes`);
* the draw of pair (t, v) is ``(a_t + b_v) mod 2^24`` scaled to [0, 1). For a fixed text, the ``b_v`` of different
  videos are independent and uniform, so its draws against the candidate videos are independent and uniform too
  (and likewise for a fixed video across captions): every query ranks candidates whose dice are i.i.d. U(0, 1), as
  in the official loop. ``tests/test_successor_heads.py`` checks the marginals and the independence.

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


def uniform_codes(keys: torch.Tensor, trials: int, width: int, seed: int, stream: int) -> torch.Tensor:
    """``[N, trials, width]`` integers in [0, 2^24), a hash of each key, the seed and the position."""
    counter = mix32(torch.arange(1, trials * width + 1, device=keys.device, dtype=torch.int64)).reshape(trials, width)
    salted = mix32(keys ^ _salt(seed, stream))
    return mix32(salted[:, None, None] ^ counter) >> (32 - CODE_BITS)


def pair_draws(text_codes: torch.Tensor, video_codes: torch.Tensor, prior: str, prior_std: float) -> torch.Tensor:
    """``[trials, n_text, n_video, width]`` draws from the per-row codes (``[n_text, trials, C]`` and
    ``[n_video, trials, C]``; ``C`` is the width, twice the width for the normal prior)."""
    combined = (text_codes.permute(1, 0, 2)[:, :, None] + video_codes.permute(1, 0, 2)[:, None]) & (CODE_RANGE - 1)
    if prior == "uniform01":
        return combined.to(torch.float32) / CODE_RANGE
    width = combined.shape[-1] // 2
    radius = torch.sqrt(-2.0 * torch.log((combined[..., :width].to(torch.float32) + 0.5) / CODE_RANGE))
    angle = (2.0 * math.pi / CODE_RANGE) * combined[..., width:].to(torch.float32)
    return prior_std * radius * torch.cos(angle)


def codes_per_row(prior: str, width: int) -> int:
    """How many codes a row needs per trial: one per dimension, two for the normal prior."""
    return width if prior == "uniform01" else 2 * width
