"""Tiny videos and frame folders for tests, encoded with PyAV (no ffmpeg binary needed).

Every frame carries its own index as the grey level of its top-left block (``frame_code``), so a test can tell
which native frame a decoder returned. Other test modules may import these helpers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

CODE_STEP = 8  # grey level of frame i's marker block is i * CODE_STEP (mod 256): exact codes for i < 32


def frame_image(index: int, width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """An RGB frame whose top-left 16x16 block encodes ``index``; the rest is mild noise (so files have size)."""
    rng = np.random.default_rng([seed, index])
    image = rng.integers(60, 120, size=(height, width, 3), dtype=np.uint8)
    image[:16, :16, :] = (index * CODE_STEP) % 256
    return image


def frame_code(frame: np.ndarray) -> int:
    """The index encoded by :func:`frame_image` (read from the block centre, robust to compression)."""
    return int(round(float(frame[4:12, 4:12, :].mean()) / CODE_STEP))


def encode_video(path: Path, n_frames: int = 30, fps: int = 10, width: int = 64, height: int = 48,
                 codec: str = "mpeg4", faststart: bool = False, seed: int = 0, gop: int | None = None) -> Path:
    """Write an ``n_frames`` video at ``fps`` with PyAV; ``faststart`` puts the mp4 index first (truncation then
    leaves a partly decodable file)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart and path.suffix == ".mp4" else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "mpeg4":
            stream.codec_context.bit_rate = 4_000_000  # near-lossless, so frame codes survive
        if gop is not None:
            stream.codec_context.gop_size = gop
        for index in range(n_frames):
            frame = av.VideoFrame.from_ndarray(frame_image(index, width, height, seed), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def truncate_file(path: Path, fraction: float = 0.6) -> Path:
    """Cut a file to ``fraction`` of its bytes (a download that stopped half-way)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def zero_byte_file(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write_frame_folder(folder: Path, n_frames: int, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    """The official extracted-frames layout: ``folder/00000001.jpg ...`` (1-based, 8 digits)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(n_frames):
        Image.fromarray(frame_image(index, width, height, seed)).save(folder / f"{index + 1:08d}.jpg", quality=95)
    return folder


def write_videos(folder: Path, video_ids: Iterable[str], suffix: str = ".mp4", n_frames: int = 30,
                 fps: int = 10) -> dict[str, Path]:
    """One small video per id, ``folder/<id><suffix>``; each id gets its own noise seed."""
    return {video_id: encode_video(Path(folder) / f"{video_id}{suffix}", n_frames=n_frames, fps=fps, seed=number)
            for number, video_id in enumerate(video_ids)}
