"""The feed: what decoding workers hand over, and how it becomes model input on the model's device.

Two paths (``--preprocess``):

* ``tensor`` (default): workers only decode, and hand over uint8 frames (four times less to copy than float32);
  frame folders of JPEGs are handed over *encoded* when the model runs on CUDA and decoded there in one batch
  (``torchvision.io.decode_jpeg`` on the GPU), or decoded in the workers with ``decode_jpeg`` on a CPU. Resize
  (shorter side, antialiased bicubic), centre crop and normalisation then run as batched tensor operations on the
  device (:class:`FrameFeed`), with pinned memory and asynchronous copies on CUDA.
* ``pil``: the official per-frame PIL path in the workers (:func:`c2vbench.data.preprocess.preprocess_frames`), for
  exact reproduction of the official preprocessing.

With ``--decoder torchcodec`` on CUDA, video files are not decoded in the workers at all: they only find the sampled
frames (from the container's index, nothing decoded) and hand over a :class:`VideoFrameRequest`, which the feed
decodes with TorchCodec on the GPU (NVDEC), so the frames never leave it.

The two agree to within :data:`TENSOR_VS_PIL_BOUND` (a test holds them to it); which one ran is recorded in the
result's protocol card (:func:`describe_preprocessing`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from c2vbench.data.preprocess import resize_crop_geometry

PREPROCESS_PATHS = ("tensor", "pil")
# How far the tensor path may be from the PIL path, in 0..255 grey levels of the resized, cropped image: on
# average over the pixels of any image, and per pixel on natural images (smooth content with sensor noise). Pure
# white noise can differ by up to about 22 levels at single pixels (the two bicubic kernels weigh the taps
# differently), still under the same mean.
TENSOR_VS_PIL_BOUND = {"mean_levels": 0.35, "max_levels_natural": 3.0}


@dataclasses.dataclass(frozen=True)
class VideoFrameRequest:
    """The sampled frames of a video file, to be decoded where the model runs (TorchCodec; NVDEC on CUDA).

    Attributes:
        source: the video file.
        indices: the native frame indices to decode, in sampling order.
    """

    source: str
    indices: tuple[int, ...]


@dataclasses.dataclass
class RawClip:
    """One video's sampled frames as a worker hands them over.

    Attributes:
        frames: ``[n, 3, H, W]`` uint8 (or, in a worker until the batch is packed, a list of ``n`` ``[3, H, W]``
            frames: stacking them first would copy every frame once more), or None when the frames travel
            encoded.
        jpegs: the encoded JPEG files of the ``n`` frames (1-D uint8 tensors), decoded on the device.
        video: the frames to decode from a video file on the device, instead of either.
    """

    frames: torch.Tensor | list[torch.Tensor] | None = None
    jpegs: list[torch.Tensor] | None = None
    video: VideoFrameRequest | None = None

    def __len__(self) -> int:
        if self.video is not None:
            return len(self.video.indices)
        return len(self.jpegs) if self.frames is None else len(self.frames)

    @property
    def frame_shape(self) -> tuple[int, int, int, int] | None:
        """``(n, 3, H, W)`` of the decoded frames, or None when they travel encoded."""
        if self.frames is None:
            return None
        if isinstance(self.frames, torch.Tensor):
            return tuple(self.frames.shape)
        return (len(self.frames), *self.frames[0].shape)

    def flat_frames(self) -> list[torch.Tensor]:
        """The decoded frames as 1-D views, in order (what packing concatenates)."""
        if isinstance(self.frames, torch.Tensor):
            return [self.frames.reshape(-1)]
        return [frame.reshape(-1) for frame in self.frames]


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
        videos: per clip, its :class:`VideoFrameRequest` or None (None for the whole batch when no clip has one).
    """

    frame_data: torch.Tensor | None
    frame_shapes: list[tuple[int, int, int, int] | None]
    jpeg_data: torch.Tensor | None
    jpeg_lengths: list[list[int]]
    videos: list[VideoFrameRequest | None] | None = None

    @classmethod
    def pack(cls, clips: Sequence[RawClip]) -> RawBatch:
        """Concatenate the clips into the two buffers; in a DataLoader worker, straight into shared memory (the
        batch then crosses to the main process without the copy that sharing a private buffer costs)."""
        frames = [part for clip in clips if clip.frames is not None for part in clip.flat_frames()]
        jpegs = [data for clip in clips if clip.jpegs is not None for data in clip.jpegs]
        return cls(frame_data=_concatenated_for_handover(frames),
                   frame_shapes=[clip.frame_shape for clip in clips],
                   jpeg_data=_concatenated_for_handover(jpegs),
                   jpeg_lengths=[[len(data) for data in clip.jpegs] if clip.jpegs is not None else []
                                 for clip in clips],
                   videos=[clip.video for clip in clips] if any(clip.video is not None for clip in clips) else None)

    @property
    def clips(self) -> list[RawClip]:
        """The clips, as views into the packed buffers (no copy)."""
        clips, frame_offset, jpeg_offset = [], 0, 0
        videos = self.videos or [None] * len(self.frame_shapes)
        for shape, lengths, video in zip(self.frame_shapes, self.jpeg_lengths, videos, strict=True):
            if video is not None:
                clips.append(RawClip(video=video))
            elif shape is not None:
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
        """Called by the DataLoader's pinning thread: page-locked buffers make the host-to-device copies
        asynchronous (the decoded frames; and the encoded JPEGs, which the GPU decoder otherwise copies one file at
        a time from pageable memory)."""
        if self.frame_data is not None:
            self.frame_data = self.frame_data.pin_memory()
        if self.jpeg_data is not None:
            self.jpeg_data = self.jpeg_data.pin_memory()
        return self

    def __len__(self) -> int:
        return len(self.frame_shapes)


