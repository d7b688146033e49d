"""A lock file for work that two processes must not do at once (two identical runs sharing one ``--out``).

The lock is an ``flock`` on a file: the operating system releases it when its holder exits, however it exits, so a
killed run never leaves a lock that blocks the next one. The second process is refused at once, in one line naming
the holder; it does not wait (a run can take hours).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from c2vbench.platform.errors import C2VBenchError


class LockBusy(C2VBenchError):
    """Another live process holds the lock."""


@contextlib.contextmanager
def exclusive_lock(path: str | Path, what: str, fix: str) -> Iterator[Path]:
    """Hold ``path`` as a lock for the ``with`` block; raise :class:`LockBusy` (``"<what> (pid N)"``, ``fix``)
    when another process holds it. The file is removed on release, and so is its folder when that is left empty."""
    import fcntl

    from c2vbench.runtime.atomic_files import write_failure

    path = Path(path)
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as error:
            raise write_failure(path, error) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode("utf-8", "replace").strip() or "?"
            os.close(handle)
            raise LockBusy(f"{what} (pid {holder})", fix) from None
        try:  # the file may have been removed by a holder that released it just before: lock the new one
            if os.fstat(handle).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(handle)
    try:
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(handle)
        with contextlib.suppress(OSError):
            path.parent.rmdir()
