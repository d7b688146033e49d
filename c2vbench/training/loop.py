"""Training under the ``frozen`` and ``finetune`` protocols: AdamW, warm-up + cosine decay, gradient clipping.

Every random choice (caption per video, batch order, sampling jitter) is drawn from generators seeded by
``(seed, epoch)``, so a run resumed after epoch ``e`` continues exactly as an uninterrupted one would.

Under torchrun every process plans the same global batches and takes its contiguous share of each
(:class:`BatchShare`); the features of the whole global batch are gathered before the align head's loss, and DDP
averages the gradients, so one step equals the single-process step on the same global batch. Rank 0 alone writes the
resumable state; every rank resumes from it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from c2vbench.data.loader import VideoClipDataset, make_video_loader
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import RetrievalSplit
from c2vbench.evaluation.encoding import (
    FrameBank,
    encode_texts,
    frame_feed,
    streamed_scores,
    tokenize_once,
    video_dataset_for,
)
from c2vbench.evaluation.plan import EvaluationPlan
from c2vbench.evaluation.sharded_encoding import compute_frame_bank_sharded, encode_split_sharded, score_all_sharded
from c2vbench.platform.errors import C2VBenchError
from c2vbench.runtime.atomic_files import write_json_atomic
from c2vbench.runtime.distributed import (
    broadcast_object,
    check_global_batch,
    current_world,
    gather_global_batch,
    shard_bounds,
)
from c2vbench.runtime.precision import autocast, effective_precision
from c2vbench.runtime.progress import Reporter
from c2vbench.training.feed import training_batches
from c2vbench.training.plan import TrainingPlan

TRAINING_STATE_FILE = "training_state.pt"


@dataclasses.dataclass
class TrainingSummary:
    """What training did, for the result file."""

    history: list[dict[str, Any]]
    selected_epoch: int | None
    selection_split: str | None
    resumed_from_epoch: int | None = None
    epoch_seconds: list[float] = dataclasses.field(default_factory=list)  # training steps of each epoch run here


def parameter_groups(model, lr: float, backbone_lr: float, weight_decay: float, train_backbone: bool):
    """AdamW groups: backbone vs. new modules; no weight decay on biases, norms, embeddings' 1-d params."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        is_backbone = name.startswith("backbone.")
        if is_backbone and not train_backbone:
            continue
        decays = parameter.ndim >= 2 and "embedding" not in name
        groups.setdefault((is_backbone, decays), []).append(parameter)
    return [
        {"params": params, "lr": backbone_lr if is_backbone else lr, "weight_decay": weight_decay if decays else 0.0}
        for (is_backbone, decays), params in sorted(groups.items())
    ]


def warmup_cosine(total_steps: int, warmup_proportion: float):
    """Linear warm-up over the first ``warmup_proportion`` of steps, then cosine decay to zero."""
    warmup_steps = max(1, int(round(total_steps * warmup_proportion))) if warmup_proportion > 0 else 0

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def captions_by_video(split: RetrievalSplit) -> list[list[int]]:
    grouped: list[list[int]] = [[] for _ in split.videos]
    for index, caption in enumerate(split.captions):
        grouped[caption.video_index].append(index)
    return grouped


