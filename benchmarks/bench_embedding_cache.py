"""The embedding cache: a second ``frozen`` run (another temporal module) against the first, in videos/s.

Both runs train 1 epoch on the embedded synthetic-motion dataset (generated beforehand, so neither pays for it)
with tiny-clip, each as a ``c2vbench run`` child process with its own empty embedding cache folder shared by the
two. The first (``meanp``) decodes every video of the train, val and test splits and runs the backbone, writing
the cache; the second (``seqtransf``) reads the backbone's embeddings from the cache. videos/s = videos of the three
splits / the run's wall-clock seconds (start-up included). Run:

    .venv/bin/python benchmarks/bench_embedding_cache.py [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(temporal: str, out: Path, environment: dict[str, str]) -> tuple[float, dict]:
    command = [sys.executable, "-m", "c2vbench", "run", "--temporal", temporal, "--protocol", "frozen", "--epochs",
               "1", "--json", "--quiet", "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    from c2vbench.model.assembly import load_dataset
    from c2vbench.platform.registry import get_registry
    from c2vbench.platform.specs import build_options

    dataset = get_registry().get("dataset", "synthetic-motion")
    built = load_dataset(dataset, build_options(dataset.spec, {}), None)  # generates the dataset once, if needed
    videos = sum(len(built.split(name).videos) for name in ("train", "val", "test") if name in built.splits)
    with tempfile.TemporaryDirectory() as folder:
        environment = {**os.environ, "C2VBENCH_EMBEDDING_CACHE": str(Path(folder) / "cache")}
        first_seconds, first = run("meanp", Path(folder) / "out", environment)
        second_seconds, second = run("seqtransf", Path(folder) / "out", environment)
    figures = {"benchmark": "embedding_cache", "videos_per_run": videos,
               "first_seconds": round(first_seconds, 2), "second_seconds": round(second_seconds, 2),
               "first_videos_per_second": round(videos / first_seconds, 1),
               "second_videos_per_second": round(videos / second_seconds, 1),
               "speedup": round(first_seconds / second_seconds, 2),
               "first_cache": first["cost"]["embedding_cache"], "second_cache": second["cost"]["embedding_cache"],
               "load_average_1min": round(os.getloadavg()[0], 2)}
    print(f"frozen run 1 (meanp, cache empty): {first_seconds:.1f} s = {figures['first_videos_per_second']} videos/s "
          f"({first['cost']['embedding_cache']})")
    print(f"frozen run 2 (seqtransf, cache hit): {second_seconds:.1f} s = {figures['second_videos_per_second']} "
          f"videos/s ({second['cost']['embedding_cache']})")
    print(f"second / first: {figures['speedup']}x the videos/s (load average {figures['load_average_1min']})")
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
