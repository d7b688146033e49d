"""The result file: its schema (one validator for writing and reading), building, writing and reading.

The pipeline builds a result (:func:`build_result`) and writes it atomically (:func:`write_result`); ``compare``,
``leaderboard`` and every other consumer read it back with :func:`load_result_file` / :func:`iter_result_files`,
which accept only files that carry what the comparison tools rely on and report anything else as one
:class:`ResultFileError` naming the file and the problem. Both sides check with the same :func:`validate_result`;
a file is written with a content checksum and read back through :func:`c2vbench.results.integrity.check_result`
(the checksum, and the metrics against the per-query ranks).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import platform
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c2vbench import __version__
from c2vbench.evaluation.metrics import METRIC_NAMES, TIE_POLICIES, V2T_MODES
from c2vbench.platform.errors import ResultFileError
from c2vbench.platform.specs import ROLES
from c2vbench.results.integrity import check_result, seal_result
from c2vbench.runtime.atomic_files import write_json_atomic
from c2vbench.runtime.hashing import canonical_hash

if TYPE_CHECKING:
    import numpy as np
    import torch

    from c2vbench.data.screening import SplitScreener
    from c2vbench.evaluation.plan import EvaluationPlan
    from c2vbench.model.assembly import Assembly
    from c2vbench.runtime.progress import Reporter

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "c2vbench_version", "created", "run_id", "plugins", "config", "protocol",
                 "metrics", "per_query", "env")
PLUGIN_ROLES = ROLES


def protocol_card(card: dict[str, Any]) -> dict[str, Any]:
    """The card with its ``hash``: SHA-256 of everything else in it, canonically encoded."""
    body = {key: value for key, value in card.items() if key != "hash"}
    return {**body, "hash": canonical_hash(body)}


def environment(device: str) -> dict[str, Any]:
    import torch

    from c2vbench.runtime.numerics import numeric_environment

    return {"python": platform.python_version(), "torch": torch.__version__, "c2vbench": __version__,
            "device": device, "platform": platform.platform(),
            "numerics": numeric_environment()}  # what can make two CPUs give other numbers for one seed


def new_run_id(config_key: str, seed: int) -> str:
    """Readable and unique: configuration key prefix, seed, and a random suffix."""
    return f"{config_key[:10]}-s{seed}-{uuid.uuid4().hex[:8]}"


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def require_complete(result: dict[str, Any]) -> None:
    """Raise ValueError naming the first key a result must carry before it is written (the contract's keys)."""
    for key in REQUIRED_KEYS:
        if key not in result:
            raise ValueError(f"result is missing '{key}'")
    for role in PLUGIN_ROLES:
        entry = result["plugins"].get(role)
        if not isinstance(entry, dict) or not {"name", "distribution", "version"} <= set(entry):
            raise ValueError(f"result plugins.{role} must have name, distribution and version")


_UNSAFE = re.compile(r"[^a-z0-9_.-]+")


def result_file_name(result: dict[str, Any]) -> str:
    """``<dataset>-<backbone>-<temporal>-<align>-s<seed>-<short id>.json``: readable, and unique by the run id."""
    plugins = result.get("plugins", {})

    def part(role: str) -> str:
        name = str((plugins.get(role) or {}).get("name", "unknown")).lower()
        return _UNSAFE.sub("_", name).strip("_.-") or "unknown"

    seed = result.get("config", {}).get("seed", 0)
    short_id = str(result["run_id"]).rsplit("-", 1)[-1][:8]
    return f"{part('dataset')}-{part('backbone')}-{part('temporal')}-{part('align')}-s{seed}-{short_id}.json"


def write_result(result: dict[str, Any], out_dir: str | Path) -> Path:
    """Validate and atomically write ``<out_dir>/<dataset>-<backbone>-<temporal>-<align>-s<seed>-<short id>.json``.

    Re-running a command writes a new file (a new run id); a resumed run keeps its id and so its file name.
    """
    require_complete(result)
    validate_result(result)
    path = Path(out_dir) / result_file_name(result)
    if path.exists() and _run_id_in(path) not in (None, result["run_id"]):
        path = path.with_name(f"{path.stem}-{result['run_id']}.json")  # two runs sharing 8 hex digits
    return write_json_atomic(path, seal_result(result))


def _run_id_in(path: Path) -> str | None:
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("run_id"))
    except (OSError, ValueError, AttributeError):
        return "unreadable"


# ---------------------------------------------------------------------------------------------------------------
# reading

