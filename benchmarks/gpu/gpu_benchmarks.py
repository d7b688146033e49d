"""GPU figures of issue 11, in one run on one machine: the feed against the bare image tower, texts/s, and streamed
ranking against a bare blocked reference.

1. **Bare tower**: open_clip ViT-B/32's image tower alone on random ``[batch, 3, 224, 224]`` input already on the
   device, under the chosen autocast: images/s.
2. **Zero-shot from prepared frames**: JPEG frame folders (``frames/<id>/00000001.jpg`` … 12 per video, 320×240,
   written here), benchmarked as the ``folder`` dataset with ``c2vbench run --backbone clip --protocol zeroshot``
   (random weights: speed does not depend on them). Reported: the result's ``cost`` (videos/s × 12 frames, texts/s)
   and, measured in-process through the same code (workers, pinned memory, JPEGs decoded on the GPU, batched
   resize/crop/normalise one batch ahead in a thread, tower under autocast), the steady-state frames/s after
   warm-up batches. Target: frames/s at least 70 % of the bare tower's images/s. Beside it, to show what limits
   the feed: the JPEG decoders alone (GPU, one CPU core), the loader alone, the feed without the tower, the plain
   loop (no batch ahead), both resize methods, and a share of the videos decoded by the workers' CPUs.
3. **Streamed ranking**: ``count_streamed`` (ranks and tie counts, both directions) on 100k × 100k, d = 512, fp16,
   against the bare reference of issue 11 (4096-row blocks of ``text @ video.T``, each ground truth's greater and
   equal counts, text→video only), with both counting methods (``sparse``, the default, at several tile sizes;
   ``dense`` for comparison). Target: within 1.5× of the reference. Also ``c2vbench score EMB.npz`` end to end.

Every figure goes to ``--out`` as ``gpu_benchmarks.json`` and ``gpu_benchmarks.txt``. ``--device cpu --small``
runs the same steps at toy sizes (a check of the script, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

FRAMES_PER_VIDEO = 12


def log(lines: list[str], text: str) -> None:
    print(text, flush=True)
    lines.append(text)


def save(out: Path, figures: dict, lines: list[str]) -> None:
    """Written after every step, so that a step that fails or runs out of time leaves the earlier figures."""
    (out / "gpu_benchmarks.json").write_text(json.dumps(figures, indent=1))
    (out / "gpu_benchmarks.txt").write_text("\n".join(lines) + "\n")


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------------------------
# data


def _write_video(job: tuple[Path, int, int, int]) -> None:
    from PIL import Image

    folder, index, width, height = job
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([128 + 100 * np.sin(x / rng.uniform(5, 30) + c) * np.cos(y / rng.uniform(5, 30))
                     for c in range(3)], -1)
    for frame in range(FRAMES_PER_VIDEO):
        shifted = np.roll(base, frame * 3, axis=1) + rng.normal(0, 6, base.shape)
        Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8)).save(folder / f"{frame + 1:08d}.jpg", quality=90)


def write_folder_dataset(root: Path, n_videos: int, captions_per_video: int, width: int, height: int,
                         processes: int) -> Path:
    """The ``folder`` dataset layout: ``captions.csv`` and ``frames/<id>/%08d.jpg`` (every video in test)."""
    words = ["red", "blue", "square", "circle", "moves", "left", "right", "grows", "shrinks", "slowly", "fast"]
    jobs = [(root / "frames" / f"video{index:05d}", index, width, height) for index in range(n_videos)]
    with Pool(processes) as pool:
        pool.map(_write_video, jobs, chunksize=8)
    rows = ["video_id,caption"]
    rng = np.random.default_rng(0)
    for index in range(n_videos):
        for _ in range(captions_per_video):
            rows.append(f"video{index:05d}," + " ".join(rng.choice(words, size=8)))
    (root / "captions.csv").write_text("\n".join(rows) + "\n")
    return root


# ---------------------------------------------------------------------------------------------------------------
# 1. bare tower


def bare_tower_images_per_second(device, precision: str, batch: int, iterations: int) -> float:
    import open_clip
    import torch

    from c2vbench.runtime.precision import autocast

    visual = open_clip.create_model("ViT-B-32", pretrained=None).visual.to(device).eval()
    images = torch.randn(batch, 3, 224, 224, device=device)
    with torch.no_grad():
        for _ in range(3):
            with autocast(precision, device):
                visual(images)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(iterations):
            with autocast(precision, device):
                visual(images)
        synchronize(device)
    return batch * iterations / (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------------------------
# 2. zero-shot from prepared frames


def zeroshot_cli(data_root: Path, out: Path, device: str, precision: str, workers: int, batch: int) -> dict:
    command = [sys.executable, "-m", "c2vbench", "run", "--backbone", "clip", "--temporal", "meanp", "--align",
               "cosine", "--protocol", "zeroshot", "--dataset", "folder", "--data-root", str(data_root),
               "--device", device, "--precision", precision, "--num-workers", str(workers), "--eval-batch-size",
               str(batch), "--no-cache", "--quiet", "--json", "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"c2vbench run failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout)
    return {"wall_seconds": round(wall, 2), "cost": result["cost"], "run_id": result["run_id"],
            "protocol_preprocess": result["protocol"].get("preprocess"),
            "effective_precision": result["config"].get("effective_precision"),
            "t2v_R@1": result["metrics"]["t2v"]["R@1"]}


def _feed_parts(data_root: Path, device, workers: int, batch: int, worker_decoded_share: float | None,
                resize: str | None):
    """The run's own objects for the zero-shot frame loop: model, loader, feed."""
    import torch

    from c2vbench.config import RunConfig
    from c2vbench.data.loader import make_video_loader
    from c2vbench.evaluation.encoding import frame_feed, video_dataset_for
    from c2vbench.model.assembly import assemble
    from c2vbench.platform.registry import get_registry

    config = RunConfig(backbone="clip", temporal="meanp", align="cosine", dataset="folder",
                       data_root=str(data_root), protocol="zeroshot")
    torch.manual_seed(0)
    assembly = assemble(config.assembly_plan(), get_registry())
    model = assembly.model.to(device).eval()
    dataset = video_dataset_for(model, assembly.dataset.split("test"), assembly.sampling, device, "tensor",
                                num_workers=workers)
    if worker_decoded_share is not None:
        dataset.worker_decoded_share = worker_decoded_share
    loader = make_video_loader(dataset, batch, num_workers=workers, pin_memory=device.type == "cuda")
    feed = frame_feed(model, assembly.sampling, device)
    if resize is not None:
        feed.resize = resize
    return model, loader, feed


