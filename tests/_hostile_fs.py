"""Hostile file systems for tests: a read-only folder, a full disk, a file-size limit.

As root, a permission bit does not stop a write, so the read-only folder and the full disk are real small ``tmpfs``
mounts where the test may mount (root in a container that allows it); elsewhere the read-only folder is a folder
without write permission. A file-size limit (``RLIMIT_FSIZE``) works for every user: a write past it fails with
``EFBIG`` exactly where a full disk fails with ``ENOSPC``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount_tmpfs(folder: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    completed = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                               check=False)
    return completed.returncode == 0


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """``folder`` that nobody can write into (a read-only mount as root, no write permission otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    if not _mount_tmpfs(folder, "ro,size=64k"):
        pytest.skip("running as root where tmpfs cannot be mounted: no read-only folder can be made")
    try:
        yield folder
    finally:
        _unmount(folder)


@contextlib.contextmanager
def small_filesystem(folder: Path, size: str = "256k") -> Iterator[Path]:
    """``folder`` on a real file system of ``size`` bytes (tmpfs; root only), skipped where it cannot be made."""
    folder.mkdir(parents=True, exist_ok=True)
    if not _mount_tmpfs(folder, f"size={size}"):
        pytest.skip("a small file system needs root and tmpfs")
    try:
        yield folder
    finally:
        _unmount(folder)


@contextlib.contextmanager
def file_size_limit(limit_bytes: int) -> Iterator[None]:
    """No file larger than ``limit_bytes`` can be written by this process (EFBIG, as a full disk gives ENOSPC)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
