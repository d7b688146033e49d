"""Training under the ``frozen`` and ``finetune`` protocols: AdamW, warm-up + cosine decay, gradient clipping.

Every random choice (caption per video, batch order, sampling jitter) is drawn from generators seeded by
``(seed, epoch)``, so a run resumed after epoch ``e`` continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RunConfig
from .data.loader import VideoClipDataset, make_video_loader
from .data.sampling import FrameSampling
from .data.types import RetrievalSplit
from .encoding import FrameBank, compute_frame_bank, encode_split, image_format_of, score_all
from .errors import C2VBenchError
from .progress import Reporter
from .results import write_json_atomic

TRAINING_STATE_FILE = "training_state.pt"


@dataclasses.dataclass
class TrainingSummary:
    """What training did, for the result file."""

    history: list[dict[str, Any]]
    selected_epoch: int | None
    selection_split: str | None
    resumed_from_epoch: int | None = None


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


def backbone_lr(config: RunConfig, model) -> float:
    """The backbone's learning rate: explicit, or ``lr`` times the configured or the backbone's recommended scale."""
    return config.effective_backbone_lr(float(getattr(model.backbone, "recommended_lr_scale", 1e-3)))


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


def selection_score(model, split: RetrievalSplit, sampling: FrameSampling, config: RunConfig,
                    device: torch.device, reporter: Reporter, bank: FrameBank | None) -> dict[str, float]:
    """T2V recall on the selection split (R@1 + R@5 + R@10 is the selection criterion)."""
    from .metrics import evaluate_similarity

    encoded = encode_split(model, split, sampling, config.eval_batch_size, device, reporter,
                           config.num_workers, bank=bank)
    sim = score_all(model, encoded.text, encoded.video, device)
    metrics = evaluate_similarity(sim, split.text_to_video, tie=config.tie, v2t_mode=config.v2t_mode).metrics
    return {"R@1": metrics["t2v"]["R@1"], "R@5": metrics["t2v"]["R@5"], "R@10": metrics["t2v"]["R@10"],
            "rsum": metrics["t2v"]["R@1"] + metrics["t2v"]["R@5"] + metrics["t2v"]["R@10"]}


def train(model, train_split: RetrievalSplit, selection_split: RetrievalSplit | None, sampling: FrameSampling,
          config: RunConfig, device: torch.device, reporter: Reporter,
          state_dir: Path | None = None) -> TrainingSummary:
    """Train ``model`` in place; returns the history. ``state_dir`` keeps a resumable state after every epoch."""
    frozen = config.protocol == "frozen"
    model.to(device)
    if frozen:
        model.backbone.requires_grad_(False)
    groups = parameter_groups(model, config.lr, backbone_lr(config, model), config.weight_decay,
                              train_backbone=not frozen)
    if not groups:
        raise C2VBenchError(f"nothing to train: {config.temporal}/{config.align} has no trainable parameters under "
                            f"--protocol {config.protocol}", "use --protocol finetune or zeroshot")
    optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.98), eps=1e-6)
    batches_per_epoch = max(1, len(train_split.videos) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(batches_per_epoch * config.epochs, config.warmup_proportion))
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    grouped = captions_by_video(train_split)
    input_ids, attention_mask = model.backbone.tokenize([c.text for c in train_split.captions])
    train_bank = selection_bank = text_bank = None
    if frozen:
        # The backbone never changes: its frame and text features are computed once and reused every epoch.
        train_bank = compute_frame_bank(model, train_split, sampling, config.eval_batch_size, device, reporter,
                                        config.num_workers, "caching training frames")
        with torch.no_grad():
            text_bank = model.encode_text(input_ids.to(device), attention_mask.to(device))
        if selection_split is not None:
            selection_bank = compute_frame_bank(model, selection_split, sampling, config.eval_batch_size, device,
                                                reporter, config.num_workers, "caching selection frames")

    history: list[dict[str, Any]] = []
    best: tuple[float, int, dict] | None = None
    start_epoch = 0
    resumed_from = None
    if state_dir is not None and (state_dir / TRAINING_STATE_FILE).exists():
        state = torch.load(state_dir / TRAINING_STATE_FILE, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start_epoch = state["history"], state["epoch"] + 1
        best = state["best"]
        resumed_from = state["epoch"]
        reporter.note(f"resumed after epoch {resumed_from + 1} from {state_dir}")

    video_dataset = None
    if not frozen:
        video_dataset = VideoClipDataset(train_split.videos, sampling, image_format_of(model.backbone), train=True,
                                         seed=config.seed)
    for epoch in range(start_epoch, config.epochs):
        model.train()
        if frozen:
            model.backbone.eval()
        rng = np.random.default_rng([config.seed, epoch])
        losses: list[float] = []
        if frozen:
            order = rng.permutation(len(train_split.videos))
            batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
            batches = [b for b in batches if len(b) >= 2]
            iterator = ((None, None, torch.from_numpy(b)) for b in batches)
            total = len(batches)
        else:
            video_dataset.set_epoch(epoch)
            iterator = make_video_loader(video_dataset, config.batch_size, config.num_workers, shuffle=True,
                                         seed=config.seed * 100003 + epoch, pin_memory=device.type == "cuda")
            total = len(iterator)
        for frames, frame_mask, video_indices in reporter.track(iterator, f"epoch {epoch + 1}/{config.epochs}",
                                                                total=total):
            if len(video_indices) < 2:
                continue  # a contrastive loss needs negatives
            caption_indices = torch.from_numpy(pick_captions(grouped, video_indices.numpy(), rng))
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                if frozen:
                    text = text_bank.index(caption_indices.to(device))
                    video = model.encode_video_from_frame_features(
                        train_bank.features[video_indices].to(device), train_bank.frame_mask[video_indices].to(device))
                else:
                    text = model.encode_text(input_ids[caption_indices].to(device),
                                             attention_mask[caption_indices].to(device))
                    video = model.encode_video(frames.to(device, non_blocking=True), frame_mask.to(device))
                loss = model.loss(text, video)
            if not torch.isfinite(loss):
                raise C2VBenchError(f"training diverged: the loss is {loss.item()} at epoch {epoch + 1}",
                                    "lower --lr, or check the data for blank or corrupt videos")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            losses.append(float(loss.detach()))
        record: dict[str, Any] = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else None,
                                  "steps": len(losses)}
        if selection_split is not None:
            record["selection"] = selection_score(model, selection_split, sampling, config, device, reporter,
                                                  selection_bank)
            score = record["selection"]["rsum"]
            if best is None or score > best[0]:
                best = (score, epoch, {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()})
        history.append(record)
        if not reporter.quiet:
            reporter.console.print(f"epoch {epoch + 1}: loss {record['loss']:.4f}"
                                   + (f", {selection_split.name} t2v R@1 {record['selection']['R@1']:.1f}"
                                      if selection_split is not None else ""), highlight=False)
        if state_dir is not None:
            save_training_state(state_dir, model, optimizer, scheduler, history, epoch, best)

    selected_epoch = None
    if best is not None:
        model.load_state_dict(best[2])
        selected_epoch = best[1] + 1
    if state_dir is not None:  # finished: the resumable state has served its purpose
        import shutil

        shutil.rmtree(state_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # the shared .partial folder, once no other run uses it
            state_dir.parent.rmdir()
    return TrainingSummary(history, selected_epoch, selection_split.name if selection_split else None, resumed_from)


def save_training_state(state_dir: Path, model, optimizer, scheduler, history, epoch: int, best) -> None:
    """Everything needed to resume after ``epoch``, written atomically."""
    import os
    import tempfile

    state_dir.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".state.", dir=state_dir)
    os.close(handle)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "history": copy.deepcopy(history), "epoch": epoch,
                "best": best}, temp_name)
    os.replace(temp_name, state_dir / TRAINING_STATE_FILE)
    write_json_atomic(state_dir / "progress.json", {"completed_epochs": epoch + 1, "history": history})