def _concatenated_for_handover(parts: list[torch.Tensor]) -> torch.Tensor | None:
    """``torch.cat`` of 1-D uint8 tensors (None for none), written into shared memory inside a DataLoader worker."""
    if not parts:
        return None
    if torch.utils.data.get_worker_info() is None:
        return torch.cat(parts)
    total = sum(part.numel() for part in parts)
    buffer = torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(total))
    return torch.cat(parts, out=buffer)


def collate_raw(items: Sequence[tuple[RawClip, torch.Tensor, int]]) -> tuple[RawBatch, torch.Tensor, torch.Tensor]:
    """``(RawBatch, frame_mask [B, T], indices [B])`` from dataset items (run in the worker: the batch is packed
    there)."""
    clips, masks, indices = zip(*items, strict=True)
    return RawBatch.pack(clips), torch.stack(masks), torch.as_tensor(indices)


RESIZE_METHODS = ("interpolate", "matmul")


def check_resize_method(method: str) -> None:
    """Raise a ValueError naming the methods when ``method`` is not one of :data:`RESIZE_METHODS`."""
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r} (use one of {', '.join(RESIZE_METHODS)})")


def antialiased_bicubic_weights(in_size: int, out_size: int) -> torch.Tensor:
    """``[out_size, in_size]`` float64 weights of PIL's antialiased bicubic resampling along one axis (the filter
    torch's ``interpolate(..., mode="bicubic", antialias=True)`` reproduces): cubic convolution with ``a = -0.5``,
    stretched by the scale when shrinking, each row normalised to sum to one."""
    scale = in_size / out_size
    support = 2.0 * max(scale, 1.0)
    stretch = 1.0 / max(scale, 1.0)

    def cubic(x: float) -> float:
        x = abs(x)
        if x < 1.0:
            return (1.5 * x - 2.5) * x * x + 1.0
        if x < 2.0:
            return ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
        return 0.0

    weights = torch.zeros((out_size, in_size), dtype=torch.float64)
    for row in range(out_size):
        centre = scale * (row + 0.5)
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), in_size)
        taps = [cubic((column - centre + 0.5) * stretch) for column in range(first, last)]
        total = sum(taps)
        weights[row, first:last] = torch.tensor(taps, dtype=torch.float64) / total
    return weights


_RESIZE_MATRICES: dict[tuple[int, int, int, str], tuple[torch.Tensor, torch.Tensor]] = {}


