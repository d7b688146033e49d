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
    """A batch of :class:`RawClip` (frames of different videos may differ in size: nothing is stacked)."""

    clips: list[RawClip]

    def pin_memory(self) -> RawBatch:
        """Called by the DataLoader's pinning thread: page-locked frames make the host-to-device copies async.
        (Encoded JPEGs are small and handed to the GPU decoder as they are: pinning hundreds of them per batch
        would cost more than it saves.)"""
        for clip in self.clips:
            if clip.frames is not None:
                clip.frames = clip.frames.pin_memory()
        return self

    def __len__(self) -> int:
        return len(self.clips)


def collate_raw(items: Sequence[tuple[RawClip, torch.Tensor, int]]) -> tuple[RawBatch, torch.Tensor, torch.Tensor]:
    """``(RawBatch, frame_mask [B, T], indices [B])`` from dataset items."""
    clips, masks, indices = zip(*items, strict=True)
    return RawBatch(list(clips)), torch.stack(masks), torch.as_tensor(indices)


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
        output = torch.zeros((len(batch), self.slots, 3, size, size), dtype=torch.float32, device=self.device)
        decoded = iter(decode_jpegs([data for clip in batch.clips if clip.frames is None for data in clip.jpegs],
                                    self.device))
        groups: dict[tuple[int, int], list[tuple[int, torch.Tensor]]] = {}
        for position, clip in enumerate(batch.clips):
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
