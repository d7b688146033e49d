"""``c2vbench probe``: order probes for an existing result file or a checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from c2vbench.cli.common import resolve_config, run_options
from c2vbench.cli.run import print_outcome


@click.command("probe")
@click.argument("targets", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "checkpoint_format", default=None,
              help="Checkpoint format of a CHECKPOINT target (c2vbench, clip2video, ...); guessed when omitted.")
@click.option("--legacy-mask", is_flag=True, help="Official per-head mask tiling (CHECKPOINT targets only).")
@run_options
@click.pass_context
def probe_command(ctx: click.Context, targets: tuple[str, ...], checkpoint_format: str | None, legacy_mask: bool,
                  **params) -> None:
    """Order probes (frames reversed, shuffled, one repeated frame; caption words shuffled) for each TARGET.

    A RESULT file (*.json written by run or eval) is evaluated again from its own checkpoint and configuration; when
    that reproduces its stored ranks exactly, a probes block is added to it (rewritten atomically; into --out when
    --out is given), nothing else changes. A CHECKPOINT is evaluated as `c2vbench eval --probe order` does, with
    the dataset options given here, and a new result file is written into --out. A folder that is not a checkpoint
    stands for the result files under it that carry no probes yet.

    Example: c2vbench probe results/
    """
    from c2vbench.cli.probe_targets import probe_result_file
    from c2vbench.pipeline import evaluate_checkpoint
    from c2vbench.runtime.progress import Reporter

    quiet = params["quiet"] or params["as_json"]
    out_given = ctx.get_parameter_source("out") not in (click.core.ParameterSource.DEFAULT, None)
    for path in expand_targets(targets):
        reporter = Reporter(quiet=quiet)
        if path.is_file() and path.suffix == ".json":
            overrides = {name: params[name] for name in ("device", "num_workers", "probe_shuffles")
                         if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)}
            result, written = probe_result_file(path, overrides, params["out"] if out_given else None,
                                                reporter=reporter)
        else:
            fmt = checkpoint_format or ("c2vbench" if path.is_dir() else "clip2video")
            config = resolve_config(ctx, {**params, "probe": "order"}, protocol="zeroshot", save_checkpoint=False)
            outcome = evaluate_checkpoint(config, path, fmt, legacy_mask, reporter=reporter)
            result, written = outcome.result, outcome.result_path
        print_outcome(result, written, params["as_json"])


def expand_targets(targets: tuple[str, ...]) -> list[Path]:
    """Files and checkpoints as given; a folder of results becomes its result files that have no probes yet."""
    from c2vbench.model.native_checkpoint import CONFIG_FILE, WEIGHTS_FILE
    from c2vbench.platform.errors import C2VBenchError
    from c2vbench.results.result_file import ForeignFileError, iter_result_files

    paths: list[Path] = []
    for target in targets:
        path = Path(target)
        if not path.is_dir() or (path / WEIGHTS_FILE).exists() or (path / CONFIG_FILE).exists():
            paths.append(path)
            continue
        found = []
        for file, loaded in iter_result_files([path]):
            if isinstance(loaded, ForeignFileError):
                continue  # e.g. a checkpoint's config.json under results/checkpoints/
            if isinstance(loaded, Exception):
                raise loaded
            if "probes" not in loaded:
                found.append(file)
        if not found:
            raise C2VBenchError(f"{path} holds no result file without probes (and is not a checkpoint folder)",
                                "give result files, a results folder or a checkpoint")
        paths += found
    return paths
