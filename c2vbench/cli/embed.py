"""``c2vbench embed``: the video embeddings of your own videos, in one file, new videos only."""

from __future__ import annotations

import click


def _grid_fps(value: str | None) -> float | None | str:
    """``native`` (the file's own frames) or a positive rate; None when not given."""
    if value is None:
        return "unset"
    if value.strip().lower() == "native":
        return None
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not rate > 0:
        from c2vbench.platform.errors import C2VBenchError

        raise C2VBenchError(f"--grid-fps {value}: give a positive frame rate or 'native'", "for example --grid-fps 5")
    return rate


@click.command("embed")
@click.argument("videos", nargs=-1, required=True)
@click.option("--out", required=True, metavar="FILE.safetensors", help="The embeddings file (created or extended).")
@click.option("--checkpoint", default=None, metavar="RUN_OR_FILE",
              help="A trained model: a result file or run id (its checkpoint and frame protocol), a checkpoint "
                   "folder of `c2vbench run`, or an official file.")
@click.option("--format", "checkpoint_format", default=None, help="Checkpoint format (guessed when omitted).")
@click.option("--checkpoint-option", multiple=True, metavar="KEY=VALUE", help="Option of the checkpoint format.")
@click.option("--legacy-mask", is_flag=True, help="The official per-head mask tiling (CLIP2Video files).")
@click.option("--results-dir", "results_dirs", multiple=True, metavar="DIR",
              help="Where to look up a run id given to --checkpoint (default results/).")
@click.option("--backbone", default=None, help="Zero-shot: a backbone plug-in (instead of --checkpoint).")
@click.option("--temporal", default="meanp", show_default=True, help="Zero-shot: the temporal module.")
@click.option("--align", default="cosine", show_default=True, help="Zero-shot: the align head.")
@click.option("--pretrained", default=None, help="Zero-shot: backbone weights (an open_clip tag or a local file).")
@click.option("--backbone-option", multiple=True, metavar="KEY=VALUE", help="Zero-shot: backbone option.")
@click.option("--temporal-option", multiple=True, metavar="KEY=VALUE", help="Zero-shot: temporal module option.")
@click.option("--align-option", multiple=True, metavar="KEY=VALUE", help="Zero-shot: align head option.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Zero-shot: seed of the parts that start random (recorded; search rebuilds them from it).")
@click.option("--max-frames", type=int, default=None, help="Frame slots per video (default: the run's, else 12).")
@click.option("--grid-fps", default=None, metavar="FPS|native",
              help="Rate of the frame grid (default: the run's, else 5 as the official extraction); native: the "
                   "file's own frames.")
@click.option("--feature-framerate", type=int, default=None, help="Stride over the grid (default: the run's, else 1).")
@click.option("--sampling", default=None, help="clip2video, head, tail or uniform (default: the run's, else "
                                               "clip2video).")
