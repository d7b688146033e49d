"""Evaluation cost of the xpool, drl and tmass align heads against cosine: ranking a 1k x 1k test split.

``cosine`` offers ``text_factors``/``video_factors``, so evaluation ranks the split as matrix products; X-Pool, DRL
and T-MASS compute something per (text, video) pair and are scored tile by tile through ``forward``
(:class:`c2vbench.evaluation.streamed_ranking.HeadScores`). This script times the evaluation path itself
(:func:`c2vbench.evaluation.encoding.streamed_scores` and ``evaluate``: ground-truth scores, then every tile,
counted) on cached random features at the released sizes: D = 512, T = 12 frames, 32 text tokens (DRL reads them
all; real captions are shorter, and the head trims positions that are padding in every caption), DRL's 4-layer frame
transformer, T-MASS with its 20 trials and with 0 (the deterministic pass). Encoding (the backbone and the temporal
module) is not included: it costs the same for every head.

Run:  .venv/bin/python benchmarks/bench_successor_heads.py [--n 1000 --width 512 --device cpu]
This is a measurement, not a test: it prints seconds and ratios to cosine, and asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch

from c2vbench.platform.interfaces import BuildContext, TextFeatures, VideoFeatures

HEADS = (("cosine", {}), ("xpool", {}), ("drl", {}), ("tmass", {"trials": 0}), ("tmass", {"trials": 20}))


class CachedFeaturesBackbone(torch.nn.Module):
    """Stands in for a backbone whose outputs are cached: no text transformer to initialise from."""

    def __init__(self, width: int):
        super().__init__()
        self.embed_dim = width

    def temporal_init_state(self):
        return None

    def initial_logit_scale(self) -> float:
        return math.log(100.0)


def build_model(name: str, options: dict, width: int, frames: int):
    from c2vbench.model.retrieval_model import RetrievalModel
    from c2vbench.platform.registry import get_registry
    from c2vbench.platform.specs import build_options

    backbone = CachedFeaturesBackbone(width)
    registry = get_registry()
    meanp = registry.get("temporal", "meanp").spec
    temporal = meanp.factory(build_options(meanp, {}), BuildContext(backbone, width, frames))
    spec = registry.get("align", name).spec
    head = spec.factory(build_options(spec, {key: str(value) for key, value in options.items()}),
                        BuildContext(backbone, width, frames, temporal=temporal))
    return RetrievalModel(backbone, temporal, head, max_frames=frames).eval()


def features(n: int, width: int, frames: int, words: int, generator: torch.Generator):
    lengths = torch.randint(6, words + 1, (n,), generator=generator)
    token_mask = (torch.arange(words)[None, :] < lengths[:, None]).long()
    tokens = torch.randn(n, words, width, generator=generator)
    text = TextFeatures(tokens[torch.arange(n), lengths - 1].clone(), tokens, token_mask)
    frame_features = torch.randn(n, frames, width, generator=generator)
    frame_mask = torch.ones(n, frames, dtype=torch.long)
    pooled = frame_features.mean(dim=1)
    return text, VideoFeatures(pooled / pooled.norm(dim=-1, keepdim=True), frame_features, frame_mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="texts = videos")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--words", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from c2vbench.evaluation.encoding import streamed_scores

    device = torch.device(args.device)
    text, video = features(args.n, args.width, args.frames, args.words, torch.Generator().manual_seed(0))
    truth = list(range(args.n))
    print(f"{args.n} x {args.n}, D = {args.width}, T = {args.frames}, {args.words} tokens, {device}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    baseline = None
    for name, options in HEADS:
        torch.manual_seed(0)
        model = build_model(name, options, args.width, args.frames).to(device)
        start = time.perf_counter()
        with torch.no_grad():
            evaluation, _ = streamed_scores(model, text, video, device).evaluate(truth)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        baseline = baseline or seconds
        label = name + "".join(f" {key}={value}" for key, value in options.items())
        print(f"{label:18s} {seconds:9.3f} s   x{seconds / baseline:8.1f} cosine   "
              f"(t2v R@1 {evaluation.metrics['t2v']['R@1']:.1f} on random features)")


if __name__ == "__main__":
    main()
