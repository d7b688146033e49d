"""Write-then-rename: a file c2vbench writes holds either its old content or the complete new one, never a torn one.

Training state, result files and the embedding cache all write through here, so an interrupt (Ctrl-C, a killed
job, a full disk) at any point leaves nothing half-written that a later run would read back.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _ordinary_permissions(temp_name: str) -> None:
    # mkstemp creates the file private (0600); what c2vbench writes gets the ordinary permissions of a new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp_name, 0o666 & ~umask)


def write_bytes_atomic(path: str | Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temporary file in the same folder, fsync'd, then renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _ordinary_permissions(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON so that ``path`` holds either the old content or the complete new one, never a torn file."""
    text = json.dumps(payload, indent=1, sort_keys=False, allow_nan=False) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"))


def publish_folder_atomic(folder: str | Path, files: dict[str, bytes]) -> bool:
    """Make ``folder`` appear holding exactly ``files``, whole or not at all.

    The files are written (fsync'd) into a hidden sibling folder, which is then renamed to ``folder``. A writer
    interrupted at any point leaves only the hidden folder, which readers never look at. When ``folder`` already
    exists (another writer published first), nothing is changed and False is returned.
    """
    import shutil

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; a published folder gets ordinary permissions
    try:
        for name, payload in files.items():
            write_bytes_atomic(staging / name, payload)
        try:
            os.rename(staging, folder)
        except OSError:
            if folder.exists():  # a concurrent writer won the race: its complete folder stays
                return False
            raise
        staging = None
        return True
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