SUPPORTED_SCHEMA_VERSIONS = (1,)


class ForeignFileError(ResultFileError):
    """A JSON file that does not claim to be a result file at all (no ``schema_version``): e.g. a checkpoint's
    ``config.json`` lying next to the results. Directory scans may summarise these instead of listing each."""


class _ForeignFile(ValueError):
    pass


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _require_mapping(container: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{where}{key!r} must be an object" if key in container else f"missing {where}{key!r}")
    return value


def _check_number_list(values: Any, name: str, length: int | None = None, integral: bool = False) -> int:
    if not isinstance(values, list):
        raise ValueError(f"per_query.{name} must be a list")
    if not all(_is_number(value) for value in values):
        raise ValueError(f"per_query.{name} must hold finite numbers only")
    if integral and not all(float(value).is_integer() for value in values):
        raise ValueError(f"per_query.{name} must hold integers")
    if length is not None and len(values) != length:
        raise ValueError(f"per_query.{name} has {len(values)} entries, expected {length}")
    return len(values)


def validate_result(result: Any) -> dict[str, Any]:
    """Return ``result`` if it is a usable result dictionary, else raise ``ValueError`` with the reason."""
    if not isinstance(result, dict):
        raise _ForeignFile("not a JSON object (not a c2vbench result file?)")
    version = result.get("schema_version")
    if "schema_version" not in result:
        raise _ForeignFile("missing 'schema_version' (not a c2vbench result file?)")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"schema_version must be an integer, got {version!r}")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ValueError(
            f"schema_version {version} is not supported (this c2vbench reads {list(SUPPORTED_SCHEMA_VERSIONS)}); "
            "upgrade c2vbench"
        )
    metrics = _require_mapping(result, "metrics", "")
    for direction in ("t2v", "v2t"):
        block = _require_mapping(metrics, direction, "metrics.")
        for name in METRIC_NAMES:
            if not _is_number(block.get(name)):
                raise ValueError(f"metrics.{direction}.{name} must be a finite number")
    per_query = _require_mapping(result, "per_query", "")
    for direction in ("t2v", "v2t"):
        if f"{direction}_rank" not in per_query:
            raise ValueError(f"missing per_query.{direction}_rank")
        count = _check_number_list(per_query[f"{direction}_rank"], f"{direction}_rank")
        if count == 0:
            raise ValueError(f"per_query.{direction}_rank is empty")
        if any(rank < 1 for rank in per_query[f"{direction}_rank"]):
            raise ValueError(f"per_query.{direction}_rank holds ranks below 1 (ranks are 1-based)")
        if f"{direction}_ties" in per_query:
            _check_number_list(per_query[f"{direction}_ties"], f"{direction}_ties", count, integral=True)
    if "t2v_video" in per_query:
        _check_number_list(per_query["t2v_video"], "t2v_video", len(per_query["t2v_rank"]), integral=True)
    protocol = _require_mapping(result, "protocol", "")
    if not isinstance(protocol.get("hash"), str) or not protocol["hash"]:
        raise ValueError("protocol.hash must be a non-empty string")
    for key in ("plugins", "config", "postprocess", "cost", "env", "subsets", "plain"):
        if key in result and not isinstance(result[key], dict):
            raise ValueError(f"{key!r} must be an object")
    if "checksum" in result and not isinstance(result["checksum"], dict):
        raise ValueError("'checksum' must be an object")
    for key in ("run_id", "config_key"):
        if key in result and not isinstance(result[key], str):
            raise ValueError(f"{key!r} must be a string")
    if "contrasts" in result:
        from c2vbench.results.contrasts import validate_contrasts_block

        validate_contrasts_block(result["contrasts"])
    if "probes" in result:
        from c2vbench.results.probes_block import validate_probes_block

        validate_probes_block(result["probes"], len(per_query["t2v_rank"]), len(per_query["v2t_rank"]))
    if "tie" in result and result["tie"] not in TIE_POLICIES:
        raise ValueError(f"unknown tie policy {result['tie']!r}")
    if "v2t_mode" in result and result["v2t_mode"] not in V2T_MODES:
        raise ValueError(f"unknown v2t_mode {result['v2t_mode']!r}")
    return result


