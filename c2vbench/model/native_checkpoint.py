"""c2vbench's own checkpoint format: ``model.safetensors`` plus ``config.json`` (the resolved run configuration).

Written by ``c2vbench run`` and read by ``c2vbench eval`` / :func:`c2vbench.load_checkpoint` (``format="c2vbench"``).
The components are rebuilt through the registry from their names and resolved options, so a checkpoint made with a
third-party plug-in loads wherever that plug-in is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from c2vbench.platform.errors import C2VBenchError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1


def save_native_checkpoint(model, settings: dict[str, Any], folder: str | Path) -> Path:
    """Write ``folder/model.safetensors`` and ``folder/config.json`` atomically (a temp folder, then a rename).

    ``settings`` is the run's resolved configuration as a dict (recorded as ``run_config``); the components and their
    options are read from it. ``config.json`` records the weights' SHA-256, checked whenever the checkpoint is
    loaded. A failed write (a full disk) leaves no folder behind and is one line."""
    from safetensors.torch import save_model

    from c2vbench.runtime.atomic_files import write_failure
    from c2vbench.runtime.hashing import sha256_file

    folder = Path(folder)
    staging = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        save_model(model, str(staging / WEIGHTS_FILE))
        description = {
            "format": "c2vbench", "format_version": FORMAT_VERSION,
            "components": {role: settings[role] for role in ("backbone", "temporal", "align")},
            "options": {role: settings[f"{role}_options"] for role in ("backbone", "temporal", "align")},
            "max_frames": int(model.max_frames),
            "weights_sha256": sha256_file(staging / WEIGHTS_FILE),
            "run_config": dict(settings),
        }
        (staging / CONFIG_FILE).write_text(json.dumps(description, indent=1, default=str))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except C2VBenchError:
        raise
    except Exception as error:  # OSError, or safetensors' own error on a full disk
        raise write_failure(folder, error) from None
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def check_weights_hash(folder: Path, description: dict[str, Any]) -> None:
    """Compare the weights' SHA-256 with the one ``config.json`` recorded (checkpoints older than the record pass)."""
    from c2vbench.runtime.hashing import sha256_file

    recorded = description.get("weights_sha256")
    if recorded is None:
        return
    if sha256_file(folder / WEIGHTS_FILE) != recorded:
        raise C2VBenchError(f"checkpoint weights {folder / WEIGHTS_FILE} are damaged: their SHA-256 differs from "
                            f"the one {CONFIG_FILE} recorded when they were written",
                            "restore the folder from a copy, or re-run the training that wrote it")


def read_native_config(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    path = folder / CONFIG_FILE
    if not path.exists() or not (folder / WEIGHTS_FILE).exists():
        raise C2VBenchError(f"{folder} is not a c2vbench checkpoint (it needs {CONFIG_FILE} and {WEIGHTS_FILE})",
                            "pass the folder `c2vbench run` wrote under <out>/checkpoints/")
    try:
        description = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise C2VBenchError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(description, dict) or description.get("format") != "c2vbench" or not isinstance(
            description.get("components"), dict):
        raise C2VBenchError(f"{path} does not describe a c2vbench checkpoint (no format 'c2vbench' with components)",
                            "pass the folder `c2vbench run` wrote under <out>/checkpoints/")
    return description


def load_native_checkpoint(path: str | Path, legacy_mask: bool = False, registry=None, **_: Any):
    """Rebuild the model from ``config.json`` through the registry and load the weights (eval mode, CPU)."""
    from c2vbench.model.assembly import build_model
    from c2vbench.model.retrieval_model import upgrade_state_dict_keys
    from c2vbench.platform.registry import get_registry
    from c2vbench.platform.specs import ROLE_KIND, build_options, options_as_dict
    from c2vbench.runtime.tensor_files import CodeArchiveError, read_tensor_file

    description = read_native_config(path)
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    check_weights_hash(folder, description)
    registry = registry or get_registry()
    names = description["components"]
    components = {role: registry.get(ROLE_KIND[role], names[role]) for role in ("backbone", "temporal", "align")}
    options = {}
    for role, component in components.items():
        overrides = dict(description["options"].get(role) or {})
        if legacy_mask and role in ("temporal", "align"):
            fields = getattr(component.spec.options_type, "__dataclass_fields__", {})
            if "legacy_mask" in fields:
                overrides["legacy_mask"] = True
        options[role] = build_options(component.spec, overrides)
    try:
        weights = read_tensor_file(folder / WEIGHTS_FILE, "checkpoint weights")
    except CodeArchiveError:
        raise
    except C2VBenchError as error:
        raise C2VBenchError(error.problem, "the file is truncated or damaged; re-run the training that wrote it"
                            ) from None
    run_config = description.get("run_config", {})
    max_frames = description.get("max_frames") or run_config.get("max_frames") or 12
    model = build_model(components, options, int(max_frames))
    state = upgrade_state_dict_keys(weights)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # safetensors stores a tensor shared by two modules once; the other name is covered by the same storage.
    own = model.state_dict()
    loaded = {own[key].data_ptr() for key in state if key in own}
    missing = [key for key in missing if own[key].data_ptr() not in loaded]
    if missing or unexpected:
        raise C2VBenchError(f"checkpoint {folder} does not fit the rebuilt model: missing {sorted(missing)[:5]}, "
                            f"unexpected {sorted(unexpected)[:5]}",
                            "was it written by another version of one of its plug-ins?")
    model.component_names = dict(names)
    model.component_options = {role: options_as_dict(value) for role, value in options.items()}
    return model.eval()
