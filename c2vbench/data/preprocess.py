"""Image preprocessing shared by every backbone: bicubic resize of the shorter side, centre crop, normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


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
        # torchvision's Resize(int): the shorter side becomes image_size, the longer one is truncated, not rounded.
        if width <= height:
            new_size = (image_size, int(image_size * height / width))
        else:
            new_size = (int(image_size * width / height), image_size)
        image = image.resize(new_size, Image.BICUBIC)
        left = int(round((new_size[0] - image_size) / 2.0))
        top = int(round((new_size[1] - image_size) / 2.0))
        image = image.crop((left, top, left + image_size, top + image_size))
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        output[i] = (pixels - mean_array) / std_array
    return output
