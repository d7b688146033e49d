"""``c2vbench probe RESULT``: add order probes to a result file that was written without them.

The result's checkpoint is loaded and evaluated again with the result's own configuration; the probes are added only
when that evaluation reproduces the stored per-query ranks exactly (otherwise the probes would be paired with
scores that are not the result's). The stored metrics, per-query ranks and everything else stay as they are: only a
``probes`` block is added, and the file is rewritten atomically (or written to another folder with ``--out``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from c2vbench.config import RunConfig
from c2vbench.platform.errors import C2VBenchError
from c2vbench.results.result_file import load_result_file, validate_result

# settings that may differ from the result's when probing it (they cannot change a number)
PROBE_OVERRIDABLE = ("device", "num_workers", "probe_shuffles", "eval_batch_size")


def result_checkpoint(result: dict[str, Any], path: Path) -> tuple[Path, str, bool]:
    """``(checkpoint path, format, legacy_mask)`` of a result, or one clear error when it saved none."""
    entry = result.get("checkpoint")
    if not entry:
        raise C2VBenchError(f"{path} names no checkpoint (it was written with --no-checkpoint)",
                            "re-run that configuration with --probe order")
    if isinstance(entry, str):
        return Path(entry), "c2vbench", False
    if isinstance(entry, dict) and entry.get("path"):
        return Path(entry["path"]), str(entry.get("format", "c2vbench")), bool(entry.get("legacy_mask", False))
    raise C2VBenchError(f"{path}: its 'checkpoint' entry is malformed ({entry!r})")


def result_config(result: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    """The run configuration stored in a result, with probing switched on and the allowed overrides applied."""
    known = {field.name for field in dataclasses.fields(RunConfig)}
    settings = {key: value for key, value in result.get("config", {}).items() if key in known}
    settings.update({key: value for key, value in overrides.items() if key in PROBE_OVERRIDABLE and value is not None})
    settings.update(probe="order", save_checkpoint=False)
    try:
        return RunConfig(**settings)
    except TypeError as error:
        raise C2VBenchError(f"the result's configuration cannot be read back ({error})") from None


def probe_result_file(path: str | Path, overrides: dict[str, Any] | None = None, out: str | Path | None = None,
                      registry=None, reporter=None) -> tuple[dict[str, Any], Path]:
    """Add a ``probes`` block to the result at ``path``; return the result and where it was written.

    Raises:
        C2VBenchError: no checkpoint, a checkpoint that no longer reproduces the stored ranks, or a dataset whose
            protocol changed since.
    """
    from c2vbench.pipeline import checkpoint_assembly, evaluate_and_build_result, seed_everything, select_device
    from c2vbench.platform.registry import get_registry
    from c2vbench.runtime.atomic_files import write_json_atomic
    from c2vbench.runtime.progress import Reporter

    path = Path(path)
    stored = load_result_file(path)
    checkpoint, checkpoint_format, legacy_mask = result_checkpoint(stored, path)
    if not checkpoint.exists():
        raise C2VBenchError(f"checkpoint {checkpoint} of {path} does not exist", "restore it, or re-run with --probe")
    config = result_config(stored, overrides or {})
    registry = registry or get_registry()
    reporter = reporter or Reporter()
    device = select_device(config.device)
    seed_everything(config.seed)
    entry = stored.get("checkpoint")
    format_options = dict(entry.get("options") or {}) if isinstance(entry, dict) else {}
    assembly, screen = checkpoint_assembly(config, checkpoint, checkpoint_format, legacy_mask, registry, reporter,
                                           format_options)
    fresh = evaluate_and_build_result(config, assembly, screen("test"), screen, None, device, reporter)
    if fresh["protocol"]["hash"] != stored["protocol"]["hash"]:
        raise C2VBenchError(f"{path}: the dataset's protocol is no longer the one the result was evaluated on",
                            "probe it where the result was made, or re-run with --probe order")
    for key in ("t2v_rank", "v2t_rank"):
        if list(fresh["per_query"][key]) != list(stored["per_query"][key]):
            raise C2VBenchError(
                f"{path}: its checkpoint no longer reproduces the stored {key.split('_')[0]} ranks (another device, "
                "batch size or software version?), so probes could not be paired with them",
                f"probe it with the settings that made it (device {stored.get('env', {}).get('device', '?')}), "
                "or re-run with --probe order")
    probed = {**stored, "probes": fresh["probes"]}
    validate_result(probed)
    target = path if out is None else Path(out) / path.name
    from c2vbench.results.integrity import seal_result

    return probed, write_json_atomic(target, seal_result(probed))
