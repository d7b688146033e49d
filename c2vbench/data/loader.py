"""Torch data loading of sampled, preprocessed video frames with their frame masks.

Decoding (and, on the ``pil`` path, preprocessing) runs in worker processes (``num_workers``;
:func:`default_num_workers` uses every CPU core, which is 2 on the reference machine); each worker keeps torch to
one thread so that workers, not threads inside one worker, share the cores. Batches are pinned on CUDA for
asynchronous copies, workers prefetch, and a training loader keeps its workers across epochs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from c2vbench.data.decoding import plan_sampled_frames, read_sampled_frames, sampled_frame_paths
from c2vbench.data.feed import RawClip, VideoFrameRequest, collate_raw, decode_jpegs
from c2vbench.data.preprocess import preprocess_frames
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import VideoRecord
from c2vbench.data.workers import default_num_workers, one_torch_thread
from c2vbench.platform.errors import DataError


@dataclasses.dataclass(frozen=True)
class ImageFormat:
    """What the backbone expects: square side and normalisation constants."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class VideoClipDataset(Dataset):
    """Item i: ``(frames, frame_mask [T] int64, i)``; padded slots are zero images.

    ``preprocess="pil"``: frames are ``[T, 3, S, S]`` float32, preprocessed here with PIL (the official path).
    ``preprocess="tensor"``: frames are a :class:`~c2vbench.data.feed.RawClip` of uint8 frames (or, with
    ``jpegs_to_device``, the encoded JPEG files of a frame folder; with ``videos_to_device``, only which frames of a
    video file to decode, which TorchCodec then decodes on the device), which :class:`~c2vbench.data.feed.FrameFeed`
    turns into model input on the device. ``worker_decoded_share`` (with ``jpegs_to_device``): the fraction of
    frame-folder videos that the workers still decode on their CPU cores, so that the CPUs and the GPU's decoder
    both work; which videos is fixed by their index (:func:`decoded_in_worker`), not by timing, so a run is
    reproducible.

    With ``train=True`` the sampling jitter (when the protocol has it) is drawn from a generator seeded by
    ``(seed, epoch, i)``, so a run is reproducible whatever the number of workers. The epoch is set with
    :meth:`set_epoch`, or travels with the index (``dataset[(epoch, i)]``, what :func:`make_video_loader`'s
    sampler asks for, so that persistent workers see every epoch).

    A video that yields no frame raises :class:`DataError` (screening catches these before a run): an all-masked
    clip would make mean pooling divide by zero, and no NaN may reach the loss.
    """

    def __init__(self, videos: Sequence[VideoRecord], sampling: FrameSampling, image_format: ImageFormat,
                 train: bool = False, seed: int = 0, preprocess: str = "pil", jpegs_to_device: bool = False,
                 worker_decoded_share: float = 0.0, videos_to_device: bool = False):
        if preprocess not in ("pil", "tensor"):
            raise ValueError(f"unknown preprocessing path {preprocess!r}")
        if not 0.0 <= worker_decoded_share <= 1.0:
            raise ValueError(f"worker_decoded_share must lie in [0, 1], got {worker_decoded_share}")
        self.videos = list(videos)
        self.sampling = sampling
        self.image_format = image_format
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.preprocess = preprocess
        self.jpegs_to_device = jpegs_to_device
        self.videos_to_device = videos_to_device
        self.worker_decoded_share = worker_decoded_share

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        rng = np.random.default_rng([self.seed, epoch, index]) if self.train else None
        video = self.videos[index]
        slots = self.sampling.max_frames
        mask = np.zeros(slots, dtype=np.int64)
        if self.preprocess == "tensor":
            clip = self._raw_clip(video, rng, self.jpegs_to_device and not decoded_in_worker(
                index, self.worker_decoded_share))
            mask[: min(len(clip), slots)] = 1
            return clip, torch.from_numpy(mask), index
        decoded = read_sampled_frames(video.source, self.sampling, rng, video.window)
        self._check_not_empty(video, len(decoded.frames), decoded.n_grid)
        size = self.image_format.size
        frames = np.zeros((slots, 3, size, size), dtype=np.float32)
        count = min(len(decoded.frames), slots)
        frames[:count] = preprocess_frames(decoded.frames[:count], size, self.image_format.mean,
                                           self.image_format.std)
        mask[:count] = 1
        return torch.from_numpy(frames), torch.from_numpy(mask), index

    def _raw_clip(self, video: VideoRecord, rng, jpegs_to_device: bool) -> RawClip:
        slots = self.sampling.max_frames
        source = video.source
        if source.is_dir():
            paths, _, n_files = sampled_frame_paths(source, self.sampling, rng, video.window)
            paths = paths[:slots]
            self._check_not_empty(video, len(paths), n_files)
            if all(path.suffix.lower() in (".jpg", ".jpeg") for path in paths):
                encoded = [_read_jpeg_bytes(path) for path in paths]
                if jpegs_to_device:
                    return RawClip(jpegs=encoded)
                return RawClip(frames=decode_jpegs(encoded, torch.device("cpu")))  # stacked when packed
        if self.videos_to_device:
            planned = plan_sampled_frames(source, self.sampling, rng, video.window)
            if planned is not None:
                native, n_grid = planned
                self._check_not_empty(video, len(native), n_grid)
                return RawClip(video=VideoFrameRequest(str(source), tuple(int(i) for i in native[:slots])))
        decoded = read_sampled_frames(source, self.sampling, rng, video.window)
        self._check_not_empty(video, len(decoded.frames), decoded.n_grid)
        frames = torch.from_numpy(np.ascontiguousarray(decoded.frames[:slots]))
        return RawClip(frames=frames.permute(0, 3, 1, 2).contiguous())

    def _check_not_empty(self, video: VideoRecord, count: int, n_grid: int) -> None:
        if count == 0:
            window = "" if video.window is None else f" in its window {video.window}"
            raise DataError(f"video {video.video_id} ({video.source}) yields no frame under the sampling rule "
                            f"({n_grid} grid frames{window}, feature_framerate {self.sampling.feature_framerate})",
                            "screen the split first, or pass --allow-missing to skip such videos")


