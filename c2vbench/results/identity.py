"""What a result's ``config_key`` is made of: everything that can change a number, taken from what ran.

Runs that share a ``config_key`` are seeds of one configuration (``compare`` and ``leaderboard`` merge them), so
the key must hold exactly what can change a number and nothing that cannot:

* the resolved settings of the run configuration, without the seed and without paths or
  bookkeeping (``out``, ``data_root``, ``num_workers``, ``save_checkpoint``, the requested ``device``), with the
  decoder that ran in place of the one asked for (``--decoder auto`` and ``--decoder decord`` where ``auto`` picks
  decord are one configuration);
* the components that ran with their resolved options: for ``eval`` the ones *read from the checkpoint*, never the
  command-line defaults;
* for ``eval``, the checkpoint itself: a SHA-256 of its content (never its path), its format and the format options
  (``legacy_mask``, ``variant`` ...);
* how it ran (:func:`execution`): the device type and the precision that really ran (``--precision`` resolved
  for the device: fp16 autocast on CUDA, fp32 where the device cannot run what was asked).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c2vbench.runtime.hashing import canonical_hash

if TYPE_CHECKING:
    import torch

# Settings that never change a number (or are paths: where data lives is not what it is): they are left out of the
# configuration key that groups seeds. The device and precision that actually ran enter the key through
# :func:`execution`. ``probe`` and ``probe_shuffles`` add a ``probes`` block and never change the unprobed numbers
# (c2vbench.probes.order_probes). ``checkpoint_activations`` and ``prefetch_batches`` change how, not what, training
# computes (bit for bit); ``compile`` to float32 rounding, as the number of processes does (c2vbench.training.compile).
NON_NUMERIC_SETTINGS = frozenset({"out", "seed", "num_workers", "save_checkpoint", "device", "data_root", "probe",
                                  "probe_shuffles", "embedding_cache", "compile", "checkpoint_activations",
                                  "prefetch_batches"})


def execution(precision: str, device: torch.device) -> dict[str, Any]:
    """Device type and precision of what ran (not what was asked for: ``--device auto`` and a precision the device
    cannot run under autocast resolve here)."""
    from c2vbench.runtime.precision import effective_precision

    return {"device_type": device.type, "precision": effective_precision(precision, device)}


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


def configuration_key(settings: Mapping[str, Any], execution_record: dict[str, Any], components: dict[str, Any],
                      checkpoint: dict[str, Any] | None = None) -> str:
    """The ``config_key`` of a result (see the module docstring).

    Args:
        settings: the resolved run configuration as a dict (for ``eval``, with the components read from the
            checkpoint).
        execution_record: :func:`execution`.
        components: ``{role: resolved options}`` of the components that ran.
        checkpoint: for ``eval``: ``{"sha256", "format", "legacy_mask", "options"}``; never a path.
    """
    numeric = {key: value for key, value in settings.items() if key not in NON_NUMERIC_SETTINGS}
    body = {"settings": without_locations(numeric), "execution": execution_record,
            "components": without_locations(components)}
    if checkpoint is not None:
        body["checkpoint"] = {key: value for key, value in checkpoint.items() if key != "path"}
    return canonical_hash(body)
