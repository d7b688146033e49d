"""What the embedded synthetic-motion board can detect: power of its headline questions for seeds x test-split size.

The variance components are estimated from the committed board's per-query results
(``leaderboards/results/synthetic-motion/``, fine-tuned ``tiny-clip · meanp · cosine`` and ``tiny-clip · tdb · tab``):
each configuration's seed offsets (training noise) and seed-by-query noise, and the query-sampling variance of the
paired difference. Then, for a design (``k`` seeds per configuration, ``n`` test videos, a third of them order-twin
pairs as now), replicates of the estimates are drawn from their sampling distributions (normal difference,
chi-square seed spreads with ``k - 1`` df, chi-square query part) and the test ``compare`` and ``leaderboard`` use
(:func:`c2vbench.results.seed_test.configuration_test`) is applied to each. Two questions:

* **beats mean pooling**: T2V R@1 of ``tdb · tab`` minus ``meanp · cosine`` (all text queries);
* **uses time**: the order-twin pairwise accuracy (own clip scored above its time reversal) of ``tdb · tab`` minus
  mean pooling's, which is exactly 50 (a clip and its reversal get identical mean-pooled embeddings).

Assumption, stated in the output: the effects (in points) and the seed offsets measured on the committed board's
test split carry over to a split of another size; the query-level variances scale as 1 / n. The board's marks are
Holm-adjusted over the rows marked against the baseline, counted from the committed board.

    python benchmarks/bench_board_power.py
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from c2vbench.results.comparison import direction_values, group_runs
from c2vbench.results.seed_test import VarianceComponents, configuration_test, variance_components

ROOT = Path(__file__).resolve().parents[1]
BOARD = ROOT / "leaderboards" / "results" / "synthetic-motion"
BASELINE, CANDIDATE = ("meanp", "cosine"), ("tdb", "tab")


def board_runs() -> tuple[dict[tuple[str, str], list[dict]], int]:
    """The committed board's fine-tuned plain-inference runs by (temporal, align), and how many plain-inference rows
    of the baseline's table are marked against it (the size of its Holm family)."""
    runs = [(path, json.loads(path.read_text())) for path in sorted(BOARD.glob("*.json"))]
    groups, _ = group_runs(runs)
    chosen, rows_per_protocol = {}, Counter()
    for group in groups:
        first = group.runs[0][1]
        if group.track != "inductive":
            continue
        rows_per_protocol[first["protocol"]["hash"]] += 1
        if first["config"].get("protocol") == "finetune":
            chosen[(first["plugins"]["temporal"]["name"], first["plugins"]["align"]["name"])] = group.results
    marked = rows_per_protocol[chosen[BASELINE][0]["protocol"]["hash"]] - 1
    return chosen, marked


def question_values(runs: dict[tuple[str, str], list[dict]]) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """``{question: (baseline [k, n], candidate [k, n], test videos)}`` per-query values of the committed board."""
    base, candidate = runs[BASELINE], runs[CANDIDATE]
    videos = len(base[0]["per_query"]["v2t_rank"])

    def pairwise(results: list[dict]) -> np.ndarray:
        return np.stack([100.0 * np.asarray(r["subsets"]["order_twins"]["pairwise"]["per_query"], dtype=float)
                         for r in results])

    return {
        "beats mean pooling (T2V R@1)": (direction_values(base, "t2v", ("R@1",), "expected")[:, :, 0],
                                         direction_values(candidate, "t2v", ("R@1",), "expected")[:, :, 0], videos),
        "uses time (order-twin pairwise %)": (pairwise(base), pairwise(candidate), videos),
    }


def power(components: VarianceComponents, seeds: int, scale: float, alpha: float, replicates: int,
          rng: np.random.Generator) -> float:
    """Share of replicates the configuration-level test rejects at ``alpha`` for ``seeds`` a side and query-level
    variances multiplied by ``scale`` (90 / n)."""
    k_board = components.seeds[1]
    noise = [value[0] * scale for value in components.noise]
    offsets = [max(spread[0] - tau, 0.0) for spread, tau in zip(components.seed_mean_variance, components.noise,
                                                                  strict=True)]
    pure_query = max(components.query_variance[0] - sum(components.noise[i][0] for i in range(2)) / k_board, 0.0)
    pure_query *= scale
    clusters = max(int(round(components.clusters / scale)), 2)
    truth = sum(offsets) / seeds + sum(noise) / seeds + pure_query
    difference = rng.normal(components.difference[0], np.sqrt(truth), replicates)
    spreads = tuple((offset + tau) * rng.chisquare(seeds - 1, replicates) / (seeds - 1)
                    for offset, tau in zip(offsets, noise, strict=True))
    query = (pure_query + sum(noise) / seeds) * rng.chisquare(clusters - 1, replicates) / (clusters - 1)
    simulated = VarianceComponents(difference, (seeds, seeds), spreads,
                                   (np.full(replicates, noise[0]), np.full(replicates, noise[1])), query, clusters)
    return float(np.mean(configuration_test(simulated).p_value < alpha))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=4000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 8, 10])
    parser.add_argument("--videos", type=int, nargs="+", default=[90, 150, 300, 600])
    args = parser.parse_args()
    rng = np.random.default_rng(20261127)
    runs, marked = board_runs()
    for question, (base, candidate, videos) in question_values(runs).items():
        components = variance_components(base, candidate)
        spreads = [float(np.sqrt(max(s[0] - t[0], 0.0))) for s, t in zip(components.seed_mean_variance,
                                                                         components.noise, strict=True)]
        print(f"\n{question}: effect {components.difference[0]:+.1f} points on the committed board "
              f"({components.seeds[0]} vs {components.seeds[1]} seeds, {videos} test videos); seed offsets sd "
              f"{spreads[0]:.1f} (mean pooling) and {spreads[1]:.1f} (tdb · tab); seed-by-query noise sd of a seed "
              f"mean {np.sqrt(components.noise[0][0]):.1f} and {np.sqrt(components.noise[1][0]):.1f}; query-sampling "
              f"sd of the paired difference {np.sqrt(components.query_variance[0]):.1f}\n")
        print("| seeds per entry | " + " | ".join(f"{n} test videos" for n in args.videos) + " |")
        print("|---|" + "---|" * len(args.videos))
        for seeds in args.seeds:
            cells = []
            for n in args.videos:
                alone = power(components, seeds, videos / n, 0.05, args.replicates, rng)
                holm = power(components, seeds, videos / n, 0.05 / (marked - 1), args.replicates, rng)
                cells.append(f"{alone:.2f} ({holm:.2f})")
            print(f"| {seeds} | " + " | ".join(cells) + " |", flush=True)
    print(f"\npower at alpha 0.05 for one comparison (`c2vbench compare`), and in brackets at 0.05/{marked - 1} "
          f"(the board's Holm-adjusted mark when the headline row has the second smallest of the {marked} p-values "
          f"of the rows marked against the baseline); "
          f"{args.replicates} replicates per cell. Assumed: the effects and seed offsets measured on the committed "
          f"board carry over to other split sizes, and the query-level variances scale as 1 / n.")


if __name__ == "__main__":
    main()
