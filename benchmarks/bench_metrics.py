"""Time and peak memory of :func:`c2vbench.evaluation.metrics.evaluate_similarity` against a naive full sort.

Run: ``.venv/bin/python benchmarks/bench_metrics.py [--repeats N]``

Shapes: MSR-VTT 1k-A-like square 3000 x 3000 and an MSVD-like multi-caption 27000 x 670 matrix (float32, as models
produce them). The naive reference is what many codebases do: a float64 copy of the whole matrix, a full argsort of
every row, and a search for the ground truth (its ties are broken by sort order, so it does strictly less work than
the tie-aware count). Peak memory is measured with tracemalloc, which sees numpy's allocations.
"""

from __future__ import annotations

import argparse
import functools
import time
import tracemalloc

import numpy as np

from c2vbench.evaluation.metrics import evaluate_similarity


def naive_t2v_ranks(sim: np.ndarray, text_to_video: np.ndarray) -> np.ndarray:
    scores = sim.astype(np.float64)
    order = np.argsort(-scores, axis=1)
    return np.argmax(order == text_to_video[:, None], axis=1) + 1


def measure(function, repeats: int) -> tuple[float, float]:
    """Best wall time (s) over ``repeats`` and peak traced memory (MiB) of one call."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = {
        "square 3000x3000": (3000, 3000),
        "msvd-like 27000x670": (27000, 670),
    }
    print(f"{'case':<22} {'what':<28} {'time s':>8} {'peak MiB':>9}")
    for label, (n_text, n_video) in cases.items():
        text_to_video = np.arange(n_text) % n_video
        sim = rng.standard_normal((n_text, n_video), dtype=np.float32)
        sim[np.arange(n_text), text_to_video] += 2.0
        matrix_mib = sim.nbytes / 2**20

        ours = functools.partial(evaluate_similarity, sim, text_to_video)
        legacy = functools.partial(evaluate_similarity, sim, text_to_video, v2t_mode="legacy-group-max")
        naive = functools.partial(naive_t2v_ranks, sim, text_to_video)
        ours_time, ours_peak = measure(ours, args.repeats)
        legacy_time, legacy_peak = measure(legacy, args.repeats)
        naive_time, naive_peak = measure(naive, args.repeats)
        check = naive_t2v_ranks(sim, text_to_video)
        assert np.array_equal(check, evaluate_similarity(sim, text_to_video).per_query["t2v_rank"])

        print(f"{label:<22} {'input matrix':<28} {'':>8} {matrix_mib:>9.1f}")
        print(f"{label:<22} {'evaluate (t2v+v2t, chunked)':<28} {ours_time:>8.3f} {ours_peak:>9.1f}")
        print(f"{label:<22} {'evaluate legacy-group-max':<28} {legacy_time:>8.3f} {legacy_peak:>9.1f}")
        print(f"{label:<22} {'naive t2v only (full sort)':<28} {naive_time:>8.3f} {naive_peak:>9.1f}")
        print(
            f"{label:<22} ratios: time naive/ours = {naive_time / ours_time:.1f}x, "
            f"peak memory naive/ours = {naive_peak / ours_peak:.1f}x"
        )


if __name__ == "__main__":
    main()
