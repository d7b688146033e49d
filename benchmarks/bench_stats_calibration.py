"""Size, power and coverage of c2vbench's comparison of two configurations, under training noise and query sampling.

Every replicate draws a fresh test set from a fixed population of queries and fresh training seeds for two
configurations, ranks each query's ground truth for every seed, and scores R@1, R@5, R@10, MnR and MRR, text→video
(captions, clustered by video) and video→text. The model, in logits of "a distractor outranks the ground truth":

* **query difficulty** from a U-shaped Beta: each video's R@1 at baseline skill is Beta(0.4, 0.4) (many queries
  always or never found), captions of one video vary around it (sd 0.7) when there are several per video;
* a **configuration-by-query affinity** (sd 0.5 per video, 0.3 per caption) and a **configuration-by-topic** effect
  (20 topics; queries' topics drawn uniformly): queries differ in which configuration suits them;
* **training noise**: a seed offset, and a **seed-by-topic** interaction (each seed helps some topics and hurts others)
  built so that the topic effects of two seeds of one configuration correlate 0.5; seed-by-video noise (sd 0.5);
  optionally **failed seeds** (10% of runs lose 2.5 logits: a collapsed training run, kept in the results);
* ranks are Binomial(gallery - 1, p) + 1, gallery = the test videos (text→video) or captions (video→text).

Two nulls: **same recipe** (B is A trained again: the same affinities and topic effects, other seeds) and
**different recipes of equal skill** (independent affinities, B's topic effects a permutation of A's, so the
population means are equal exactly). Seed splits 2v2 … 2v20 and 1v3 … 1v20, 1v1; alpha 0.05 and 0.01 on the same
simulations; the procedure ``c2vbench compare`` uses now (:mod:`c2vbench.results.seed_test`) against the previous one
(a frozen copy below, ``previous_p_values``) on the very same replicates. Power: balanced splits with B shifted by
0.25 logits. Coverage: the leaderboard's entry intervals (``mean_interval``) against the configuration's true mean
(from a large simulation of the population), and the previous two-level bootstrap intervals.

    python benchmarks/bench_stats_calibration.py              # the grid of BENCHMARKS.md (about an hour, 2 busy cores)
    python benchmarks/bench_stats_calibration.py --replicates 200 --quick
    python benchmarks/bench_stats_calibration.py --frontier   # 2v2: size and power under each guard γ
    python benchmarks/bench_stats_calibration.py --one-seed-power   # 1 v k: power with and without the allowances

For a 1-seed side the size table also gives the test without its two allowances (Student's reference on the
sampling df, no 0.01 floor; see :mod:`c2vbench.results.seed_test`): the evidence for them.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from scipy import special
from scipy import stats as scipy_stats

from c2vbench.results.seed_test import (
    DF_QUANTILE,
    NoSeedLevelTest,
    configuration_test,
    mean_interval,
    variance_components,
)
from c2vbench.results.stats import bootstrap_means, cluster_ids, cluster_totals, percentile_interval

METRICS = ("R@1", "R@5", "R@10", "MnR", "MRR")
ALPHAS = (0.05, 0.01)
TOPICS = 20
SPLITS = ((2, 2), (2, 3), (3, 3), (3, 5), (5, 5), (2, 10), (2, 20), (1, 3), (1, 5), (1, 10), (1, 20), (1, 1))
FRONTIER_QUANTILES = (0.3, 0.4, 0.5, 0.6, 0.7)  # the guard's γ (c2vbench uses 0.3)
CHUNK = 100  # replicates simulated at once (memory stays below a few hundred MB at 10,000 queries)


@dataclasses.dataclass(frozen=True)
class Design:
    """One simulated population and training-noise level."""

    name: str
    videos: int
    captions: int  # per video
    offset_sd: float  # seed offset, logits
    topic_sd: float  # seed-by-topic and configuration-by-topic, logits
    failed: float = 0.0  # share of collapsed runs

    @property
    def queries(self) -> int:
        return self.videos * self.captions


DESIGNS = (
    Design("1,000 queries, training noise small", 1000, 1, 0.05, 0.15),
    Design("1,000 queries, training noise moderate", 1000, 1, 0.15, 0.3),
    Design("1,000 queries, training noise large", 1000, 1, 0.35, 0.6),
    Design("90 queries, training noise moderate", 90, 1, 0.15, 0.3),
    Design("1,000 captions (200 videos x 5), moderate", 200, 5, 0.15, 0.3),
    Design("2,000 captions (100 videos x 20), moderate", 100, 20, 0.15, 0.3),
    Design("10,000 queries, training noise moderate", 10_000, 1, 0.15, 0.3),
    Design("1,000 queries, moderate, 10% failed seeds", 1000, 1, 0.15, 0.3, failed=0.1),
)


# ---------------------------------------------------------------------------------------------------------------
# the simulated world


@dataclasses.dataclass
class Population:
    """The fixed part of a design: each recipe's topic effects (drawn once, so that a configuration's true mean is
    a fixed number)."""

    design: Design
    topic_effects: dict[str, np.ndarray]  # recipe -> [TOPICS]

    @classmethod
    def draw(cls, design: Design, rng: np.random.Generator) -> Population:
        base = rng.normal(0.0, 1.0, TOPICS)
        return cls(design, {"A": base, "same": base, "different": base[rng.permutation(TOPICS)]})


def _rank_model(probability: np.ndarray, gallery: int) -> np.ndarray:
    """Logit of "one distractor outranks the ground truth" giving R@1 = ``probability`` at zero effect."""
    return special.logit(1.0 - np.clip(probability, 1e-3, 1 - 1e-3) ** (1.0 / (gallery - 1)))


def simulate(population: Population, rng: np.random.Generator, replicates: int, seeds_a: int, seeds_b: int,
             recipe_b: str, shift_b: float = 0.0) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """``{direction: (a [k_a, n, replicates * 5], b [k_b, n, replicates * 5], clusters)}``: per-query metric values
    of ``replicates`` fresh test sets and seeds (metrics vary fastest along the last axis)."""
    design = population.design
    videos, captions = design.videos, design.captions
    n_captions = videos * captions
    caption_video = np.repeat(np.arange(videos), captions)
    shape_v = (videos, replicates)
    video_difficulty = rng.beta(0.4, 0.4, shape_v)
    caption_jitter = rng.normal(0.0, 0.7, (n_captions, replicates)) if captions > 1 else 0.0
    t2v_base = _rank_model(video_difficulty, videos)[caption_video] + caption_jitter
    v2t_base = _rank_model(video_difficulty, n_captions)
    topic = rng.integers(0, TOPICS, shape_v)

    def affinity() -> tuple[np.ndarray, np.ndarray]:
        per_video = rng.normal(0.0, 0.5, shape_v)
        per_caption = per_video[caption_video] + (rng.normal(0.0, 0.3, (n_captions, replicates)) if captions > 1
                                                  else 0.0)
        return per_video, per_caption

    affinity_a = affinity()

    def side(seeds: int, recipe: str, shift: float) -> dict[str, np.ndarray]:
        per_video, per_caption = affinity_a if recipe in ("A", "same") else affinity()
        configuration_topic = population.topic_effects[recipe][topic] * design.topic_sd * np.sqrt(0.5)
        seed_topic = rng.normal(0.0, design.topic_sd * np.sqrt(0.5), (seeds, TOPICS, replicates))
        seed_topic_of_video = np.take_along_axis(seed_topic, np.broadcast_to(topic, (seeds, *shape_v)), axis=1)
        offsets = rng.normal(0.0, design.offset_sd, (seeds, 1, replicates))
        offsets = offsets - 2.5 * (rng.random((seeds, 1, replicates)) < design.failed)
        video_effect = (configuration_topic[None] + seed_topic_of_video + offsets
                        + rng.normal(0.0, 0.5, (seeds, *shape_v)) + shift)
        values = {}
        for direction, base, gallery, effect in (
            ("t2v", t2v_base, videos, video_effect[:, caption_video] + per_caption[None]),
            ("v2t", v2t_base, n_captions, video_effect + per_video[None]),
        ):
            ranks = 1.0 + rng.binomial(gallery - 1, special.expit(base[None] - effect))
            stacked = np.stack([100.0 * (ranks <= 1), 100.0 * (ranks <= 5), 100.0 * (ranks <= 10), ranks,
                                1.0 / ranks], axis=-1)  # [k, n, replicates, 5]
            values[direction] = stacked.reshape(seeds, ranks.shape[1], -1)
        return values

    a = side(seeds_a, "A", 0.0)
    b = side(seeds_b, recipe_b, shift_b)
    return {"t2v": (a["t2v"], b["t2v"], caption_video if captions > 1 else None),
            "v2t": (a["v2t"], b["v2t"], None)}


def true_means(population: Population, rng: np.random.Generator, seeds: int = 400, replicates: int = 40
               ) -> dict[str, np.ndarray]:
    """Configuration A's expected metric values (over seeds and the query population), by a large simulation."""
    totals: dict[str, list[np.ndarray]] = {"t2v": [], "v2t": []}
    for _ in range(seeds // 20):
        values = simulate(population, rng, replicates, 20, 1, "same")
        for direction, (a, _, _) in values.items():
            totals[direction].append(a.reshape(20, a.shape[1], -1, len(METRICS)).mean(axis=(0, 1, 2)))
    return {direction: np.mean(parts, axis=0) for direction, parts in totals.items()}


# ---------------------------------------------------------------------------------------------------------------
# the previous procedure (c2vbench before issue 22), frozen here for the comparison on the same replicates


def previous_p_values(a: np.ndarray, b: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """p of the previous ``compare``: its seed-level t test with >= 2 seeds a side (floored seed offsets,
    Satterthwaite df that drops a floored term), otherwise the query-level test it put in the same field."""
    k_a, k_b, n_queries = a.shape[0], b.shape[0], a.shape[1]
    dense, n_clusters = cluster_ids(clusters, n_queries)
    sizes = np.bincount(dense, minlength=n_clusters).astype(np.float64)
    a_totals, b_totals = cluster_totals(a, dense, n_clusters), cluster_totals(b, dense, n_clusters)
    a_means, b_means = a.mean(axis=1), b.mean(axis=1)
    difference = b_means.mean(axis=0) - a_means.mean(axis=0)
    paired = b_totals.mean(axis=0) - a_totals.mean(axis=0)
    residuals = paired - sizes[:, None] * difference[None, :]
    query_part = (residuals**2).sum(axis=0) * n_clusters / max(n_clusters - 1, 1) / n_queries**2
    if k_a < 2 or k_b < 2:  # the query-level test (a paired t over clusters: the sign-flip test's large-sample twin)
        return 2.0 * scipy_stats.t.sf(np.abs(difference) / np.sqrt(query_part), n_clusters - 1)

    def noise(totals: np.ndarray, means: np.ndarray) -> np.ndarray:
        return (totals - sizes[None, :, None] * means[:, None, :]).var(axis=0, ddof=1).sum(axis=0) / n_queries**2 \
            / totals.shape[0]

    seed_a, seed_b = a_means.var(axis=0, ddof=1) / k_a, b_means.var(axis=0, ddof=1) / k_b
    noise_a, noise_b = noise(a_totals, a_means), noise(b_totals, b_means)
    offsets_a, offsets_b = np.maximum(seed_a - noise_a, 0.0), np.maximum(seed_b - noise_b, 0.0)
    variance = offsets_a + offsets_b + query_part
    denominator = (np.where(offsets_a > 0, seed_a**2 / (k_a - 1) + noise_a**2 / (n_clusters * (k_a - 1)), 0.0)
                   + np.where(offsets_b > 0, seed_b**2 / (k_b - 1) + noise_b**2 / (n_clusters * (k_b - 1)), 0.0)
                   + query_part**2 / max(n_clusters - 1, 1))
    degrees = np.maximum(variance**2 / np.where(denominator > 0, denominator, 1.0), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # no variance at all: p is nan, never a rejection
        return 2.0 * scipy_stats.t.sf(np.abs(difference) / np.sqrt(variance), degrees)


def new_p_values(a: np.ndarray, b: np.ndarray, clusters: np.ndarray | None
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(p, p without the one-seed allowances)`` of c2vbench's test from one estimate of the variance components:
    ``(None, None)`` with one seed on each side, and no second p with >= 2 seeds a side (the allowances are the
    evidence for :data:`~c2vbench.results.seed_test.ONE_SEED_SHAPE_DF` and the 0.01 floor)."""
    components = variance_components(a, b, clusters)
    try:
        p_values = configuration_test(components).p_value
    except NoSeedLevelTest:
        return None, None
    if a.shape[0] >= 2 and b.shape[0] >= 2:
        return p_values, None
    return p_values, configuration_test(components, one_seed_allowances=False).p_value


# ---------------------------------------------------------------------------------------------------------------
# the three studies


def rejection_rates(p_values: np.ndarray, replicates: int) -> np.ndarray:
    """``[alphas, metrics]`` share of replicates rejecting."""
    grid = p_values.reshape(replicates, len(METRICS))
    return np.stack([(grid < alpha).mean(axis=0) for alpha in ALPHAS])


def size_study(population: Population, rng: np.random.Generator, replicates: int, splits) -> list[dict]:
    rows = []
    for seeds_a, seeds_b in splits:
        for recipe in ("same", "different"):
            rates = {"new": [], "old": [], "unfloored": []}
            for start in range(0, replicates, CHUNK):
                count = min(CHUNK, replicates - start)
                for a, b, clusters in simulate(population, rng, count, seeds_a, seeds_b, recipe).values():
                    new, unfloored = new_p_values(a, b, clusters)
                    if new is not None:
                        rates["new"].append(rejection_rates(new, count) * count)
                    if unfloored is not None:
                        rates["unfloored"].append(rejection_rates(unfloored, count) * count)
                    rates["old"].append(rejection_rates(previous_p_values(a, b, clusters), count) * count)
            row = {"split": f"{seeds_a}v{seeds_b}", "null": recipe}
            for name, parts in rates.items():
                if not parts:
                    row[name] = None
                    continue
                directions = np.stack(parts).reshape(-1, 2, len(ALPHAS), len(METRICS)).sum(axis=0) / replicates
                row[name] = directions  # [direction, alpha, metric]
            rows.append(row)
    return rows


def power_study(population: Population, rng: np.random.Generator, replicates: int, shift: float) -> list[dict]:
    rows = []
    for seeds in (2, 3, 5):
        totals = {"new": 0.0, "old": 0.0}
        for start in range(0, replicates, CHUNK):
            count = min(CHUNK, replicates - start)
            a, b, clusters = simulate(population, rng, count, seeds, seeds, "different", shift)["t2v"]
            totals["new"] = totals["new"] + rejection_rates(new_p_values(a, b, clusters)[0], count)[0] * count
            totals["old"] = totals["old"] + rejection_rates(previous_p_values(a, b, clusters), count)[0] * count
        rows.append({"split": f"{seeds}v{seeds}", **{name: value / replicates for name, value in totals.items()}})
    return rows


def one_seed_power_study(population: Population, rng: np.random.Generator, replicates: int, shift: float
                         ) -> list[dict]:
    """Power of the one-seed test (1 against 3 … 20, text→video, different recipes, B better by ``shift`` logits) at
    alpha 0.05, with and without its allowances (Student's reference on the sampling df, no floor)."""
    rows = []
    for seeds in (3, 5, 10, 20):
        totals = {"new": 0.0, "without": 0.0}
        for start in range(0, replicates, CHUNK):
            count = min(CHUNK, replicates - start)
            a, b, clusters = simulate(population, rng, count, 1, seeds, "different", shift)["t2v"]
            new, without = new_p_values(a, b, clusters)
            totals["new"] = totals["new"] + rejection_rates(new, count)[0] * count
            totals["without"] = totals["without"] + rejection_rates(without, count)[0] * count
        rows.append({"split": f"1v{seeds}", **{name: value / replicates for name, value in totals.items()}})
    return rows


def frontier_study(designs, rng: np.random.Generator, replicates: int, power_replicates: int,
                   shift: float) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """2 seeds against 2 under each guard γ of :data:`FRONTIER_QUANTILES`, and the previous procedure in the last
    row: the worst size over ``designs`` (both nulls, directions and metrics; ``[without / with failed seeds, row,
    alpha]``) and the power of the first three designs (``[(name, [row, metric])]``, text→video at alpha 0.05, B
    better by ``shift`` logits)."""

    def p_values_of_each(a: np.ndarray, b: np.ndarray, clusters: np.ndarray | None) -> list[np.ndarray]:
        components = variance_components(a, b, clusters)
        return [configuration_test(components, df_quantile=quantile).p_value for quantile in FRONTIER_QUANTILES] \
            + [previous_p_values(a, b, clusters)]

    rows = len(FRONTIER_QUANTILES) + 1
    worst = np.zeros((2, rows, len(ALPHAS)))  # designs without failed seeds, designs with them
    power = []
    for index, design in enumerate(designs):
        population = Population.draw(design, rng)
        for recipe in ("same", "different"):
            rates = np.zeros((rows, 2, len(ALPHAS), len(METRICS)))
            for start in range(0, replicates, CHUNK):
                count = min(CHUNK, replicates - start)
                sides = simulate(population, rng, count, 2, 2, recipe).values()
                for direction, (a, b, clusters) in enumerate(sides):
                    for row, p_values in enumerate(p_values_of_each(a, b, clusters)):
                        rates[row, direction] += rejection_rates(p_values, count) * count
            kind = int(design.failed > 0)
            worst[kind] = np.maximum(worst[kind], (rates / replicates).max(axis=(1, 3)))
        if index < 3:
            hits = np.zeros((rows, len(METRICS)))
            for start in range(0, power_replicates, CHUNK):
                count = min(CHUNK, power_replicates - start)
                a, b, clusters = simulate(population, rng, count, 2, 2, "different", shift)["t2v"]
                for row, p_values in enumerate(p_values_of_each(a, b, clusters)):
                    hits[row] += rejection_rates(p_values, count)[0] * count
            power.append((design.name, hits / power_replicates))
    return worst, power


def coverage_study(population: Population, rng: np.random.Generator, replicates: int, truth: np.ndarray,
                   bootstrap_replicates: int) -> list[dict]:
    rows = []
    for seeds in (1, 2, 3, 5):
        covered_new = np.zeros(len(METRICS))
        covered_old = np.zeros(len(METRICS))
        old_count = 0
        for start in range(0, replicates, CHUNK):
            count = min(CHUNK, replicates - start)
            a, _, clusters = simulate(population, rng, count, seeds, 1, "same")["t2v"]
            low, high = mean_interval(a, clusters).interval
            inside = (low <= np.tile(truth, count)) & (np.tile(truth, count) <= high)
            covered_new += inside.reshape(count, len(METRICS)).sum(axis=0)
            if old_count < bootstrap_replicates:
                samples = bootstrap_means(a, clusters, n_resamples=499, seed=start)
                old_low, old_high = percentile_interval(samples)
                inside = (old_low <= np.tile(truth, count)) & (np.tile(truth, count) <= old_high)
                covered_old += inside.reshape(count, len(METRICS)).sum(axis=0)
                old_count += count
        rows.append({"seeds": seeds, "new": covered_new / replicates,
                     "old": covered_old / old_count if old_count else None})
    return rows


# ---------------------------------------------------------------------------------------------------------------
# report


def _worst(rates: np.ndarray, alpha_index: int) -> tuple[float, str]:
    """Largest rejection rate over directions and metrics at one alpha, and where."""
    grid = rates[:, alpha_index, :]
    direction, metric = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return float(grid[direction, metric]), f"{('t2v', 'v2t')[direction]} {METRICS[metric]}"


def _cell(value: float, replicates: int, alpha: float) -> str:
    error = np.sqrt(alpha * (1 - alpha) / replicates)
    return f"{value:.3f} ± {error:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000, help="replicates per null cell")
    parser.add_argument("--power-replicates", type=int, default=500)
    parser.add_argument("--coverage-replicates", type=int, default=500)
    parser.add_argument("--bootstrap-replicates", type=int, default=200,
                        help="replicates for the previous two-level bootstrap's coverage (499 resamples each)")
    parser.add_argument("--quick", action="store_true", help="two designs only")
    parser.add_argument("--design", type=int, action="append", help="only these designs (index into DESIGNS)")
    parser.add_argument("--large-replicates", type=int, default=None,
                        help="replicates for designs of 5,000 queries or more (default: a third of --replicates)")
    parser.add_argument("--sizes-only", action="store_true", help="skip the power and coverage studies")
    parser.add_argument("--frontier", action="store_true",
                        help="only the 2v2 frontier: size and power under each guard γ of FRONTIER_QUANTILES")
    parser.add_argument("--one-seed-power", action="store_true",
                        help="only the one-seed test's power, with and without its allowances")
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    designs = DESIGNS[:2] if args.quick else DESIGNS
    if args.design:
        designs = tuple(DESIGNS[index] for index in args.design)
    large = args.large_replicates or max(200, args.replicates // 3)
    print(f"{args.replicates} replicates per null cell (Monte-Carlo standard error "
          f"{np.sqrt(0.05 * 0.95 / args.replicates):.4f} at 0.05, {np.sqrt(0.01 * 0.99 / args.replicates):.4f} at "
          f"0.01); {args.power_replicates} for power, {args.coverage_replicates} for coverage; worst over both nulls, "
          "both directions and the five metrics\n")
    if args.frontier:
        frontier(designs, rng, args)
        print(f"\n{time.perf_counter() - started:.0f} s")
        return
    if args.one_seed_power:
        print("Power of one seed against several at alpha 0.05, text→video, different recipes, B shifted by +0.5 "
              f"logits, {args.power_replicates} replicates (R@1 / R@5 / R@10 / MnR / MRR):\n")
        print("| design | seeds | without the allowances | new | change (points) |")
        print("|---|---|---|---|---|")
        for design in designs[:3]:
            population = Population.draw(design, rng)
            for row in one_seed_power_study(population, rng, args.power_replicates, 0.5):
                _print_power_row(design, row, "without")
        print(f"\n{time.perf_counter() - started:.0f} s")
        return
    print("| design | seeds | new size @0.05 | new size @0.01 | old size @0.05 | old size @0.01 "
          "| worst cell (new, @0.01) | one seed without its allowances @0.05 / @0.01 |")
    print("|---|---|---|---|---|---|---|---|")
    for design in designs:
        population = Population.draw(design, rng)
        replicates = args.replicates if design.queries < 5000 else large
        for row_pair in _pairs(size_study(population, rng, replicates, SPLITS)):
            split = row_pair[0]["split"]
            new, old, unfloored = (np.maximum(*(row[name] for row in row_pair)) if row_pair[0][name] is not None
                                   else None for name in ("new", "old", "unfloored"))
            cells = []
            for rates in (new, old):
                for alpha_index, alpha in enumerate(ALPHAS):
                    cells.append("no test (1 seed each)" if rates is None
                                 else _cell(_worst(rates, alpha_index)[0], replicates, alpha))
            where = "–" if new is None else _worst(new, 1)[1] if _worst(new, 1)[0] > 0 else "none rejects"
            before = "–" if unfloored is None else " / ".join(
                f"{_worst(unfloored, index)[0]:.3f} ({_worst(unfloored, index)[1]})" for index in range(len(ALPHAS)))
            print(f"| {design.name} ({replicates} replicates) | {split} | {' | '.join(cells)} | {where} | {before} |",
                  flush=True)
    if args.sizes_only:
        print(f"\n{time.perf_counter() - started:.0f} s")
        return
    print("\nPower at alpha 0.05, text→video, different recipes, B shifted by +0.25 logits (R@1 / R@5 / R@10 / MnR / "
          "MRR):\n")
    print("| design | seeds | previous | new | change (points) |")
    print("|---|---|---|---|---|")
    for design in designs[:3] if not args.quick else designs:
        population = Population.draw(design, rng)
        for row in power_study(population, rng, args.power_replicates, 0.25):
            _print_power_row(design, row, "old")
    print("\nCoverage of one configuration's 95% interval (leaderboard entries), text→video, R@1 / R@5 / R@10 / MnR / "
          "MRR:\n")
    print("| design | seeds | new (seed_test.mean_interval) | previous (two-level bootstrap) |")
    print("|---|---|---|---|")
    for design in (designs[1], designs[2], designs[4]) if not args.quick else designs:
        population = Population.draw(design, rng)
        truth = true_means(population, rng)["t2v"]
        for row in coverage_study(population, rng, args.coverage_replicates, truth, args.bootstrap_replicates):
            show = lambda values: "–" if values is None else " / ".join(f"{v:.3f}" for v in values)  # noqa: E731
            print(f"| {design.name} | {row['seeds']} | {show(row['new'])} | {show(row['old'])} |", flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s")


def frontier(designs, rng: np.random.Generator, args: argparse.Namespace) -> None:
    """Print the 2v2 frontier: what loosening the guard buys in power and costs in size."""
    small = tuple(design for design in designs if design.queries < 5000)
    worst, power = frontier_study(small, rng, args.replicates, args.power_replicates, 0.25)
    failing = sum(design.failed > 0 for design in small)
    print(f"2 seeds against 2: worst size over {len(small) - failing} designs and, apart, over {failing} with failed "
          f"seeds (both nulls, directions, metrics; {args.replicates} replicates per cell), and power at alpha 0.05 "
          f"(text→video, different recipes, B better by 0.25 logits, {args.power_replicates} replicates; R@1 / R@5 / "
          "R@10 / MnR / MRR) under each guard γ\n")
    print("| γ | worst size @0.05 / @0.01 | with failed seeds @0.05 / @0.01 | "
          + " | ".join(f"power: {name}" for name, _ in power) + " |")
    print("|---" * (3 + len(power)) + "|")
    names = [f"{quantile}" + (" (c2vbench)" if quantile == DF_QUANTILE else "") for quantile in FRONTIER_QUANTILES]
    for row, name in enumerate([*names, "previous procedure (before issue 22)"]):
        cells = [" / ".join(f"{value:.2f}" for value in hits[row]) for _, hits in power]
        sizes = [f"{worst[kind, row, 0]:.3f} / {worst[kind, row, 1]:.3f}" for kind in (0, 1)]
        print(f"| {name} | {' | '.join(sizes)} | {' | '.join(cells)} |", flush=True)


def _print_power_row(design: Design, row: dict, before: str) -> None:
    show = lambda values: " / ".join(f"{value:.2f}" for value in values)  # noqa: E731
    change = " / ".join(f"{100 * (new - old):+.0f}" for new, old in zip(row["new"], row[before], strict=True))
    print(f"| {design.name} | {row['split']} | {show(row[before])} | {show(row['new'])} | {change} |", flush=True)


def _pairs(rows: list[dict]) -> list[tuple[dict, dict]]:
    return [(rows[i], rows[i + 1]) for i in range(0, len(rows), 2)]


if __name__ == "__main__":
    main()
