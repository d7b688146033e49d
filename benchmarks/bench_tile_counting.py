"""Counting one tile of streamed ranking on a CPU: the candidate-decoding and flag-summing branches against the
tile's own matrix product, as the number of candidates at or above the thresholds grows.

One ``block × block`` tile of ``text @ video.T`` (random float32, d = 512) is computed into a reused buffer; each
row's and column's threshold is set to its k-th largest score, so exactly k candidates per row and per column are at
or above it (what a model whose ground truths sit at rank k within the tile would give). For each k: milliseconds
per tile of :class:`c2vbench.evaluation.streamed_ranking._SparseTileCounter` forced to decode candidates, forced to sum
the flags, and of the four-comparison dense counting, with the product's time measured in the same run:

    .venv/bin/python benchmarks/bench_tile_counting.py [--block 4096] [--k 1 4 32 256 1024]
"""

from __future__ import annotations

import argparse
import time

import torch

from c2vbench.evaluation.streamed_ranking import _count_tile_dense, _SparseTileCounter


def milliseconds(work, repeats: int = 5) -> float:
    work()
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - start) / repeats * 1000


def counting_milliseconds(count, tile: torch.Tensor, row_truth: torch.Tensor, column_best: torch.Tensor) -> float:
    whole = slice(0, tile.shape[0])
    counts = {name: torch.zeros(tile.shape[0], dtype=torch.int64)
              for name in ("t2v_at_or_above", "t2v_equal", "v2t_at_or_above", "v2t_equal")}
    return milliseconds(lambda: count(tile, row_truth, column_best, whole, whole, counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 4, 32, 256, 1024])
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    text = torch.randn(args.block, args.dim, generator=generator)
    video = torch.randn(args.block, args.dim, generator=generator)
    tile = torch.empty(args.block, args.block)
    product = milliseconds(lambda: torch.mm(text, video.t(), out=tile))
    print(f"{args.block} x {args.block} tile, d = {args.dim}, {torch.get_num_threads()} threads: "
          f"product {product:.1f} ms")
    print("k per row/column | decode candidates | sum flags | dense (4 comparisons) | ms per tile")
    for k in args.k:
        row_truth = tile.topk(k, dim=1).values[:, -1:].clone()
        column_best = tile.topk(k, dim=0).values[-1:, :].clone()
        decode, summed = _SparseTileCounter(), _SparseTileCounter()
        decode.DENSE_WORD_FRACTION, summed.DENSE_WORD_FRACTION = 0, 10**12  # always decode / always sum
        figures = [counting_milliseconds(count, tile, row_truth, column_best)
                   for count in (decode, summed, _count_tile_dense)]
        print(f"{k:>16} | {figures[0]:>17.1f} | {figures[1]:>9.1f} | {figures[2]:>21.1f} |")


if __name__ == "__main__":
    main()
