"""Real ``torchrun`` (``python -m torch.distributed.run``) runs of ``c2vbench run`` on 2 gloo processes.

* One node: a 2-process run is interrupted right after epoch 1; torchrun then runs the same command, which resumes
  from the state rank 0 left, writes exactly one result file, and reaches the numbers of an uninterrupted
  single-process run.
* Two nodes: two torchrun launchers of one process each meet through c10d rendezvous (as on two machines, here on
  one), train, and write one result with the numbers of the single-process run.

Both compare with the same single-process reference run (made once for the module).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys

import pytest
from _distributed_worker import run_interrupted_after_first_epoch
from _small_runs import SMALL_BACKBONE, dataset_cache, small_config
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


def torchrun_config(out):
    return small_config(out, epochs=EPOCHS, batch_size=4, dataset_options=dict(TEST_DATASET),
                        backbone_options=dict(SMALL_BACKBONE), device="cpu")


@pytest.fixture(scope="module")
def single_process_reference(tmp_path_factory, c2vbench_cache):
    """The single-process run both torchrun tests must reproduce (it also generates the dataset they read)."""
    with dataset_cache(c2vbench_cache):
        return run_benchmark(torchrun_config(tmp_path_factory.mktemp("single")), reporter=Reporter(quiet=True)).result


def assert_same_training(result, reference) -> None:
    """Same global batch, other processes: the same configuration, and the same training to float precision."""
    assert result["config_key"] == reference["config_key"]
    assert reference["env"]["world_size"] == 1
    for distributed, single in zip(result["training"]["history"], reference["training"]["history"], strict=True):
        assert distributed["steps"] == single["steps"]
        assert distributed["loss"] == pytest.approx(single["loss"], rel=1e-4)


def test_torchrun_resumes_an_interrupted_two_process_run_and_writes_one_result(tmp_path, c2vbench_cache,
                                                                               single_process_reference):
    out = tmp_path / "out"
    config = torchrun_config(out)
    reference = single_process_reference

    context = multiprocessing.get_context("fork")
    port = free_port()
    ranks = [context.Process(target=run_interrupted_after_first_epoch, args=(rank, 2, port, config))
             for rank in (0, 1)]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(timeout=300)
        assert not process.is_alive(), "an interrupted rank hung"
    # what the interrupted ranks left, for the failure messages (this test failed once in a full-suite run, in two
    # sessions, without its message kept; it has not failed alone or under load since)
    left = f"exit codes {[process.exitcode for process in ranks]}; files {sorted(map(str, out.rglob('*')))}"
    assert list(out.glob("*.json")) == [], left  # interrupted: no result
    assert list(out.glob(".partial/*/training_state.pt")), left  # but rank 0's resumable state

    config_file = tmp_path / "run.toml"
    config_file.write_text(settings_toml(config))
    environment = {**os.environ, "C2VBENCH_CACHE": str(c2vbench_cache), "C2VBENCH_LOAD_PLUGINS": "c2vbench"}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "c2vbench", "run", "--config", str(config_file), "--no-checkpoint", "--quiet", "--json"],
        env=environment, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    # torchrun's stderr without the C++ stack frames c10d prints with its warnings: the ranks' Python tracebacks
    stderr = "\n".join(line for line in completed.stderr.splitlines() if not line.startswith("frame #"))
    assert completed.returncode == 0, stderr[-8000:]

    result_files = list(out.glob("*.json"))
    assert len(result_files) == 1, (result_files, stderr[-8000:])  # one writer
    result = json.loads(result_files[0].read_text())
    assert json.loads(completed.stdout.strip().splitlines()[-1])["run_id"] == result["run_id"]  # rank 0 printed it
    assert result["training"]["resumed_from_epoch"] == 0
    assert result["env"]["world_size"] == 2 and result["env"]["distributed_backend"] == "gloo"
    assert result["env"]["per_process_batch_size"] == 2
    assert not list(out.glob(".partial/*"))  # the state has served its purpose
    assert_same_training(result, reference)


def test_two_nodes_meet_through_c10d_rendezvous_and_write_one_result(tmp_path, c2vbench_cache,
                                                                     single_process_reference):
    """Two torchrun launchers (``--nnodes 2 --nproc_per_node 1``, one rendezvous id and endpoint) are two nodes."""
    out = tmp_path / "out"
    config = torchrun_config(out)
    config_file = tmp_path / "run.toml"
    config_file.write_text(settings_toml(config))
    environment = {**os.environ, "C2VBENCH_CACHE": str(c2vbench_cache), "C2VBENCH_LOAD_PLUGINS": "c2vbench",
                   "OMP_NUM_THREADS": "1"}
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = []
    for is_host in ("true", "false"):  # the first launcher serves the rendezvous store, as node 0's would
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
                   "--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", "c2vbench-two-nodes",
                   "--rdzv_conf", f"is_host={is_host},join_timeout=120", "--local_addr", "127.0.0.1",
                   "--max_restarts", "0",
                   "-m", "c2vbench", "run", "--config", str(config_file), "--no-checkpoint", "--quiet", "--json"]
        nodes.append(subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, cwd=tmp_path))
    outputs = []
    try:
        for node in nodes:
            outputs.append(node.communicate(timeout=400))
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
    for node, (_, stderr) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, stderr[-3000:]

    result_files = list(out.glob("*.json"))
    assert len(result_files) == 1  # one writer across both nodes
    result = json.loads(result_files[0].read_text())
    printed = [stdout for stdout, _ in outputs if stdout.strip()]
    assert len(printed) == 1  # only the node that got rank 0 reports
    assert json.loads(printed[0].strip().splitlines()[-1])["run_id"] == result["run_id"]
    assert result["env"]["world_size"] == 2 and result["env"]["distributed_backend"] == "gloo"
    assert result["config"]["data_parallel"] == {"world_size": 2, "nodes": 2, "global_batch": 4,
                                                 "per_device_batch": 2}
    assert single_process_reference["config"]["data_parallel"] == {"world_size": 1, "nodes": 1, "global_batch": 4,
                                                                   "per_device_batch": 4}
    assert_same_training(result, single_process_reference)
