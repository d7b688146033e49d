"""How much the official T-MASS evaluation's indexing changes the numbers: one trained model, scored both ways.

The official ``sim_matrix_inference_stochastic`` scores the chosen stochastic text of a pair (t, v) against v's
vector pooled for *v's own* caption instead of for t (see
:meth:`c2vbench_builtins.align._tmass_head.TMassHead.official_indexing_cosines`; ``tests/test_successor_heads.py``
reproduces the official numbers with it). This script trains ``tmass`` on synthetic-motion, then scores its test
split with the head (``p(t, v)`` for every pair, what c2vbench reports) and with the official indexing, on the same
model, features and draws, and prints text-to-video R@1 and R@5 of both.

Run:  .venv/bin/python benchmarks/bench_tmass_indexing.py [--epochs 20 --seed 0]
This is a measurement, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from c2vbench.config import RunConfig
from c2vbench.evaluation.encoding import encode_split
from c2vbench.evaluation.metrics import evaluate_similarity
from c2vbench.pipeline import checkpoint_assembly, run_benchmark
from c2vbench.platform.registry import get_registry
from c2vbench.runtime.progress import Reporter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    quiet = Reporter(quiet=True)
    with tempfile.TemporaryDirectory() as out:
        config = RunConfig(temporal="meanp", align="tmass", dataset="synthetic-motion", epochs=args.epochs,
                           seed=args.seed, align_options={"trials": str(args.trials)}, out=out,
                           save_checkpoint=True)
        outcome = run_benchmark(config, reporter=quiet)
        assembly, _ = checkpoint_assembly(config, outcome.checkpoint_path, "c2vbench", False, get_registry(), quiet)
        split = assembly.dataset.splits["test"]
        model = assembly.model.eval()
        encoded = encode_split(model, split, assembly.sampling, 64, torch.device("cpu"), quiet)
    truth = np.asarray([caption.video_index for caption in split.captions])
    head = model.align_head
    with torch.no_grad():
        scored = {"c2vbench (p(t, v) for every pair)": head.stochastic_cosines(encoded.text, encoded.video),
                  "official indexing": head.official_indexing_cosines(encoded.text, encoded.video,
                                                                      torch.from_numpy(truth))}
    print(f"tmass, {args.epochs} epochs, seed {args.seed}, {args.trials} trials, {len(split.captions)} captions x "
          f"{len(split.videos)} videos (synthetic-motion test)")
    first, second = scored.values()
    negatives = np.ones((len(truth), len(split.videos)), dtype=bool)
    negatives[np.arange(len(truth)), truth] = False
    gap = (second - first).double().numpy()[negatives]
    print(f"non-matching pairs: official minus c2vbench cosine, mean {gap.mean():+.4f}, largest |difference| "
          f"{np.abs(gap).max():.4f}")
    for name, scores in scored.items():
        metrics = evaluate_similarity(scores.double().numpy(), truth).metrics["t2v"]
        print(f"{name:36s} t2v R@1 {metrics['R@1']:5.1f}   R@5 {metrics['R@5']:5.1f}   MnR {metrics['MnR']:5.1f}")


if __name__ == "__main__":
    main()
