"""``c2vbench score``: standardized metrics for a user's own similarity matrix."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import click

from c2vbench.platform.errors import DataError

# imports of numpy and the metric modules happen inside the command so that `c2vbench --help` stays instant


USES = ("sim", "embeddings")


def load_similarity_file(path: Path, need_bank: bool, use: str | None = None) -> dict[str, Any]:
    """Read ``sim``, ``text_to_video`` (and ``bank_sim`` if needed) from an ``.npz`` or raise :class:`DataError`.

    A file holding both a matrix (``sim``) and embeddings (``text_emb``/``video_emb``) is refused unless ``use``
    says which to score (the two need not agree, and neither is a safe guess)."""
    import numpy as np

    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{path} is not an .npz archive (not a zip file)",
            "save it with numpy.savez(path, sim=..., text_to_video=...)",
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(
            f"{path} is not a readable .npz file ({error.__class__.__name__}: {error})",
            "save it with numpy.savez(path, sim=..., text_to_video=...)",
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single array, not an .npz archive", "save it with numpy.savez")
    with archive:
        has_embeddings = "text_emb" in archive.files or "video_emb" in archive.files
        if has_embeddings and "sim" in archive.files and use is None:
            raise DataError(f"{path} holds both a similarity matrix (sim) and embeddings (text_emb, video_emb)",
                            "say which to score: --use sim or --use embeddings")
        if use == "embeddings" or (has_embeddings and use is None):
            return _embedding_arrays(path, archive)
        required = ["sim", "text_to_video"] + (["bank_sim"] if need_bank else [])
        missing = [key for key in required if key not in archive.files]
        if missing:
            hint = "numpy.savez(path, sim=[n_text, n_video] floats, text_to_video=[n_text] ints"
            hint += ", bank_sim=[n_bank_queries, n_video] floats)" if need_bank else ")"
            raise DataError(
                f"{path} has no {', '.join(repr(key) for key in missing)} array (it holds: "
                f"{', '.join(archive.files) or 'nothing'})",
                f"save it with {hint}",
            )
        try:
            return {key: archive[key] for key in required}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
            raise DataError(f"{path}: cannot read an array ({error})", "re-save the file with numpy.savez") from None


EMBEDDING_KEYS = ("text_emb", "video_emb", "text_to_video")


def _embedding_arrays(path: Path, archive) -> dict[str, Any]:
    """``text_emb``, ``video_emb`` and ``text_to_video`` of an embeddings file (ranked streamed)."""
    missing = [key for key in EMBEDDING_KEYS if key not in archive.files]
    if missing:
        raise DataError(
            f"{path} has no {', '.join(repr(key) for key in missing)} array (it holds: {', '.join(archive.files)})",
            "save it with numpy.savez(path, text_emb=[n_text, d], video_emb=[n_video, d], text_to_video=[n_text])",
        )
    try:
        return {key: archive[key] for key in EMBEDDING_KEYS}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path}: cannot read an array ({error})", "re-save the file with numpy.savez") from None


def _score_embeddings(arrays: dict[str, Any], tie: str, v2t_mode: str, postprocess: str, device: str,
                      block: int | None) -> dict[str, Any]:
    """Streamed metrics of an embeddings file: scores are dot products, never held as a whole matrix."""
    from c2vbench.evaluation.metrics import validate_text_to_video
    from c2vbench.evaluation.streamed_ranking import DotProductScores, dot_product_blocks, evaluate_streamed
    from c2vbench.pipeline import select_device
    from c2vbench.platform.errors import C2VBenchError

    if postprocess != "none":
        raise C2VBenchError(f"--postprocess {postprocess} needs the whole similarity matrix, which an embeddings "
                            "file is ranked without", "save sim=text_emb @ video_emb.T in a SIM.npz instead")
    if v2t_mode != "all-captions":
        raise C2VBenchError(f"--v2t-mode {v2t_mode} is not available for embeddings files (ranked streamed)",
                            "use --v2t-mode all-captions, or save the similarity matrix in a SIM.npz")
    if block is not None and block < 1:
        raise C2VBenchError(f"--block must be positive (got {block})")
    scores = DotProductScores(arrays["text_emb"], arrays["video_emb"])
    mapping = validate_text_to_video(arrays["text_to_video"], scores.n_text, scores.n_video)
    chosen = select_device(device)
    text_block, video_block = (block, block) if block is not None else dot_product_blocks(chosen)
    evaluation = evaluate_streamed(scores, mapping, tie=tie, device=chosen, text_block=text_block,
                                   video_block=video_block)
    return {"metrics": evaluation.metrics, "per_query": evaluation.per_query, "tie": tie, "v2t_mode": v2t_mode,
            "postprocess": {"name": "none", "track": "inductive", "options": {}},
            "shape": [scores.n_text, scores.n_video]}


@click.command("score")
@click.argument("sim_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tie", default="expected", show_default=True, help="Tie policy: optimistic, pessimistic or expected.")
@click.option(
    "--v2t-mode",
    default="all-captions",
    show_default=True,
    help="Video-to-text mode: all-captions or legacy-group-max.",
)
@click.option(
    "--postprocess",
    default="none",
    show_default=True,
    help="none, dsl (transductive) or qbnorm (needs bank_sim in the file).",
)
@click.option("--dsl-temperature", default=1.0, show_default=True, type=float, help="Temperature of dsl.")
@click.option("--qbnorm-beta", default=20.0, show_default=True, type=float, help="Inverse temperature of qbnorm.")
@click.option("--qbnorm-k", default=1, show_default=True, type=int, help="Top-k of each bank query for qbnorm.")
@click.option("--device", default="auto", show_default=True,
              help="Embeddings files: where the score tiles are computed (auto, cpu or cuda).")
@click.option("--block", default=None, type=int,
              help="Embeddings files: a square tile of this side (memory is about block² x 4 bytes plus the "
                   "embeddings). Default: 4096 x 4096 on a CPU, 4096 x 32768 on CUDA.")
@click.option("--use", type=click.Choice(USES), default=None,
              help="For a file holding both a matrix and embeddings: which to score.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only: metrics, per_query, postprocess.")
def score_command(
    sim_file: Path,
    tie: str,
    v2t_mode: str,
    postprocess: str,
    dsl_temperature: float,
    qbnorm_beta: float,
    qbnorm_k: int,
    device: str,
    block: int | None,
    use: str | None,
    as_json: bool,
) -> None:
    """Standardized metrics for SIM_FILE, an .npz holding `sim` [n_text, n_video] and `text_to_video` [n_text],
    or embeddings `text_emb` [n_text, d], `video_emb` [n_video, d] and `text_to_video` (scores are dot products,
    ranked streamed: the whole matrix is never held).

    Example: c2vbench score my_model.npz --tie expected --json
    """
    from c2vbench.evaluation.metrics import check_tie_policy, check_v2t_mode, evaluate_similarity
    from c2vbench.evaluation.postprocess import get_postprocessor

    check_tie_policy(tie)
    check_v2t_mode(v2t_mode)
    processor = get_postprocessor(postprocess)
    if not sim_file.exists():
        raise DataError(f"{sim_file} does not exist", "give the path of an .npz similarity file")
    arrays = load_similarity_file(sim_file, need_bank=processor.needs_bank, use=use)
    if "text_emb" in arrays:
        output = _score_embeddings(arrays, tie, v2t_mode, processor.name, device, block)
        n_text, n_video = output.pop("shape")
        _print_output(output, as_json, f"{n_text} texts, {n_video} videos (embeddings, ranked streamed) · "
                                        f"tie policy {tie} · video→text {v2t_mode}", None)
        return

    plain = evaluate_similarity(arrays["sim"], arrays["text_to_video"], tie=tie, v2t_mode=v2t_mode)
    options: dict[str, Any] = {}
    if processor.name == "dsl":
        options = {"temperature": dsl_temperature}
    elif processor.name == "qbnorm":
        options = {"beta": qbnorm_beta, "k": qbnorm_k}
    if processor.name == "none":
        final = plain
    else:
        processed = processor.apply(arrays["sim"], arrays.get("bank_sim"), **options)
        final = evaluate_similarity(processed, arrays["text_to_video"], tie=tie, v2t_mode=v2t_mode)
        if processor.name == "qbnorm":
            # a bank of captions normalises text-to-video only; video-to-text would need a bank of videos
            final.metrics["v2t"] = plain.metrics["v2t"]
            final.per_query.update({key: value for key, value in plain.per_query.items() if key.startswith("v2t")})

    output: dict[str, Any] = {
        "metrics": final.metrics,
        "per_query": final.per_query,
        "tie": tie,
        "v2t_mode": v2t_mode,
        "postprocess": {"name": processor.name, "track": processor.track, "options": options,
                        **({"v2t": "not post-processed: bank_sim holds captions, which normalise text-to-video "
                                   "only; the video-to-text numbers are the plain ones"}
                           if processor.name == "qbnorm" else {})},
    }
    if processor.name != "none":
        output["plain"] = {"metrics": plain.metrics, "per_query": plain.per_query}

    n_text, n_video = arrays["sim"].shape
    caption = f"{n_text} texts, {n_video} videos · tie policy {tie} · video→text {v2t_mode}"
    _print_output(output, as_json, caption, plain.metrics if processor.name != "none" else None)


def _print_output(output: dict[str, Any], as_json: bool, caption: str, plain_metrics: dict | None) -> None:
    from c2vbench.cli import terminal

    if as_json:
        terminal.print_json(output)
        return
    processor = output["postprocess"]
    if plain_metrics is not None:
        terminal.console().print(terminal.metrics_table([("", plain_metrics)],
                                                        f"plain (no post-processing) — {caption}"))
        terminal.console().print(terminal.metrics_table([("", output["metrics"])],
                                                        f"{processor['name']} ({processor['track']} track) — "
                                                        f"{caption}"))
    else:
        terminal.console().print(terminal.metrics_table([("", output["metrics"])], caption))
