"""Soak test of interrupted runs: kill a small training run at random points, run it again, and check that every
finished re-run is identical to an uninterrupted run and that nothing torn is ever read.

Each trial starts the same small ``c2vbench run`` in a fresh ``--out``; up to ``--kills`` times it is stopped at a
random moment (uniform over the uninterrupted run's wall time) by SIGKILL, SIGINT or SIGTERM, and started again with
the same command, until a run finishes. The finished result must equal the uninterrupted reference in its per-query
ranks, metrics and per-epoch losses, and its saved model must have the same bytes. After every kill, everything a
re-run would read is read and checked: every JSON file parses, every result file passes its checksum, the kept
training state passes its SHA-256 (a torn file would fail these). Hidden temp files an interrupted writer leaves
are counted (they are never read).

Not part of the test suite (minutes of CPU). Run:

    .venv/bin/python benchmarks/soak_interrupts.py --trials 5 --kills 2 --seed 0

It prints one line per kill and a summary: trials, kills by signal, finished re-runs, identical re-runs, torn files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
DATASET = ["train_videos=12", "val_videos=4", "test_twin_pairs=3", "test_singles=3", "frames_per_video=6",
           "max_frames=4"]


def run_command(out: Path, epochs: int) -> list[str]:
    argv = [sys.executable, "-m", "c2vbench", "run", "--temporal", "tdb", "--align", "tab", "--epochs", str(epochs),
            "--batch-size", "4", "--eval-batch-size", "8", "--out", str(out), "--quiet",
            "--backbone-option", "vision_layers=1", "--backbone-option", "text_layers=1"]
    for pair in DATASET:
        argv += ["--dataset-option", pair]
    return argv


def fingerprint(out: Path) -> dict[str, Any]:
    """What must be identical between an uninterrupted and an interrupted-then-resumed run."""
    (result_path,) = out.glob("*.json")
    result = json.loads(result_path.read_text())
    weights = next(out.glob("checkpoints/*/model.safetensors"))
    return {"per_query": result["per_query"], "metrics": result["metrics"],
            "losses": [epoch["loss"] for epoch in result["training"]["history"]],
            "model_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}


def read_back(out: Path) -> tuple[int, int]:
    """Read everything a re-run would read; returns ``(torn files found, hidden temp files left)``."""
    from c2vbench.platform.errors import C2VBenchError
    from c2vbench.results.result_file import load_result_file
    from c2vbench.training.loop import TRAINING_STATE_FILE, read_training_state

    torn = temps = 0
    for path in out.rglob("*"):
        if path.name.startswith(".") and path.is_file():
            temps += 1
            continue
        if any(part.startswith(".") and part != ".partial" for part in path.relative_to(out).parts):
            continue
        if path.suffix == ".json" and path.is_file():
            try:
                data = json.loads(path.read_text())
                if path.parent == out:
                    loaded = load_result_file(path)
                    torn += bool(loaded.get("integrity"))
                del data
            except (ValueError, C2VBenchError) as error:
                print(f"    torn: {path}: {error}")
                torn += 1
        if path.name == TRAINING_STATE_FILE:
            try:
                read_training_state(path.parent)
            except C2VBenchError as error:
                print(f"    torn: {path}: {error}")
                torn += 1
    return torn, temps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--kills", type=int, default=2, help="kills per trial at most (each trial ends finished)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times and signals")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="c2vbench-soak-"))
    env = {**os.environ, "C2VBENCH_LOAD_PLUGINS": "c2vbench", "C2VBENCH_EMBEDDING_CACHE": str(work / "cache")}

    start = time.monotonic()
    subprocess.run(run_command(work / "reference", args.epochs), env=env, check=True, capture_output=True)
    reference_seconds = time.monotonic() - start
    reference = fingerprint(work / "reference")
    print(f"reference run: {reference_seconds:.1f} s, T2V R@1 {reference['metrics']['t2v']['R@1']:.2f}")

    kills = {name: 0 for name in SIGNALS}
    finished = identical = torn_total = temps_total = 0
    for trial in range(args.trials):
        out = work / f"trial-{trial}"
        for attempt in range(args.kills + 1):
            process = subprocess.Popen(run_command(out, args.epochs), env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True)
            if attempt < args.kills:
                delay = rng.uniform(0.2, 1.0) * reference_seconds
                name = rng.choice(sorted(SIGNALS))
                try:
                    process.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    process.send_signal(SIGNALS[name])
                    _, stderr = process.communicate(timeout=300)
                    kills[name] += 1
                    lines = [line for line in stderr.splitlines() if line.strip()]
                    last = lines[-1][:150] if lines else "(no output)"
                    torn, temps = read_back(out)
                    torn_total, temps_total = torn_total + torn, temps_total + temps
                    print(f"trial {trial}: {name} after {delay:.1f} s (rc {process.returncode}): {last}")
                    continue
            _, stderr = process.communicate(timeout=600)
            if process.returncode != 0:
                print(f"trial {trial}: run failed (rc {process.returncode}): {stderr.strip()[-300:]}")
                break
            finished += 1
            same = fingerprint(out) == reference
            identical += same
            print(f"trial {trial}: finished after {attempt} kill(s): {'identical' if same else 'DIFFERENT'}")
            break
    print(f"summary: {args.trials} trials, {sum(kills.values())} kills "
          f"({', '.join(f'{name} {count}' for name, count in kills.items())}), {finished} finished re-runs, "
          f"{identical} identical to the uninterrupted run, {torn_total} torn files read, "
          f"{temps_total} hidden temp files seen (never read)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if identical == args.trials and torn_total == 0 else 1)


if __name__ == "__main__":
    main()
