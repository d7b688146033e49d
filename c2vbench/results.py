"""The result file: one JSON per run, validated before it is written, written atomically."""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
import uuid
from pathlib import Path
from typing import Any

from . import __version__
from .config import canonical_hash

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "c2vbench_version", "created", "run_id", "plugins", "config", "protocol",
                 "metrics", "per_query", "env")
PLUGIN_ROLES = ("backbone", "temporal", "align", "dataset")
METRIC_NAMES = ("R@1", "R@5", "R@10", "MdR", "MnR")


def protocol_card(card: dict[str, Any]) -> dict[str, Any]:
    """The card with its ``hash``: SHA-256 of everything else in it, canonically encoded."""
    body = {key: value for key, value in card.items() if key != "hash"}
    return {**body, "hash": canonical_hash(body)}


def environment(device: str) -> dict[str, str]:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "c2vbench": __version__,
            "device": device, "platform": platform.platform()}


def new_run_id(config_key: str, seed: int) -> str:
    """Readable and unique: configuration key prefix, seed, and a random suffix."""
    return f"{config_key[:10]}-s{seed}-{uuid.uuid4().hex[:8]}"


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def validate_result(result: dict[str, Any]) -> None:
    """Raise ValueError naming the first key that breaks the contract's schema."""
    for key in REQUIRED_KEYS:
        if key not in result:
            raise ValueError(f"result is missing '{key}'")
    for role in PLUGIN_ROLES:
        entry = result["plugins"].get(role)
        if not isinstance(entry, dict) or not {"name", "distribution", "version"} <= set(entry):
            raise ValueError(f"result plugins.{role} must have name, distribution and version")
    if "hash" not in result["protocol"]:
        raise ValueError("result protocol has no hash")
    for direction in ("t2v", "v2t"):
        metrics = result["metrics"].get(direction, {})
        missing = [name for name in METRIC_NAMES if name not in metrics]
        if missing:
            raise ValueError(f"result metrics.{direction} lacks {', '.join(missing)}")
    for key in ("t2v_rank", "v2t_rank"):
        if not isinstance(result["per_query"].get(key), list):
            raise ValueError(f"result per_query.{key} must be a list")


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON so that ``path`` holds either the old content or the complete new one, never a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates the file private (0600); a result file gets the ordinary permissions of a new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp_name, 0o666 & ~umask)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(payload, stream, indent=1, sort_keys=False, allow_nan=False)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def write_result(result: dict[str, Any], out_dir: str | Path) -> Path:
    """Validate and atomically write ``<out_dir>/<run_id>.json``."""
    validate_result(result)
    return write_json_atomic(Path(out_dir) / f"{result['run_id']}.json", result)
