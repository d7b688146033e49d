"""Which video decoders this test run has: decord is optional (no wheels for Apple silicon or aarch64 Linux)."""

from __future__ import annotations

import importlib.util

import pytest

# Looked up independently of c2vbench's own detection, which some tests check.
DECORD_INSTALLED = importlib.util.find_spec("decord") is not None
needs_decord = pytest.mark.skipif(not DECORD_INSTALLED, reason="decord is not installed (a PyAV-only installation)")
# Parameters for tests that run once per video decoder this installation has.
VIDEO_DECODERS_HERE = [pytest.param("decord", marks=needs_decord), "pyav"]
AUTO_DECODER = "decord" if DECORD_INSTALLED else "pyav"
