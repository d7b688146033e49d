"""Resource estimates made before the work: a setting that cannot fit is refused with the number it would need.

A batch of decoded frames is ``videos x frames x 3 x side x side`` float32 values; asking for 100000 frame slots
makes that tens of gigabytes, which used to surface as an out-of-memory failure minutes into a run. The estimate here
is a floor (activations come on top), so a refusal is never wrong; what passes may still be tight.
"""

from __future__ import annotations

import os
from pathlib import Path

from c2vbench.platform.errors import C2VBenchError

FLOAT_BYTES = 4


def available_memory_bytes() -> int | None:
    """Memory the system can give a new allocation now (``MemAvailable``), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def frame_batch_bytes(videos: int, frames: int, side: int, channels: int = 3) -> int:
    """Bytes of one float32 batch of ``videos`` clips of ``frames`` slots of ``channels x side x side``."""
    return int(videos) * int(frames) * channels * int(side) ** 2 * FLOAT_BYTES


def check_frame_batch_fits(videos: int, frames: int, side: int, available: int | None = None) -> None:
    """Refuse a frame batch larger than the memory available, with the size it would need and what to lower."""
    need = frame_batch_bytes(videos, frames, side)
    available = available_memory_bytes() if available is None else available
    if available is not None and need > available:
        raise C2VBenchError(
            f"{frames} frame slots per video need about {human_bytes(need)} for one batch of frames ({videos} videos "
            f"x {frames} frames x 3x{side}x{side} float32), more than the {human_bytes(available)} of memory "
            "available", "lower --max-frames (or --batch-size / --eval-batch-size)")
