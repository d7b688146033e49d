"""Torch data loading of sampled, preprocessed video frames with their frame masks."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

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
        decoded = read_sampled_frames(self.videos[index].source, self.sampling, rng)
        slots = self.sampling.max_frames
        size = self.image_format.size
        frames = np.zeros((slots, 3, size, size), dtype=np.float32)
        mask = np.zeros(slots, dtype=np.int64)
        count = min(len(decoded.frames), slots)
        if count:
            frames[:count] = preprocess_frames(decoded.frames[:count], size, self.image_format.mean,
                                               self.image_format.std)
            mask[:count] = 1
        return torch.from_numpy(frames), torch.from_numpy(mask), index


def make_video_loader(dataset: VideoClipDataset, batch_size: int, num_workers: int = 0,
                      shuffle: bool = False, seed: int = 0, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over ``dataset``; shuffling uses its own seeded generator."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      generator=generator, pin_memory=pin_memory, persistent_workers=False)
