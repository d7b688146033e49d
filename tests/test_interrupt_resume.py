"""Ctrl-C after the last epoch, while the test split is being encoded, loses nothing: the same command resumes.

A real ``python -m c2vbench run`` in a subprocess gets a real SIGINT; the fixture temporal module ``slow-eval``
(a third-party distribution on the path) announces the first evaluation call, so the signal lands after training.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

FIXTURE_SITE = Path(__file__).parent / "plugin_fixtures" / "slow_eval"
SMALL_DATASET = ["train_videos=8", "val_videos=2", "test_twin_pairs=3", "test_singles=2", "frames_per_video=5",
                 "max_frames=3"]


def command(out: Path) -> list[str]:
    argv = [sys.executable, "-m", "c2vbench", "run", "--temporal", "slow-eval", "--epochs", "2", "--batch-size",
            "4", "--eval-batch-size", "2", "--select-on", "none", "--out", str(out),
            "--backbone-option", "vision_layers=1", "--backbone-option", "text_layers=1"]
    for pair in SMALL_DATASET:
        argv += ["--dataset-option", pair]
    return argv


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURE_SITE), env.get("PYTHONPATH", "")])
    env["C2VBENCH_LOAD_PLUGINS"] = "c2vbench,c2vbench-slow-eval-fixture"
    env.update(extra)
    return env


def test_sigint_during_evaluation_keeps_the_training_and_the_rerun_does_not_train_again(tmp_path):
    out = tmp_path / "results"
    signal_file = tmp_path / "evaluating"
    process = subprocess.Popen(command(out), env=environment(C2VBENCH_TEST_EVAL_SIGNAL=str(signal_file),
                                                             C2VBENCH_TEST_EVAL_SLEEP="5"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not signal_file.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert signal_file.exists(), process.communicate()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    first_out = stdout + stderr
    assert "epoch 2: loss" in first_out  # the interrupt came after the last epoch
    message = [line for line in stderr.splitlines() if line.strip() and not line.startswith("epoch ")]
    assert len(message) == 1 and "Traceback" not in stderr, stderr
    assert "interrupted while evaluating" in message[0] and "finished training (2 epochs) is kept" in message[0]
    assert "run the same command" in message[0] and "c2vbench run --temporal slow-eval" in message[0]
    assert not list(out.glob("*.json"))  # no result yet, but the state is there
    (state_dir,) = (out / ".partial").iterdir()
    interrupted_run_id = json.loads((state_dir / "run.json").read_text())["run_id"]

    rerun = subprocess.run(command(out), env=environment(), capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr
    output = rerun.stdout + rerun.stderr
    assert "epoch 1: loss" not in output and "epoch 2: loss" not in output  # nothing trained again
    assert "not trained again" in output
    (result_file,) = out.glob("*.json")
    result = json.loads(result_file.read_text())
    assert len(result["training"]["history"]) == 2 and result["training"]["resumed_from_epoch"] == 1
    assert result["run_id"] == interrupted_run_id
    assert [p.name for p in (out / "checkpoints").iterdir()] == [interrupted_run_id]
    assert not (out / ".partial").exists()  # the state is discarded once the result and checkpoint are written
