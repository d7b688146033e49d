"""``c2vbench run``: train (unless zero-shot) and evaluate one configuration."""

from __future__ import annotations

import click

from c2vbench.cli.common import (
    check_components,
    check_output,
    config_default,
    describe_run,
    resolve_config,
    run_options,
)


@click.command("run")
@run_options
@click.option("--protocol", default=config_default("protocol"), show_default=True,
              help="zeroshot (no training), frozen (backbone frozen, features cached) or finetune.")
@click.option("--epochs", type=int, default=config_default("epochs"), show_default=True, help="Training epochs.")
@click.option("--lr", type=float, default=config_default("lr"), show_default=True,
              help="Learning rate of the new modules.")
@click.option("--backbone-lr", type=float, default=config_default("backbone_lr"),
              help="Backbone learning rate (default: lr x the backbone's recommended scale: "
                   "1e-3 for pretrained CLIP, 1 for random weights).")
@click.option("--select-on", default=config_default("select_on"), show_default=True,
              help="Split for picking the best epoch: auto (the dataset's choice, normally val), val, test, "
                   "or none (keep the last epoch).")
@click.option("--no-checkpoint", is_flag=True, help="Do not save the trained model.")
@click.option("--save-checkpoint", "ask_checkpoint", is_flag=True,
              help="Save the model even under --protocol zeroshot (which saves nothing by default).")
@click.pass_context
def run_command(ctx: click.Context, **params) -> None:
    """Train (unless zero-shot) and evaluate one configuration; write one result file into --out.

    Example: c2vbench run --temporal tdb --align tab --dataset synthetic-motion
    """
    outcome = execute_run(ctx, params)
    print_outcome(outcome.result, outcome.result_path, params["as_json"])


def execute_run(ctx: click.Context, params: dict):
    """What ``run`` does once its options are parsed (shared with :func:`c2vbench.run`): resolve the configuration,
    check the components, run the pipeline; returns its :class:`~c2vbench.pipeline.RunOutcome`."""
    if params["no_checkpoint"] and params["ask_checkpoint"]:
        from c2vbench.platform.errors import C2VBenchError

        raise C2VBenchError("--no-checkpoint and --save-checkpoint contradict each other", "give one of them")
    wanted = True if params["ask_checkpoint"] else (False if params["no_checkpoint"] else None)
    config = resolve_config(ctx, params, **({} if wanted is None else {"save_checkpoint": wanted}))
    check_components(config)  # before the pipeline imports torch: a misspelt name is refused at once
    check_output(config)

    from c2vbench.pipeline import run_benchmark
    from c2vbench.runtime.progress import Reporter

    return run_benchmark(config, reporter=Reporter(quiet=params["quiet"] or params["as_json"]))


def print_outcome(result, result_path, as_json: bool) -> None:
    from c2vbench.cli import terminal

    if result is None:  # a rank other than 0 of a torchrun run: rank 0 reports
        return
    if as_json:
        terminal.print_json(result)
        return
    terminal.console().print(terminal.result_metrics_table(result, describe_run(result)))
    for name, subset in (result.get("subsets") or {}).items():
        if "pairwise" in subset:
            terminal.print_line(f"{name}: own video scored above its rival for "
                                f"{subset['pairwise']['accuracy']:.1f}% of the text queries (50% is chance)")
    if result.get("probes"):
        from c2vbench.cli.common import probe_notes, probes_table

        terminal.console().print(probes_table(result))
        for line in probe_notes(result):
            terminal.print_line(line)
    terminal.print_line(f"result: {result_path}")
    checkpoint = result.get("checkpoint")
    if isinstance(checkpoint, dict):  # eval: the checkpoint that was evaluated
        mask = ", legacy mask" if checkpoint.get("legacy_mask") else ""
        terminal.print_line(f"evaluated checkpoint: {checkpoint.get('path')} (format {checkpoint.get('format')}"
                            f"{mask})")
    elif checkpoint:
        terminal.print_line(f"checkpoint: {checkpoint}")
