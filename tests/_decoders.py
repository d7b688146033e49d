"""Which video decoders this test run has: decord is optional (no wheels for Apple silicon or aarch64 Linux)."""

from __future__ import annotations

import importlib.util

import pytest


def _torchcodec_loads() -> bool:
    """TorchCodec is usable only where its core finds FFmpeg's shared libraries (importing it loads them)."""
    if importlib.util.find_spec("torchcodec") is None:
        return False
    try:
        import torchcodec.decoders  # noqa: F401
    except Exception:  # noqa: BLE001 - no FFmpeg libraries it can load
        return False
    return True


# Looked up independently of c2vbench's own detection, which some tests check.
DECORD_INSTALLED = importlib.util.find_spec("decord") is not None
TORCHCODEC_INSTALLED = _torchcodec_loads()
needs_decord = pytest.mark.skipif(not DECORD_INSTALLED, reason="decord is not installed (a PyAV-only installation)")
needs_torchcodec = pytest.mark.skipif(not TORCHCODEC_INSTALLED,
                                      reason="TorchCodec (the c2vbench[torchcodec] extra, with FFmpeg) is not here")
# Parameters for tests that run once per video decoder this installation has.
VIDEO_DECODERS_HERE = [pytest.param("decord", marks=needs_decord), "pyav",
                       pytest.param("torchcodec", marks=needs_torchcodec)]
# The decoders that seek (compared with PyAV's sequential decoding), those of them installed here.
SEEKING_DECODERS_HERE = [name for name, here in (("decord", DECORD_INSTALLED), ("torchcodec", TORCHCODEC_INSTALLED))
                         if here]
AUTO_DECODER = "torchcodec" if TORCHCODEC_INSTALLED else "decord" if DECORD_INSTALLED else "pyav"
