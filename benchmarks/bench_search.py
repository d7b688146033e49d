"""``c2vbench search``'s exact top-k over a large gallery: seconds per query batch, against a plain float32 scan.

The gallery is random ``[n, F]`` float32 factors (default one million videos, F = 512: 2 GB), the queries random
``[q, F]``. In this one run, per query batch size:

* **exact**: :func:`c2vbench.evaluation.streamed_topk.top_k_dot` (what ``search`` runs for dot-product heads: the
  ranking of float64 row-wise scores, tile by tile, a float32 product per tile and the exact scores of the videos
  within its error bound; ties resolved by index and counted);
* **plain**: one float32 ``video @ text.T`` and ``torch.topk`` (no tie handling, the whole score matrix held): the
  speed a user would get from the obvious two lines.

Reported: seconds of each and their ratio (exact / plain), and whether the two agree on the top-k ids (they may
differ only where float32 rounding reorders near-ties). Run it on a quiet machine:

    .venv/bin/python benchmarks/bench_search.py [--n 1000000] [--dim 512] [--top 10] [--queries 1 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from c2vbench.evaluation.streamed_topk import top_k_dot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--queries", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for both methods (0: torch's default; 1 is steadier on a shared machine)")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    generator = torch.Generator().manual_seed(0)
    video = torch.nn.functional.normalize(torch.randn(arguments.n, arguments.dim, generator=generator), dim=1)
    rows = []
    for queries in arguments.queries:
        text = torch.nn.functional.normalize(torch.randn(queries, arguments.dim, generator=generator), dim=1)
        exact_times, plain_times = [], []
        for _ in range(arguments.repeats):
            start = time.perf_counter()
            exact = top_k_dot(text, video, arguments.top)
            exact_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            plain = torch.topk(video @ text.T, arguments.top, dim=0).indices.T
            plain_times.append(time.perf_counter() - start)
        same = sum(set(exact.indices[row].tolist()) == set(plain[row].tolist()) for row in range(queries))
        rows.append({"videos": arguments.n, "dim": arguments.dim, "queries": queries, "top": arguments.top,
                     "threads": torch.get_num_threads(),
                     "exact_seconds": round(min(exact_times), 3), "plain_seconds": round(min(plain_times), 3),
                     "exact_over_plain": round(min(exact_times) / min(plain_times), 2),
                     "queries_with_same_top": f"{same}/{queries}"})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