def decoded_in_worker(index: int, share: float) -> bool:
    """Whether video ``index`` is among the ``share`` of videos decoded by the workers: every video where
    ``floor(index * share)`` steps up, so any run of consecutive videos (a batch) holds that share to within one."""
    return math.floor((index + 1) * share) > math.floor(index * share)


def _read_jpeg_bytes(path) -> torch.Tensor:
    try:
        return torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    except OSError as error:
        raise DataError(f"cannot read frame {path}: {error}", "re-extract this video with `c2vbench prepare`") from None


class EpochSampler(Sampler):
    """Yields ``(epoch, index)``: the order of an epoch and the epoch itself, which reaches the workers with every
    index, so that they can persist across epochs. The shuffled order is the one ``DataLoader(shuffle=True)``
    draws from a generator seeded by ``seed * 100003 + epoch`` (see :func:`c2vbench.training.loop.epoch_order`)."""

    def __init__(self, n_items: int, shuffle: bool, seed: int):
        self.n_items, self.shuffle, self.seed, self.epoch = n_items, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_items

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            torch.empty((), dtype=torch.int64).random_(generator=generator)
            order = torch.randperm(self.n_items, generator=generator).tolist()
        else:
            order = range(self.n_items)
        return iter([(self.epoch, int(index)) for index in order])


class PlannedBatches:
    """A batch sampler whose batches are planned per epoch (:meth:`plan`); items carry the epoch to the workers."""

    def __init__(self, batches: Sequence[Sequence[int]] = (), epoch: int = 0):
        self.plan(epoch, batches)

    def plan(self, epoch: int, batches: Sequence[Sequence[int]]) -> None:
        self.epoch, self.batches = epoch, [list(batch) for batch in batches]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter([[(self.epoch, int(index)) for index in batch] for batch in self.batches])


def make_video_loader(dataset: VideoClipDataset, batch_size: int, num_workers: int = 0,
                      shuffle: bool = False, seed: int = 0, pin_memory: bool = False,
                      batches: Sequence[Sequence[int]] | None = None, persistent: bool = False) -> DataLoader:
    """A DataLoader over ``dataset``; its sampler carries the epoch to the workers.

    ``num_workers=-1`` means :func:`default_num_workers`. Each worker prefetches 4 batches; ``persistent`` keeps
    the workers alive between passes. Without ``batches`` the sampler is an :class:`EpochSampler`
    (``loader.sampler.set_epoch(e)`` before a pass); with ``batches`` (lists of item indices: training plans its
    global batches and each process loads its share) it is a :class:`PlannedBatches`
    (``loader.batch_sampler.plan(e, batches)`` before a pass), and ``batch_size`` and ``shuffle`` are ignored.
    Pass ``pin_memory=True`` when the model runs on CUDA. Batches of the ``tensor`` path are
    :class:`~c2vbench.data.feed.RawBatch` objects (see :mod:`c2vbench.data.feed`).
    """
    if num_workers < 0:
        num_workers = default_num_workers()
    extra = {}
    if num_workers > 0:
        extra = {"worker_init_fn": one_torch_thread, "prefetch_factor": 4, "persistent_workers": persistent}
    if dataset.preprocess == "tensor":
        extra["collate_fn"] = collate_raw
    # the loader's own generator: iterating never draws from (and so never shifts) torch's global generator
    generator = torch.Generator().manual_seed(seed)
    if batches is not None:
        return DataLoader(dataset, batch_sampler=PlannedBatches(batches, dataset.epoch), num_workers=num_workers,
                          pin_memory=pin_memory, generator=generator, **extra)
    return DataLoader(dataset, batch_size=batch_size, sampler=EpochSampler(len(dataset), shuffle, seed),
                      num_workers=num_workers, pin_memory=pin_memory, generator=generator, **extra)
