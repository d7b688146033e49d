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
