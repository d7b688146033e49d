"""How fast bad input is refused: a misspelt plug-in name against the cost of importing torch, in one run.

    python benchmarks/bench_cli_reject.py [--repeats 3]

A misspelt ``--temporal`` is looked up in the registry before the pipeline (and torch) is imported, so it should be
refused in a fraction of a torch import. Prints the median seconds of each and their ratio (lower is better).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def median_seconds(argv: list[str], repeats: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "C2VBENCH_LOAD_PLUGINS": "c2vbench"}
    reject = median_seconds([sys.executable, "-m", "c2vbench", "run", "--temporal", "meanpp"], args.repeats, env)
    missing_root = median_seconds([sys.executable, "-m", "c2vbench", "run", "--dataset", "msrvtt"], args.repeats,
                                  env)
    torch_import = median_seconds([sys.executable, "-c", "import torch"], args.repeats, env)
    print(f"on {os.cpu_count()} CPU cores, median of {args.repeats}:")
    print(f"  c2vbench run --temporal meanpp (refused): {reject:6.2f} s")
    print(f"  c2vbench run --dataset msrvtt (refused) : {missing_root:6.2f} s")
    print(f"  python -c 'import torch'                : {torch_import:6.2f} s")
    print(f"  ratio refusal / torch import            : {reject / torch_import:6.2f}")


if __name__ == "__main__":
    main()
