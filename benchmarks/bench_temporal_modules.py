"""Throughput of the temporal modules and heads on cached frame features (videos per second).

Compares meanp+cosine, seqtransf+cosine, tdb+cosine and tdb+tab at the released sizes by default (D = 512,
T = 12 frames, 4 temporal layers, 32 text tokens). Training = temporal module + head forward, backward and an
AdamW step on a batch of matching (text, video) pairs; inference = temporal module (with TAB's alignment tokens
when needed) + scoring against one text batch. Text features are cached too, so the backbone never runs.

Run:  .venv/bin/python benchmarks/bench_temporal_modules.py [--width 512 --batch 64 --device cpu]
This is a measurement, not a test: it prints numbers and ratios to seqtransf+cosine, and asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch

from c2vbench.platform.interfaces import BuildContext, TextFeatures

CONFIGURATIONS = (("meanp", "cosine"), ("seqtransf", "cosine"), ("tdb", "cosine"), ("tdb", "tab"))


class CachedFeaturesBackbone:
    """Stands in for a backbone whose outputs are cached: no text transformer to initialise from."""

    def temporal_init_state(self):
        return None

    def initial_logit_scale(self) -> float:
        return math.log(100.0)


def build(temporal_name: str, align_name: str, width: int, frames: int, layers: int):
    from c2vbench_builtins.align.cosine import CosineOptions, build_cosine
    from c2vbench_builtins.align.tab import TabOptions, build_tab
    from c2vbench_builtins.temporal.meanp import build_meanp
    from c2vbench_builtins.temporal.seqtransf import SeqTransfOptions, build_seqtransf
    from c2vbench_builtins.temporal.tdb import TdbOptions, build_tdb

    context = BuildContext(backbone=CachedFeaturesBackbone(), embed_dim=width, max_frames=frames)
    temporal = {
        "meanp": lambda: build_meanp(None, context),
        "seqtransf": lambda: build_seqtransf(SeqTransfOptions(layers=layers), context),
        # Without TAB the half-rate stream is not needed; build it only when the head will use it.
        "tdb": lambda: build_tdb(TdbOptions(layers=layers, alignment_stream=align_name == "tab"), context),
    }[temporal_name]()
    head_context = BuildContext(context.backbone, width, frames, temporal=temporal)
    head = build_tab(TabOptions(), head_context) if align_name == "tab" else build_cosine(CosineOptions(),
                                                                                          head_context)
    return temporal, head


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(step, batch: int, seconds: float, device: torch.device) -> float:
    """Videos per second of ``step`` (one batch per call), after two warm-up calls."""
    for _ in range(2):
        step()
    synchronise(device)
    calls, start = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        synchronise(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 3:
            return calls * batch / elapsed


def throughputs(temporal, head, frames, frame_mask, text, autocast, args, device) -> tuple[float, float]:
    """(training, inference) videos per second of one temporal module + head."""
    parameters = [p for module in (temporal, head) for p in module.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=1e-4)
    wants_tokens = head.wants_alignment_tokens

    def train_step():
        temporal.train(), head.train()
        with autocast:
            loss = head.loss(text, temporal(frames, frame_mask, want_alignment_tokens=wants_tokens))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def inference_step():
        temporal.eval(), head.eval()
        with autocast:
            head(text, temporal(frames, frame_mask, want_alignment_tokens=wants_tokens))

    return measure(train_step, args.batch, args.seconds, device), measure(inference_step, args.batch, args.seconds,
                                                                          device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--words", type=int, default=32)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per configuration and mode")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    frames = torch.randn(args.batch, args.frames, args.width, device=device)
    frame_mask = torch.ones(args.batch, args.frames, dtype=torch.long, device=device)
    frame_mask[::3, args.frames * 2 // 3:] = 0  # a third of the videos are short
    token_mask = torch.zeros(args.batch, args.words, dtype=torch.long, device=device)
    token_mask[:, :12] = 1
    tokens = torch.randn(args.batch, args.words, args.width, device=device)
    text = TextFeatures(eot=tokens[:, 11], tokens=tokens, token_mask=token_mask)
    autocast = torch.autocast(device_type="cuda", dtype=torch.float16, enabled=device.type == "cuda")

    print(f"device {device}, torch threads {torch.get_num_threads()}, D={args.width}, T={args.frames}, "
          f"L={args.words}, layers={args.layers}, batch={args.batch}, load average {os.getloadavg()[0]:.1f} "
          "(other processes on the machine slow every row alike)")
    rows = []
    for temporal_name, align_name in CONFIGURATIONS:
        temporal, head = build(temporal_name, align_name, args.width, args.frames, args.layers)
        temporal, head = temporal.to(device), head.to(device)
        training, inference = throughputs(temporal, head, frames, frame_mask, text, autocast, args, device)
        count = sum(p.numel() for module in (temporal, head) for p in module.parameters())
        rows.append((f"{temporal_name}+{align_name}", count, training, inference))

    base_training, base_inference = rows[1][2], rows[1][3]  # seqtransf, the CLIP4Clip baseline
    print(f"{'configuration':<18}{'params':>12}{'train vid/s':>14}{'× seqT':>9}{'infer vid/s':>14}{'× seqT':>9}")
    for name, count, training, inference in rows:
        print(f"{name:<18}{count:>12,}{training:>14.0f}{training / base_training:>9.3f}"
              f"{inference:>14.0f}{inference / base_inference:>9.3f}")


if __name__ == "__main__":
    main()
