"""Torch data loading of sampled, preprocessed video frames with their frame masks.

Decoding and preprocessing run in worker processes (``num_workers``; :func:`default_num_workers` uses every CPU
core, which is 2 on the reference machine); each worker keeps torch to one thread so that workers, not threads
inside one worker, share the cores. Batches are pinned on CUDA for asynchronous copies.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import DataError
from .decoding import read_sampled_frames
from .preprocess import preprocess_frames
from .sampling import FrameSampling
from .types import VideoRecord


@dataclasses.dataclass(frozen=True)
class ImageFormat:
    """What the backbone expects: square side and normalisation constants."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class VideoClipDataset(Dataset):
    """Item i: ``(frames [T, 3, S, S] float32, frame_mask [T] int64, i)``; padded slots are zero images.

    With ``train=True`` the sampling jitter (when the protocol has it) is drawn from a generator seeded by
    ``(seed, epoch, i)``, so a run is reproducible whatever the number of workers.

    A video that yields no frame raises :class:`DataError` (screening catches these before a run): an all-masked
    clip would make mean pooling divide by zero, and no NaN may reach the loss.
    """

    def __init__(self, videos: Sequence[VideoRecord], sampling: FrameSampling, image_format: ImageFormat,
                 train: bool = False, seed: int = 0):
        self.videos = list(videos)
        self.sampling = sampling
        self.image_format = image_format
        self.train = train
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.train else None
        video = self.videos[index]
        decoded = read_sampled_frames(video.source, self.sampling, rng)
        if len(decoded.frames) == 0:
            raise DataError(f"video {video.video_id} ({video.source}) yields no frame under the sampling rule "
                            f"({decoded.n_grid} grid frames, feature_framerate {self.sampling.feature_framerate})",
                            "screen the split first, or pass --allow-missing to skip such videos")
        slots = self.sampling.max_frames
        size = self.image_format.size
        frames = np.zeros((slots, 3, size, size), dtype=np.float32)
        mask = np.zeros(slots, dtype=np.int64)
        count = min(len(decoded.frames), slots)
        frames[:count] = preprocess_frames(decoded.frames[:count], size, self.image_format.mean,
                                           self.image_format.std)
        mask[:count] = 1
        return torch.from_numpy(frames), torch.from_numpy(mask), index


def default_num_workers() -> int:
    """Worker processes that keep every available CPU core decoding (2 on the reference machine)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


def _worker_init(worker_id: int) -> None:
    # One decoding process per core: intra-op threads inside workers would only contend with each other.
    torch.set_num_threads(1)


def make_video_loader(dataset: VideoClipDataset, batch_size: int, num_workers: int = 0,
                      shuffle: bool = False, seed: int = 0, pin_memory: bool = False,
                      batches: Sequence[Sequence[int]] | None = None) -> DataLoader:
    """A DataLoader over ``dataset``; shuffling uses its own seeded generator.

    ``num_workers=-1`` means :func:`default_num_workers`. Workers are started afresh for every epoch (not
    persistent) because each holds a copy of the dataset: that is how ``set_epoch`` reaches them. Pass
    ``pin_memory=True`` when the model runs on CUDA. ``batches`` (lists of item indices) fixes every batch
    instead (training plans its global batches and each process loads its share); ``batch_size`` and ``shuffle``
    are then ignored.
    """
    if num_workers < 0:
        num_workers = default_num_workers()
    extra = {}
    if num_workers > 0:
        extra = {"worker_init_fn": _worker_init, "prefetch_factor": 4}
    if batches is not None:
        return DataLoader(dataset, batch_sampler=[list(batch) for batch in batches], num_workers=num_workers,
                          pin_memory=pin_memory, persistent_workers=False, **extra)
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      generator=generator, pin_memory=pin_memory, persistent_workers=False, **extra)
