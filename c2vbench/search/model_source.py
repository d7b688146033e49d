"""Which model embeds the videos (and later the search text), and how it is named in the embeddings file.

Two sources:

* a **trained model**: ``--checkpoint`` names a checkpoint folder written by ``c2vbench run``, an official file
  (``pytorch_model.bin.N``), or a *run*: a result file or a run id, whose checkpoint is then used and whose frame
  protocol becomes the default (the videos are then embedded as the run's test videos were);
* **components** for zero-shot use: ``--backbone`` (``--pretrained`` ...) with a temporal module and an align
  head, built through the registry under a seed.

The identity written into the embeddings file names the source (the checkpoint's path, format and SHA-256, or the
components, options and seed) and carries a SHA-256 of every weight of the model, so that ``search`` can rebuild
exactly this model and refuse another.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from c2vbench.data.sampling import FrameSampling
from c2vbench.platform.errors import C2VBenchError, DataError
from c2vbench.platform.registry import ComponentRegistry, get_registry


@dataclasses.dataclass
class ModelSource:
    """A built model with the identity that names it and the frame protocol it suggests.

    Attributes:
        model: the :class:`~c2vbench.model.retrieval_model.RetrievalModel` (eval mode, CPU).
        identity: ``{"source": "checkpoint" | "components", ...}`` (see the module docs).
        sampling: the frame protocol of the run it came from, or None (the caller chooses).
        run_settings: ``preprocess`` and ``precision`` of that run, when known.
    """

    model: Any
    identity: dict[str, Any]
    sampling: FrameSampling | None = None
    run_settings: dict[str, str] = dataclasses.field(default_factory=dict)


def weights_sha256(model: torch.nn.Module) -> str:
    from c2vbench.evaluation.embedding_cache import weights_fingerprint

    return weights_fingerprint(model)


def _result_checkpoint(path: Path, result: dict[str, Any]) -> tuple[Path, str | None, dict[str, Any], bool]:
    """A run's checkpoint: ``(path, format or None, format options, legacy mask)``."""
    recorded = result.get("checkpoint")
    if isinstance(recorded, dict):  # c2vbench eval: the checkpoint that was evaluated
        checkpoint, checkpoint_format = recorded.get("path"), recorded.get("format")
        options, legacy = dict(recorded.get("options") or {}), bool(recorded.get("legacy_mask"))
    else:
        checkpoint, checkpoint_format, options, legacy = recorded, None, {}, False
    if not checkpoint:
        raise C2VBenchError(f"run {result.get('run_id')} ({path}) saved no model",
                            "run it again without --no-checkpoint (or give a checkpoint file)")
    candidates = [Path(checkpoint).expanduser()]
    if checkpoint_format in (None, "c2vbench"):
        candidates.append(path.parent / "checkpoints" / str(result.get("run_id")))  # the results folder moved
    for candidate in candidates:
        if candidate.exists():
            return candidate, checkpoint_format, options, legacy
    raise C2VBenchError(f"the checkpoint of run {result.get('run_id')} ({checkpoint}) is gone",
                        "give the checkpoint itself with --checkpoint PATH")


def sampling_of(result: dict[str, Any]) -> FrameSampling | None:
    """The frame protocol recorded in a result's protocol card."""
    described = result.get("protocol", {}).get("sampling")
    if not isinstance(described, dict):
        return None
    fields = {field.name for field in dataclasses.fields(FrameSampling)}
    try:
        return FrameSampling(**{key: value for key, value in described.items() if key in fields})
    except (TypeError, ValueError):
        return None