def load_result_file(path: str | Path) -> dict[str, Any]:
    """Read and validate one result file.

    Raises:
        ResultFileError: ``"<file>: <reason>"`` for unreadable, non-JSON or malformed files.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file", "check the path") from None
    except UnicodeDecodeError:
        hint = ("score a similarity or embedding file with `c2vbench score`" if path.suffix == ".npz"
                else "give a result file written by `c2vbench run` or `c2vbench eval`")
        raise ResultFileError(f"{path}: binary data, not a JSON result file", hint) from None
    except IsADirectoryError:
        raise ResultFileError(f"{path} is a folder, not a result file", "give a result file") from None
    except OSError as error:
        raise ResultFileError(f"{path}: cannot read ({error.strerror or error.__class__.__name__})",
                              "check the path and its permissions") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultFileError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    try:
        return check_result(validate_result(data), path)
    except _ForeignFile as error:
        raise ForeignFileError(f"{path}: {error}", "remove it from the inputs") from None
    except ValueError as error:
        raise ResultFileError(f"{path}: {error}", "regenerate it with `c2vbench run` or `c2vbench eval`") from None


def _is_checkpoint_description(path: Path) -> bool:
    """The ``config.json`` of a native checkpoint folder (next to its ``model.safetensors``): not a result."""
    return path.name == "config.json" and (path.parent / "model.safetensors").is_file()


def iter_result_files(paths_or_dirs: Iterable[str | Path]) -> Iterator[tuple[Path, dict[str, Any] | ResultFileError]]:
    """Yield ``(path, result)`` or ``(path, error)`` for every file given or found under the directories given.

    Directories are searched recursively for ``*.json`` (sorted), skipping hidden files and directories (a
    writer's partial state) and the ``config.json`` of the model checkpoints ``c2vbench run`` saves beside its
    results; a path that does not exist yields an error.
    """
    for entry in paths_or_dirs:
        entry = Path(entry)
        if entry.is_dir():
            files = sorted(
                candidate
                for candidate in entry.rglob("*.json")
                if candidate.is_file() and not any(part.startswith(".") for part in candidate.relative_to(entry).parts)
                and not _is_checkpoint_description(candidate)
            )
        else:
            files = [entry]
        for file in files:
            try:
                yield file, load_result_file(file)
            except ResultFileError as error:
                yield file, error


# ---------------------------------------------------------------------------------------------------------------
# building


def evaluation_block(sim, split, plan: EvaluationPlan) -> dict[str, Any]:
    """Metrics, per-query ranks and subsets of one similarity matrix (possibly post-processed), or of streamed
    scores (:class:`c2vbench.evaluation.streamed_ranking.StreamedScores`: ranked tile by tile, never held whole)."""
    from c2vbench.evaluation.metrics import evaluate_similarity, pairwise_accuracy, pairwise_accuracy_from_scores

    subsets = {name: (subset.caption_indices, subset.video_indices) for name, subset in split.subsets.items()}
    if getattr(split, "relevant_videos", None) is not None:
        return multi_target_block(sim, split, plan, subsets)
    if hasattr(sim, "evaluate"):
        pairs = {name: [(i, split.captions[i].video_index) for i in subset.caption_indices]
                 + list(zip(subset.caption_indices, subset.rival_videos, strict=True))
                 for name, subset in split.subsets.items() if subset.rival_videos}
        wanted = [pair for name in pairs for pair in pairs[name]]
        evaluation, values = sim.evaluate(split.text_to_video, tie=plan.tie, subsets=subsets, entries=wanted)
        evaluated = evaluation.to_dict()
        offset = 0
        for name, subset_pairs in pairs.items():
            half = len(subset_pairs) // 2
            evaluated["subsets"][name]["pairwise"] = pairwise_accuracy_from_scores(
                values[offset:offset + half], values[offset + half:offset + 2 * half])
            offset += len(subset_pairs)
        return evaluated
    evaluated = evaluate_similarity(sim, split.text_to_video, tie=plan.tie, v2t_mode=plan.v2t_mode,
                                    subsets=subsets).to_dict()
    for name, subset in split.subsets.items():
        if subset.rival_videos:
            evaluated["subsets"][name]["pairwise"] = pairwise_accuracy(
                sim, subset.caption_indices, [split.captions[i].video_index for i in subset.caption_indices],
                subset.rival_videos)
    return evaluated


def multi_target_block(sim, split, plan: EvaluationPlan, subsets: dict[str, Any]) -> dict[str, Any]:
    """:func:`evaluation_block` of a split whose captions may have several correct videos (SSv2 templates, RTime's
    copies): R@K = a correct video in the top K, and mAP (:mod:`c2vbench.evaluation.multi_target`). These splits
    are small: streamed scores are assembled into the matrix."""
    from c2vbench.evaluation.multi_target import evaluate_multi_target
    from c2vbench.platform.errors import C2VBenchError

    if plan.v2t_mode != "all-captions":
        raise C2VBenchError(f"--v2t-mode {plan.v2t_mode} is not defined when a text has several correct videos",
                            "use the default all-captions mode")
    matrix = sim.matrix() if hasattr(sim, "matrix") else sim
    evaluated = evaluate_multi_target(matrix, split.relevant_videos, tie=plan.tie, subsets=subsets).to_dict()
    evaluated["multi_target"] = ("R@K: a correct video in the top K; MdR/MnR: rank of the best correct video; "
                                 "mAP: mean average precision (percent), ties averaged exactly")
    return evaluated


def post_processed_block(post_sim, split, plan: EvaluationPlan) -> dict[str, Any]:
    """:func:`evaluation_block` of post-processed scores; with per-direction scores (QB-Norm), text→video numbers
    come from the text→video matrix and video→text numbers from the video→text one."""
    from c2vbench.evaluation.postprocess import DirectionalScores

    if not isinstance(post_sim, DirectionalScores):
        return evaluation_block(post_sim, split, plan)
    t2v = evaluation_block(post_sim.t2v, split, plan)
    v2t = evaluation_block(post_sim.v2t, split, plan)

    def merged(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in first.items() if not k.startswith("v2t")},
                **{k: v for k, v in second.items() if k.startswith("v2t")}}

    block = {"metrics": merged(t2v["metrics"], v2t["metrics"]), "per_query": merged(t2v["per_query"],
                                                                                   v2t["per_query"])}
    block["subsets"] = {}
    for name, subset in (t2v.get("subsets") or {}).items():
        other = (v2t.get("subsets") or {}).get(name, {})
        combined = dict(subset)
        for key in ("metrics", "per_query"):
            if key in subset and key in other:
                combined[key] = merged(subset[key], other[key])
        block["subsets"][name] = combined
    return block


def build_result(settings: Mapping[str, Any], plan: EvaluationPlan, assembly: Assembly, split, sim: np.ndarray,
                 post_sim: np.ndarray, screen: SplitScreener, training, encoded, device: torch.device,
                 reporter: Reporter, checkpoint: dict[str, Any] | None = None,
                 legacy_batching: dict[str, Any] | None = None,
                 effective_backbone_lr: float | None = None) -> dict[str, Any]:
    """The result of one evaluation.

    ``settings`` is the run's resolved configuration as a dict (recorded as ``config``; for ``eval`` with the
    components read from the checkpoint) and ``plan`` how the split was scored. ``checkpoint`` (``eval`` only):
    ``{"sha256", "format", "legacy_mask", "options", "path"}``; everything but the path enters the ``config_key``.
    ``legacy_batching``: how videos were batched under the legacy mask (recorded in the protocol card: the scores
    depend on it). ``effective_backbone_lr``: the backbone's learning rate when it was fine-tuned."""
    import torch

    from c2vbench.data.feed import describe_preprocessing
    from c2vbench.data.integrity import card_entries
    from c2vbench.evaluation.postprocess import get_postprocessor
    from c2vbench.results.identity import configuration_key, execution
    from c2vbench.runtime.precision import effective_precision

    processor = get_postprocessor(plan.postprocess)
    plain = evaluation_block(sim, split, plan)
    evaluated = plain if plan.postprocess == "none" else post_processed_block(post_sim, split, plan)
    card = {
        **assembly.dataset.protocol,
        "dataset": assembly.dataset.name,
        "split": split.name,
        "n_videos": len(split.videos),
        "n_captions": len(split.captions),
        # test-time sampling only: what training saw is config.training_frames (frozen caches unjittered frames)
        "sampling": {key: value for key, value in assembly.sampling.describe().items() if key != "train_jitter"},
        # a dataset may name its own decoder (real datasets: PIL for frame folders); else the sampling's decoder
        "decoder": assembly.dataset.protocol.get("decoder", decoder_description(assembly.sampling.decoder)),
        # stable categories only: the decoders' own messages change with versions and paths (kept in "screening")
        "skipped_videos": card_entries(screen.skipped),
        "partial_videos": card_entries(screen.partial, partial=True),
        "tie": plan.tie,
        "v2t_mode": plan.v2t_mode,
        "preprocess": describe_preprocessing(plan.preprocess, device,
                                             any(Path(video.source).is_dir() for video in split.videos[:1]),
                                             plan.num_workers, assembly.sampling.decoder),
    }
    if legacy_batching is not None:
        card["legacy_mask_batching"] = legacy_batching
    if getattr(split, "relevant_videos", None) is not None:
        card["targets"] = plain["multi_target"]
    if getattr(split, "contrasts", None):
        card["contrasts"] = {name: {"description": contrast.description, "pairs": len(contrast.video_indices),
                                    "groups": sorted(set(contrast.groups))}
                             for name, contrast in split.contrasts.items()}
    model = assembly.model
    head_protocol = model.evaluation_protocol()
    if head_protocol:  # e.g. T-MASS's stochastic trials: never ranked with single-pass scores
        card["align_head_evaluation"] = head_protocol
    ran = execution(plan.precision, device)
    # the key holds the decoder that ran: `--decoder auto` and the name it resolved to are the same configuration
    key_settings = {**settings, "decoder": assembly.sampling.decoder} if "decoder" in settings else settings
    config_key = configuration_key(key_settings, ran, assembly.options, checkpoint)
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "c2vbench_version": __version__,
        "created": now_iso(),
        "run_id": new_run_id(config_key, settings["seed"]),
        "plugins": {role: component.provenance() for role, component in assembly.components.items()},
        "config": {**settings, "resolved_options": assembly.options,
                   "image_size": int(model.backbone.image_size),
                   "effective_backbone_lr": effective_backbone_lr,
                   "caption_sampling": "one random caption per video per epoch",
                   "training_frames": training_frames(settings["protocol"], assembly.sampling), "execution": ran,
                   **backbone_details(model.backbone),
                   "effective_precision": effective_precision(plan.precision, device)},
        "config_key": config_key,
        "protocol": protocol_card(card),
        "metrics": evaluated["metrics"],
        "per_query": evaluated["per_query"],
        "subsets": evaluated.get("subsets", {}),
        "tie": plan.tie,
        "v2t_mode": plan.v2t_mode,
        "postprocess": {"name": processor.name, "track": processor.track,
                        **({"v2t": "QB-Norm with a bank of training videos (text-to-video: training captions)"}
                           if processor.name == "qbnorm" else {})},
        "training": None if training is None else dataclasses.asdict(training),
        "model_selection": None if training is None else {
            "split": training.selection_split, "epoch": training.selected_epoch,
            "selected_on_test": training.selection_split == "test"},
        "cost": {
            "parameters": sum(p.numel() for p in model.parameters()),
            "trainable_parameters": trained_parameter_count(model, settings["protocol"]),
            "videos_per_second": round(encoded.videos_per_second, 3),
            "texts_per_second": round(encoded.texts_per_second, 3),
        },
        "notes": list(reporter.notes),
        "screening": {"skipped": screen.skipped, "partial": screen.partial},
        "env": environment(str(device) if device.type != "cuda" else torch.cuda.get_device_name(device)),
    }
    if plan.postprocess != "none":
        result["plain"] = {"metrics": plain["metrics"], "per_query": plain["per_query"]}
    if checkpoint is not None:
        result["checkpoint"] = dict(checkpoint)
    return result