def _resize_matrices(height: int, width: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows of the vertical and horizontal weight matrices that the centre crop keeps, float32 on ``device``."""
    key = (height, width, size, str(device))
    if key not in _RESIZE_MATRICES:
        new_height, new_width, top, left = resize_crop_geometry(height, width, size)
        vertical = antialiased_bicubic_weights(height, new_height)[top:top + size]
        horizontal = antialiased_bicubic_weights(width, new_width)[left:left + size]
        _RESIZE_MATRICES[key] = (vertical.float().to(device), horizontal.t().float().contiguous().to(device))
    return _RESIZE_MATRICES[key]


def resize_crop_normalise(images: torch.Tensor, size: int, mean: Sequence[float], std: Sequence[float],
                          method: str = "interpolate") -> torch.Tensor:
    """``[N, 3, H, W]`` uint8 (one size) to ``[N, 3, S, S]`` float32, as CLIP's Resize(S, bicubic) + CenterCrop(S).

    The shorter side becomes ``size`` and the longer one is truncated (torchvision's ``Resize(int)``); the resize
    is antialiased bicubic, rounded back to whole grey levels as PIL's uint8 output is; the crop offsets are
    rounded as torchvision's ``CenterCrop``.

    ``method``: ``interpolate`` (torch's antialiased bicubic kernel) or ``matmul`` (the same filter as two matrix
    products per image, ``vertical @ image @ horizontal``, computing only the pixels the crop keeps: much less work
    on a GPU, whose antialiasing kernel visits every pair of taps). The two differ only in the order of the float32
    sums: a pixel within rounding of a half grey level may land one level apart.
    """
    check_resize_method(method)
    height, width = images.shape[-2:]
    new_height, new_width, top, left = resize_crop_geometry(height, width, size)
    pixels = images.float()
    if method == "matmul":
        vertical, horizontal = _resize_matrices(height, width, size, images.device)
        pixels = torch.matmul(torch.matmul(vertical, pixels), horizontal)
        pixels = pixels.clamp_(0.0, 255.0).round_()
    else:
        if (new_height, new_width) != (height, width):
            pixels = torch.nn.functional.interpolate(pixels, size=(new_height, new_width), mode="bicubic",
                                                     align_corners=False, antialias=True)
            pixels = pixels.clamp_(0.0, 255.0).round_()
        pixels = pixels[..., top:top + size, left:left + size]
    mean_tensor = torch.tensor(mean, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1) * 255.0
    std_tensor = torch.tensor(std, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1) * 255.0
    return (pixels - mean_tensor).div_(std_tensor)


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
    resized, cropped and normalised in batches on the device (``resize``: see :func:`resize_crop_normalise`).
    """

    def __init__(self, image_size: int, mean: Sequence[float], std: Sequence[float], slots: int,
                 device: torch.device, resize: str = "interpolate"):
        check_resize_method(resize)
        self.image_size, self.mean, self.std, self.slots = image_size, tuple(mean), tuple(std), slots
        self.device = torch.device(device)
        self.resize = resize

    def __call__(self, frames: Any) -> torch.Tensor:
        if isinstance(frames, torch.Tensor):
            return frames.to(self.device, non_blocking=True)
        batch: RawBatch = frames
        if batch.frame_data is not None:
            # one copy of all decoded frames (pinned: asynchronous); the clips below are views into it
            batch = dataclasses.replace(batch, frame_data=batch.frame_data.to(self.device, non_blocking=True))
        per_clip, whole = self._clip_images(batch)
        size = self.image_size
        if whole is not None and all(len(images) == self.slots for images in per_clip):
            # every clip fills every slot, all frames of one size in one tensor (the usual case): nothing to pad
            processed = resize_crop_normalise(whole, size, self.mean, self.std, self.resize)
            return processed.view(len(batch), self.slots, 3, size, size)
        groups: dict[tuple[int, int], list[int]] = {}
        for position, images in enumerate(per_clip):
            groups.setdefault(tuple(images.shape[-2:]), []).append(position)
        output = torch.zeros((len(batch), self.slots, 3, size, size), dtype=torch.float32, device=self.device)
        for positions in groups.values():
            members = [per_clip[position] for position in positions]
            processed = resize_crop_normalise(torch.cat(members), size, self.mean, self.std, self.resize)
            for position, part in zip(positions, processed.split([len(images) for images in members]), strict=True):
                output[position, : len(part)] = part
        return output

    def _clip_images(self, batch: RawBatch) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Each clip's frames as ``[n, 3, H, W]`` uint8 on the device (all encoded JPEGs decoded in one call, video
        files decoded here by TorchCodec), and, when the batch's frames are all of one size and all decoded one way,
        the same frames as one tensor."""
        from c2vbench.data.decoding import decode_frames_on

        clips = batch.clips
        decoded = decode_jpegs([data for clip in clips if clip.jpegs is not None for data in clip.jpegs], self.device)
        stacked = torch.stack(decoded) if decoded and len({image.shape for image in decoded}) == 1 else None
        per_clip, next_image = [], 0
        for clip in clips:
            if clip.video is not None:
                per_clip.append(decode_frames_on(clip.video.source, clip.video.indices, self.device))
                continue
            if clip.frames is not None:
                per_clip.append(clip.frames)
                continue
            count = len(clip.jpegs)
            per_clip.append(stacked[next_image:next_image + count] if stacked is not None
                            else torch.stack(decoded[next_image:next_image + count]))
            next_image += count
        if stacked is not None and all(clip.jpegs is not None for clip in clips):
            return per_clip, stacked
        shapes = {shape for shape in batch.frame_shapes if shape is not None}
        if not decoded and batch.videos is None and len(shapes) == 1:
            _, channels, height, width = next(iter(shapes))
            return per_clip, batch.frame_data.view(-1, channels, height, width)
        return per_clip, None


def default_resize(device: torch.device | str) -> str:
    """The resize method the feed uses on ``device``: ``matmul`` on CUDA (measured faster on an H100,
    BENCHMARKS.md), ``interpolate`` elsewhere (the CPU path the committed results were made with)."""
    return CUDA_RESIZE if torch.device(device).type == "cuda" else "interpolate"


def default_worker_decoded_share(device: torch.device | str, num_workers: int) -> float:
    """On CUDA, the share of frame-folder videos whose JPEGs the workers decode on their CPUs (the rest go to the
    GPU's decoder): all of them with at least :data:`MIN_WORKERS_TO_DECODE_JPEGS` workers, else none. Elsewhere
    the workers (or the main process) decode every video, and this is not used.

    Measured on an H100 with 16 cores (BENCHMARKS.md), frames/s into the tower: the GPU's decoder gives 10.9k
    with 0 workers and 12.5k with 10 (it decodes a batch with a round trip per image, which beside the tower likely
    waits behind its kernels); decoding in the workers gives 4.6k with 4 workers, 8.0k with 8, 12.7k with 10 and
    15.4k with 12. The threshold is that machine's crossover: with slower cores it lies higher."""
    from c2vbench.data.workers import default_num_workers

    if torch.device(device).type != "cuda":
        return 1.0
    workers = default_num_workers() if num_workers < 0 else num_workers
    return 1.0 if workers >= MIN_WORKERS_TO_DECODE_JPEGS else 0.0


# the CUDA feed's settings, chosen from H100 runs that measured the alternatives side by side (BENCHMARKS.md)
CUDA_RESIZE = "matmul"
MIN_WORKERS_TO_DECODE_JPEGS = 10


def decodes_videos_on_device(decoder: str, device: torch.device | str, preprocess: str = "tensor") -> bool:
    """Whether video files are decoded by the feed on ``device`` (TorchCodec's NVDEC on CUDA) rather than in the
    workers."""
    return preprocess == "tensor" and decoder == "torchcodec" and torch.device(device).type == "cuda"


def describe_preprocessing(preprocess: str, device: torch.device, frame_folders: bool,
                           num_workers: int = 0, video_decoder: str | None = None) -> dict[str, str]:
    """What the protocol card records about the preprocessing path that ran (the defaults for ``device`` and
    ``num_workers``; ``video_decoder``: the sampling's decoder, for video files)."""
    if preprocess == "pil":
        return {"path": "pil", "resize": "PIL bicubic, shorter side, centre crop (official)"}
    import torchvision

    device = torch.device(device)
    if default_resize(device) == "matmul":
        resize = (f"PIL's antialiased bicubic filter as two float32 matrix products on {device.type}, rounded to "
                  "uint8 levels, shorter side, centre crop")
    else:
        resize = f"torch bicubic antialias on {device.type}, rounded to uint8 levels, shorter side, centre crop"
    described = {"path": "tensor", "resize": resize, "torchvision": torchvision.__version__}
    if not frame_folders and video_decoder is not None and decodes_videos_on_device(video_decoder, device):
        # NVDEC and TorchCodec's CUDA colour conversion are not FFmpeg's CPU path: a protocol of its own
        described["video_decoding"] = f"torchcodec NVDEC on {device.type} (frames stay on the GPU)"
    if frame_folders:
        if device.type != "cuda":
            described["jpeg_decoder"] = "torchvision decode_jpeg (cpu)"
        else:
            share = default_worker_decoded_share(device, num_workers)
            if share == 0:
                described["jpeg_decoder"] = "torchvision decode_jpeg (cuda)"
            elif share == 1:
                described["jpeg_decoder"] = "torchvision decode_jpeg (cpu, in the workers)"
            else:
                described["jpeg_decoder"] = (f"torchvision decode_jpeg (cuda; the workers decode {share:g} of the "
                                             "videos on cpu, chosen by index)")
    return described
