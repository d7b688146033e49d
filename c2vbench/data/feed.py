"""The feed: what decoding workers hand over, and how it becomes model input on the model's device.

Two paths (``--preprocess``):

* ``tensor`` (default): workers only decode, and hand over uint8 frames (four times less to copy than float32);
  frame folders of JPEGs are handed over *encoded* when the model runs on CUDA and decoded there in one batch
  (``torchvision.io.decode_jpeg`` on the GPU), or decoded in the workers with ``decode_jpeg`` on a CPU. Resize
  (shorter side, antialiased bicubic), centre crop and normalisation then run as batched tensor operations on the
  device (:class:`FrameFeed`), with pinned memory and asynchronous copies on CUDA.
* ``pil``: the official per-frame PIL path in the workers (:func:`c2vbench.data.preprocess.preprocess_frames`), for
  exact reproduction of the official preprocessing.

The two agree to within :data:`TENSOR_VS_PIL_BOUND` (a test holds them to it); which one ran is recorded in the
result's protocol card (:func:`describe_preprocessing`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

PREPROCESS_PATHS = ("tensor", "pil")
# How far the tensor path may be from the PIL path, in 0..255 grey levels of the resized, cropped image: on
# average over the pixels of any image, and per pixel on natural images (smooth content with sensor noise). Pure
# white noise can differ by up to about 22 levels at single pixels (the two bicubic kernels weigh the taps
# differently), still under the same mean.
TENSOR_VS_PIL_BOUND = {"mean_levels": 0.35, "max_levels_natural": 3.0}


@dataclasses.dataclass
class RawClip:
    """One video's sampled frames as a worker hands them over.

    Attributes:
        frames: ``[n, 3, H, W]`` uint8, or None when the frames travel encoded.
        jpegs: the encoded JPEG files of the ``n`` frames (1-D uint8 tensors), decoded on the device.
    """

    frames: torch.Tensor | None = None
    jpegs: list[torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.jpegs) if self.frames is None else int(self.frames.shape[0])


@dataclasses.dataclass
class RawBatch:
    """A batch of :class:`RawClip`, packed into (at most) two flat buffers: all decoded frames in one uint8
    tensor, all encoded JPEGs in another.

    Packing happens in the worker (``collate_raw`` runs there): every tensor a worker hands over travels through
    its own shared-memory segment and file descriptor, so a batch of 64 videos × 12 JPEGs sent as separate tensors
    costs 768 of each per batch, which slows the main process and, with many workers and large batches, runs out
    of file descriptors (the DataLoader's pinning thread then dies). Two buffers cost two. Frames of different
    videos may differ in size: nothing is stacked, :attr:`clips` gives each clip back as views into the buffers.

    Attributes:
        frame_data: every decoded frame, flattened and concatenated (uint8), or None.
        frame_shapes: per clip, ``(n, 3, H, W)`` of its decoded frames, or None when it travels encoded.
        jpeg_data: every encoded JPEG file, concatenated (uint8), or None.
        jpeg_lengths: per clip, the byte length of each of its JPEG files (empty for decoded clips).
    """

    frame_data: torch.Tensor | None
    frame_shapes: list[tuple[int, int, int, int] | None]
    jpeg_data: torch.Tensor | None
    jpeg_lengths: list[list[int]]

    @classmethod
    def pack(cls, clips: Sequence[RawClip]) -> RawBatch:
        frames = [clip.frames.reshape(-1) for clip in clips if clip.frames is not None]
        jpegs = [data for clip in clips if clip.frames is None for data in clip.jpegs]
        return cls(frame_data=torch.cat(frames) if frames else None,
                   frame_shapes=[None if clip.frames is None else tuple(clip.frames.shape) for clip in clips],
                   jpeg_data=torch.cat(jpegs) if jpegs else None,
                   jpeg_lengths=[[] if clip.frames is not None else [len(data) for data in clip.jpegs]
                                 for clip in clips])

    @property
    def clips(self) -> list[RawClip]:
        """The clips, as views into the packed buffers (no copy)."""
        clips, frame_offset, jpeg_offset = [], 0, 0
        for shape, lengths in zip(self.frame_shapes, self.jpeg_lengths, strict=True):
            if shape is not None:
                size = shape[0] * shape[1] * shape[2] * shape[3]
                clips.append(RawClip(frames=self.frame_data[frame_offset:frame_offset + size].view(shape)))
                frame_offset += size
            else:
                jpegs = []
                for length in lengths:
                    jpegs.append(self.jpeg_data[jpeg_offset:jpeg_offset + length])
                    jpeg_offset += length
                clips.append(RawClip(jpegs=jpegs))
        return clips

    def pin_memory(self) -> RawBatch:
        """Called by the DataLoader's pinning thread: page-locked frames make the host-to-device copies async.
        (The encoded JPEGs are read by the GPU decoder as they are.)"""
        if self.frame_data is not None:
            self.frame_data = self.frame_data.pin_memory()
        return self

    def __len__(self) -> int:
        return len(self.frame_shapes)


def collate_raw(items: Sequence[tuple[RawClip, torch.Tensor, int]]) -> tuple[RawBatch, torch.Tensor, torch.Tensor]:
    """``(RawBatch, frame_mask [B, T], indices [B])`` from dataset items (run in the worker: the batch is packed
    there)."""
    clips, masks, indices = zip(*items, strict=True)
    return RawBatch.pack(clips), torch.stack(masks), torch.as_tensor(indices)


def resize_crop_normalise(images: torch.Tensor, size: int, mean: Sequence[float],
                          std: Sequence[float]) -> torch.Tensor:
    """``[N, 3, H, W]`` uint8 (one size) to ``[N, 3, S, S]`` float32, as CLIP's Resize(S, bicubic) + CenterCrop(S).

    The shorter side becomes ``size`` and the longer one is truncated (torchvision's ``Resize(int)``); the resize
    is antialiased bicubic, rounded back to whole grey levels as PIL's uint8 output is; the crop offsets are
    rounded as torchvision's ``CenterCrop``.
    """
    height, width = images.shape[-2:]
    if width <= height:
        new_width, new_height = size, int(size * height / width)
    else:
        new_width, new_height = int(size * width / height), size
    pixels = images.float()
    if (new_height, new_width) != (height, width):
        pixels = torch.nn.functional.interpolate(pixels, size=(new_height, new_width), mode="bicubic",
                                                 align_corners=False, antialias=True)
        pixels = pixels.clamp_(0.0, 255.0).round_()
    top = int(round((new_height - size) / 2.0))
    left = int(round((new_width - size) / 2.0))
    pixels = pixels[..., top:top + size, left:left + size]
    mean_tensor = torch.tensor(mean, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1) * 255.0
    std_tensor = torch.tensor(std, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1) * 255.0
    return (pixels - mean_tensor) / std_tensor


def decode_jpegs(encoded: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """Decode JPEG files to ``[3, H, W]`` uint8 RGB, all at once (on the GPU with nvjpeg when ``device`` is CUDA)."""
    import warnings

    with warnings.catch_warnings():
        # torchvision >= 0.29 announces a move of its decoders to TorchCodec; decode_jpeg still works as documented
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_jpeg

        if not encoded:
            return []
        if device.type == "cuda":
            return decode_jpeg(list(encoded), mode=ImageReadMode.RGB, device=device)
        return [decode_jpeg(data, mode=ImageReadMode.RGB) for data in encoded]


class FrameFeed:
    """Turns a loader batch into ``[B, T, 3, S, S]`` float32 model input on ``device`` (padded slots are zeros).

    A float batch (the ``pil`` path) is only copied; a :class:`RawBatch` is decoded (JPEGs), grouped by frame size,
    resized, cropped and normalised in batches on the device.
    """

    def __init__(self, image_size: int, mean: Sequence[float], std: Sequence[float], slots: int,
                 device: torch.device):
        self.image_size, self.mean, self.std, self.slots = image_size, tuple(mean), tuple(std), slots
        self.device = torch.device(device)

    def __call__(self, frames: Any) -> torch.Tensor:
        if isinstance(frames, torch.Tensor):
            return frames.to(self.device, non_blocking=True)
        batch: RawBatch = frames
        size = self.image_size
        clips = batch.clips
        output = torch.zeros((len(batch), self.slots, 3, size, size), dtype=torch.float32, device=self.device)
        decoded = iter(decode_jpegs([data for clip in clips if clip.frames is None for data in clip.jpegs],
                                    self.device))
        groups: dict[tuple[int, int], list[tuple[int, torch.Tensor]]] = {}
        for position, clip in enumerate(clips):
            if clip.frames is not None:
                images = clip.frames.to(self.device, non_blocking=True)
            else:
                images = torch.stack([next(decoded) for _ in clip.jpegs])
            groups.setdefault(tuple(images.shape[-2:]), []).append((position, images))
        for members in groups.values():
            counts = [len(images) for _, images in members]
            processed = resize_crop_normalise(torch.cat([images for _, images in members]), size, self.mean,
                                              self.std)
            for (position, _), part in zip(members, processed.split(counts), strict=True):
                output[position, : len(part)] = part
        return output


def describe_preprocessing(preprocess: str, device: torch.device, frame_folders: bool) -> dict[str, str]:
    """What the protocol card records about the preprocessing path that ran."""
    if preprocess == "pil":
        return {"path": "pil", "resize": "PIL bicubic, shorter side, centre crop (official)"}
    import torchvision

    described = {"path": "tensor", "resize": f"torch bicubic antialias on {torch.device(device).type}, rounded to "
                 "uint8 levels, shorter side, centre crop", "torchvision": torchvision.__version__}
    if frame_folders:
        described["jpeg_decoder"] = f"torchvision decode_jpeg ({'cuda' if device.type == 'cuda' else 'cpu'})"
    return described
