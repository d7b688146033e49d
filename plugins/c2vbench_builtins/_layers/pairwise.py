"""Scoring every text against every video in memory-bounded blocks, for heads whose score is not a dot product.

X-Pool, DRL and T-MASS compute a vector (or a token-by-frame matrix) for every (text, video) pair; at evaluation
the core hands them tiles of up to 4096 x 4096 pairs (:class:`c2vbench.evaluation.streamed_ranking.HeadScores`), far
too many to hold at once. :func:`blockwise_scores` splits a tile into blocks of pairs whose intermediate tensors stay
under :data:`PAIR_BLOCK_FLOATS` and writes each block's scores into one ``[n_text, n_video]`` matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

PAIR_BLOCK_FLOATS = 1 << 24
"""Floats a head may hold for one block of pairs (64 MiB in float32): the per-pair width times the pairs."""


def pair_blocks(n_text: int, n_video: int, floats_per_pair: int,
                budget: int = PAIR_BLOCK_FLOATS) -> Iterator[tuple[slice, slice]]:
    """``(text rows, video columns)`` blocks covering every pair, each of at most ``budget / floats_per_pair`` pairs
    (at least one pair)."""
    pairs = max(1, budget // max(1, floats_per_pair))
    text_block = max(1, min(n_text, pairs))
    video_block = max(1, min(n_video, pairs // text_block))
    for text_start in range(0, n_text, text_block):
        for video_start in range(0, n_video, video_block):
            yield (slice(text_start, min(n_text, text_start + text_block)),
                   slice(video_start, min(n_video, video_start + video_block)))


def blockwise_scores(n_text: int, n_video: int, floats_per_pair: int, score_block: Callable[[slice, slice],
                     torch.Tensor], like: torch.Tensor, budget: int = PAIR_BLOCK_FLOATS) -> torch.Tensor:
    """The ``[n_text, n_video]`` scores, ``score_block(text_rows, video_columns)`` computed block by block.

    One block (the usual case in training batches) is returned as computed, so autograd sees it unchanged.
    """
    blocks = list(pair_blocks(n_text, n_video, floats_per_pair, budget))
    if len(blocks) == 1:
        return score_block(*blocks[0])
    scores = like.new_empty((n_text, n_video))
    for rows, columns in blocks:
        scores[rows, columns] = score_block(rows, columns)
    return scores
