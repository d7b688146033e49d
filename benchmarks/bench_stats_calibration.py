"""Size and power of c2vbench's comparison of two configurations, under training noise plus query sampling.

Each replicate draws a fresh test set (queries, optionally 5 captions per video) and fresh training seeds for two
systems, and scores T2V R@1 hits:

    hit ~ Bernoulli(sigmoid(query difficulty + system-by-query affinity + seed offset + seed-by-video noise + shift))

* query difficulty (shared by both systems; with multi-caption sets part of it is shared by a video's captions),
* a system-by-query affinity (queries differ in which system suits them: the reason the test set is a sample),
* a seed offset per trained model whose spread is set so that per-seed R@1 varies by about 0, 5 or 10 points,
* seed-by-video noise (what one trained model happens to get right), shared by a video's captions,
* ``shift`` = 0 under the null; for power, a shift worth about +5 R@1 points for system B.

For each cell it prints how often the test rejects at alpha = 0.05: the size (null) and the power (+5 points), for
the procedure ``c2vbench compare`` and ``leaderboard`` use (seed-level t test when both sides have >= 2 seeds;
none for 1 seed), and for reference the rejection rate of the query-level sign-flip test (what is shown, labelled
conditional on the seeds, when a side has one seed) and of the two-level bootstrap c2vbench used before.

    python benchmarks/bench_stats_calibration.py               # full grid, ~2-4 minutes on 2 busy cores
    python benchmarks/bench_stats_calibration.py --replicates 300 --old-replicates 0
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from c2vbench.results.stats import bootstrap_differences, bootstrap_p_value, paired_randomization_test, seed_level_test

ALPHA = 0.05
BASE_LOGIT = np.log(0.4 / 0.6)  # R@1 around 40%
LOGIT_PER_POINT = 1.0 / (100 * 0.4 * 0.6)  # d sigmoid / d logit at 40% ≈ 0.24
CAPTIONS_PER_VIDEO = 5


def simulate(rng: np.random.Generator, replicates: int, n_queries: int, k: int, spread_points: float, multi: bool,
             shift_points: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(a_hits [k, n, replicates], b_hits [k, n, replicates], clusters or None)``, hits in percent.

    Every replicate (last axis) has its own test set, system affinities and seeds; the cluster structure (which
    captions share a video) is the same for all, so they can be tested in one vectorised call.
    """
    if multi:
        n_videos = n_queries // CAPTIONS_PER_VIDEO
        clusters = np.repeat(np.arange(n_videos), CAPTIONS_PER_VIDEO)
    else:
        n_videos = n_queries
        clusters = np.arange(n_queries)
    shape = (n_queries, replicates)
    difficulty = (BASE_LOGIT + rng.normal(0.0, 1.0, (n_videos, replicates))[clusters]
                  + rng.normal(0.0, 0.7 if multi else 0.0, shape))
    seed_sd = spread_points * LOGIT_PER_POINT

    def system(shift: float) -> np.ndarray:
        affinity = rng.normal(0.0, 0.5, (n_videos, replicates))[clusters] + rng.normal(0.0, 0.3, shape)
        offsets = rng.normal(0.0, seed_sd, (k, 1, replicates))
        seed_by_video = rng.normal(0.0, 0.5, (k, n_videos, replicates))[:, clusters]
        logits = difficulty[None] + affinity[None] + offsets + seed_by_video + shift
        return 100.0 * (rng.random((k, *shape)) < 1.0 / (1.0 + np.exp(-logits)))

    a = system(0.0)
    b = system(shift_points * LOGIT_PER_POINT)
    return a, b, clusters if multi else None


def rejection_rates(rng, replicates, conditional_replicates, old_replicates, n_queries, k, spread, multi, shift):
    """Rejection rates at ALPHA: (seed-level test or None, query-level sign-flip, old two-level bootstrap or None)."""
    a, b, clusters = simulate(rng, replicates, n_queries, k, spread, multi, shift)
    seed_level = None
    if k >= 2:
        seed_level = float(np.mean(seed_level_test(a, b, clusters).p_value < ALPHA))
    conditional = None
    if conditional_replicates:
        used = slice(0, conditional_replicates)
        p_values = paired_randomization_test(a[:, :, used].mean(axis=0), b[:, :, used].mean(axis=0), clusters, 999)
        conditional = float(np.mean(np.asarray(p_values) < ALPHA))
    old = None
    if old_replicates and k >= 2:
        used = slice(0, old_replicates)
        samples = bootstrap_differences(a[:, :, used], b[:, :, used], clusters, 999 if n_queries <= 100 else 199,
                                        seed=1)
        old = float(np.mean(np.asarray(bootstrap_p_value(samples)) < ALPHA))
    return seed_level, conditional, old


def _show(rate: float | None) -> str:
    return "no p-value (1 seed)" if rate is None else f"{rate:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--conditional-replicates", type=int, default=1000,
                        help="replicates for the query-level sign-flip column")
    parser.add_argument("--old-replicates", type=int, default=400,
                        help="replicates for the old two-level bootstrap column (a quarter of them, with 199 "
                             "resamples, for 1000 queries: it is slow)")
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    print(f"alpha = {ALPHA}; {args.replicates} replicates per cell ({args.conditional_replicates} for the sign-flip "
          f"column, {args.old_replicates} for the old bootstrap at 90 queries, {args.old_replicates // 4} at 1000); "
          "power at +5 R@1 points")
    print("| captions | queries | seeds per side | seed spread (R@1 pts) | size | power +5 | "
          "query-level sign-flip rejects (null) | old two-level bootstrap size |")
    print("|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for multi in (False, True):
        for n_queries in (90, 1000):
            for k in (1, 2, 3, 5):
                for spread in (0, 5, 10):
                    size, conditional, old = rejection_rates(
                        rng, args.replicates, args.conditional_replicates,
                        args.old_replicates if n_queries <= 100 else args.old_replicates // 4, n_queries, k, spread,
                        multi, 0.0)
                    power, _, _ = rejection_rates(rng, args.replicates, 0, 0, n_queries, k, spread, multi, 5.0)
                    if size is not None:
                        worst = max(worst, size)
                    print(f"| {'5 per video' if multi else 'single'} | {n_queries} | {k} | {spread} | {_show(size)} "
                          f"| {_show(power)} | {conditional:.3f} | {'–' if old is None else f'{old:.3f}'} |",
                          flush=True)
    print(f"largest size where a p-value is given: {worst:.3f} (target <= 0.06); "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
