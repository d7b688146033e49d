"""A real embedding-cache writer in another process, stopped half-way through an entry (for the cache tests)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

STALLED_WRITER = """
import pathlib, sys, time, torch
import c2vbench.runtime.atomic_files as atomic_files
from c2vbench.evaluation.embedding_cache import EmbeddingCache
from c2vbench.evaluation.encoding import FrameBank
real = atomic_files.write_bytes_atomic
def one_shard_then_stall(path, payload):
    real(path, payload)
    pathlib.Path(sys.argv[2]).write_text("written")
    time.sleep(120)
atomic_files.write_bytes_atomic = one_shard_then_stall
bank = FrameBank(torch.randn(6, 4, 8), torch.ones(6, 4, dtype=torch.long), 1.0)
EmbeddingCache(sys.argv[1]).put_frames("cd" * 32, bank)
"""


def start_stalled_writer(root: Path, marker: Path) -> subprocess.Popen:
    """A process writing the entry ``"cd" * 32`` under ``root``, returned once its first shard is on disk (it then
    sleeps until killed)."""
    child = subprocess.Popen([sys.executable, "-c", STALLED_WRITER, str(root), str(marker)])
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    if not marker.exists():
        child.kill()
        child.wait()
        raise AssertionError("the writer never reached its first shard")
    return child
