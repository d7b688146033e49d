"""``c2vbench eval``: evaluate a saved (native) or an official (CLIP2Video) checkpoint on a dataset's test split."""

from __future__ import annotations

import click

from c2vbench.cli.common import check_components, check_output, resolve_config, run_options
from c2vbench.cli.run import print_outcome


@click.command("eval")
@click.option("--checkpoint", required=True, type=click.Path(exists=True),
              help="A folder written by `c2vbench run`, or an official file such as pytorch_model.bin.2.")
@click.option("--format", "checkpoint_format", default=None,
              help="Checkpoint format (c2vbench, clip2video, ...); guessed from the path when omitted.")
@click.option("--legacy-mask", is_flag=True,
              help="Reproduce the official per-head mask tiling (CLIP2Video parity; batch-dependent: videos are then "
                   "batched as the official evaluation batches them).")
@click.option("--checkpoint-option", multiple=True, metavar="KEY=VALUE",
              help="Option of the checkpoint format (repeatable), e.g. variant=TAB_TDB for an official TDB + TAB "
                   "file, whose TAB_TDB and TAB variants have identical keys.")
@run_options
@click.pass_context
def eval_command(ctx: click.Context, checkpoint: str, checkpoint_format: str | None, legacy_mask: bool,
                 checkpoint_option: tuple[str, ...], **params) -> None:
    """Evaluate a checkpoint on the test split; write one result file into --out.

    Example: c2vbench eval --checkpoint pytorch_model.bin.2 --dataset msrvtt --data-root ~/data/msrvtt
    """
    outcome = execute_eval(ctx, checkpoint, checkpoint_format, legacy_mask, checkpoint_option, params)
    print_outcome(outcome.result, outcome.result_path, params["as_json"])


def execute_eval(ctx: click.Context, checkpoint: str, checkpoint_format: str | None, legacy_mask: bool,
                 checkpoint_option: tuple[str, ...], params: dict):
    """What ``eval`` does once its options are parsed (shared with :func:`c2vbench.evaluate`); returns the
    :class:`~c2vbench.pipeline.RunOutcome`."""
    from pathlib import Path

    from c2vbench.runtime.tensor_files import refuse_code_in_checkpoint

    refuse_code_in_checkpoint(checkpoint)  # a file of code is refused before anything else is read
    if checkpoint_format is None:
        checkpoint_format = "c2vbench" if Path(checkpoint).is_dir() else "clip2video"
    config = resolve_config(ctx, params, protocol="zeroshot", save_checkpoint=False)
    check_components(config, roles=("dataset",))  # the checkpoint names the model's plug-ins
    check_output(config)

    from c2vbench.config import parse_option_pairs
    from c2vbench.pipeline import evaluate_checkpoint
    from c2vbench.runtime.progress import Reporter

    options = parse_option_pairs(checkpoint_option, "--checkpoint-option")
    return evaluate_checkpoint(config, checkpoint, checkpoint_format, legacy_mask,
                               reporter=Reporter(quiet=params["quiet"] or params["as_json"]),
                               checkpoint_options=options)
