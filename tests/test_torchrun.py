"""A real ``torchrun`` (``python -m torch.distributed.run``) run of ``c2vbench run`` on 2 gloo processes.

A 2-process run is interrupted right after epoch 1; torchrun then runs the same command, which resumes from the state
rank 0 left, writes exactly one result file, and reaches the numbers of an uninterrupted single-process run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys

import pytest
from _distributed_worker import run_interrupted_after_first_epoch
from _small_runs import SMALL_BACKBONE, small_config
from test_distributed import TEST_DATASET, free_port

from c2vbench.pipeline import run_benchmark
from c2vbench.runtime.progress import Reporter

EPOCHS = 3


def settings_toml(config) -> str:
    """The configuration as a ``--config`` file, so that torchrun's run is the very configuration tested here."""
    def table(name, values):
        return f"[{name}]\n" + "".join(f'{key} = "{value}"\n' for key, value in values.items())

    return (f'epochs = {config.epochs}\nbatch_size = {config.batch_size}\n'
            f'eval_batch_size = {config.eval_batch_size}\ndevice = "cpu"\nout = "{config.out}"\n'
            + table("backbone_options", config.backbone_options) + table("dataset_options", config.dataset_options))


def test_torchrun_resumes_an_interrupted_two_process_run_and_writes_one_result(tmp_path, c2vbench_cache):
    out = tmp_path / "out"
    config = small_config(out, epochs=EPOCHS, batch_size=4, dataset_options=dict(TEST_DATASET),
                          backbone_options=dict(SMALL_BACKBONE), device="cpu")
    reference = run_benchmark(small_config(tmp_path / "single", epochs=EPOCHS, batch_size=4,
                                           dataset_options=dict(TEST_DATASET), device="cpu"),
                              reporter=Reporter(quiet=True)).result  # also generates the dataset

    context = multiprocessing.get_context("fork")
    port = free_port()
    ranks = [context.Process(target=run_interrupted_after_first_epoch, args=(rank, 2, port, config))
             for rank in (0, 1)]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(timeout=300)
        assert not process.is_alive(), "an interrupted rank hung"
    assert list(out.glob("*.json")) == []  # interrupted: no result
    assert list(out.glob(".partial/*/training_state.pt"))  # but rank 0's resumable state

    config_file = tmp_path / "run.toml"
    config_file.write_text(settings_toml(config))
    environment = {**os.environ, "C2VBENCH_CACHE": str(c2vbench_cache), "C2VBENCH_LOAD_PLUGINS": "c2vbench"}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "c2vbench", "run", "--config", str(config_file), "--no-checkpoint", "--quiet", "--json"],
        env=environment, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]

    result_files = list(out.glob("*.json"))
    assert len(result_files) == 1  # one writer
    result = json.loads(result_files[0].read_text())
    assert json.loads(completed.stdout.strip().splitlines()[-1])["run_id"] == result["run_id"]  # rank 0 printed it
    assert result["training"]["resumed_from_epoch"] == 0
    assert result["env"]["world_size"] == 2 and result["env"]["distributed_backend"] == "gloo"
    assert result["env"]["per_process_batch_size"] == 2
    assert not list(out.glob(".partial/*"))  # the state has served its purpose
    # Same global batch, 2 processes instead of 1: the same configuration, and the same training to float precision.
    assert result["config_key"] == reference["config_key"]
    assert reference["env"]["world_size"] == 1
    for resumed, single in zip(result["training"]["history"], reference["training"]["history"], strict=True):
        assert resumed["steps"] == single["steps"]
        assert resumed["loss"] == pytest.approx(single["loss"], rel=1e-4)
