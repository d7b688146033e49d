"""Data-parallel training and sharded evaluation on real gloo process groups (2 processes on the CPU).

The 2-process results are compared with one process computing the same thing directly (no sharding, no gather, no
DDP): one training step's loss and gradients, and the scores and ranks of the test split.
"""

from __future__ import annotations

import multiprocessing
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from _distributed_worker import HEADS, build_model, global_batch, gradients, run_rank, small_settings
from _small_runs import SMALL_DATASET

from c2vbench.platform.errors import C2VBenchError
from c2vbench.runtime.distributed import SINGLE_PROCESS, check_global_batch, current_world, shard_bounds, shard_sizes

TEST_DATASET = {**SMALL_DATASET, "train_videos": "8", "val_videos": "4"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def single_process_step(config) -> tuple[float, dict[str, torch.Tensor]]:
    """The reference: the whole global batch through the model and the head's own loss, in one process."""
    model = build_model(config)
    model.train()
    frames, frame_mask, input_ids, attention_mask = global_batch(model)
    loss = model.loss(model.encode_text(input_ids, attention_mask), model.encode_video(frames, frame_mask))
    loss.backward()
    return float(loss.detach()), gradients(model)


def single_process_scores(config) -> np.ndarray:
    from c2vbench.evaluation.encoding import encode_split, score_all
    from c2vbench.model.assembly import assemble
    from c2vbench.pipeline import seed_everything
    from c2vbench.platform.registry import get_registry
    from c2vbench.runtime.progress import Reporter

    seed_everything(config.seed)
    assembly = assemble(config.assembly_plan(), get_registry())
    test = assembly.dataset.split("test")
    encoded = encode_split(assembly.model, test, assembly.sampling, config.eval_batch_size, torch.device("cpu"),
                           Reporter(quiet=True))
    return score_all(assembly.model, encoded.text, encoded.video, torch.device("cpu")), test


def screening_videos(test, folder) -> list[tuple[str, str]]:
    """Five real videos with a missing one and a corrupt one among them: ``(video_id, source)`` pairs."""
    broken = folder / "broken.mkv"
    broken.write_bytes(b"not a video at all" * 64)
    real = [(video.video_id, str(video.source)) for video in test.videos[:5]]
    return real[:2] + [("gone", str(folder / "gone.mkv"))] + real[2:4] + [("broken", str(broken))] + real[4:]


@pytest.fixture(scope="module")
def two_gloo_processes(tmp_path_factory, c2vbench_cache):
    """Run :func:`run_rank` in 2 spawned processes; their observations, by rank."""
    import os

    out = tmp_path_factory.mktemp("two-ranks")
    saved = os.environ.get("C2VBENCH_CACHE")
    os.environ["C2VBENCH_CACHE"] = str(c2vbench_cache)  # the children generate nothing: the parent did
    try:
        _, test = single_process_scores(small_settings("meanp", "cosine", TEST_DATASET, str(out)))
        context = multiprocessing.get_context("fork")  # children start with torch already imported
        port = free_port()
        videos = screening_videos(test, out)
        processes = [context.Process(target=run_rank, args=(rank, 2, port, str(out), TEST_DATASET, videos))
                     for rank in (0, 1)]
        for process in processes:
            process.start()
    finally:
        if saved is None:
            os.environ.pop("C2VBENCH_CACHE", None)
        else:
            os.environ["C2VBENCH_CACHE"] = saved
    for process in processes:
        process.join(timeout=300)
    hung = [rank for rank, process in enumerate(processes) if process.is_alive()]
    for process in processes:
        if process.is_alive():
            process.kill()
    assert not hung, f"rank(s) {hung} hung"
    return [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in (0, 1)]


@pytest.mark.parametrize(("temporal", "align"), HEADS)
def test_one_step_on_two_processes_equals_one_process(two_gloo_processes, temporal, align, tmp_path):
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected_loss, expected_gradients = single_process_step(small_settings(temporal, align, TEST_DATASET,
                                                                               str(tmp_path)))
    finally:
        torch.set_num_threads(previous_threads)
    for rank, observed in enumerate(two_gloo_processes):
        assert observed["world"] == {"world_size": 2, "backend": "gloo"}
        loss, grads = observed[f"{temporal}/{align}"]
        assert loss == pytest.approx(expected_loss, rel=1e-5), f"rank {rank}"
        assert set(grads) == set(expected_gradients)
        for name, expected in expected_gradients.items():
            torch.testing.assert_close(grads[name], expected, rtol=1e-4, atol=1e-6, msg=f"rank {rank}: {name}")
    # the head's own parameters and the encoders' parameters both receive gradient
    assert any(name.startswith("align_head.") for name in expected_gradients)
    assert any(name.startswith("backbone.") for name in expected_gradients)


def test_sharded_evaluation_gives_the_single_process_ranks(two_gloo_processes, tmp_path):
    from c2vbench.evaluation.metrics import evaluate_similarity

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected, test = single_process_scores(small_settings("meanp", "cosine", TEST_DATASET, str(tmp_path)))
    finally:
        torch.set_num_threads(previous_threads)
    sim = two_gloo_processes[0]["sim"]
    assert sim.shape == expected.shape == (len(test.captions), len(test.videos))
    np.testing.assert_allclose(sim, expected, rtol=1e-5, atol=1e-6)
    sharded = evaluate_similarity(sim, test.text_to_video).per_query
    single = evaluate_similarity(expected, test.text_to_video).per_query
    assert sharded == single
    assert two_gloo_processes[1]["sim"] is None  # the matrix is gathered on rank 0 only


def test_a_failing_rank_stops_the_others_naming_it(two_gloo_processes):
    failed, stopped = two_gloo_processes[1]["failure"], two_gloo_processes[0]["failure"]
    assert failed.startswith("rank 1 of 2: the video decoder crashed")
    assert stopped.startswith("rank 0 stopped because rank 1: the video decoder crashed"), stopped


def test_shards_cover_every_row_once_in_order_cut_at_blocks():
    for n_rows in (0, 1, 5, 16, 17):
        for world_size in (1, 2, 3, 8):
            for block in (1, 4):
                bounds = [shard_bounds(n_rows, rank, world_size, block) for rank in range(world_size)]
                rows = [row for start, stop in bounds for row in range(start, stop)]
                assert rows == list(range(n_rows))
                assert all(start % block == 0 for start, stop in bounds if stop > start)
                assert shard_sizes(n_rows, world_size, block) == [stop - start for start, stop in bounds]
                blocks = [-(-(stop - start) // block) for start, stop in bounds]
                assert max(blocks) - min(blocks) <= 1


def test_epoch_order_is_the_order_of_earlier_versions():
    """Single-process runs keep their numbers: the planned order is the shuffled DataLoader's of before."""
    from torch.utils.data import DataLoader

    from c2vbench.training.loop import epoch_order

    for seed, epoch, n_videos in ((0, 0, 24), (3, 5, 7), (11, 2, 100)):
        generator = torch.Generator().manual_seed(seed * 100003 + epoch)
        loader = DataLoader(list(range(n_videos)), batch_size=4, shuffle=True, generator=generator)
        legacy = [int(i) for batch in loader for i in batch]
        assert epoch_order(n_videos, seed, epoch).tolist() == legacy


def test_a_global_batch_the_processes_cannot_share_is_refused():
    from c2vbench.runtime.distributed import World

    check_global_batch(6, World(0, 2, 0, "gloo"))
    check_global_batch(7, SINGLE_PROCESS)
    with pytest.raises(C2VBenchError, match="--batch-size 10 .* not divisible by the 4 processes"):
        check_global_batch(10, World(0, 4, 0, "gloo"))


def test_a_single_process_never_initialises_torch_distributed(tmp_path):
    from _small_runs import small_config

    from c2vbench.pipeline import run_benchmark
    from c2vbench.runtime.progress import Reporter

    outcome = run_benchmark(small_config(tmp_path, protocol="zeroshot", dataset_options=dict(TEST_DATASET)),
                            reporter=Reporter(quiet=True))
    assert not torch.distributed.is_initialized()
    assert current_world() == SINGLE_PROCESS
    assert outcome.result["env"]["world_size"] == 1 and outcome.result["env"]["distributed_backend"] is None


def test_sharded_screening_finds_what_one_process_finds(two_gloo_processes):
    from c2vbench.data.integrity import screen_split
    from c2vbench.data.types import CaptionRecord, RetrievalSplit, VideoRecord

    videos = two_gloo_processes[0]["screening_input"]
    split = RetrievalSplit("test", [VideoRecord(video_id, Path(source)) for video_id, source in videos],
                           [CaptionRecord(f"caption {i}", i) for i in range(len(videos))])
    single = screen_split(split, allow_missing=True)
    assert [entry["video_id"] for entry in single.skipped] == ["gone", "broken"]
    for rank, observed in enumerate(two_gloo_processes):
        skipped, partial, kept, probed = observed["screening"]
        assert skipped == single.skipped  # same videos, same reasons, split order
        assert partial == single.partial
        assert kept == [video.video_id for video in single.split.videos]
        assert probed == (4, 3)[rank]  # each process probed its share of the 7 videos only