def backbone_details(backbone) -> dict[str, Any]:
    """``{"backbone_details": ...}`` when the backbone describes what it built (its optional ``describe()``:
    e.g. the ``timm`` backbone's widths, projection, preprocessing and weight-file checksums), else nothing."""
    describe = getattr(backbone, "describe", None)
    return {"backbone_details": describe()} if callable(describe) else {}


def training_frames(protocol: str, sampling) -> str | None:
    """Which frames training saw (the protocol card describes the test-time sampling only)."""
    if protocol == "zeroshot":
        return None
    if protocol == "frozen":
        return ("fixed test-time positions, no jitter: frame features computed once in eval mode and reused every "
                "epoch")
    jitter = getattr(sampling, "train_jitter", False) and getattr(sampling, "mode", "clip2video") == "clip2video"
    return "decoded every epoch with sampling jitter" if jitter else "decoded every epoch at fixed positions"


def trained_parameter_count(model, protocol: str) -> int:
    """Parameters the protocol trains: none (zeroshot), all but the backbone (frozen), all (finetune)."""
    if protocol == "zeroshot":
        return 0
    return sum(p.numel() for name, p in model.named_parameters()
               if p.requires_grad and (protocol == "finetune" or not name.startswith("backbone.")))


def decoder_description(decoder: str) -> dict[str, str]:
    """The sampling's video decoder and its library version, for the protocol card."""
    from c2vbench.data.decoders import decoder_version

    return {"name": decoder, "version": decoder_version(decoder)}