@click.option("--decoder", default=None, help="auto, decord or pyav (default: the run's, else auto).")
@click.option("--preprocess", default=None, help="tensor or pil (default: the run's, else tensor).")
@click.option("--precision", default=None, help="fp32, fp16 or bf16 (default: the run's, else fp32).")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Videos per batch.")
@click.option("--num-workers", type=int, default=0, show_default=True, help="Decoding worker processes.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Videos per chunk: each finished chunk is kept on disk, so an interrupt loses at most one.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the embedding cache.")
@click.option("--prune", is_flag=True, help="Drop videos the file holds that VIDEOS no longer lists.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def embed_command(videos: tuple[str, ...], out: str, checkpoint: str | None, checkpoint_format: str | None,
                  checkpoint_option: tuple[str, ...], legacy_mask: bool, results_dirs: tuple[str, ...],
                  backbone: str | None, temporal: str, align: str, pretrained: str | None,
                  backbone_option: tuple[str, ...], temporal_option: tuple[str, ...], align_option: tuple[str, ...],
                  seed: int, max_frames: int | None, grid_fps: str | None, feature_framerate: int | None,
                  sampling: str | None, decoder: str | None, preprocess: str | None, precision: str | None,
                  batch_size: int, num_workers: int, device: str, chunk_size: int, no_cache: bool, prune: bool,
                  as_json: bool, quiet: bool) -> None:
    """Embed the videos of VIDEOS (folders, video files, or .txt lists of paths) into one file; videos the file
    already holds, unchanged, are not embedded again, and an interrupted call goes on where it stopped.

    The model is a trained one (--checkpoint) or components used zero-shot (--backbone ...); the file records which,
    with a hash of its weights, so that `c2vbench search` uses the same model for the text.

    Example: c2vbench embed ~/clips --checkpoint results/my-run.json --out clips.safetensors
    """
    import dataclasses

    from c2vbench.config import parse_option_pairs
    from c2vbench.data.sampling import FrameSampling
    from c2vbench.platform.errors import C2VBenchError
    from c2vbench.runtime.progress import Reporter
    from c2vbench.search.embed import EmbedSettings, embed_videos
    from c2vbench.search.model_source import from_checkpoint, from_components

    if (checkpoint is None) == (backbone is None):
        raise C2VBenchError("embed needs one model: --checkpoint RUN_OR_FILE or --backbone NAME (zero-shot)",
                            "give exactly one of them")
    rate = _grid_fps(grid_fps)
    reporter = Reporter(quiet=quiet or as_json)
    with reporter.status("loading the model"):
        if checkpoint is not None:
            source = from_checkpoint(checkpoint, checkpoint_format,
                                     parse_option_pairs(checkpoint_option, "--checkpoint-option"), legacy_mask,
                                     results_dirs or ("results",))
        else:
            options = {"backbone": parse_option_pairs(backbone_option, "--backbone-option"),
                       "temporal": parse_option_pairs(temporal_option, "--temporal-option"),
                       "align": parse_option_pairs(align_option, "--align-option")}
            if pretrained is not None:
                options["backbone"]["pretrained"] = pretrained
            source = from_components(backbone, temporal, align, options, seed, max_frames or 12)
    model_slots = int(source.model.max_frames)
    base = source.sampling or FrameSampling(max_frames=min(model_slots, 12))
    overrides = {key: value for key, value in {"max_frames": max_frames, "feature_framerate": feature_framerate,
                                                "mode": sampling, "decoder": decoder}.items() if value is not None}
    if rate != "unset":
        overrides["grid_fps"] = rate
    try:
        frames = dataclasses.replace(base, **overrides)
    except ValueError as error:
        raise C2VBenchError(f"frame sampling: {error}") from None
    if frames.max_frames > model_slots:
        raise C2VBenchError(f"--max-frames {frames.max_frames}: the model was built for {model_slots} frame slots",
                            f"use --max-frames {model_slots} or fewer")
    from c2vbench.config import PRECISIONS, PREPROCESS_PATHS

    preprocess = preprocess or source.run_settings.get("preprocess", "tensor")
    precision = precision or source.run_settings.get("precision", "fp32")
    if preprocess not in PREPROCESS_PATHS or precision not in PRECISIONS:
        raise C2VBenchError(f"--preprocess {preprocess} / --precision {precision}",
                            f"use {' or '.join(PREPROCESS_PATHS)} and one of {', '.join(PRECISIONS)}")
    settings = EmbedSettings(frames, preprocess, precision, batch_size, num_workers, device, not no_cache, chunk_size)
    with reporter.counter("embedding videos") as progress:
        report = embed_videos(videos, out, source, settings, prune=prune, reporter=reporter, after_chunk=progress)

    from c2vbench.cli import terminal

    if as_json:
        terminal.print_json(report.to_dict())
        return
    new = len(report.embedded) - len(report.resumed)
    resumed = f", {len(report.resumed)} from an interrupted call" if report.resumed else ""
    terminal.print_line(f"{report.out}: {report.total} video(s); embedded {new} now{resumed}, {report.kept} "
                        f"already there ({report.listed} listed)")
    for item in report.skipped[:5]:
        terminal.print_line(f"skipped {item['video_id']}: {item['reason']}", stderr=True)
    if len(report.skipped) > 5:
        terminal.print_line(f"skipped {len(report.skipped) - 5} more unreadable video(s)", stderr=True)
    if report.unlisted:
        verb = "dropped (--prune)" if report.pruned else "kept (--prune drops them)"
        terminal.print_line(f"{len(report.unlisted)} video(s) in the file are no longer listed: {verb}")
