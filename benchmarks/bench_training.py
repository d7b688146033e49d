"""Fine-tuning throughput: the training loop's steps/s as a share of the bare training step, measured in one run.

For each model (``clip`` ViT-B/32 and ViT-B/16 with random weights: speed does not depend on them; + TDB + TAB,
12 frames), in one process on one device:

* **bare step**: the run's own step (:class:`~c2vbench.training.loop.GlobalBatchLoss`, AdamW, autocast, the grad
  scaler under fp16, gradient clipping, the scheduler) on one batch of random frames and captions already on the
  device: what the GPU can do when the feed costs nothing;
* **prepared frames**: :func:`c2vbench.training.loop.train` on frame folders as ``c2vbench prepare`` writes them
  (5 fps grid, JPEG, from 320×240 videos): loader workers, pinned memory, JPEGs decoded on the GPU (or by enough
  workers), resize on the device, batches prepared ahead (``training/feed.py``);
* **raw video**: the same on the video files themselves (libx264, 10 s, 30 fps, a keyframe a second), with the
  ``auto`` decoder (TorchCodec where installed, NVDEC on CUDA; else decord, else PyAV) or ``--decoders``;
* **feed alone**: each feed's batches without the model (what it can deliver at most).

Steps/s of the loop come from the second epoch, its first step left out (the loader's workers persist; the first
epoch pays their start and the device's warm-up), timed step by step through the loop's own progress hook; every
step is one global batch. The ratio loop / bare is the share of the bare step the feed lets the GPU keep (target: at
least 70 % from prepared frames on an H100). The bare step is measured before and after the loops, and the faster
of the two is the reference.

On a GPU machine (about 5 minutes on an H100; figures to ``--out``)::

    python benchmarks/bench_training.py --device cuda --out DIR
    # on a bare GPU machine, with the repository's environment set up as for the other GPU figures:
    SCRIPT=benchmarks/bench_training.py bash benchmarks/gpu/run_gpu_benchmarks.sh --device cuda

On a CPU, ``--small`` runs the same steps with ``tiny-clip`` and small videos and checks itself: every planned step
ran and every loss is finite. Its ratios are figures of the machine it ran on; on a shared machine, where other
jobs take the cores (and even the process's CPU time swings threefold from one identical step to the next), they are
noise, and nothing is checked of them::

    .venv/bin/python benchmarks/bench_training.py --small
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _video_fixtures import encode_video  # noqa: E402

from c2vbench.runtime.progress import Reporter  # noqa: E402

MODELS = {"ViT-B/32": {"model": "ViT-B-32"}, "ViT-B/16": {"model": "ViT-B-16"}}
SMALL_MODEL = {"tiny-clip": {"vision_layers": "2", "text_layers": "1"}}
WORDS = ["red", "blue", "square", "circle", "moves", "left", "right", "grows", "shrinks", "slowly", "fast", "turns"]


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimes(Reporter):
    """A quiet reporter that notes the clock after every training step (the loop's own progress hook)."""

    def __init__(self):
        super().__init__(quiet=True)
        self.epochs: list[list[float]] = []

    def track(self, items, description, total=None):
        times = [time.perf_counter()]
        self.epochs.append(times)
        for item in items:
            yield item
            times.append(time.perf_counter())  # asked for the next batch: the step that used this one is done


# ---------------------------------------------------------------------------------------------------------------
# sources


def _write_source(job: tuple[Path, Path, int, int, int, int, int]) -> None:
    """One raw video and its prepared frame folder (``c2vbench prepare``'s extraction)."""
    from c2vbench.data.extraction import extract_video

    video, frames_root, seed, width, height, fps, seconds = job
    encode_video(video, n_frames=fps * seconds, fps=fps, width=width, height=height, codec="libx264", seed=seed,
                 gop=fps)
    outcome = extract_video(video, frames_root, fps=5.0, decoder="pyav")
    if outcome.status != "extracted":
        raise SystemExit(f"could not prepare {video}: {outcome.status} {outcome.reason}")


def write_sources(root: Path, distinct: int, width: int, height: int, fps: int, seconds: int,
                  processes: int) -> tuple[list[Path], list[Path]]:
    """``distinct`` videos and their frame folders (records reuse them: decoding costs the same every time)."""
    videos = [root / "videos" / f"clip{index:04d}.mp4" for index in range(distinct)]
    jobs = [(video, root / "frames", index, width, height, fps, seconds) for index, video in enumerate(videos)]
    with Pool(max(1, processes)) as pool:
        pool.map(_write_source, jobs, chunksize=1)
    return videos, [root / "frames" / video.stem for video in videos]


def training_split(sources: list[Path], n_videos: int):
    from c2vbench.data.types import CaptionRecord, RetrievalSplit, VideoRecord

    rng = np.random.default_rng(0)
    videos = [VideoRecord(f"video{index:05d}", sources[index % len(sources)]) for index in range(n_videos)]
    captions = [CaptionRecord(" ".join(rng.choice(WORDS, size=10)), index) for index in range(n_videos)]
    return RetrievalSplit("train", videos, captions)


# ---------------------------------------------------------------------------------------------------------------
# model and steps


def run_config(backbone: str, backbone_options: dict, args, decoder: str = "auto"):
    from c2vbench.config import RunConfig

    return RunConfig(backbone=backbone, backbone_options=dict(backbone_options), temporal="tdb", align="tab",
                     protocol="finetune", epochs=2, batch_size=args.batch_size, max_frames=args.frames,
                     select_on="none", device=args.device, num_workers=args.workers, precision=args.precision,
                     checkpoint_activations=args.checkpoint_activations, decoder=decoder, save_checkpoint=False)


def build(config):
    from c2vbench.model.assembly import build_model, resolve_components
    from c2vbench.pipeline import seed_everything
    from c2vbench.platform.registry import get_registry
    from c2vbench.training.compile import apply_execution_options

    seed_everything(config.seed)
    components, options = resolve_components(config.assembly_plan(), get_registry())
    model = build_model(components, options, config.max_frames)
    apply_execution_options(model, config.compile, config.checkpoint_activations)
    return model


def bare_steps_per_second(model, config, device, steps: int, warmup: int = 3) -> tuple[float, list[float]]:
    """The loop's step on one batch already on the device: steps/s and the losses."""
    import torch

    from c2vbench.runtime.precision import autocast, effective_precision
    from c2vbench.training.loop import BatchShare, loss_step, parameter_groups

    model.to(device).train()
    size, batch, slots = int(model.backbone.image_size), config.batch_size, config.max_frames
    generator = torch.Generator().manual_seed(0)
    frames = torch.randn(batch, slots, 3, size, size, generator=generator).to(device)
    frame_mask = torch.ones(batch, slots, dtype=torch.long, device=device)
    rng = np.random.default_rng(1)
    input_ids, attention_mask = model.backbone.tokenize([" ".join(rng.choice(WORDS, size=10)) for _ in range(batch)])
    rows = np.arange(batch)
    share = BatchShare(rows, rows, [batch], slice(0, batch))
    step = loss_step(model, input_ids, attention_mask, None, device)
    groups = parameter_groups(model, config.lr, config.lr, config.weight_decay, train_backbone=True)
    trained = [p for group in groups for p in group["params"]]
    optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.98), eps=1e-6, foreach=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    precision = effective_precision(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    losses = []

    def one_step() -> None:
        with autocast(precision, device):
            loss = step(frames, frame_mask, share)
        if not torch.isfinite(loss):  # the loop's own check (a synchronisation, as there)
            raise SystemExit("the bare step diverged")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(trained, config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        losses.append(float(loss.detach()))

    for _ in range(warmup):
        one_step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    synchronize(device)
    return steps / (time.perf_counter() - start), losses


def loop_steps_per_second(model, split, config, device) -> tuple[float, list[dict]]:
    """:func:`train` for two epochs; steps/s of the second one's steps after its first."""
    from c2vbench.training.loop import train

    times = StepTimes()
    summary = train(model, split, None, sampling_for(config), config.training_plan(), device, times)
    last = times.epochs[-1]
    return (len(last) - 2) / (last[-1] - last[1]), summary.history


def sampling_for(config):
    """The MSR-VTT protocol's sampling (5 fps grid, feature_framerate 2, 12 frames), with the config's decoder."""
    from c2vbench.data.sampling import FrameSampling

    return FrameSampling(max_frames=config.max_frames, grid_fps=5.0, feature_framerate=2, decoder=config.decoder)


def feed_alone_steps_per_second(model, split, config, device) -> float:
    """The loop's loader and feed for one epoch, batches prepared ahead, no model: steps/s it can deliver."""
    from c2vbench.evaluation.encoding import frame_feed, video_dataset_for
    from c2vbench.training.feed import training_batches
    from c2vbench.training.loop import training_loader

    sampling = sampling_for(config)
    dataset = video_dataset_for(model, split, sampling, device, config.preprocess, train=True,
                                num_workers=config.num_workers)
    loader = training_loader(dataset, config.training_plan(), device)
    feed = frame_feed(model, sampling, device)
    order = np.arange(len(split.videos))
    batches = [order[start:start + config.batch_size] for start in range(0, len(order), config.batch_size)]
    for _ in training_batches(0, batches, loader, feed, device, config.prefetch_batches):  # workers start, warm-up
        pass
    synchronize(device)
    start = time.perf_counter()
    for _ in training_batches(1, batches, loader, feed, device, config.prefetch_batches):
        pass
    synchronize(device)
    return len(batches) / (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------------------------
# main


def measure_model(name: str, backbone: str, options: dict, sources: dict[str, list[Path]], args, device,
                  lines: list[str]) -> dict:
    import torch

    from c2vbench.data.decoders import auto_decoder

    config = run_config(backbone, options, args)
    model = build(config)
    before, bare_losses = bare_steps_per_second(model, config, device, args.bare_steps)
    n_videos = args.batch_size * args.steps
    runs = [("prepared frames", "frames", "auto")]
    runs += [(f"raw video ({decoder})", "videos", decoder)
             for decoder in (args.decoders or [auto_decoder()])]
    loops = {}
    for label, kind, decoder in runs:
        config = run_config(backbone, options, args, decoder)
        split = training_split(sources[kind], n_videos)
        rate, history = loop_steps_per_second(model, split, config, device)
        loops[label] = (rate, history, feed_alone_steps_per_second(model, split, config, device))
    after, more_losses = bare_steps_per_second(model, run_config(backbone, options, args), device, args.bare_steps)
    # the faster of the two bare measurements (before and after the loops): the ratios are not flattered by drift
    bare = max(before, after)
    figures = {"bare_steps_per_second": round(bare, 4), "bare_before_after": [round(before, 4), round(after, 4)],
               "bare_losses_finite": bool(np.isfinite(bare_losses + more_losses).all())}
    log(lines, f"\n{name} + TDB + TAB, {args.frames} frames, global batch {args.batch_size}, {args.precision}"
               + (", activation checkpointing" if args.checkpoint_activations else ""))
    log(lines, f"  bare step (tensors on the device)        {bare:8.3f} steps/s   1.00   "
               f"(before {before:.3f}, after {after:.3f})")
    for label, (rate, history, alone) in loops.items():
        figures[label] = {"steps_per_second": round(rate, 4), "ratio_to_bare": round(rate / bare, 4),
                          "feed_alone_steps_per_second": round(alone, 4),
                          "losses": [epoch["loss"] for epoch in history],
                          "steps": [epoch["steps"] for epoch in history]}
        log(lines, f"  {label:40s} {rate:8.3f} steps/s   {rate / bare:4.2f}   (feed alone {alone:.3f} steps/s)")
    if device.type == "cuda":
        figures["max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        log(lines, f"  peak GPU memory {figures['max_memory_gib']} GiB")
        torch.cuda.reset_peak_memory_stats(device)
    return figures


def self_check(figures: dict, args) -> list[str]:
    """What ``--small`` checks: every planned step ran, every loss is finite."""
    problems = []
    for model, measured in figures["models"].items():
        if not measured["bare_losses_finite"]:
            problems.append(f"{model}: a bare step's loss is not finite")
        for label, run in measured.items():
            if not isinstance(run, dict):
                continue
            if run["steps"] != [args.steps, args.steps]:
                problems.append(f"{model}, {label}: {run['steps']} steps, {args.steps} per epoch planned")
            if not all(np.isfinite(run["losses"])):
                problems.append(f"{model}, {label}: losses {run['losses']}")
    return problems


def log(lines: list[str], text: str) -> None:
    print(text, flush=True)
    lines.append(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--small", action="store_true", help="tiny-clip and small videos: a CPU check")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (default 128; --small 8)")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--steps", type=int, default=6, help="steps per epoch (at least 3)")
    parser.add_argument("--bare-steps", type=int, default=None, help="timed bare steps, before and after (10)")
    parser.add_argument("--workers", type=int, default=-1, help="loader workers (default: one per CPU core)")
    parser.add_argument("--precision", default=None, help="fp32, fp16 or bf16 (default bf16 on CUDA, else fp32)")
    parser.add_argument("--models", nargs="+", default=None, help=f"of {', '.join(MODELS)} (default: both)")
    parser.add_argument("--decoders", nargs="+", default=None, help="raw-video decoders (default: auto)")
    parser.add_argument("--no-checkpoint-activations", dest="checkpoint_activations", action="store_false",
                        help="keep every activation (ViT-B/16 at batch 128 then needs more than 80 GB)")
    parser.add_argument("--distinct-videos", type=int, default=None, help="source files (default 64; --small 4)")
    parser.add_argument("--out", type=Path, default=None, help="folder for bench_training.json / .txt")
    args = parser.parse_args()

    import torch

    from c2vbench.runtime.distributed import select_device

    device = select_device(args.device)
    args.device = device.type
    small = args.small
    args.batch_size = args.batch_size or (8 if small else 128)
    args.bare_steps = args.bare_steps or 10
    args.precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    distinct = args.distinct_videos or (4 if small else 64)
    models = SMALL_MODEL if small else {name: MODELS[name] for name in (args.models or MODELS)}
    lines: list[str] = []
    cpu = os.cpu_count() or 1
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({cpu} cores)"
    log(lines, f"bench_training on {device_name}, torch {torch.__version__}, {args.workers} workers (-1: {cpu})")
    figures: dict = {"device": device_name, "settings": {key: str(value) for key, value in vars(args).items()},
                     "models": {}}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        width, height, seconds = (64, 48, 5) if small else (320, 240, 10)  # 5 s: 12 frames at the protocol's rate
        videos, frames = write_sources(Path(folder), distinct, width, height, 30, seconds, min(cpu, 16))
        log(lines, f"{distinct} sources ({width}x{height}, {seconds} s, 30 fps) written and prepared in "
                   f"{time.perf_counter() - start:.0f} s")
        sources = {"videos": videos, "frames": frames}
        for name, options in models.items():
            backbone = "tiny-clip" if small else "clip"
            # ViT-B/32 needs no checkpointing at batch 128: it would only cost compute
            args_for_model = argparse.Namespace(**{**vars(args), "checkpoint_activations":
                                                   args.checkpoint_activations and name == "ViT-B/16"})
            figures["models"][name] = measure_model(name, backbone, options, sources, args_for_model, device, lines)
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / "bench_training.json").write_text(json.dumps(figures, indent=1))
                (args.out / "bench_training.txt").write_text("\n".join(lines) + "\n")
    if small:
        problems = self_check(figures, args)
        for problem in problems:
            log(lines, f"CHECK FAILED: {problem}")
        if problems:
            raise SystemExit(1)
        log(lines, "checks passed: every planned step ran, every loss is finite")


if __name__ == "__main__":
    main()
