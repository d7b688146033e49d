"""Encoding and scoring a split across the processes of a torchrun run.

Every process encodes its contiguous share of the captions and of the videos (:func:`c2vbench.runtime.distributed.
shard_bounds`); the shares are gathered in rank order, which is the split's order. Scoring is sharded by query
rows: each process scores its share of the captions against every video, and the rows are gathered on rank 0 (the
test split when its whole matrix is needed; otherwise rank 0 ranks the gathered features streamed) or on every rank
(the selection split, whose score every rank needs to keep the same best epoch). No process waits on another for
longer than the slowest share takes.

With one process every function here is the ordinary single-process path of :mod:`c2vbench.evaluation.encoding`.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import RetrievalSplit
from c2vbench.evaluation.encoding import (
    EncodedSplit,
    FrameBank,
    compute_frame_bank,
    encode_split,
    encode_texts,
    encode_videos_from_bank,
    score_all,
)
from c2vbench.runtime.distributed import current_world, gather_features, gather_rows, shard_bounds, shard_sizes
from c2vbench.runtime.progress import Reporter

SCORE_BLOCK = 256  # text rows scored at once: score_all's default, so that shares score the same blocks


def rows_to_compute(n_rows: int, rank: int, world_size: int, block: int) -> tuple[int, int]:
    """This rank's share (whole blocks of ``block`` rows), or one placeholder row when the share is empty (every
    rank must take part in the gathers, which need a tensor of the right shape; the placeholder is dropped)."""
    start, stop = shard_bounds(n_rows, rank, world_size, block)
    return (start, stop) if stop > start else (0, 1)


def video_share(split: RetrievalSplit, start: int, stop: int) -> RetrievalSplit:
    return RetrievalSplit(split.name, split.videos[start:stop], [])


@torch.no_grad()
def compute_frame_bank_sharded(model, split: RetrievalSplit, sampling: FrameSampling, batch_size: int,
                               device: torch.device, reporter: Reporter, num_workers: int = 0,
                               description: str = "encoding frames", feature_cache=None, preprocess: str = "tensor",
                               precision: str = "fp32") -> FrameBank:
    """:func:`compute_frame_bank` with every process decoding its share of the videos; every rank gets the whole
    bank. (``feature_cache``, the embedding cache, serves the single-process path.)"""
    world = current_world()
    if not world.distributed:
        return compute_frame_bank(model, split, sampling, batch_size, device, reporter, num_workers, description,
                                  feature_cache, preprocess, precision)
    start_time = time.perf_counter()
    sizes = shard_sizes(len(split.videos), world.size, batch_size)
    start, stop = rows_to_compute(len(split.videos), world.rank, world.size, batch_size)
    local = compute_frame_bank(model, video_share(split, start, stop), sampling, batch_size, device, reporter,
                               num_workers, description, preprocess=preprocess, precision=precision)
    return FrameBank(gather_rows(local.features, sizes), gather_rows(local.frame_mask, sizes),
                     time.perf_counter() - start_time)


@torch.no_grad()
def encode_split_sharded(model, split: RetrievalSplit, sampling: FrameSampling, batch_size: int,
                         device: torch.device, reporter: Reporter, num_workers: int = 0,
                         bank: FrameBank | None = None, feature_cache=None, preprocess: str = "tensor",
                         precision: str = "fp32") -> EncodedSplit:
    """:func:`encode_split` with the captions and videos shared among the processes (whole batches of
    ``batch_size``); every rank gets all the features, in split order. ``bank`` (a whole split's frame bank, as
    every rank holds under ``frozen``) skips decoding."""
    world = current_world()
    if not world.distributed:
        return encode_split(model, split, sampling, batch_size, device, reporter, num_workers, bank=bank,
                            feature_cache=feature_cache, preprocess=preprocess, precision=precision)
    model.eval()
    start_time = time.perf_counter()
    captions = [caption.text for caption in split.captions]
    text_start, text_stop = rows_to_compute(len(captions), world.rank, world.size, batch_size)
    local_text = encode_texts(model, captions[text_start:text_stop], batch_size, device, reporter,
                              precision=precision)
    text = gather_features(local_text, shard_sizes(len(captions), world.size, batch_size))
    text_seconds = time.perf_counter() - start_time

    start_time = time.perf_counter()
    video_start, video_stop = rows_to_compute(len(split.videos), world.rank, world.size, batch_size)
    if bank is None:
        local_bank = compute_frame_bank(model, video_share(split, video_start, video_stop), sampling, batch_size,
                                        device, reporter, num_workers, "encoding videos", preprocess=preprocess,
                                        precision=precision)
    else:
        local_bank = FrameBank(bank.features[video_start:video_stop], bank.frame_mask[video_start:video_stop], 0.0)
    local_video = encode_videos_from_bank(model, local_bank, batch_size, device, precision)
    video = gather_features(local_video, shard_sizes(len(split.videos), world.size, batch_size))
    video_seconds = time.perf_counter() - start_time
    return EncodedSplit(text, video, len(captions) / max(text_seconds, 1e-9),
                        len(split.videos) / max(video_seconds, 1e-9))


@torch.no_grad()
def score_all_sharded(model, encoded: EncodedSplit, device: torch.device, to_all: bool) -> np.ndarray | None:
    """The ``[n_text, n_video]`` logits, each process scoring its share of the text rows against every video.

    ``to_all=False`` gathers the matrix on rank 0 only (the others get None).
    """
    world = current_world()
    if not world.distributed:
        return score_all(model, encoded.text, encoded.video, device)
    n_text = len(encoded.text)
    start, stop = rows_to_compute(n_text, world.rank, world.size, SCORE_BLOCK)
    rows = score_all(model, encoded.text.index(slice(start, stop)), encoded.video, device, text_block=SCORE_BLOCK)
    sim = gather_rows(torch.from_numpy(np.ascontiguousarray(rows)), shard_sizes(n_text, world.size, SCORE_BLOCK),
                      to_all)
    return None if sim is None else sim.numpy()

