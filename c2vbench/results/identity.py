"""What a result's ``config_key`` is made of: everything that can change a number, taken from what ran.

Runs that share a ``config_key`` are seeds of one configuration (``compare`` and ``leaderboard`` merge them), so
the key must hold exactly what can change a number and nothing that cannot:

* the resolved settings of :class:`~c2vbench.config.RunConfig`, without the seed and without paths or
  bookkeeping (``out``, ``data_root``, ``num_workers``, ``save_checkpoint``, the requested ``device``);
* the components that ran with their resolved options: for ``eval`` the ones *read from the checkpoint*, never the
  command-line defaults;
* for ``eval``, the checkpoint itself: a SHA-256 of its content (never its path), its format and the format options
  (``legacy_mask``, ``variant`` ...);
* how it ran (:func:`execution`): the device type and the precision that really ran (``--precision`` resolved
  for the device: fp16 autocast on CUDA, fp32 where the device cannot run what was asked).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c2vbench.config import NON_NUMERIC_SETTINGS
from c2vbench.runtime.hashing import canonical_hash

if TYPE_CHECKING:
    import torch

    from c2vbench.config import RunConfig


def execution(config: RunConfig, device: torch.device) -> dict[str, Any]:
    """Device type and precision of what ran (not what was asked for: ``--device auto`` and a precision the device
    cannot run under autocast resolve here)."""
    from c2vbench.runtime.precision import effective_precision

    return {"device_type": device.type, "precision": effective_precision(getattr(config, "precision", "fp32"),
                                                                         device)}


def checkpoint_digest(path: str | Path) -> str:
    """SHA-256 of a checkpoint's content: the file, or every regular file of a folder (names and bytes, sorted)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(
        candidate for candidate in path.rglob("*")
        if candidate.is_file() and not any(part.startswith(".") for part in candidate.relative_to(path).parts))
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _is_location(key: str) -> bool:
    return key.endswith(("_dir", "_root", "_path")) or key in ("root", "path")


def without_locations(value: Any) -> Any:
    """``value`` with every option that names a location (``videos_dir``, ``frames_dir`` ...) left out."""
    if isinstance(value, dict):
        return {key: without_locations(item) for key, item in value.items() if not _is_location(str(key))}
    return value


def configuration_key(config: RunConfig, execution_record: dict[str, Any], components: dict[str, Any],
                      checkpoint: dict[str, Any] | None = None) -> str:
    """The ``config_key`` of a result (see the module docstring).

    Args:
        config: the resolved run configuration (for ``eval``, with the components read from the checkpoint).
        execution_record: :func:`execution`.
        components: ``{role: resolved options}`` of the components that ran.
        checkpoint: for ``eval``: ``{"sha256", "format", "legacy_mask", "options"}``; never a path.
    """
    settings = {key: value for key, value in config.to_dict().items() if key not in NON_NUMERIC_SETTINGS}
    body = {"settings": without_locations(settings), "execution": execution_record,
            "components": without_locations(components)}
    if checkpoint is not None:
        body["checkpoint"] = {key: value for key, value in checkpoint.items() if key != "path"}
    return canonical_hash(body)
