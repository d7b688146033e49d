"""Seconds per training epoch: 2 gloo processes under torchrun against 1 process, same global batch.

    python benchmarks/bench_distributed.py [--epochs 2] [--batch-size 32] [--processes 2]

Both runs train tiny-clip + meanp + cosine (finetune) on the same synthetic-motion set with the same global batch;
each reads its seconds per epoch from its result file (``training.epoch_seconds``: the training steps of an epoch,
decoding included, model selection excluded) and the script prints both and their ratio, measured in one go.
torchrun gives each process one intra-op thread (OMP_NUM_THREADS=1); the single process runs twice, with torch's
default threads and with one thread, so that the ratio is not only a threading effect.
Nothing here is a test: it measures, once, on whatever machine runs it (say how loaded it was).
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


def run(argv: list[str], env: dict[str, str], out: Path) -> tuple[float, float, dict]:
    """(wall seconds, mean seconds per epoch, the result) of one run writing into ``out``."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    (result_file,) = out.glob("*.json")
    result = json.loads(result_file.read_text())
    seconds = result["training"]["epoch_seconds"]
    return wall, sum(seconds) / len(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "C2VBENCH_CACHE": os.path.join(scratch, "cache"), "C2VBENCH_LOAD_PLUGINS": "c2vbench"}
        common = ["run", "--dataset", "synthetic-motion", "--epochs", str(args.epochs), "--batch-size",
                  str(args.batch_size), "--device", "cpu", "--no-checkpoint", "--quiet"]
        single_out, multi_out = Path(scratch, "single"), Path(scratch, "multi")
        warm_up = [sys.executable, "-m", "c2vbench", *common, "--protocol", "zeroshot", "--out",
                   os.path.join(scratch, "warm-up")]
        subprocess.run(warm_up, check=True, env=env, stdout=subprocess.DEVNULL)  # generates the dataset once
        single = run([sys.executable, "-m", "c2vbench", *common, "--out", str(single_out)], env, single_out)
        one_thread_out = Path(scratch, "single-one-thread")
        one_thread = run([sys.executable, "-m", "c2vbench", *common, "--out", str(one_thread_out)],
                         {**env, "OMP_NUM_THREADS": "1"}, one_thread_out)
        multi = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                     str(args.processes), "-m", "c2vbench", *common, "--out", str(multi_out)], env, multi_out)
    n_train = single[2]["training"]["history"][0]["steps"]
    print(f"tiny-clip · meanp · cosine, finetune, synthetic-motion, global batch {args.batch_size} "
          f"({n_train} steps per epoch), {args.epochs} epochs, {os.cpu_count()} CPU cores")
    print(f"  1 process:                  {single[1]:7.2f} s per epoch   (whole run {single[0]:6.1f} s)")
    print(f"  1 process, OMP_NUM_THREADS=1: {one_thread[1]:5.2f} s per epoch   (whole run {one_thread[0]:6.1f} s)")
    print(f"  {args.processes} gloo processes (1 thread each): {multi[1]:5.2f} s per epoch   (whole run "
          f"{multi[0]:6.1f} s, {args.batch_size // args.processes} videos per process and step)")
    print(f"  ratio {args.processes} processes / 1 process: {multi[1] / single[1]:.2f} per epoch "
          f"({multi[0] / single[0]:.2f} whole run); / 1 single-threaded process: {multi[1] / one_thread[1]:.2f} "
          f"per epoch ({multi[0] / one_thread[0]:.2f} whole run)")
    losses = [(a["loss"], b["loss"]) for a, b in zip(single[2]["training"]["history"],
                                                     multi[2]["training"]["history"], strict=True)]
    drift = max(abs(a - b) / abs(a) for a, b in losses)
    print(f"  epoch losses agree to a relative {drift:.1e}; same configuration key: "
          f"{single[2]['config_key'] == multi[2]['config_key']}")


if __name__ == "__main__":
    main()