def pick_captions(grouped: list[list[int]], video_indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.array([grouped[v][rng.integers(len(grouped[v]))] for v in video_indices], dtype=np.int64)


def selection_score(model, split: RetrievalSplit, sampling: FrameSampling, plan: EvaluationPlan,
                    device: torch.device, reporter: Reporter, bank: FrameBank | None) -> dict[str, float]:
    """T2V recall on the selection split (R@1 + R@5 + R@10 is the selection criterion)."""
    from c2vbench.evaluation.metrics import evaluate_similarity

    encoded = encode_split_sharded(model, split, sampling, plan.batch_size, device, reporter,
                                   plan.num_workers, bank=bank, preprocess=plan.preprocess,
                                   precision=plan.precision)
    if split.relevant_videos is not None:  # several correct videos per text (a small split): the matrix
        from c2vbench.evaluation.multi_target import evaluate_multi_target

        sim = score_all_sharded(model, encoded, device, to_all=True)
        metrics = evaluate_multi_target(sim, split.relevant_videos, tie=plan.tie).metrics
    elif plan.streams and not current_world().distributed:
        scores = streamed_scores(model, encoded.text, encoded.video, device)
        metrics = scores.evaluate(split.text_to_video, tie=plan.tie)[0].metrics
    else:
        sim = score_all_sharded(model, encoded, device, to_all=True)  # every rank keeps the same best epoch
        metrics = evaluate_similarity(sim, split.text_to_video, tie=plan.tie, v2t_mode=plan.v2t_mode).metrics
    return {"R@1": metrics["t2v"]["R@1"], "R@5": metrics["t2v"]["R@5"], "R@10": metrics["t2v"]["R@10"],
            "rsum": metrics["t2v"]["R@1"] + metrics["t2v"]["R@5"] + metrics["t2v"]["R@10"]}


def steps_per_epoch(n_videos: int, batch_size: int) -> int:
    """Optimiser steps in one epoch: every batch of at least two videos (a contrastive loss needs negatives)."""
    full, remainder = divmod(n_videos, batch_size)
    return max(1, full + (1 if remainder >= 2 else 0))


@dataclasses.dataclass
class FrozenFeatures:
    """Under ``frozen`` the backbone never changes: its outputs are computed once and reused every epoch."""

    train_frames: FrameBank
    train_text: Any  # TextFeatures of every training caption
    selection_frames: FrameBank | None


def cache_frozen_features(model, train_split: RetrievalSplit, selection_split: RetrievalSplit | None,
                          input_ids, attention_mask, sampling: FrameSampling, plan: TrainingPlan,
                          device: torch.device, reporter: Reporter, feature_cache=None) -> FrozenFeatures:
    def bank(split, description):
        return compute_frame_bank_sharded(model, split, sampling, plan.selection.batch_size, device, reporter,
                                          plan.num_workers, description, feature_cache=feature_cache,
                                          preprocess=plan.preprocess, precision=plan.precision)

    if feature_cache is not None:  # the training captions' features may be on disk already
        text = encode_texts(model, [c.text for c in train_split.captions], plan.selection.batch_size, device,
                            reporter, feature_cache, train_split.name, plan.precision).to(device)
    else:
        with torch.no_grad(), autocast(plan.precision, device):
            features = model.encode_text(input_ids.to(device), attention_mask.to(device))
        text = type(features)(features.eot.float(), features.tokens.float(), features.token_mask)
    selection = bank(selection_split, "caching selection frames") if selection_split is not None else None
    return FrozenFeatures(bank(train_split, "caching training frames"), text, selection)


def epoch_order(n_videos: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled video order of one ``finetune`` epoch.

    It is the order ``DataLoader(shuffle=True)`` produced before training planned its own batches (a generator
    seeded by ``seed * 100003 + epoch``, one draw for the loader's worker seed, then ``randperm``), so results of
    earlier versions reproduce; ``tests/test_distributed.py`` holds it to torch's loader.
    """
    generator = torch.Generator().manual_seed(seed * 100003 + epoch)
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    return torch.randperm(n_videos, generator=generator).numpy()


@dataclasses.dataclass
class BatchShare:
    """One global batch, and the share of it this process computes.

    Attributes:
        video_indices, caption_indices: the whole global batch (text row i matches video row i).
        sizes: every rank's number of rows (contiguous blocks, rank order).
        rows: this rank's rows of the batch; a rank whose share is empty computes the batch's first row as a
            placeholder that the gather drops (every rank must run its model once per step).
    """

    video_indices: np.ndarray
    caption_indices: np.ndarray
    sizes: list[int]
    rows: slice

    @property
    def local_videos(self) -> np.ndarray:
        return self.video_indices[self.rows]

    @property
    def local_captions(self) -> np.ndarray:
        return self.caption_indices[self.rows]


def plan_epoch(epoch: int, n_videos: int, plan: TrainingPlan, rng: np.random.Generator, grouped: list[list[int]],
               frozen: bool, rank: int = 0, world_size: int = 1) -> list[BatchShare]:
    """The global batches of one epoch (every rank plans the same ones) and this rank's share of each.

    A final batch of fewer than two videos is left out (a contrastive loss needs negatives).
    """
    order = rng.permutation(n_videos) if frozen else epoch_order(n_videos, plan.seed, epoch)
    shares = []
    for start in range(0, n_videos, plan.batch_size):
        videos = order[start:start + plan.batch_size]
        if len(videos) < 2:
            continue
        captions = pick_captions(grouped, videos, rng)
        first, stop = shard_bounds(len(videos), rank, world_size)
        rows = slice(first, stop) if stop > first else slice(0, 1)
        sizes = [b - a for a, b in (shard_bounds(len(videos), r, world_size) for r in range(world_size))]
        shares.append(BatchShare(videos, captions, sizes, rows))
    return shares


def training_loader(video_dataset: VideoClipDataset, plan: TrainingPlan, device: torch.device):
    """The ``finetune`` loader: persistent workers, prefetching, pinned memory on CUDA; batches planned per epoch."""
    return make_video_loader(video_dataset, plan.batch_size, plan.num_workers, pin_memory=device.type == "cuda",
                             batches=[], persistent=True)


class GlobalBatchLoss(torch.nn.Module):
    """One step's loss as a module (so that DDP can wrap it): encode this process's share of the global batch,
    gather the features of the whole global batch, and apply the align head's loss to them.

    The gather (:func:`c2vbench.runtime.distributed.gather_global_batch`) returns each process the gradient of its own
    rows, so align heads, built-in or plug-in, compute their usual loss and need nothing for data parallelism.
    """

    def __init__(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 frozen: FrozenFeatures | None, device: torch.device, feed=None):
        super().__init__()
        self.model = model
        self.input_ids, self.attention_mask = input_ids, attention_mask
        self.frozen, self.device, self.feed = frozen, device, feed

    def forward(self, frames, frame_mask, share: BatchShare) -> torch.Tensor:
        device = self.device
        video_indices = torch.from_numpy(share.local_videos)
        caption_indices = torch.from_numpy(share.local_captions)
        if self.frozen is not None:
            text = self.frozen.train_text.index(caption_indices.to(device))
            video = self.model.encode_video_from_frame_features(
                self.frozen.train_frames.features[video_indices].to(device),
                self.frozen.train_frames.frame_mask[video_indices].to(device))
        else:
            text = self.model.encode_text(self.input_ids[caption_indices].to(device),
                                          self.attention_mask[caption_indices].to(device))
            frames = self.feed(frames) if self.feed is not None else frames.to(device, non_blocking=True)
            video = self.model.encode_video(frames, frame_mask.to(device))
        text, video = gather_global_batch(text, video, share.sizes)
        return self.model.loss(text, video)


def loss_step(model, input_ids, attention_mask, frozen: FrozenFeatures | None, device: torch.device, feed=None):
    """The step module: plain for one process, wrapped in DDP (gradients averaged over ranks) under torchrun."""
    step = GlobalBatchLoss(model, input_ids, attention_mask, frozen, device, feed)
    if not current_world().distributed:
        return step
    from torch.nn.parallel import DistributedDataParallel

    # device_ids=None: inputs stay where they are (the frozen feature bank must not be copied every step);
    # unused parameters (e.g. a placeholder-only share, or parts a head skips) are allowed.
    return DistributedDataParallel(step, device_ids=None, find_unused_parameters=True)


def train(model, train_split: RetrievalSplit, selection_split: RetrievalSplit | None, sampling: FrameSampling,
          plan: TrainingPlan, device: torch.device, reporter: Reporter,
          state_dir: Path | None = None, feature_cache=None) -> TrainingSummary:
    """Train ``model`` in place; returns the history. ``state_dir`` keeps a resumable state after every epoch.

    Under ``frozen`` the backbone's embeddings come from ``feature_cache`` (a
    :class:`~c2vbench.evaluation.encoding.BackboneFeatureCache`) when it holds them."""
    is_frozen = plan.frozen
    world = current_world()
    check_global_batch(plan.batch_size, world)
    model.to(device)
    if is_frozen:
        model.backbone.requires_grad_(False)
    groups = parameter_groups(model, plan.lr, plan.backbone_lr_for(model), plan.weight_decay,
                              train_backbone=not is_frozen)
    if not groups:
        raise C2VBenchError(f"nothing to train: {plan.components} has no trainable parameters under "
                            f"--protocol {plan.protocol}", "use --protocol finetune or zeroshot")
    trained_parameters = [p for group in groups for p in group["params"]]
    # foreach: one multi-tensor kernel per step instead of a loop over the parameters (torch picks it on CUDA by
    # itself, not on CPU, where the loop was a tenth of the main job); the same arithmetic, bit for bit
    optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.98), eps=1e-6, foreach=True)
    total_steps = steps_per_epoch(len(train_split.videos), plan.batch_size) * plan.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, plan.warmup_proportion))
    precision = effective_precision(plan.precision, device)
    # fp16 gradients underflow without loss scaling (bf16 has float32's range and needs none)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    history: list[dict[str, Any]] = []
    best: tuple[float, int, dict] | None = None
    start_epoch = 0
    resumed_from = None
    state = load_training_state(state_dir)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start_epoch, best = state["history"], state["epoch"] + 1, state["best"]
        resumed_from = state["epoch"]
        if start_epoch >= plan.epochs:
            reporter.note(f"training had finished ({start_epoch} epochs, kept in {state_dir}): not trained again")
        else:
            reporter.note(f"resumed after epoch {resumed_from + 1} from {state_dir}")

    grouped = captions_by_video(train_split)
    frozen = None
    video_loader = feed = step = None
    if start_epoch < plan.epochs:  # a finished training needs neither the captions nor the frames again
        input_ids, attention_mask = tokenize_once(model.backbone, [c.text for c in train_split.captions])
        if is_frozen:
            frozen = cache_frozen_features(model, train_split, selection_split, input_ids, attention_mask, sampling,
                                           plan, device, reporter, feature_cache)
        else:
            video_dataset = video_dataset_for(model, train_split, sampling, device, plan.preprocess, train=True,
                                              seed=plan.seed, num_workers=plan.num_workers)
            video_loader = training_loader(video_dataset, plan, device)
            feed = frame_feed(model, sampling, device)
        # frames reach the step as model input, prepared ahead (c2vbench.training.feed)
        step = loss_step(model, input_ids, attention_mask, frozen, device)
    epoch_seconds: list[float] = []
    for epoch in range(start_epoch, plan.epochs):
        epoch_start = time.perf_counter()
        model.train()
        if is_frozen:
            model.backbone.eval()
        rng = np.random.default_rng([plan.seed, epoch])
        losses: list[float] = []
        shares = plan_epoch(epoch, len(train_split.videos), plan, rng, grouped, is_frozen, world.rank,
                            world.size)
        batches = zip(shares, training_batches(epoch, [share.local_videos for share in shares], video_loader, feed,
                                               device, plan.prefetch_batches), strict=True)
        for share, (frames, frame_mask) in reporter.track(batches, f"epoch {epoch + 1}/{plan.epochs}",
                                                          total=len(shares)):
            with autocast(precision, device):
                loss = step(frames, frame_mask, share)
            if not torch.isfinite(loss):
                raise C2VBenchError(f"training diverged: the loss is {loss.item()} at epoch {epoch + 1}",
                                    "lower --lr, or check the data for blank or corrupt videos")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            if plan.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(trained_parameters, plan.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            losses.append(float(loss.detach()))
        epoch_seconds.append(round(time.perf_counter() - epoch_start, 4))
        record: dict[str, Any] = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else None,
                                  "steps": len(losses)}
        if selection_split is not None:
            record["selection"] = selection_score(model, selection_split, sampling, plan.selection, device, reporter,
                                                  frozen.selection_frames if frozen else None)
            if best is None or record["selection"]["rsum"] > best[0]:
                best = (record["selection"]["rsum"], epoch,
                        {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()})
        history.append(record)
        if state_dir is not None and world.is_main:  # one writer; every rank resumes from it
            save_training_state(state_dir, model, optimizer, scheduler, history, epoch, best)
        report_epoch(reporter, record, selection_split)  # after the save: a reported epoch is a kept epoch

    selected_epoch = None
    if best is not None:
        model.load_state_dict(best[2])
        selected_epoch = best[1] + 1
    # The state stays until the caller has written what it trained for (see discard_training_state): an interrupt
    # during evaluation or writing must not cost the training.
    return TrainingSummary(history, selected_epoch, selection_split.name if selection_split else None, resumed_from,
                           epoch_seconds)


def discard_training_state(state_dir: Path) -> None:
    """Remove a run's resumable state once its result (and checkpoint) are written."""
    import shutil

    shutil.rmtree(state_dir, ignore_errors=True)
    with contextlib.suppress(OSError):  # the shared .partial folder, once no other run uses it
        state_dir.parent.rmdir()


def completed_epochs(state_dir: Path) -> int:
    """How many epochs the kept state of ``state_dir`` holds (0 when there is none)."""
    import json

    try:
        return int(json.loads((state_dir / "progress.json").read_text())["completed_epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def report_epoch(reporter: Reporter, record: dict[str, Any], selection_split: RetrievalSplit | None) -> None:
    if reporter.quiet:
        return
    line = f"epoch {record['epoch']}: loss {record['loss']:.4f}"
    if selection_split is not None:
        line += f", {selection_split.name} t2v R@1 {record['selection']['R@1']:.1f}"
    reporter.console.print(line, highlight=False)


def load_training_state(state_dir: Path | None) -> dict[str, Any] | None:
    """The resumable state rank 0 finds in ``state_dir`` (None when there is none), on every rank.

    Rank 0 reads the file and sends it to the others, so other nodes need not share rank 0's disk. The file is read
    as tensors only and its content hash is checked (:func:`unseal_training_state`): a damaged, truncated or foreign
    file stops the run with one line that names it and the command that discards it.
    """
    state = None
    if current_world().is_main and state_dir is not None and (state_dir / TRAINING_STATE_FILE).exists():
        state = read_training_state(state_dir)
    return broadcast_object(state)


def discard_command(state_dir: Path) -> str:
    import shlex

    return f"rm -r {shlex.quote(str(state_dir))}"


def read_training_state(state_dir: Path) -> dict[str, Any]:
    """Read and verify ``state_dir``'s training state; any problem is one line naming the file and the way out."""
    from c2vbench.runtime.tensor_files import CodeArchiveError, read_tensor_file

    path = state_dir / TRAINING_STATE_FILE
    fix = f"discard it and train from the start: {discard_command(state_dir)}, then run the same command again"
    try:
        state = unseal_training_state(read_tensor_file(path, "training state"), path)
    except CodeArchiveError as error:
        raise CodeArchiveError(error.problem, fix) from None
    except C2VBenchError as error:
        raise C2VBenchError(f"the kept training state cannot be resumed: {error.problem}", fix) from None
    required = ("model", "optimizer", "scheduler", "history", "epoch", "best")
    if not isinstance(state, dict) or any(key not in state for key in required):
        raise C2VBenchError(f"the kept training state {path} is not a c2vbench training state (it lacks "
                            f"{', '.join(key for key in required if not isinstance(state, dict) or key not in state)})",
                            fix)
    return state


SEAL_FORMAT = "c2vbench-training-state"


def seal_training_state(state: dict[str, Any]) -> bytes:
    """The bytes of the training-state file: the state's ``torch.save`` bytes with their SHA-256, in one file.

    One file keeps the hash and what it covers together, so no interrupt can leave them out of step."""
    import hashlib
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    sealed = io.BytesIO()
    # the payload travels as a uint8 tensor: stored raw, and read back by torch.load(weights_only=True)
    torch.save({"format": SEAL_FORMAT, "version": 1, "sha256": hashlib.sha256(payload).hexdigest(),
                "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8)}, sealed)
    return sealed.getvalue()


def unseal_training_state(sealed: Any, path: Path) -> Any:
    """The state inside a sealed file, after checking its hash; a state written before seals existed as it is."""
    import hashlib
    import io

    from c2vbench.runtime.tensor_files import describe_load_error

    if not (isinstance(sealed, dict) and sealed.get("format") == SEAL_FORMAT):
        return sealed
    tensor, recorded = sealed.get("payload"), sealed.get("sha256")
    payload = tensor.numpy().tobytes() if isinstance(tensor, torch.Tensor) and tensor.dtype == torch.uint8 else None
    if payload is None or hashlib.sha256(payload).hexdigest() != recorded:
        raise C2VBenchError(f"{path} is damaged (its content does not match the SHA-256 recorded when it was "
                            "written)")
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as error:  # the hash matched: only a foreign writer could get here
        raise C2VBenchError(f"{path} holds a state that cannot be read: {describe_load_error(error)}") from None


def save_training_state(state_dir: Path, model, optimizer, scheduler, history, epoch: int, best) -> None:
    """Everything needed to resume after ``epoch``, sealed with its hash and written atomically."""
    from c2vbench.runtime.atomic_files import write_bytes_atomic

    sealed = seal_training_state({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                  "scheduler": scheduler.state_dict(), "history": copy.deepcopy(history),
                                  "epoch": epoch, "best": best})
    write_bytes_atomic(state_dir / TRAINING_STATE_FILE, sealed)
    write_json_atomic(state_dir / "progress.json", {"completed_epochs": epoch + 1, "history": history})
