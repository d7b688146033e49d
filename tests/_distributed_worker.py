"""What each process of the 2-process gloo test does (imported by the spawned processes, so it lives in a module).

A process joins a real gloo process group through the same environment variables torchrun sets, then
1. takes its share of one global batch and computes the loss and the DDP-averaged gradients of one training step,
   for a pooled head (meanp + cosine) and a token-level head (tdb + tab);
2. encodes and scores the test split sharded (rank 0 receives the matrix), and screens a split with unusable videos
   sharded;
3. checks that a failing rank stops the others with a message naming it: rank 1 fails, rank 0 waits in a
   collective and must get an error instead of hanging.
Everything it observes is saved to ``<out>/rank<R>.pt`` for the test to compare with a single process.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import torch

HEADS = (("meanp", "cosine"), ("tdb", "tab"))
GLOBAL_BATCH = 5  # odd: the two shares differ in size (3 and 2)
MAX_FRAMES = 4
CAPTIONS = ("a red square moves left", "a blue circle grows", "a green bar turns clockwise",
            "a yellow dot jumps twice", "a white square shrinks slowly")


def small_settings(temporal: str, align: str, dataset_options: dict, out: str):
    from _small_runs import small_config

    return small_config(Path(out), temporal=temporal, align=align, dataset_options=dict(dataset_options),
                        eval_batch_size=6, device="cpu")


def build_model(config):
    from c2vbench.model.assembly import build_model as build
    from c2vbench.model.assembly import resolve_components
    from c2vbench.pipeline import seed_everything
    from c2vbench.platform.registry import get_registry

    seed_everything(config.seed)
    components, options = resolve_components(config.assembly_plan(), get_registry())
    return build(components, options, MAX_FRAMES)


def global_batch(model):
    """A fixed global batch: random frames (some slots padded) and five captions."""
    generator = torch.Generator().manual_seed(7)
    size = int(model.backbone.image_size)
    frames = torch.randn(GLOBAL_BATCH, MAX_FRAMES, 3, size, size, generator=generator)
    frame_mask = torch.ones(GLOBAL_BATCH, MAX_FRAMES, dtype=torch.long)
    frame_mask[1, 3:] = 0
    frame_mask[4, 2:] = 0
    input_ids, attention_mask = model.backbone.tokenize(list(CAPTIONS))
    return frames, frame_mask, input_ids, attention_mask


def gradients(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


def sharded_training_step(config, world) -> tuple[float, dict[str, torch.Tensor]]:
    """This rank's loss and (DDP-averaged) gradients of one step on its share of the global batch."""
    import numpy as np

    from c2vbench.runtime.distributed import shard_sizes
    from c2vbench.training.loop import BatchShare, loss_step

    model = build_model(config)
    model.train()
    frames, frame_mask, input_ids, attention_mask = global_batch(model)
    sizes = shard_sizes(GLOBAL_BATCH, world.size)
    start = sum(sizes[:world.rank])
    rows = slice(start, start + sizes[world.rank])
    indices = np.arange(GLOBAL_BATCH)
    share = BatchShare(indices, indices, sizes, rows)
    step = loss_step(model, input_ids, attention_mask, None, torch.device("cpu"))
    loss = step(frames[rows], frame_mask[rows], share)
    loss.backward()
    return float(loss.detach()), gradients(model)


def sharded_scores(config, world):
    from c2vbench.evaluation.sharded_encoding import encode_split_sharded, score_all_sharded
    from c2vbench.model.assembly import assemble
    from c2vbench.pipeline import seed_everything
    from c2vbench.platform.registry import get_registry
    from c2vbench.runtime.progress import Reporter

    seed_everything(config.seed)
    assembly = assemble(config.assembly_plan(), get_registry())
    test = assembly.dataset.split("test")
    encoded = encode_split_sharded(assembly.model, test, assembly.sampling, config.eval_batch_size,
                                   torch.device("cpu"), Reporter(quiet=True))
    return score_all_sharded(assembly.model, encoded, torch.device("cpu"), to_all=False)


def sharded_screening(videos: list[tuple[str, str]]):
    """What the run's screener keeps and reports of a split with unusable videos, and the most videos this process
    probed (its share)."""
    import contextlib

    from c2vbench.data.screening import SplitScreener
    from c2vbench.data.types import CaptionRecord, RetrievalDataset, RetrievalSplit, VideoRecord
    from c2vbench.runtime.progress import Reporter

    class CountingReporter(Reporter):
        def __init__(self):
            super().__init__(quiet=True)
            self.totals: list[int] = []

        @contextlib.contextmanager
        def counter(self, description: str):
            yield lambda done, total: self.totals.append(total)

    split = RetrievalSplit("test", [VideoRecord(video_id, Path(source)) for video_id, source in videos],
                           [CaptionRecord(f"caption {i}", i) for i in range(len(videos))])
    reporter = CountingReporter()
    screener = SplitScreener(RetrievalDataset("screening", {"test": split}, None), None, True, reporter)
    kept = screener("test")
    return (screener.skipped.get("test", []), screener.partial.get("test", []),
            [video.video_id for video in kept.videos], max(reporter.totals))


def run_rank(rank: int, world_size: int, port: int, out_dir: str, dataset_options: dict,
             videos: list[tuple[str, str]]) -> None:
    join_group(rank, world_size, port)
    from c2vbench.platform.errors import C2VBenchError
    from c2vbench.runtime.distributed import barrier, distributed_session

    observed: dict = {}
    try:
        with distributed_session("cpu", timeout_minutes=3) as (world, _device):
            observed["world"] = world.describe()
            for temporal, align in HEADS:
                config = small_settings(temporal, align, dataset_options, out_dir)
                observed[f"{temporal}/{align}"] = sharded_training_step(config, world)
            observed["sim"] = sharded_scores(small_settings("meanp", "cosine", dataset_options, out_dir), world)
            observed["screening"], observed["screening_input"] = sharded_screening(videos), videos
            torch.save(observed, Path(out_dir) / f"rank{rank}.pt")
            if rank == 1:
                raise C2VBenchError("the video decoder crashed on this node")
            barrier()  # rank 1 never arrives
            observed["failure"] = "rank 0 was not stopped"
    except C2VBenchError as error:
        observed["failure"] = str(error)
    except Exception:  # noqa: BLE001 - saved for the test to show
        observed["failure"] = "unexpected: " + traceback.format_exc()
    torch.save(observed, Path(out_dir) / f"rank{rank}.pt")


def join_group(rank: int, world_size: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size), RANK=str(rank),
                      LOCAL_RANK=str(rank), C2VBENCH_LOAD_PLUGINS="c2vbench")
    torch.set_num_threads(1)


def run_interrupted_after_first_epoch(rank: int, world_size: int, port: int, config) -> None:
    """A 2-process ``run_benchmark`` stopped (as by Ctrl-C) right after rank 0 saved the state of epoch 1."""
    join_group(rank, world_size, port)
    import c2vbench.training.loop as training
    from c2vbench.pipeline import run_benchmark
    from c2vbench.runtime.progress import Reporter

    real_save = training.save_training_state

    def save_then_interrupt(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    training.save_training_state = save_then_interrupt
    try:
        run_benchmark(config, reporter=Reporter(quiet=True))
    except BaseException:  # noqa: BLE001 - rank 0 is interrupted, rank 1 loses its peer: both stop here
        os._exit(1)
