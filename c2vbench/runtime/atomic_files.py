"""Write-then-rename: a file c2vbench writes holds either its old content or the complete new one, never a torn one.

Training state, result files and the embedding cache all write through here, so an interrupt (Ctrl-C, a killed
job, a full disk) at any point leaves nothing half-written that a later run would read back.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from c2vbench.platform.errors import C2VBenchError

# What an OS error on a write means for the user, by errno
_WRITE_ADVICE = {errno.ENOSPC: "free some space (or choose another --out) and run the same command again",
                 errno.EDQUOT: "free some space under your quota (or choose another --out) and run again",
                 errno.EFBIG: "the file system (or a file-size limit) refuses a file this large; choose another --out",
                 errno.EROFS: "the folder is on a read-only file system; choose another --out",
                 errno.EACCES: "you cannot write there; choose another --out",
                 errno.EPERM: "you cannot write there; choose another --out"}


class WriteFailed(C2VBenchError, OSError):
    """A file c2vbench writes could not be written (disk full, read-only, no permission): one line, no traceback.

    It is an OSError too, so code that tolerates a failed optional write (the embedding cache) still catches it.
    """


def write_failure(path: str | Path, error: BaseException) -> WriteFailed:
    """The one-line error for a failed write of ``path``: what the system said and what to do."""
    if isinstance(error, WriteFailed):
        return error
    code = getattr(error, "errno", None)
    reason = os.strerror(code) if isinstance(code, int) else (str(error).strip().splitlines() or ["write failed"])[0]
    failure = WriteFailed(f"cannot write {path}: {reason}",
                          _WRITE_ADVICE.get(code, "check the disk and the folder's permissions, then run again"))
    failure.errno = code
    return failure


def check_writable_folder(folder: str | Path, flag: str = "--out") -> Path:
    """Prove that a file can be written in ``folder``, before any work is done.

    Folders created for the check are removed again (when still empty), so that a run refused later, before its
    work, leaves nothing behind."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise C2VBenchError(f"{flag} {folder} is a file, not a folder", f"give {flag} a folder")
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".c2vbench-write-check.", dir=folder)
        try:
            os.write(handle, b"c2vbench")
            os.fsync(handle)
        finally:
            os.close(handle)
            os.unlink(probe)
    except OSError as error:
        failure = write_failure(folder, error)
        raise WriteFailed(f"{flag} {folder} is not writable ({os.strerror(error.errno) if error.errno else error})",
                          failure.fix) from None
    finally:
        for path in created:  # innermost first; only the empty folders this check made
            with contextlib.suppress(OSError):
                path.rmdir()
    return folder


def _ordinary_permissions(temp_name: str) -> None:
    # mkstemp creates the file private (0600); what c2vbench writes gets the ordinary permissions of a new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp_name, 0o666 & ~umask)


def write_bytes_atomic(path: str | Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temporary file in the same folder, fsync'd, then renamed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise write_failure(path, error) from None
    _ordinary_permissions(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except OSError as error:  # a full disk, a file-size limit: nothing torn stays, and the error is one line
        Path(temp_name).unlink(missing_ok=True)
        raise write_failure(path, error) from None
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON so that ``path`` holds either the old content or the complete new one, never a torn file."""
    text = json.dumps(payload, indent=1, sort_keys=False, allow_nan=False) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"))


WRITER_MARKER = ".writer"
UNMARKED_GRACE_SECONDS = 3600  # a staging folder without a marker (an older writer's) counts as live this long


def _hold_writer_lock(staging: Path) -> int:
    """Create ``staging/.writer`` (pid and host) and hold an exclusive lock on it until the descriptor is closed.

    The operating system drops the lock when the writer exits, however it exits, so a held lock means a live writer
    (:func:`staging_is_live`)."""
    import fcntl
    import socket

    handle = os.open(staging / WRITER_MARKER, os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(handle, fcntl.LOCK_EX)
    os.write(handle, f"{os.getpid()} {socket.gethostname()}\n".encode())
    return handle


def staging_is_live(staging: Path) -> bool:
    """Whether a writer is still filling the hidden folder ``staging`` (it holds the lock of its marker)."""
    import fcntl
    import time

    marker = Path(staging) / WRITER_MARKER
    try:
        handle = os.open(marker, os.O_RDONLY)
    except FileNotFoundError:
        try:
            return time.time() - Path(staging).stat().st_mtime < UNMARKED_GRACE_SECONDS
        except OSError:
            return False
    except OSError:
        return True  # cannot look: never remove what might be in use
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    finally:
        os.close(handle)
    return False


def publish_folder_atomic(folder: str | Path, files: dict[str, bytes]) -> bool:
    """Make ``folder`` appear holding exactly ``files``, whole or not at all.

    The files are written (fsync'd) into a hidden sibling folder, which is then renamed to ``folder``. A writer
    interrupted at any point leaves only the hidden folder, which readers never look at. While it writes, the writer
    holds a lock in the hidden folder (:func:`staging_is_live`), so a clean-up never removes a live writer's folder.
    When ``folder`` already exists (another writer published first), nothing is changed and False is returned.
    """
    import shutil

    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    except OSError as error:
        raise write_failure(folder, error) from None
    lock = None
    umask = os.umask(0)
    os.umask(umask)
    try:
        lock = _hold_writer_lock(staging)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; a published folder gets ordinary permissions
        for name, payload in files.items():
            write_bytes_atomic(staging / name, payload)
        try:
            os.rename(staging, folder)
        except OSError as error:
            if folder.exists():  # a concurrent writer won the race: its complete folder stays
                return False
            raise write_failure(folder, error) from None
        staging = None
        with contextlib.suppress(OSError):
            (folder / WRITER_MARKER).unlink()
        return True
    except OSError as error:
        raise write_failure(folder, error) from None
    finally:
        if lock is not None:
            os.close(lock)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
