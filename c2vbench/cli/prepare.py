"""``c2vbench prepare DATASET --videos DIR --out DIR``: extract 5 fps frames and write a manifest per video."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("prepare")
@click.argument("dataset")
@click.option("--videos", "videos_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of the dataset's video files (<video_id>.mp4, .avi, ...).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Where to write <video_id>/%08d.jpg (use <data-root>/frames to run on frames).")
@click.option("--data-root", type=click.Path(exists=True, file_okay=False), default=None,
              help="The dataset's annotation folder: extract only the ids it lists and report the missing ones.")
@click.option("--dataset-option", multiple=True, metavar="KEY=VALUE",
              help="Dataset option used with --data-root (e.g. variant=full).")
@click.option("--fps", type=float, default=5.0, show_default=True, help="Grid rate (the official pipeline uses 5).")
@click.option("--workers", type=int, default=-1, help="Parallel extraction processes (default: every CPU core).")
@click.option("--decoder", default="auto", show_default=True,
              help="auto (the first of torchcodec, decord and pyav installed), torchcodec, decord or pyav; "
                   "frames is refused (nothing to extract).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def prepare_command(dataset: str, videos_dir: str, out_dir: str, data_root: str | None,
                    dataset_option: tuple[str, ...], fps: float, workers: int, decoder: str, as_json: bool) -> None:
    """Extract frames for DATASET (resumable: a re-run skips finished videos).

    Writes OUT/<video_id>/00000001.jpg ... and OUT/.manifests/<video_id>.json (frame count, fps, duration,
    resolution, sha256). Exits with status 1 when a video is unreadable, empty or missing.

    Example: c2vbench prepare msrvtt --videos ~/msrvtt/videos --out ~/msrvtt/frames --data-root ~/msrvtt
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from c2vbench.cli.terminal import console as terminal_console
    from c2vbench.data.decoders import resolve_video_decoder
    from c2vbench.data.extraction import check_grid_fps, prepare_videos
    from c2vbench.data.workers import default_num_workers
    from c2vbench.platform.errors import C2VBenchError
    from c2vbench.runtime.atomic_files import check_writable_folder

    check_grid_fps(fps)  # every check before any work: the rate, the workers, the decoder, --out
    if workers < -1:
        raise C2VBenchError(f"--workers must be -1 (every CPU core), 0 or more (got {workers})")
    decoder = resolve_video_decoder(decoder)
    check_writable_folder(out_dir, "--out")
    sources = _expected_sources(dataset, data_root, dataset_option, videos_dir)
    workers = default_num_workers() if workers < 0 else workers
    console = terminal_console(stderr=True)
    with Progress(TextColumn("extracting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, disable=as_json, transient=True) as progress:
        task = progress.add_task("extract", total=None)

        def on_done(outcome, done, total):
            progress.update(task, completed=done, total=total)

        report = prepare_videos(videos_dir, out_dir, fps=fps, workers=workers, decoder=decoder,
                                on_done=on_done, sources=sources)
    from c2vbench.cli import terminal

    if as_json:
        terminal.print_json(report.to_dict())
    else:
        _print_summary(terminal.console(), report, dataset, out_dir)
    if any(item["status"] in ("failed", "missing") for item in report.offenders()):
        sys.exit(1)


def _expected_sources(dataset: str, data_root: str | None, dataset_option: tuple[str, ...],
                      videos_dir: str) -> dict[str, Path] | None:
    """Every video file the splits of DATASET read, by the name of its frame folder, through the plug-in (None
    without --data-root). Records cut from one video by time share its file and its folder."""
    import dataclasses

    from c2vbench.config import parse_option_pairs
    from c2vbench.platform.registry import get_registry
    from c2vbench.platform.specs import build_options

    component = get_registry().get("dataset", dataset)
    if data_root is None:
        return None
    overrides = parse_option_pairs(dataset_option, "--dataset-option") if dataset_option else {}
    fields = {field.name for field in dataclasses.fields(component.spec.options_type)} \
        if dataclasses.is_dataclass(component.spec.options_type) else set()
    # Point the plug-in at the videos being extracted (frames may not exist yet).
    if {"video_source", "videos_dir"} <= fields:
        overrides.setdefault("video_source", "videos")
        overrides.setdefault("videos_dir", str(Path(videos_dir).resolve()))
    options = build_options(component.spec, overrides)
    built = component.build(options, Path(data_root))
    sources: dict[str, Path] = {}
    for split in built.splits.values():
        for video in split.videos:
            sources.setdefault(video.key, Path(video.source))
    return sources


def _print_summary(console, report, dataset: str, out_dir: str) -> None:
    from rich.table import Table

    table = Table(title=f"prepare {dataset} → {out_dir}", title_justify="left")
    table.add_column("videos")
    table.add_column("count", justify="right")
    for status in ("extracted", "skipped", "partial", "failed"):
        table.add_row({"skipped": "already done"}.get(status, status), str(report.count(status)))
    table.add_row("missing", str(len(report.missing)))
    if report.count("linked"):
        table.add_row("symbolic links (left as they are)", str(report.count("linked")))
    console.print(table)
    for outcome in report.outcomes:
        if outcome.status == "linked":
            console.print(f"note: {outcome.reason}", highlight=False, soft_wrap=True)
    offenders = report.offenders()
    if offenders:
        problems = Table(title="unreadable, empty, partial or missing videos", title_justify="left")
        for column in ("video_id", "status", "reason"):
            problems.add_column(column)
        for item in offenders:
            style = "yellow" if item["status"] == "partial" else "red"
            problems.add_row(item["video_id"], f"[{style}]{item['status']}[/]", item["reason"])
        console.print(problems)