def feed_steady_state(data_root: Path, device, precision: str, workers: int, batch: int, warmup: int,
                      ahead: bool = True, worker_decoded_share: float | None = None, resize: str | None = None,
                      stages: str = "tower", profile_to: Path | None = None) -> dict:
    """Frames/s through the run's own code path, timed after ``warmup`` batches.

    ``stages``: ``tower`` (loader → feed → tower, as ``compute_frame_bank`` runs it), ``feed`` (loader → feed:
    decoding and resizing, no model) or ``loader`` (the batches the workers hand over, pinned, nothing more).
    ``ahead``: the feed runs one batch ahead in a thread (as the run does); False: the plain loop.
    ``worker_decoded_share``: the fraction of videos whose JPEGs the workers decode on their CPU cores (the rest
    go to the GPU's decoder); ``resize``: the feed's resize method. None: the run's defaults for the device.
    ``profile_to``: also profile eight timed batches with ``torch.profiler`` and write the top operators there."""
    import torch

    from c2vbench.data.prefetch import prefetched
    from c2vbench.runtime.precision import autocast

    model, loader, feed = _feed_parts(data_root, device, workers, batch, worker_decoded_share, resize)
    worker_decoded_share = loader.dataset.worker_decoded_share if loader.dataset.jpegs_to_device else 1.0
    if stages == "loader":
        inputs = ((frames, mask, i) for frames, mask, i in loader)
    elif ahead:
        inputs = prefetched(loader, feed, device)
    else:
        inputs = ((feed(frames), mask, i) for frames, mask, i in loader)
    frames_done, start, batches, profiler = 0, None, 0, None
    with torch.no_grad():
        for model_input, mask, _ in inputs:
            if batches == warmup:
                synchronize(device)
                start, frames_done = time.perf_counter(), 0
                if profile_to is not None:
                    profiler = torch.profiler.profile()
                    profiler.__enter__()
            if profiler is not None and batches == warmup + 8:
                synchronize(device)
                profiler.__exit__(None, None, None)
                write_profile(profiler, profile_to)
                profiler = None
            if stages == "tower":
                with autocast(precision, device):
                    model.encode_frames(model_input)
            frames_done += int(mask.sum())
            batches += 1
        synchronize(device)
    if start is None:
        raise SystemExit(f"only {batches} batches: raise --videos above {warmup} batches of {batch}")
    seconds = time.perf_counter() - start
    return {"frames_per_second": round(frames_done / seconds, 1), "timed_batches": batches - warmup,
            "timed_frames": frames_done, "stages": stages, "ahead": ahead,
            "worker_decoded_share": worker_decoded_share, "resize": feed.resize}


