"""Pieces shared by the ``run`` and ``eval`` commands: run options (their defaults read from :class:`RunConfig`,
never written twice) and config resolution."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from c2vbench.config import RunConfig, load_config_file, parse_option_pairs

_CONFIG_FIELDS = {field.name: field for field in dataclasses.fields(RunConfig)}


def config_default(name: str) -> Any:
    """The default of a :class:`RunConfig` setting: the one place a flag's default is written."""
    field = _CONFIG_FIELDS[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()  # type: ignore[misc]


OPTION_FLAGS = {"backbone_option": "backbone_options", "temporal_option": "temporal_options",
                "align_option": "align_options", "dataset_option": "dataset_options"}


def run_options(function):
    """The options ``run`` and ``eval`` share (component choices and evaluation settings)."""
    options = [
        click.option("--backbone", default=config_default("backbone"), show_default=True,
                     help="Backbone plug-in name."),
        click.option("--temporal", default=config_default("temporal"), show_default=True,
                     help="Temporal module plug-in name."),
        click.option("--align", default=config_default("align"), show_default=True,
                     help="Similarity (alignment) plug-in name."),
        click.option("--dataset", default=config_default("dataset"), show_default=True, help="Dataset plug-in name."),
        click.option("--pretrained", default=None,
                     help="Backbone weights: an open_clip tag, a local file, or none (random; the default). "
                          "Shorthand for --backbone-option pretrained=..."),
        click.option("--backbone-option", multiple=True, metavar="KEY=VALUE", help="Backbone option (repeatable)."),
        click.option("--temporal-option", multiple=True, metavar="KEY=VALUE", help="Temporal module option."),
        click.option("--align-option", multiple=True, metavar="KEY=VALUE", help="Similarity option."),
        click.option("--dataset-option", multiple=True, metavar="KEY=VALUE", help="Dataset option."),
        click.option("--data-root", type=click.Path(file_okay=False), default=config_default("data_root"),
                     help="Folder of a downloaded dataset (not needed for synthetic-motion)."),
        click.option("--max-frames", type=int, default=config_default("max_frames"),
                     help="Frame slots per video (default: the dataset's)."),
        click.option("--batch-size", type=int, default=config_default("batch_size"), show_default=True,
                     help="Training batch size."),
        click.option("--eval-batch-size", type=int, default=config_default("eval_batch_size"), show_default=True,
                     help="Encoding batch size."),
        click.option("--seed", type=int, default=config_default("seed"), show_default=True,
                     help="Seed of every random choice."),
        click.option("--device", default=config_default("device"), show_default=True,
                     help="auto, cpu, cuda or cuda:N (the N-th GPU)."),
        click.option("--tie", default=config_default("tie"), show_default=True,
                     help="Tie policy: optimistic, pessimistic or expected."),
        click.option("--v2t-mode", default=config_default("v2t_mode"), show_default=True,
                     help="Multi-caption video-to-text: all-captions or legacy-group-max."),
        click.option("--postprocess", default=config_default("postprocess"), show_default=True,
                     help="none, dsl or qbnorm."),
        click.option("--allow-missing", is_flag=True, help="Skip missing/unreadable videos (recorded in the result)."),
        click.option("--decoder", default=config_default("decoder"), show_default=True,
                     help="auto (the first of torchcodec, decord and pyav installed), torchcodec, decord, pyav, or "
                          "frames (extracted frame folders). Recorded with its version in the protocol."),
        click.option("--num-workers", type=int, default=config_default("num_workers"), show_default=True,
                     help="Decoding worker processes (0: decode in the main process; -1: one per CPU core)."),
        click.option("--probe", default=config_default("probe"), show_default=True, metavar="none|order",
                     help="order: also score the test split with frames reversed, shuffled and reduced to one "
                          "repeated frame, and with caption words shuffled (a probes block in the result)."),
        click.option("--probe-shuffles", type=int, default=config_default("probe_shuffles"), show_default=True,
                     help="Fixed shuffle permutations of --probe order (seeds 0..N-1)."),
        click.option("--precision", default=config_default("precision"), show_default=True,
                     help="fp32, fp16 or bf16: autocast of the model where the device supports it (recorded)."),
        click.option("--compile", "compile", is_flag=True, default=config_default("compile"),
                     help="torch.compile the backbone's encoders and the temporal module (slow first steps)."),
        click.option("--checkpoint-activations", is_flag=True, default=config_default("checkpoint_activations"),
                     help="Recompute the frame encoder's blocks in the backward pass: less memory, same numbers."),
        click.option("--preprocess", default=config_default("preprocess"), show_default=True,
                     help="tensor (batched resize/crop/normalise on the model's device, antialiased bicubic) or "
                          "pil (the official per-frame PIL path, for exact reproduction)."),
        click.option("--no-cache", "no_cache", is_flag=True,
                     help="Do not read or write the embedding cache (zeroshot and frozen runs use it by default)."),
        click.option("--out", type=click.Path(file_okay=False), default=config_default("out"), show_default=True,
                     help="Folder for the result file."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                     help="TOML file of settings; flags given on the command line win."),
        click.option("--json", "as_json", is_flag=True, help="Print the result file's JSON instead of a table."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def resolve_config(ctx: click.Context, params: dict[str, Any], **fixed: Any) -> RunConfig:
    """Defaults < config file < flags given on the command line."""
    settings: dict[str, Any] = {}
    if params.get("config_file"):
        settings.update(load_config_file(params["config_file"]))
    known = {field.name for field in dataclasses.fields(RunConfig)}
    for name, value in params.items():
        if name in OPTION_FLAGS:
            if value:
                settings[OPTION_FLAGS[name]] = {**settings.get(OPTION_FLAGS[name], {}),
                                                **parse_option_pairs(value, "--" + name.replace("_", "-"))}
            continue
        if name not in known:
            continue
        explicit = ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT,
                                                          click.core.ParameterSource.DEFAULT_MAP, None)
        if explicit or name not in settings:
            settings[name] = value
    if params.get("no_cache"):
        settings["embedding_cache"] = False
    if params.get("pretrained") is not None:
        settings["backbone_options"] = {**settings.get("backbone_options", {}), "pretrained": params["pretrained"]}
    settings.update(fixed)
    return RunConfig(**settings)


def check_components(config: RunConfig, roles: tuple[str, ...] | None = None) -> None:
    """Look up the selected plug-ins and validate their options before torch is imported (a typo fails at once)."""
    from c2vbench.data.decoders import VIDEO_DECODERS, require_decoder
    from c2vbench.model.assembly import check_data_root
    from c2vbench.platform.registry import get_registry
    from c2vbench.platform.specs import ROLE_KIND, ROLES, build_options

    names = {"backbone": config.backbone, "temporal": config.temporal, "align": config.align,
             "dataset": config.dataset}
    overrides = {"backbone": config.backbone_options, "temporal": config.temporal_options,
                 "align": config.align_options, "dataset": config.dataset_options}
    registry = get_registry()
    for role in roles or ROLES:
        spec = registry.get(ROLE_KIND[role], names[role]).spec
        build_options(spec, overrides[role])
        refuse_code_in_option_files(role, overrides[role])
        if role == "dataset":
            check_data_root(spec, config.data_root)
    if config.decoder in VIDEO_DECODERS:  # a video library asked for by name: installed, before --out is made
        require_decoder(config.decoder)


def check_output(config: RunConfig) -> None:
    """``--out`` must be a folder c2vbench can write, checked before the work (not after the evaluation)."""
    from c2vbench.runtime.atomic_files import check_writable_folder

    check_writable_folder(config.out, "--out")


def refuse_code_in_option_files(role: str, options: dict[str, Any]) -> None:
    """Every component option that names an existing file (``pretrained``, ``image_weights``, ...) is looked at
    before anything is built: an archive that holds code is refused at once (the plug-in refuses it too)."""
    from pathlib import Path

    from c2vbench.runtime.tensor_files import refuse_code_archive

    for key, value in options.items():
        if isinstance(value, str) and value.strip() and Path(value).expanduser().is_file():
            refuse_code_archive(Path(value).expanduser(), f"{role} option {key}:")


def describe_run(result: dict[str, Any]) -> str:
    plugins = result["plugins"]
    return " · ".join(f"{plugins[role]['name']}" for role in ("backbone", "temporal", "align", "dataset"))


def probes_table(result: dict[str, Any]):
    """A rich table of the ``probes`` block: each probe's T2V/V2T R@1 and its paired difference (CI, p)."""
    from rich.table import Table

    block = result["probes"]
    table = Table(title="order probes: R@1 change vs unprobed (paired, 95% CI, p)", title_justify="left")
    for name in ("probe", "t2v R@1", "change [CI]", "p", "v2t R@1", "change [CI]", "p"):
        table.add_column(name, justify="left" if name == "probe" else "right")
    for name, probe in block["probes"].items():
        cells = [f"{probe['target']}: {name}" + (" (no rank moved)" if probe.get("unmoved") else "")]
        for direction in ("t2v", "v2t"):
            difference = probe["difference"][direction]["R@1"]
            low, high = difference["ci"]
            cells += [f"{probe['metrics'][direction]['R@1']:.1f}",
                      f"{difference['diff']:+.1f} [{low:+.1f}, {high:+.1f}]", f"{difference['p']:.2g}"]
        table.add_row(*cells)
    return table


def probe_notes(result: dict[str, Any]) -> list[str]:
    """Lines that go with the probes table: refusals and unaffected videos or captions."""
    block = result["probes"]
    refused = block.get("refused", {})
    lines = [f"{' and '.join(refused)} refused: {reason}" for reason in sorted(set(refused.values()))]
    for subset, unprobed in sorted((result.get("subsets") or {}).items()):
        if "pairwise" not in unprobed:
            continue
        shown = [f"{name} {probe['pairwise_accuracy'][subset]:.1f}%" for name, probe in block["probes"].items()
                 if subset in probe.get("pairwise_accuracy", {})]
        if shown:
            lines.append(f"{subset}, own video above its rival: unprobed {unprobed['pairwise']['accuracy']:.1f}%, "
                         + ", ".join(shown))
    for kind, unaffected in block.get("unaffected", {}).items():
        if unaffected["count"]:
            lines.append(f"{unaffected['count']} of {unaffected['total']} {kind} unaffected ({unaffected['why']})")
    return lines
