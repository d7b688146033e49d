"""Memory of 64-frame clips at ViT-B/32 during evaluation (ActivityNet's and DiDeMo's 64 frame slots).

Evaluation encodes ``--eval-batch-size`` videos at a time: every frame of the batch goes through the image tower in
one forward pass (``RetrievalModel.encode_frames``), then the temporal module pools them. What a 64-frame clip
costs beyond the weights is that forward's working memory, which grows with the frames in the batch.

Measured here on the CPU with random weights (``--backbone clip``, ``pretrained=none``: the weights' values do not
change the memory), each batch size in a fresh process: the peak resident memory during the forward pass minus the
resident memory just before it (sampled every millisecond; the input already allocated; memory freed while
building the model returned first), under ``torch.no_grad`` as evaluation runs. Beside it, an estimate from the
shapes: the largest live set of one transformer block for every frame (residual stream, layer-norm output, q/k/v,
attention output, attention scores, MLP hidden and its activation). On a GPU the same
activations live in GPU memory (halved under ``--precision fp16``/``bf16``), plus the CUDA context and allocator
slack, which this CPU measurement does not show.

    .venv/bin/python benchmarks/bench_long_clip_memory.py [--batches 1 2 4] [--temporal meanp]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time

FRAMES, SIDE, PATCH, WIDTH, HEADS, MLP, EMBED = 64, 224, 32, 768, 12, 3072, 512


def pixels_mib(batch: int, bytes_per_value: int = 4) -> float:
    """The preprocessed input of ``batch`` clips of 64 frames."""
    return batch * FRAMES * 3 * SIDE * SIDE * bytes_per_value / 2**20


def estimate_mib(batch: int, bytes_per_value: int = 4) -> float:
    """One transformer block's largest live set for every frame of ``batch`` clips (the input not included)."""
    tokens = (SIDE // PATCH) ** 2 + 1
    block = batch * FRAMES * (tokens * (WIDTH * 3 + 3 * WIDTH + MLP * 2) + HEADS * tokens * tokens * 2)
    return block * bytes_per_value / 2**20


def _resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def _release_free_memory() -> None:
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: the measurement may then read low
        pass


def measure(batch: int, temporal: str) -> dict:
    """In this process: build the model, then the peak extra resident memory of encoding ``batch`` clips."""
    import torch

    from c2vbench.model.assembly import build_model
    from c2vbench.platform.registry import get_registry
    from c2vbench.platform.specs import build_options

    torch.manual_seed(0)
    torch.set_num_threads(2)
    registry = get_registry()
    components = {"backbone": registry.get("backbone", "clip"), "temporal": registry.get("temporal", temporal),
                  "align": registry.get("align", "cosine")}
    options = {role: build_options(component.spec, {}) for role, component in components.items()}
    model = build_model(components, options, FRAMES).eval()
    frames = torch.randn(batch, FRAMES, 3, SIDE, SIDE)
    mask = torch.ones(batch, FRAMES, dtype=torch.long)
    _release_free_memory()  # memory freed while building stays resident and would hide the forward's own
    before = _resident_bytes()
    peak = [before]
    running = [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], _resident_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    with torch.no_grad():
        features = model.encode_frames(frames)
        model.encode_video_from_frame_features(features, mask)
    seconds = time.perf_counter() - start
    running[0] = False
    sampler.join()
    return {"batch": batch, "frames": batch * FRAMES, "extra_mib": (peak[0] - before) / 2**20,
            "estimate_mib": estimate_mib(batch), "seconds": seconds,
            "weights_mib": sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--temporal", default="meanp")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.temporal)))
        return
    print("| clips in the batch | frames | input MiB | forward, measured MiB | forward, estimate MiB | "
          "measured per clip MiB | s |")
    print("|---|---|---|---|---|---|---|")
    for batch in args.batches:
        out = subprocess.run([sys.executable, __file__, "--child", str(batch), "--temporal", args.temporal],
                             check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"| {row['batch']} | {row['frames']} | {pixels_mib(batch):.0f} | {row['extra_mib']:.0f} | "
              f"{row['estimate_mib']:.0f} | {row['extra_mib'] / row['batch']:.0f} | {row['seconds']:.1f} |")
    print(f"weights (fp32): {row['weights_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