def write_profile(profiler, path: Path) -> None:
    """The operators with the most device time, then the most CPU time (all threads' CUDA work is traced)."""
    averages = profiler.key_averages()
    tables = []
    for key in ("self_device_time_total", "self_cuda_time_total", "self_cpu_time_total"):
        try:
            tables.append(f"sorted by {key}\n" + averages.table(sort_by=key, row_limit=25, max_name_column_width=60))
        except (AttributeError, KeyError, ValueError):
            continue
    path.write_text("\n\n".join(tables) + "\n")


def jpeg_decoding_images_per_second(data_root: Path, device, n_images: int, repeats: int) -> dict:
    """The decoders alone on one batch's JPEG files already in memory: the GPU's (one call per batch, as the feed
    makes it) and one CPU core's (one call per image, as a worker makes them)."""
    import torch

    from c2vbench.data.feed import decode_jpegs

    paths = sorted((data_root / "frames").glob("*/*.jpg"))[:n_images]
    encoded = [torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8) for path in paths]
    figures = {"images": len(encoded), "mean_bytes": round(float(np.mean([len(e) for e in encoded])))}
    cpu = torch.device("cpu")
    start = time.perf_counter()
    on_cpu = decode_jpegs(encoded, cpu)
    figures["one_cpu_core_images_per_second"] = round(len(encoded) / (time.perf_counter() - start), 1)
    if device.type == "cuda":
        # the two decoders' pixels differ slightly (IDCT, chroma upsampling): how much, in grey levels
        difference = torch.cat([(gpu.cpu().float() - ref.float()).abs().flatten()
                                for gpu, ref in zip(decode_jpegs(encoded, device), on_cpu, strict=True)])
        figures["gpu_vs_cpu_decoder_levels"] = {"mean": round(float(difference.mean()), 3),
                                                "max": float(difference.max())}
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            decode_jpegs(encoded, device)
        synchronize(device)
        figures["gpu_images_per_second"] = round(len(encoded) * repeats / (time.perf_counter() - start), 1)
    return figures


# ---------------------------------------------------------------------------------------------------------------
# 3. streamed ranking


def bare_reference_seconds(text, video, block: int, device) -> float:
    """Issue 11's bare reference: 4096-row blocks of scores, each ground truth's greater and equal counts."""
    import torch

    truth = torch.arange(len(text), device=device)

    def once():
        for start in range(0, len(text), block):
            scores = text[start:start + block] @ video.t()
            rows = torch.arange(scores.shape[0], device=device)
            ground = scores[rows, truth[start:start + block]].unsqueeze(1)
            (scores > ground).sum(1)
            (scores == ground).sum(1)

    once()
    synchronize(device)
    start = time.perf_counter()
    once()
    synchronize(device)
    return time.perf_counter() - start


