"""A tiny real run with a plug-in, for its own tests: what pytest's ``pytester`` is to pytest plug-ins.

The conformance kit checks a component alone on tiny tensors; :func:`run_tiny_benchmark` puts it into the whole
pipeline — registry lookup through its entry point, the real data loaders and decoders, training, evaluation and
the result file — at a size that finishes in seconds on a CPU::

    from c2vbench.testing import run_tiny_benchmark

    def test_it_trains_and_evaluates(tmp_path):
        run = run_tiny_benchmark(tmp_path, temporal="lstm-pool")
        assert run.result["plugins"]["temporal"]["distribution"] == "c2vbench-lstm-pool"
        assert run.ranks_are_complete()

Every other role defaults to a small built-in (``tiny-clip`` with one layer per tower, ``meanp``, ``cosine``,
``synthetic-motion`` with a few dozen videos). The result file is written under ``folder`` and nothing else is
written outside it except the generated ``synthetic-motion`` videos, which go to c2vbench's dataset cache
(``$C2VBENCH_CACHE``) like in any run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

TINY_BACKBONE_OPTIONS = {"tiny-clip": {"vision_layers": 1, "text_layers": 1}}
TINY_DATASET_OPTIONS = {"synthetic-motion": {"train_videos": 24, "val_videos": 8, "test_twin_pairs": 6,
                                             "test_singles": 4, "frames_per_video": 7, "max_frames": 4}}


@dataclasses.dataclass
class TinyRun:
    """What :func:`run_tiny_benchmark` produced: the result (as written), its file and the run's folder."""

    result: dict[str, Any]
    result_path: Path
    folder: Path

    def ranks_are_complete(self) -> bool:
        """Every text and every video query got a rank (the result covers the whole test split)."""
        card = self.result["protocol"]
        ranks = self.result["per_query"]
        return len(ranks["t2v_rank"]) == card["n_captions"] and len(ranks["v2t_rank"]) == card["n_videos"]


def run_tiny_benchmark(folder: str | Path, *, backbone: str = "tiny-clip", temporal: str = "meanp",
                       align: str = "cosine", dataset: str = "synthetic-motion", data_root: str | Path | None = None,
                       options: dict[str, dict[str, Any]] | None = None, protocol: str = "finetune",
                       epochs: int = 1, batch_size: int = 8, seed: int = 0) -> TinyRun:
    """Train (unless ``protocol="zeroshot"``) and evaluate one tiny configuration; write its result in ``folder``.

    Args:
        folder: where the result file goes (created if missing); a test's ``tmp_path``.
        backbone: a registered backbone, as ``c2vbench run --backbone`` takes it.
        temporal: a registered temporal module.
        align: a registered align head.
        dataset: a registered dataset.
        data_root: the dataset's folder, for a dataset that reads one.
        options: option overrides by role (``{"temporal": {"layers": 1}}``), on top of the tiny defaults.
        protocol: as ``c2vbench run --protocol`` takes it.
        epochs: training epochs.
        batch_size: training batch size.
        seed: the run's seed.

    Raises :class:`c2vbench.plugin.C2VBenchError` (with the one-line message the command line would print) when the
    run refuses a component or its data.
    """
    from c2vbench.config import RunConfig
    from c2vbench.pipeline import run_benchmark
    from c2vbench.runtime.progress import Reporter

    out = Path(folder).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    overrides = {role: dict(values) for role, values in (options or {}).items()}
    config = RunConfig(
        backbone=backbone, temporal=temporal, align=align, dataset=dataset,
        backbone_options={**TINY_BACKBONE_OPTIONS.get(backbone, {}), **overrides.get("backbone", {})},
        temporal_options=overrides.get("temporal", {}), align_options=overrides.get("align", {}),
        dataset_options={**TINY_DATASET_OPTIONS.get(dataset, {}), **overrides.get("dataset", {})},
        data_root=None if data_root is None else str(data_root), protocol=protocol, epochs=epochs,
        batch_size=batch_size, eval_batch_size=2 * batch_size, seed=seed, device="cpu", out=str(out),
        save_checkpoint=False, embedding_cache=False,
    )
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads only wait for each other (10x slower on a busy machine)
    try:
        outcome = run_benchmark(config, reporter=Reporter(quiet=True))
    finally:
        torch.set_num_threads(threads)
    return TinyRun(json.loads(Path(outcome.result_path).read_text()), Path(outcome.result_path), out)
