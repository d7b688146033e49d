"""``c2vbench run`` end to end: assemble, train (unless zero-shot), evaluate on the test split, write the result.

Under torchrun every process runs this same code on its share of the work (see :mod:`c2vbench.runtime.distributed`);
rank 0 alone writes the result file and the checkpoint, and the other ranks return a :class:`RunOutcome` without them.
"""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from c2vbench.config import RunConfig
from c2vbench.data.screening import SplitScreener
from c2vbench.evaluation.encoding import BackboneFeatureCache, encode_split, score_all, streamed_scores
from c2vbench.model.assembly import Assembly, assemble
from c2vbench.platform.errors import C2VBenchError, RunInterrupted
from c2vbench.platform.registry import ComponentRegistry, get_registry
from c2vbench.platform.specs import ROLE_KIND
from c2vbench.results.result_file import build_result, write_result
from c2vbench.runtime.atomic_files import WriteFailed, check_writable_folder
from c2vbench.runtime.distributed import World, current_world, distributed_session, main_process_first
from c2vbench.runtime.distributed import select_device as select_device  # noqa: PLC0414 - kept importable from here
from c2vbench.runtime.progress import Reporter
from c2vbench.training.compile import apply_execution_options


@dataclasses.dataclass
class RunOutcome:
    """What a run wrote. Ranks other than 0 of a torchrun run write nothing: their ``result`` is None."""

    result: dict[str, Any] | None
    result_path: Path | None
    checkpoint_path: Path | None