def streamed_seconds(text, video, text_block: int, video_block: int, device,
                     method: str = "auto") -> tuple[float, object]:
    from c2vbench.evaluation.streamed_ranking import DotProductScores, count_streamed

    mapping = np.arange(len(text))
    scores = DotProductScores(text, video, dtype=text.dtype)
    count_streamed(scores, mapping, device, text_block, video_block, method=method)
    synchronize(device)
    start = time.perf_counter()
    counts = count_streamed(scores, mapping, device, text_block, video_block, method=method)
    synchronize(device)
    return time.perf_counter() - start, counts


def ranking_figures(n: int, dim: int, device, dtype_name: str, lines: list[str], final: bool = False) -> dict:
    import torch

    dtype = {"fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    generator = torch.Generator(device=device).manual_seed(0)
    video = torch.randn(n, dim, device=device, generator=generator)
    text = (video + torch.randn(n, dim, device=device, generator=generator)).to(dtype)
    video = video.to(dtype)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    reference = bare_reference_seconds(text, video, 4096, device)
    reference_peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    figures = {"n": n, "dim": dim, "dtype": dtype_name, "bare_reference_seconds": round(reference, 4),
               "bare_reference_peak_gib": None if reference_peak is None else round(reference_peak, 2),
               "streamed": []}
    log(lines, f"ranking {n} x {n}, d={dim}, {dtype_name}: bare reference (t2v only) {reference:.4f} s")
    # dense: four comparisons and sums per tile; sparse (the default): two comparisons, candidates found as
    # non-zero flag words (one synchronisation per tile on a GPU, hence the wider tiles there)
    settings = [("dense", (4096, 32768))] + [("sparse", blocks) for blocks in ((4096, 4096), (4096, 16384),
                                                                              (4096, 32768), (8192, 32768))]
    if final:
        settings = [("dense", (4096, 32768)), ("sparse", (4096, 32768))]
    for method, (text_block, video_block) in settings:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds, counts = streamed_seconds(text, video, text_block, video_block, device, method)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        ratio = seconds / reference
        figures["streamed"].append({"method": method, "text_block": text_block, "video_block": video_block,
                                    "seconds": round(seconds, 4), "ratio_to_reference": round(ratio, 3),
                                    "peak_gib": None if peak is None else round(peak, 2),
                                    "t2v_R@1_optimistic": round(float(np.mean(counts.t2v_above == 0)) * 100, 3)})
        log(lines, f"  streamed {method} {text_block}x{video_block} (both directions, ties): {seconds:.4f} s = "
                   f"{ratio:.2f}x the reference (target <= 1.5x: {'met' if ratio <= 1.5 else 'MISSED'})"
                   + (f", peak {peak:.2f} GiB" if peak is not None else ""))
    return figures


def score_cli(n: int, dim: int, folder: Path, device: str) -> dict:
    rng = np.random.default_rng(0)
    video = rng.standard_normal((n, dim), dtype=np.float32)
    text = video + rng.standard_normal((n, dim), dtype=np.float32)
    path = folder / "emb.npz"
    np.savez(path, text_emb=text.astype(np.float16), video_emb=video.astype(np.float16), text_to_video=np.arange(n))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "c2vbench", "score", str(path), "--json", "--device", device],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return {"n": n, "wall_seconds": round(wall, 2), "t2v_R@1": json.loads(done.stdout)["metrics"]["t2v"]["R@1"]}


