"""Small, fast run configurations shared by the pipeline tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from c2vbench.config import RunConfig

SMALL_DATASET = {"train_videos": "24", "val_videos": "8", "test_twin_pairs": "6", "test_singles": "4",
                 "frames_per_video": "7", "max_frames": "4"}
SMALL_BACKBONE = {"vision_layers": "1", "text_layers": "1"}


def small_config(out: Path, **overrides) -> RunConfig:
    settings = dict(backbone="tiny-clip", temporal="meanp", align="cosine", dataset="synthetic-motion",
                    backbone_options=dict(SMALL_BACKBONE), dataset_options=dict(SMALL_DATASET),
                    epochs=2, batch_size=8, eval_batch_size=16, out=str(out), save_checkpoint=False)
    settings.update(overrides)
    return RunConfig(**settings)


# The smallest runs, for tests of what happens around a run (errors, interrupts, integrity) rather than of its numbers
TINY_DATASET = ["train_videos=4", "val_videos=2", "test_twin_pairs=1", "test_singles=1", "frames_per_video=5",
                "max_frames=3"]
TINY_BACKBONE = ["vision_layers=1", "text_layers=1"]


def tiny_args(command: str, out: Path, *extra: str) -> list[str]:
    """``c2vbench COMMAND`` arguments of the tiny run writing into ``out`` (quiet), with ``extra`` flags."""
    args = [command, "--out", str(out), "--quiet", *extra]
    for value in TINY_DATASET:
        args += ["--dataset-option", value]
    for value in TINY_BACKBONE:
        args += ["--backbone-option", value]
    return args


@contextlib.contextmanager
def dataset_cache(folder: Path) -> Iterator[None]:
    """``C2VBENCH_CACHE`` set to ``folder`` for a module-scoped fixture (the per-test isolation fixture sets it for
    tests only), restored afterwards."""
    saved = os.environ.get("C2VBENCH_CACHE")
    os.environ["C2VBENCH_CACHE"] = str(folder)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("C2VBENCH_CACHE", None)
        else:
            os.environ["C2VBENCH_CACHE"] = saved
