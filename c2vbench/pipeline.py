"""``c2vbench run`` end to end: assemble, train (unless zero-shot), evaluate on the test split, write the result."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .assembly import Assembly, assemble
from .config import RunConfig
from .data.integrity import SplitScreener
from .encoding import encode_split, score_all
from .errors import C2VBenchError
from .progress import Reporter
from .registry import ComponentRegistry, get_registry
from .results import build_result, write_result
from .specs import ROLE_KIND


@dataclasses.dataclass
class RunOutcome:
    result: dict[str, Any]
    result_path: Path
    checkpoint_path: Path | None


def select_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise C2VBenchError("--device cuda was requested but no CUDA device is available",
                            "use --device auto or --device cpu")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def seed_everything(seed: int) -> None:
    """Seed every generator and ask torch for deterministic kernels (same seed → same numbers on CPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def run_benchmark(config: RunConfig, registry: ComponentRegistry | None = None,
                  reporter: Reporter | None = None) -> RunOutcome:
    """Train and evaluate one configuration and write its result file (and native checkpoint)."""
    registry = registry or get_registry()
    reporter = reporter or Reporter()
    device = select_device(config.device)
    seed_everything(config.seed)
    with reporter.status("building components"):
        assembly = assemble(config, registry)
    dataset = assembly.dataset
    screen = SplitScreener(dataset, assembly.sampling, config.allow_missing, reporter)
    test = screen("test")
    model = assembly.model.to(device)

    training = None
    if config.protocol != "zeroshot":
        train_split = screen("train")
        selection = None
        if config.select_on != "none":
            wanted = dataset.selection_split if config.select_on == "auto" else config.select_on
            selection_name = wanted if wanted in dataset.splits else None
            if selection_name is None:
                reporter.note(f"dataset '{dataset.name}' has no '{wanted}' split: the last epoch is kept")
            else:
                if selection_name == "test":
                    reporter.note("model selection on the test split: the result is marked as selected on test")
                selection = screen(selection_name)
        from .training import train

        state_dir = Path(config.out) / ".partial" / f"{config.config_key()[:16]}-s{config.seed}"
        training = train(model, train_split, selection, assembly.sampling, config, device, reporter,
                         state_dir=state_dir)

    result = evaluate_and_build_result(config, assembly, test, screen, training, device, reporter)
    checkpoint_path = None
    if config.save_checkpoint:
        from .native_checkpoint import save_native_checkpoint

        checkpoint_path = save_native_checkpoint(model, config, Path(config.out) / "checkpoints" / result["run_id"])
        result["checkpoint"] = str(checkpoint_path)
    return RunOutcome(result, write_result(result, config.out), checkpoint_path)


def evaluate_and_build_result(config: RunConfig, assembly: Assembly, test, screen: SplitScreener, training,
                              device: torch.device, reporter: Reporter) -> dict[str, Any]:
    """Encode the screened test split once, score every pair, post-process, and build the result dict."""
    model = assembly.model.to(device)
    with reporter.status("evaluating on the test split"):
        encoded = encode_split(model, test, assembly.sampling, config.eval_batch_size, device, reporter,
                               config.num_workers)
        sim = score_all(model, encoded.text, encoded.video, device)
        post_sim = postprocess_scores(config, model, assembly.dataset, sim, encoded, device, reporter)
    return build_result(config, assembly, test, sim, post_sim, screen, training, encoded, device, reporter)


def evaluate_checkpoint(config: RunConfig, checkpoint: str | Path, checkpoint_format: str, legacy_mask: bool,
                        registry: ComponentRegistry | None = None, reporter: Reporter | None = None) -> RunOutcome:
    """``c2vbench eval``: load a checkpoint (any registered format), evaluate it on the test split, write a result."""
    from . import load_checkpoint
    from .assembly import load_dataset
    from .specs import build_options, options_as_dict

    registry = registry or get_registry()
    reporter = reporter or Reporter()
    device = select_device(config.device)
    seed_everything(config.seed)
    dataset_component = registry.get("dataset", config.dataset)
    dataset_options = build_options(dataset_component.spec, config.dataset_options)
    dataset = load_dataset(dataset_component, dataset_options, config.data_root)
    with reporter.status(f"loading {checkpoint}"):
        model = load_checkpoint(checkpoint, format=checkpoint_format, legacy_mask=legacy_mask)
    names = dict(getattr(model, "component_names", {}) or {})
    components = {"dataset": dataset_component}
    for role in ("backbone", "temporal", "align"):
        # A format reader names the plug-ins it rebuilt; otherwise the format's own provider stands for them.
        if role in names:
            components[role] = registry.get(ROLE_KIND[role], names[role])
        else:
            components[role] = registry.get("checkpoint_format", checkpoint_format)
    # The dataset's protocol decides the frames (so that the result ranks beside others on it), not the checkpoint.
    sampling = dataset.sampling
    if config.max_frames:
        sampling = dataclasses.replace(sampling, max_frames=int(config.max_frames))
    assembly = Assembly(model, dataset, sampling, components, {"dataset": options_as_dict(dataset_options)})
    screen = SplitScreener(dataset, sampling, config.allow_missing, reporter)
    result = evaluate_and_build_result(config, assembly, screen("test"), screen, None, device, reporter)
    result["checkpoint"] = {"path": str(checkpoint), "format": checkpoint_format, "legacy_mask": legacy_mask}
    return RunOutcome(result, write_result(result, config.out), None)




def postprocess_scores(config: RunConfig, model, dataset, sim: np.ndarray, encoded, device: torch.device,
                       reporter: Reporter) -> np.ndarray:
    """Apply ``--postprocess``; QB-Norm's query bank is the training captions scored against the test videos."""
    from .encoding import encode_texts
    from .postprocess import get_postprocessor

    processor = get_postprocessor(config.postprocess)
    bank_sim = None
    if processor.needs_bank:
        bank_text = encode_texts(model, [c.text for c in dataset.split("train").captions], config.eval_batch_size,
                                 device, reporter)
        bank_sim = score_all(model, bank_text, encoded.video, device)
    return processor.apply(sim, bank_sim=bank_sim)





