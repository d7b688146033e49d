"""Frame-encoding cost of the ``timm`` backbone against the ``clip`` backbone at the same image-tower size.

Both at ViT-B/32 size with random weights (nothing is downloaded): ``clip`` = open_clip ViT-B-32; ``timm`` =
timm's ``vit_base_patch32_clip_224`` (pooled 768-wide features + the new 768 -> 512 projection) with the ViT-B-32
text tower. Inference = ``encode_frames`` on a batch of 224px images (autocast on CUDA); training = forward,
backward and an AdamW step through ``encode_frames`` and ``encode_text``. ``--small`` uses tiny towers instead, for
a quick CPU check.

Run:  .venv/bin/python benchmarks/bench_backbones.py [--device cpu|cuda] [--batch 64] [--small]
This is a measurement, not a test: it prints frames per second and the timm / clip ratio, and asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch


def build(name: str, small: bool):
    from c2vbench_builtins.backbones.clip import ClipOptions, build_clip
    from c2vbench_builtins.backbones.timm import TimmOptions, build_timm_backbone
    from c2vbench_builtins.backbones.tiny_clip import TinyClipOptions, build_tiny_clip

    if name == "clip":
        return build_tiny_clip(TinyClipOptions(vision_layers=1, text_layers=1)) if small else build_clip(ClipOptions())
    if small:
        return build_timm_backbone(TimmOptions(model_kwargs="img_size=32,patch_size=8,embed_dim=64,depth=1,num_heads=1",
                                               text_kwargs="width=64,layers=1,heads=1,context_length=32",
                                               embed_dim=64))
    return build_timm_backbone(TimmOptions())


def timed(step, device: torch.device, repeats: int) -> float:
    """Seconds per call (median of ``repeats`` after two warm-ups)."""
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def measure(name: str, device: torch.device, batch: int, small: bool, repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    backbone = build(name, small).to(device)
    images = torch.randn(batch, 3, backbone.image_size, backbone.image_size, device=device)
    input_ids, mask = backbone.tokenize(["a person is cooking in a kitchen"] * batch)
    input_ids, mask = input_ids.to(device), mask.to(device)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else contextlib.nullcontext())
    optimiser = torch.optim.AdamW(backbone.parameters(), lr=1e-5)

    def infer():
        with torch.no_grad(), autocast:
            backbone.encode_frames(images)

    def train():
        with autocast:
            frames = backbone.encode_frames(images)
            text = backbone.encode_text(input_ids, mask).eot
            loss = -(torch.nn.functional.normalize(frames, dim=-1) *
                     torch.nn.functional.normalize(text, dim=-1)).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    backbone.eval()
    inference = batch / timed(infer, device, repeats)
    backbone.train()
    training = batch / timed(train, device, repeats)
    return {"parameters_M": sum(p.numel() for p in backbone.parameters()) / 1e6, "infer_fps": inference,
            "train_fps": training}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--small", action="store_true", help="tiny towers (quick CPU check)")
    args = parser.parse_args()
    device = torch.device(args.device)
    results = {name: measure(name, device, args.batch, args.small, args.repeats) for name in ("clip", "timm")}
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {label}; batch {args.batch}; {'tiny' if args.small else 'ViT-B/32'} towers; median of "
          f"{args.repeats}")
    print(f"{'backbone':10} {'params (M)':>11} {'infer frames/s':>15} {'train frames/s':>15}")
    for name, row in results.items():
        print(f"{name:10} {row['parameters_M']:11.1f} {row['infer_fps']:15.1f} {row['train_fps']:15.1f}")
    print(f"ratio timm / clip: inference {results['timm']['infer_fps'] / results['clip']['infer_fps']:.2f}, "
          f"training {results['timm']['train_fps'] / results['clip']['train_fps']:.2f}")


if __name__ == "__main__":
    main()
