"""Image preprocessing shared by every backbone: bicubic resize of the shorter side, centre crop, normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resize_crop_geometry(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """``(new_height, new_width, top, left)`` of CLIP's ``Resize(size)`` + ``CenterCrop(size)``: the shorter side
    becomes ``size`` and the longer one is truncated, not rounded (torchvision's ``Resize(int)``); the crop offsets
    are rounded as torchvision's ``CenterCrop``. Every preprocessing path (PIL, torch) takes its geometry here."""
    if width <= height:
        new_height, new_width = int(size * height / width), size
    else:
        new_height, new_width = size, int(size * width / height)
    return new_height, new_width, int(round((new_height - size) / 2.0)), int(round((new_width - size) / 2.0))


def preprocess_frames(frames: np.ndarray, image_size: int, mean: Sequence[float] = CLIP_MEAN,
                      std: Sequence[float] = CLIP_STD) -> np.ndarray:
    """``[n, H, W, 3]`` uint8 RGB to ``[n, 3, S, S]`` float32, as CLIP's ``Resize(S, BICUBIC)`` + ``CenterCrop(S)``.

    PIL's bicubic filter is used so that the pixels match the official (PIL-based) loaders.
    """
    from PIL import Image

    output = np.empty((len(frames), 3, image_size, image_size), dtype=np.float32)
    mean_array = np.asarray(mean, dtype=np.float32)[:, None, None]
    std_array = np.asarray(std, dtype=np.float32)[:, None, None]
    for i, frame in enumerate(frames):
        image = Image.fromarray(frame)
        width, height = image.size
        new_height, new_width, top, left = resize_crop_geometry(height, width, image_size)
        image = image.resize((new_width, new_height), Image.BICUBIC)
        image = image.crop((left, top, left + image_size, top + image_size))
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        output[i] = (pixels - mean_array) / std_array
    return output