# ---------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="toy sizes (a check of the script)")
    parser.add_argument("--videos", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--batch", type=int, default=64, help="videos per batch (x12 frames)")
    parser.add_argument("--precision", default=None, help="autocast: bf16 on CUDA, fp32 on a CPU by default")
    parser.add_argument("--final", action="store_true",
                        help="only the comparisons that decide the defaults (a short run)")
    parser.add_argument("--workers-sweep", type=int, nargs="+", default=None, metavar="N",
                        help="only the feed at these worker counts, GPU decoding against decoding in the workers")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/c2vbench-gpu-bench"))
    args = parser.parse_args()
    import torch

    device = torch.device(args.device)
    args.precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    small = args.small
    n_videos = args.videos or (8 if small else 4000)
    workers = args.workers if args.workers is not None else (2 if small else min(12, (os.cpu_count() or 2) - 2))
    batch = 4 if small else args.batch
    args.out.mkdir(parents=True, exist_ok=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    # the frames are written by forked processes before CUDA is initialised in this one
    start = time.perf_counter()
    data_root = write_folder_dataset(args.work_dir / "data", n_videos, 2, 320, 240, min(16, os.cpu_count() or 1))
    written = time.perf_counter() - start
    import torchvision

    figures: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                     "torch": torch.__version__, "torchvision": torchvision.__version__,
                     "python": platform.python_version(), "cpus": os.cpu_count(), "precision": args.precision,
                     "small": small, "videos": n_videos, "workers": workers, "videos_per_batch": batch}
    log(lines, f"device {figures['device']}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
               f"{os.cpu_count()} CPUs, precision {args.precision}{' (SMALL: not a measurement)' if small else ''}")
    log(lines, f"wrote {n_videos} videos x {FRAMES_PER_VIDEO} JPEG frames (320x240) in {written:.1f} s")
    save(args.out, figures, lines)

    tower = bare_tower_images_per_second(device, args.precision, 8 if small else 512, 2 if small else 20)
    figures["bare_tower_images_per_second"] = round(tower, 1)
    log(lines, f"bare ViT-B/32 image tower, batch {8 if small else 512}: {tower:.1f} images/s")
    save(args.out, figures, lines)

    if args.workers_sweep:
        # where decoding in the workers overtakes the GPU's decoder (MIN_WORKERS_TO_DECODE_JPEGS)
        figures["workers_sweep"] = []
        for count in args.workers_sweep:
            for share in (0.0, 1.0) if count > 0 else (0.0,):
                measured = feed_steady_state(data_root, device, args.precision, count, batch,
                                             1 if small else count + 2, worker_decoded_share=share, resize="matmul")
                figures["workers_sweep"].append({"workers": count, **measured})
                log(lines, f"{count} workers, {'JPEGs decoded by the workers' if share else 'GPU decoding'}: "
                           f"{measured['frames_per_second']:.1f} frames/s = "
                           f"{measured['frames_per_second'] / tower:.1%} of the bare tower")
                save(args.out, figures, lines)
        return

    # past the first round of batches from every worker (their start), so that the loader's rate is measured
    warmup = 1 if small else workers + 2
    decoding = jpeg_decoding_images_per_second(data_root, device, batch * FRAMES_PER_VIDEO, 2 if small else 10)
    figures["jpeg_decoding"] = decoding
    log(lines, f"JPEG decoding alone, {decoding['images']} images of {decoding['mean_bytes']} bytes: one CPU core "
               f"{decoding['one_cpu_core_images_per_second']:.0f} images/s"
               + (f", GPU {decoding['gpu_images_per_second']:.0f} images/s; GPU vs CPU decoder: "
                  f"{decoding['gpu_vs_cpu_decoder_levels']}" if "gpu_images_per_second" in decoding else ""))
    # what limits the feed: the workers alone, the feed without the tower, then the whole loop
    variants = [("loader only, JPEGs handed over encoded", dict(stages="loader", worker_decoded_share=0.0)),
                ("loader only, JPEGs decoded by the workers", dict(stages="loader", worker_decoded_share=1.0))]
    for resize in ("interpolate", "matmul"):
        variants.append((f"feed without the tower (GPU decoding + {resize} resize), batch ahead",
                         dict(stages="feed", worker_decoded_share=0.0, resize=resize)))
    variants.append(("feed + tower, plain loop (no batch ahead), GPU decoding, interpolate",
                     dict(ahead=False, worker_decoded_share=0.0, resize="interpolate")))
    for resize in ("interpolate", "matmul"):
        for share in (0.0, 0.25, 0.5, 1.0):
            if resize == "interpolate" and share in (0.25, 0.5):
                continue
            variants.append((f"feed + tower, batch ahead, {resize} resize, a share of {share:g} decoded by the "
                             "workers", dict(worker_decoded_share=share, resize=resize)))
    if args.final:
        # the settings that decide the defaults, after the full comparison (session 4's second H100 run)
        more = min(14, (os.cpu_count() or 2) - 2)
        variants = [("loader only, JPEGs decoded by the workers", dict(stages="loader", worker_decoded_share=1.0)),
                    (f"loader only, JPEGs decoded by {more} workers",
                     dict(stages="loader", worker_decoded_share=1.0, workers=more)),
                    ("feed + tower, batch ahead, matmul resize, GPU decoding",
                     dict(worker_decoded_share=0.0, resize="matmul")),
                    ("feed + tower, batch ahead, matmul resize, JPEGs decoded by the workers",
                     dict(worker_decoded_share=1.0, resize="matmul")),
                    (f"feed + tower, batch ahead, matmul resize, JPEGs decoded by {more} workers",
                     dict(worker_decoded_share=1.0, resize="matmul", workers=more)),
                    (f"feed + tower, batch ahead, interpolate resize, JPEGs decoded by {more} workers",
                     dict(worker_decoded_share=1.0, resize="interpolate", workers=more))]
    figures["feed_variants"] = []
    for label, options in variants:
        options = {"workers": workers, **options}
        measured = feed_steady_state(data_root, device, args.precision, batch=batch, warmup=warmup, **options)
        figures["feed_variants"].append({"label": label, "workers": options["workers"], **measured})
        log(lines, f"{label}: {measured['frames_per_second']:.1f} frames/s = "
                   f"{measured['frames_per_second'] / tower:.1%} of the bare tower")
        save(args.out, figures, lines)
    if not small and not args.final:
        feed_steady_state(data_root, device, args.precision, workers, batch, warmup,
                          profile_to=args.out / "feed_profile.txt")
        log(lines, "profile of the default feed + tower: feed_profile.txt")
    steady = feed_steady_state(data_root, device, args.precision, workers, batch, warmup)
    figures["feed_steady_state"] = steady
    fraction = steady["frames_per_second"] / tower
    figures["feed_fraction_of_tower"] = round(fraction, 3)
    log(lines, f"feed + tower, the run's defaults (batch ahead, {steady['resize']} resize, a share of "
               f"{steady['worker_decoded_share']:g} decoded by the workers; {workers} workers, {batch} "
               f"videos/batch): {steady['frames_per_second']:.1f} frames/s = {fraction:.1%} of the bare tower "
               f"(target >= 70%: {'met' if fraction >= 0.70 else 'MISSED'})")
    save(args.out, figures, lines)

    run = zeroshot_cli(data_root, args.work_dir / "results", args.device, args.precision, workers, batch)
    figures["zeroshot_run"] = run
    run_frames = run["cost"]["videos_per_second"] * FRAMES_PER_VIDEO
    figures["zeroshot_run_frames_per_second"] = round(run_frames, 1)
    figures["zeroshot_run_fraction_of_tower"] = round(run_frames / tower, 3)
    log(lines, f"c2vbench run --protocol zeroshot: {run['cost']['videos_per_second']:.1f} videos/s = "
               f"{run_frames:.1f} frames/s = {run_frames / tower:.1%} of the tower (worker start-up included), "
               f"{run['cost']['texts_per_second']:.1f} texts/s; whole command {run['wall_seconds']} s")
    save(args.out, figures, lines)
    n = 3000 if small else 100_000
    figures["ranking"] = ranking_figures(n, 512, device, "fp32" if device.type == "cpu" else "fp16", lines,
                                         args.final)
    save(args.out, figures, lines)
    figures["score_cli"] = score_cli(n, 512, args.work_dir, args.device)
    log(lines, f"c2vbench score EMB.npz ({n} x {n}, fp16 file) end to end: {figures['score_cli']}")

    save(args.out, figures, lines)


if __name__ == "__main__":
    main()
