"""Cost of ``--probe order`` as a fraction of the plain evaluation, measured in one run.

For each backbone, on synthetic-motion's test split (untrained weights: cost does not depend on them):

* plain evaluation: decode and encode every video and caption, temporal module, head, ranking, metrics (what a run
  without probes does to evaluate);
* probes: ``run_order_probes`` on that evaluation's features (reverse, ``--probe-shuffles`` shuffles,
  repeat_middle, shuffle_words; paired tests included), i.e. on cached per-frame features;
* for reference, the evaluation alone on the cached features (temporal module, head, ranking: no decoding, no
  image tower), which is what each frame probe repeats.

Run:  .venv/bin/python benchmarks/bench_probes.py [--backbones tiny-clip clip --test-pairs 30 --test-singles 30]
(``clip`` is open_clip's ViT-B-32 with random weights, 224 px: the cost shape of a real CLIP backbone.)
This is a measurement, not a test: it prints seconds and ratios, and asserts nothing. Timings on a shared machine are
noisy; the ratios come from one process, back to back.
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def measure(backbone: str, temporal: str, align: str, args) -> dict[str, float]:
    from c2vbench.config import RunConfig
    from c2vbench.data.screening import SplitScreener
    from c2vbench.evaluation.encoding import encode_split, score_all
    from c2vbench.model.assembly import assemble
    from c2vbench.pipeline import seed_everything
    from c2vbench.platform.registry import get_registry
    from c2vbench.probes.order_probes import run_order_probes
    from c2vbench.results.result_file import evaluation_block
    from c2vbench.runtime.progress import Reporter

    quiet = Reporter(quiet=True)
    device = torch.device("cpu")
    dataset_options = {"test_twin_pairs": str(args.test_pairs), "test_singles": str(args.test_singles),
                       "max_frames": str(args.max_frames)}
    config = RunConfig(backbone=backbone, temporal=temporal, align=align, protocol="zeroshot",
                       dataset_options=dataset_options, eval_batch_size=args.batch, out="/tmp/c2vbench-bench-probes",
                       save_checkpoint=False)
    plan = config.evaluation_plan()
    seed_everything(0)
    assembly = assemble(config.assembly_plan(), get_registry())
    test = SplitScreener(assembly.dataset, assembly.sampling, False, quiet)("test")
    model = assembly.model.eval()

    start = time.perf_counter()
    encoded = encode_split(model, test, assembly.sampling, config.eval_batch_size, device, quiet)
    unprobed = evaluation_block(score_all(model, encoded.text, encoded.video, device), test, plan)
    plain = time.perf_counter() - start

    start = time.perf_counter()
    cached = encode_split(model, test, assembly.sampling, config.eval_batch_size, device, quiet, bank=encoded.frames)
    evaluation_block(score_all(model, cached.text, cached.video, device), test, plan)
    on_cached = time.perf_counter() - start

    start = time.perf_counter()
    run_order_probes(model, assembly.dataset, test, encoded, unprobed["per_query"], assembly.components, plan,
                     device, quiet, shuffles=args.shuffles)
    probes = time.perf_counter() - start
    return {"videos": len(test.videos), "plain": plain, "cached": on_cached, "probes": probes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["tiny-clip", "clip"])
    parser.add_argument("--temporal", default="tdb")
    parser.add_argument("--align", default="tab")
    parser.add_argument("--test-pairs", type=int, default=30)
    parser.add_argument("--test-singles", type=int, default=30)
    parser.add_argument("--max-frames", type=int, default=8)
    parser.add_argument("--shuffles", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    print(f"--probe order cost, {args.temporal} · {args.align}, {args.shuffles} shuffles, {args.max_frames} frames, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'backbone':<10} {'videos':>6} {'plain eval s':>12} {'probes s':>9} {'probes/plain':>12} "
          f"{'eval on cached s':>16} {'probes/cached eval':>18}")
    for backbone in args.backbones:
        numbers = measure(backbone, args.temporal, args.align, args)
        print(f"{backbone:<10} {numbers['videos']:>6} {numbers['plain']:>12.2f} {numbers['probes']:>9.2f} "
              f"{numbers['probes'] / numbers['plain']:>11.0%} {numbers['cached']:>16.2f} "
              f"{numbers['probes'] / numbers['cached']:>17.1f}x")


if __name__ == "__main__":
    main()