def seed_everything(seed: int) -> None:
    """Seed every generator and ask torch for deterministic kernels (same seed → same numbers on CPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def run_benchmark(config: RunConfig, registry: ComponentRegistry | None = None,
                  reporter: Reporter | None = None) -> RunOutcome:
    """Train and evaluate one configuration and write its result file (and native checkpoint).

    Every split the run needs is screened before training starts. The training state under ``<out>/.partial/`` is
    kept until the result file (and checkpoint) are written, so an interrupt at any point loses no finished epoch:
    the same command resumes (:class:`c2vbench.platform.errors.RunInterrupted` says how).
    """
    reporter = reporter or Reporter()
    with distributed_session(config.device) as (world, device):
        return _run_benchmark(config, registry or get_registry(), reporter_for(world, reporter), world, device)


def reporter_for(world: World, reporter: Reporter) -> Reporter:
    """Rank 0 reports; the other ranks of a torchrun run stay silent (their notes are rank 0's too)."""
    return reporter if world.is_main else Reporter(quiet=True)


def _run_benchmark(config: RunConfig, registry: ComponentRegistry, reporter: Reporter, world: World,
                   device: torch.device) -> RunOutcome:
    if world.is_main:
        check_writable_folder(config.out, "--out")
    with training_lock(config, world):  # two identical training runs never share one --out's state
        return _run_locked(config, registry, reporter, world, device)


def training_lock(config: RunConfig, world: World):
    """The lock of this configuration and seed's training state in ``--out`` (rank 0 of a training run holds it):
    a second identical run on the same ``--out`` is refused at once instead of sharing the state and run id."""
    import contextlib

    if config.protocol == "zeroshot" or not world.is_main:
        return contextlib.nullcontext()
    from c2vbench.runtime.locks import exclusive_lock

    state_dir = training_state_dir(config)
    return exclusive_lock(state_dir.with_name(state_dir.name + ".lock"),
                          f"another run of this configuration and seed is using {config.out}",
                          "wait for it to finish (its result will be there), or give this run another --out")


def _run_locked(config: RunConfig, registry: ComponentRegistry, reporter: Reporter, world: World,
                device: torch.device) -> RunOutcome:
    seed_everything(config.seed)
    check_probes_supported(config, world)
    if world.distributed and config.protocol != "zeroshot":
        from c2vbench.runtime.distributed import check_global_batch

        check_global_batch(config.batch_size, world)
    state_dir = None
    stage = "starting"
    try:
        with reporter.status("building components"), main_process_first():  # one process per node fills caches first
            assembly = assemble(config.assembly_plan(), registry)
        dataset = assembly.dataset
        for note in dataset.notes:
            reporter.note(note)
        selection_name = None if config.protocol == "zeroshot" else selection_split_name(config, dataset, reporter)
        check_frame_memory(config, assembly)  # before any video is read
        screen = SplitScreener(dataset, assembly.sampling, config.allow_missing, reporter,
                               report_dir=config.out if world.is_main else None)
        needed = ["test"] if config.protocol == "zeroshot" else ["train", selection_name, "test"]
        stage = "checking the videos"
        splits = screen.screen_all([name for name in needed if name])  # every split's problems, in one message
        model = assembly.model.to(device)
        apply_execution_options(model, config.compile, config.checkpoint_activations)
        feature_cache = BackboneFeatureCache.for_run(model, dataset, config.evaluation_plan(), device,
                                                     enabled=config.reuses_backbone_features(), reporter=reporter)

        training = None
        run_id = None
        if config.protocol != "zeroshot":
            from c2vbench.training.loop import train

            selection = splits[selection_name] if selection_name else None
            if selection is not None and len(selection.videos) < 2:
                reporter.note(f"the selection split '{selection_name}' has {len(selection.videos)} video: every "
                              "epoch scores 100 on it, so the first epoch is kept (--select-on none keeps the last)")
            state_dir = training_state_dir(config)
            run_id = kept_run_id(state_dir, config) if world.is_main else None
            stage = "training"
            training = train(model, splits["train"], selection, assembly.sampling, config.training_plan(), device,
                             reporter,
                             state_dir=state_dir, feature_cache=feature_cache)

        stage = "evaluating"
        result = evaluate_and_build_result(config, assembly, splits["test"], screen, training, device, reporter,
                                           feature_cache)
        if result is None:  # not rank 0
            return RunOutcome(None, None, None)
        if run_id is not None:
            result["run_id"] = run_id  # a resumed run keeps its id (and checkpoint folder)
        stage = "writing"
        checkpoint_path = None
        if config.saves_checkpoint():
            from c2vbench.model.native_checkpoint import save_native_checkpoint

            checkpoint_path = save_native_checkpoint(model, config.to_dict(),
                                                     Path(config.out) / "checkpoints" / result["run_id"])
            result["checkpoint"] = str(checkpoint_path)
        result_path = write_result(result, config.out)
    except KeyboardInterrupt:
        raise interrupted(stage, state_dir, config) from None
    except WriteFailed as error:  # a full disk: say what stays, as an interrupt does
        raise WriteFailed(f"{error.problem} (while {stage}); {kept_summary(state_dir, config)}", error.fix) from None
    if state_dir is not None:
        from c2vbench.training.loop import discard_training_state

        discard_training_state(state_dir)
    return RunOutcome(result, result_path, checkpoint_path)


def selection_split_name(config: RunConfig, dataset, reporter: Reporter) -> str | None:
    """The split that picks the best epoch, or None (the last epoch is kept)."""
    if config.select_on == "none":
        return None
    wanted = dataset.selection_split if config.select_on == "auto" else config.select_on
    if wanted not in dataset.splits:
        if config.select_on == "auto":
            reporter.note(f"dataset '{dataset.name}' has no '{wanted}' split: the last epoch is kept")
            return None
        raise C2VBenchError(f"--select-on {wanted}: dataset '{dataset.name}' has no split '{wanted}' (its splits: "
                            f"{', '.join(sorted(dataset.splits))})",
                            "use --select-on auto, none, or one of those splits")
    if wanted == "test":
        reporter.note("model selection on the test split: the result is marked as selected on test")
    return wanted


def check_frame_memory(config: RunConfig, assembly: Assembly) -> None:
    """Refuse a frame count whose batch of frames cannot fit in memory, with the size it would need."""
    from c2vbench.runtime.resources import check_frame_batch_fits

    side = int(getattr(assembly.model.backbone, "image_size", 0) or 0)
    if side <= 0:
        return
    videos = config.eval_batch_size if config.protocol != "finetune" else max(config.batch_size,
                                                                               config.eval_batch_size)
    check_frame_batch_fits(videos, int(assembly.sampling.max_frames), side)


def training_state_dir(config: RunConfig) -> Path:
    """Where this configuration and seed keep their resumable training state: the same command finds it again."""
    return Path(config.out) / ".partial" / f"{config.config_key()[:16]}-s{config.seed}"


def kept_run_id(state_dir: Path, config: RunConfig) -> str:
    """The run id of an interrupted attempt (so a resumed run keeps it), or a new one recorded for the next."""
    import json

    from c2vbench.results.result_file import new_run_id
    from c2vbench.runtime.atomic_files import write_json_atomic

    record = state_dir / "run.json"
    try:
        return str(json.loads(record.read_text())["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        run_id = new_run_id(config.config_key(), config.seed)
        write_json_atomic(record, {"run_id": run_id})
        return run_id


def kept_summary(state_dir: Path | None, config: RunConfig) -> str:
    """What of a stopped run stays on disk, in words (the same command resumes from it)."""
    from c2vbench.training.loop import completed_epochs

    done = completed_epochs(state_dir) if state_dir is not None else 0
    if not done:
        return "no epoch had finished, so nothing was kept"
    kept = "epoch 1 is" if done == 1 else f"epochs 1-{done} are"
    return f"{kept} kept in {state_dir}, and the same command resumes from there"


def interrupted(stage: str, state_dir: Path | None, config: RunConfig) -> RunInterrupted:
    """What an interrupt at ``stage`` leaves, and that the same command resumes from there."""
    from c2vbench.training.loop import completed_epochs

    done = completed_epochs(state_dir) if state_dir is not None else 0
    if config.protocol == "zeroshot":
        return RunInterrupted(f"interrupted while {stage}; nothing was written (zero-shot runs train nothing)",
                              "run the same command to start again")
    if done >= config.epochs:
        return RunInterrupted(f"interrupted while {stage}; the finished training ({done} epochs) is kept in "
                              f"{state_dir}", "run the same command to evaluate it without training again")
    if done:
        kept = "epoch 1 is" if done == 1 else f"epochs 1-{done} are"
        return RunInterrupted(f"interrupted while {stage} (epoch {done + 1} of {config.epochs}); {kept} kept in "
                              f"{state_dir}", f"run the same command to resume from epoch {done + 1}")
    return RunInterrupted(f"interrupted while {stage}; no epoch had finished, so nothing was kept",
                          "run the same command to start again")


def uses_legacy_mask(options: dict[str, Any]) -> bool:
    """Whether a component runs with the official (tiled, batch-dependent) attention mask."""
    return any(isinstance(value, dict) and bool(value.get("legacy_mask")) for value in options.values())


def evaluate_and_build_result(config: RunConfig, assembly: Assembly, test, screen: SplitScreener, training,
                              device: torch.device, reporter: Reporter,
                              feature_cache: BackboneFeatureCache | None = None,
                              checkpoint: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Encode the screened test split once, score every pair, post-process, and build the result dict.

    Under torchrun the processes share the encoding and every rank receives all the features; rank 0 then ranks
    them streamed alone (the other ranks are done: no collective is left to wait in). Where the whole matrix is
    needed (post-processing, legacy video→text), the processes score their shares of the query rows and the matrix
    is gathered on rank 0. Rank 0 alone builds the result; the other ranks get None.

    Under the legacy (tiled) mask a video's features depend on its batch-mates, so videos are batched as the
    official evaluation batches them (:func:`c2vbench.evaluation.encoding.official_video_batches`) and the card says so;
    every process then encodes the whole split (the official batches do not shard by rows).
    """
    from c2vbench.evaluation.encoding import official_video_batches
    from c2vbench.evaluation.sharded_encoding import encode_split_sharded, score_all_sharded

    world = current_world()
    plan = config.evaluation_plan()
    model = assembly.model.to(device)
    start = time.perf_counter()
    video_batches = None
    if uses_legacy_mask(assembly.options):
        video_batches = official_video_batches(test, config.eval_batch_size)
        reporter.note(f"legacy mask: videos encoded in CLIP2Video's evaluation batches (captions in batches of "
                      f"{config.eval_batch_size}; each video with the batch of its last caption)")
    with reporter.status("evaluating on the test split"):
        if video_batches is not None:
            # the official batching: every process encodes the whole split, and the matrix is scored per batch
            encoded = encode_split(model, test, assembly.sampling, config.eval_batch_size, device, reporter,
                                   config.num_workers, feature_cache=feature_cache, preprocess=config.preprocess,
                                   precision=config.precision, video_batches=video_batches)
            sim = score_all(model, encoded.text, encoded.video, device, video_batches=video_batches)
            if not world.is_main:
                return None
            post_sim = postprocess_scores(config, model, assembly.dataset, sim, encoded, device, reporter,
                                          feature_cache)
        else:
            encoded = encode_split_sharded(model, test, assembly.sampling, config.eval_batch_size, device, reporter,
                                           config.num_workers, feature_cache=feature_cache,
                                           preprocess=config.preprocess, precision=config.precision)
            if plan.streams:
                if not world.is_main:  # rank 0 holds every feature too and ranks them alone
                    return None
                # ranked tile by tile on the device: the whole score matrix is never held
                sim = post_sim = streamed_scores(model, encoded.text, encoded.video, device)
            else:
                sim = score_all_sharded(model, encoded, device, to_all=False)
                if not world.is_main:
                    return None
                post_sim = postprocess_scores(config, model, assembly.dataset, sim, encoded, device, reporter,
                                              feature_cache)
    evaluation_seconds = time.perf_counter() - start
    backbone_lr = config.training_plan().backbone_lr_for(model) if config.protocol == "finetune" else None
    result = build_result(config.to_dict(), plan, assembly, test, sim, post_sim, screen, training, encoded, device,
                          reporter, checkpoint=checkpoint, effective_backbone_lr=backbone_lr,
                          legacy_batching=None if video_batches is None else {
                              "rule": "CLIP2Video evaluation (reference §6.1): captions in batches of N in split "
                                      "order; each video encoded and scored with the batch of its last caption",
                              "caption_batch": config.eval_batch_size})
    if test.contrasts:
        add_contrasts(result, model, test, encoded, config, device, reporter)
    result["env"].update(distributed_description(config, world))
    result["config"]["data_parallel"] = data_parallel_layout(config, world)
    result["cost"]["embedding_cache"] = dict(feature_cache.log) if feature_cache is not None else "off"
    if config.probe == "order":
        add_order_probes(result, config, assembly, test, encoded, device, reporter, evaluation_seconds)
    return result


def add_contrasts(result: dict[str, Any], model, test, encoded, config: RunConfig, device: torch.device,
                  reporter: Reporter) -> None:
    """Score the split's text contrasts (VITATECS, RTime-Binary) and add the ``contrasts`` block: per pair the
    outcome, per group the accuracy with its interval (:mod:`c2vbench.results.contrasts`)."""
    from c2vbench.evaluation.contrasts import score_contrasts
    from c2vbench.results.contrasts import summarize_contrast

    with reporter.status("scoring the text contrasts"):
        blocks = score_contrasts(model, test, encoded, device, config.eval_batch_size, reporter, config.precision)
    for block in blocks.values():
        block["summary"] = summarize_contrast(block, seed=config.seed)
    result["contrasts"] = blocks


def check_probes_supported(config: RunConfig, world: World) -> None:
    """Order probes need the whole split's per-frame embeddings in one process: refused under torchrun (before
    any training), with the way to get them."""
    if config.probe != "none" and world.distributed:
        raise C2VBenchError("--probe order does not run under torchrun (the per-frame embeddings stay sharded)",
                            "leave --probe out, then run `c2vbench probe RESULT` in one process")


def add_order_probes(result: dict[str, Any], config: RunConfig, assembly: Assembly, test, encoded,
                     device: torch.device, reporter: Reporter, evaluation_seconds: float) -> None:
    """Score the test split again under the order probes (reusing ``encoded``) and add the ``probes`` block."""
    from c2vbench.probes.order_probes import run_order_probes

    with reporter.status("order probes"):
        block = run_order_probes(assembly.model, assembly.dataset, test, encoded, result["per_query"],
                                 assembly.components, config.evaluation_plan(), device, reporter,
                                 shuffles=config.probe_shuffles, options=assembly.options)
    block["cost"]["evaluation_seconds"] = round(evaluation_seconds, 3)
    # the per-frame embeddings the probes rearranged: from the embedding cache on a hit, else this evaluation's
    cache_log = result["cost"].get("embedding_cache")
    from_cache = isinstance(cache_log, dict) and cache_log.get(f"{test.name} frames") == "hit"
    block["cost"]["frames_from"] = "embedding cache" if from_cache else "this evaluation"
    result["probes"] = block
    result["notes"] = list(reporter.notes)


def distributed_description(config: RunConfig, world: World) -> dict[str, Any]:
    """How many processes ran, on which backend, and each one's share of the training batch (for ``env``).

    These never change a number (up to floating-point summation order), so they stay out of ``config`` and of the
    configuration key: runs that differ only in world size for the same global batch group together.
    """
    return {"world_size": world.size, "distributed_backend": world.backend,
            "per_process_batch_size": config.batch_size // world.size}


def data_parallel_layout(config: RunConfig, world: World) -> dict[str, Any]:
    """How training was spread (for ``config``): processes, nodes, the global batch and each device's share of it
    (batches are None for a run that trained nothing).

    The global batch is ``--batch-size`` and enters the configuration key; the others do not change a number (the
    features of the whole global batch are gathered before the loss), so they are recorded beside it, never hashed.
    """
    from c2vbench.runtime.distributed import launched_nodes

    trained = config.protocol != "zeroshot"
    return {"world_size": world.size, "nodes": launched_nodes(world),
            "global_batch": config.batch_size if trained else None,
            "per_device_batch": config.batch_size // world.size if trained else None}


def evaluate_checkpoint(config: RunConfig, checkpoint: str | Path, checkpoint_format: str, legacy_mask: bool,
                        registry: ComponentRegistry | None = None, reporter: Reporter | None = None,
                        checkpoint_options: dict[str, Any] | None = None) -> RunOutcome:
    """``c2vbench eval``: load a checkpoint (any registered format), evaluate it on the test split, write a result.

    The result names the components *read from the checkpoint* (in ``plugins`` and ``config``), and its
    ``config_key`` holds the checkpoint's content hash, format and format options (never its path)."""
    reporter = reporter or Reporter()
    with distributed_session(config.device) as (world, device):
        return _evaluate_checkpoint(config, checkpoint, checkpoint_format, legacy_mask, registry or get_registry(),
                                    reporter_for(world, reporter), device, dict(checkpoint_options or {}))


def _evaluate_checkpoint(config: RunConfig, checkpoint: str | Path, checkpoint_format: str, legacy_mask: bool,
                         registry: ComponentRegistry, reporter: Reporter, device: torch.device,
                         checkpoint_options: dict[str, Any]) -> RunOutcome:
    if current_world().is_main:
        check_writable_folder(config.out, "--out")
    seed_everything(config.seed)
    check_probes_supported(config, current_world())
    assembly, screen = checkpoint_assembly(config, checkpoint, checkpoint_format, legacy_mask, registry, reporter,
                                           checkpoint_options)
    check_frame_memory(config, assembly)
    assembly.model.to(device)
    apply_execution_options(assembly.model, config.compile, config.checkpoint_activations)
    ran = ran_config(config, assembly)
    feature_cache = BackboneFeatureCache.for_run(assembly.model, assembly.dataset, ran.evaluation_plan(), device,
                                                 enabled=ran.reuses_backbone_features(), reporter=reporter)
    try:
        result = evaluate_and_build_result(ran, assembly, screen("test"), screen, None, device, reporter,
                                           feature_cache, checkpoint=assembly.checkpoint)
        if result is None:  # not rank 0
            return RunOutcome(None, None, None)
        return RunOutcome(result, write_result(result, config.out), None)
    except KeyboardInterrupt:
        raise RunInterrupted("interrupted while evaluating the checkpoint; nothing was written",
                             "run the same command to start again") from None


def ran_config(config: RunConfig, assembly: Assembly) -> RunConfig:
    """``config`` with the components and options that ran (for ``eval``: read from the checkpoint, never the
    command line's defaults), so that the result's config and config_key describe what was evaluated."""
    options = assembly.options
    return dataclasses.replace(
        config, backbone=assembly.components["backbone"].name, temporal=assembly.components["temporal"].name,
        align=assembly.components["align"].name, backbone_options=dict(options.get("backbone", {})),
        temporal_options=dict(options.get("temporal", {})), align_options=dict(options.get("align", {})))


def checkpoint_assembly(config: RunConfig, checkpoint: str | Path, checkpoint_format: str, legacy_mask: bool,
                        registry: ComponentRegistry, reporter: Reporter,
                        checkpoint_options: dict[str, Any] | None = None) -> tuple[Assembly, SplitScreener]:
    """The loaded checkpoint with the configured dataset, its frame protocol and the plug-ins that provide them.

    ``assembly.options`` holds the options read from the checkpoint; ``assembly.checkpoint`` its identity
    (content hash, format, format options and path) for the result."""
    from c2vbench import load_checkpoint
    from c2vbench.model.assembly import dataset_overrides, load_dataset, sampling_with_decoder
    from c2vbench.platform.specs import build_options, options_as_dict
    from c2vbench.results.identity import checkpoint_digest

    dataset_component = registry.get("dataset", config.dataset)
    dataset_options = build_options(dataset_component.spec,
                                    dataset_overrides(config.decoder, config.dataset_options, dataset_component.spec))
    with main_process_first():
        dataset = load_dataset(dataset_component, dataset_options, config.data_root)
    # The dataset's protocol decides the frames (so that the result ranks beside others on it), not the checkpoint.
    sampling = sampling_with_decoder(config.decoder, dataset_component.spec, dataset.sampling)
    with reporter.status(f"loading {checkpoint}"):
        model = load_checkpoint(checkpoint, format=checkpoint_format, legacy_mask=legacy_mask,
                                **(checkpoint_options or {}))
        digest = checkpoint_digest(checkpoint)
    names = dict(getattr(model, "component_names", {}) or {})
    read_options = dict(getattr(model, "component_options", {}) or {})
    components = {"dataset": dataset_component}
    for role in ("backbone", "temporal", "align"):
        # A format reader names the plug-ins it rebuilt; otherwise the format's own provider stands for them.
        if role in names:
            components[role] = registry.get(ROLE_KIND[role], names[role])
        else:
            components[role] = registry.get("checkpoint_format", checkpoint_format)
    if config.max_frames:
        sampling = dataclasses.replace(sampling, max_frames=int(config.max_frames))
    options = {"dataset": options_as_dict(dataset_options),
               **{role: dict(read_options.get(role, {})) for role in ("backbone", "temporal", "align")}}
    if legacy_mask:
        options["checkpoint"] = {"legacy_mask": True}
    assembly = Assembly(model, dataset, sampling, components, options)
    assembly.checkpoint = {"sha256": digest, "format": checkpoint_format, "legacy_mask": legacy_mask,
                           "options": dict(checkpoint_options or {}), "path": str(checkpoint)}
    return assembly, SplitScreener(dataset, sampling, config.allow_missing, reporter,
                                   report_dir=config.out if current_world().is_main else None)


def postprocess_scores(config: RunConfig, model, dataset, sim: np.ndarray, encoded, device: torch.device,
                       reporter: Reporter, feature_cache: BackboneFeatureCache | None = None):
    """Apply ``--postprocess``. QB-Norm runs per direction, each with a bank of training *queries* of that
    direction: training captions against the test videos (text→video), training videos against the test captions
    (video→text); it returns :class:`~c2vbench.evaluation.postprocess.DirectionalScores`."""
    from c2vbench.evaluation.encoding import encode_texts
    from c2vbench.evaluation.postprocess import get_postprocessor, qb_norm_both_directions

    processor = get_postprocessor(config.postprocess)
    if not processor.needs_bank:
        return processor.apply(sim)
    train = dataset.split("train")
    cache = feature_cache
    if config.allow_missing:
        from c2vbench.data.integrity import screen_split

        train = screen_split(train, allow_missing=True, sampling=dataset.sampling).split
        cache = None  # the screened split is not the one the embedding cache holds
    bank_text = encode_texts(model, [c.text for c in train.captions], config.eval_batch_size, device, reporter,
                             cache, "train", config.precision)
    text_bank_sim = score_all(model, bank_text, encoded.video, device)
    with reporter.status("encoding the training videos (QB-Norm's video-to-text bank)"):
        bank_videos = encode_split(model, train, dataset.sampling, config.eval_batch_size, device, reporter,
                                   config.num_workers, feature_cache=cache, preprocess=config.preprocess,
                                   precision=config.precision).video
    video_bank_sim = score_all(model, encoded.text, bank_videos, device).T
    return qb_norm_both_directions(sim, text_bank_sim, video_bank_sim)