def from_checkpoint(reference: str, checkpoint_format: str | None = None,
                    checkpoint_options: dict[str, Any] | None = None, legacy_mask: bool = False,
                    results_folders: tuple[str, ...] = ("results",)) -> ModelSource:
    """The model of a checkpoint, or of a run named by its result file or run id."""
    from c2vbench.model.checkpoints import load_checkpoint
    from c2vbench.results.identity import checkpoint_digest

    path = Path(reference).expanduser()
    sampling, settings = None, {}
    result = None
    if (path.is_file() and path.suffix == ".json") or not path.exists():
        from c2vbench.results.index import find_run

        result_path, result = find_run(reference, results_folders)
        path, recorded_format, recorded_options, recorded_legacy = _result_checkpoint(result_path, result)
        checkpoint_format = checkpoint_format or recorded_format
        checkpoint_options = {**recorded_options, **(checkpoint_options or {})}
        legacy_mask = legacy_mask or recorded_legacy
        sampling = sampling_of(result)
        config = result.get("config", {})
        settings = {key: str(config[key]) for key in ("preprocess", "precision") if key in config}
    checkpoint_format = checkpoint_format or ("c2vbench" if path.is_dir() else "clip2video")
    model = load_checkpoint(path, format=checkpoint_format, legacy_mask=legacy_mask, **(checkpoint_options or {}))
    identity = {
        "source": "checkpoint", "path": str(path.resolve()), "format": checkpoint_format,
        "options": dict(checkpoint_options or {}), "legacy_mask": legacy_mask, "sha256": checkpoint_digest(path),
        "components": dict(getattr(model, "component_names", {}) or {}),
        "run_id": None if result is None else result.get("run_id"),
    }
    return ModelSource(model.eval(), identity, sampling, settings)


def from_components(backbone: str, temporal: str, align: str, options: dict[str, dict[str, Any]], seed: int,
                    max_frames: int, registry: ComponentRegistry | None = None) -> ModelSource:
    """A zero-shot model built from registered components under ``seed`` (random parts start from it)."""
    from c2vbench.model.assembly import build_model
    from c2vbench.platform.specs import ROLE_KIND, build_options, options_as_dict

    registry = registry or get_registry()
    names = {"backbone": backbone, "temporal": temporal, "align": align}
    components = {role: registry.get(ROLE_KIND[role], name) for role, name in names.items()}
    built = {role: build_options(components[role].spec, dict(options.get(role) or {})) for role in names}
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    model = build_model(components, built, max_frames).eval()
    identity = {"source": "components", "components": names,
                "options": {role: options_as_dict(value) for role, value in built.items()}, "seed": seed,
                "max_frames": max_frames,
                "providers": {role: components[role].provenance() for role in names}}
    return ModelSource(model, identity, None, {})


def rebuild(identity: dict[str, Any], checkpoint: str | None = None,
            registry: ComponentRegistry | None = None) -> Any:
    """The model an embeddings file names, rebuilt and checked against its weights' SHA-256.

    Args:
        identity: the file's identity.
        checkpoint: where the checkpoint is now, when it moved since the videos were embedded.
    """
    model_identity = identity.get("model") or {}
    expected = identity.get("weights_sha256")
    if model_identity.get("source") == "checkpoint":
        from c2vbench.model.checkpoints import load_checkpoint
        from c2vbench.results.identity import checkpoint_digest

        path = Path(checkpoint or model_identity.get("path", "")).expanduser()
        if not path.exists():
            raise DataError(f"the checkpoint the videos were embedded with ({path}) is gone",
                            "give its new place with --checkpoint PATH")
        if checkpoint_digest(path) != model_identity.get("sha256"):
            raise DataError(f"{path} is not the checkpoint the videos were embedded with (its SHA-256 differs)",
                            "give that checkpoint with --checkpoint PATH, or embed the videos again")
        model = load_checkpoint(path, format=model_identity.get("format", "c2vbench"),
                                legacy_mask=bool(model_identity.get("legacy_mask")),
                                **dict(model_identity.get("options") or {}))
        return model.eval()
    if model_identity.get("source") == "components":
        names = model_identity["components"]
        built = from_components(names["backbone"], names["temporal"], names["align"],
                                model_identity.get("options") or {}, int(model_identity.get("seed", 0)),
                                int(model_identity.get("max_frames", 12)), registry)
        if weights_sha256(built.model) != expected:
            raise DataError("the components rebuilt from the embeddings file give other weights than those the "
                            "videos were embedded with (another plug-in version or pretrained file?)",
                            "embed the videos again with this installation")
        return built.model
    raise DataError("the embeddings file names no model it can rebuild", "write it again with `c2vbench embed`")
