"""``c2vbench score``: standardized metrics for a user's own similarity matrix."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import click

from ..errors import DataError

# imports of numpy and the metric modules happen inside the command so that `c2vbench --help` stays instant


def load_similarity_file(path: Path, need_bank: bool) -> dict[str, Any]:
    """Read ``sim``, ``text_to_video`` (and ``bank_sim`` if needed) from an ``.npz`` or raise :class:`DataError`."""
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON only: metrics, per_query, postprocess.")
def score_command(
    sim_file: Path,
    tie: str,
    v2t_mode: str,
    postprocess: str,
    dsl_temperature: float,
    qbnorm_beta: float,
    qbnorm_k: int,
    as_json: bool,
) -> None:
    """Standardized metrics for SIM_FILE, an .npz holding `sim` [n_text, n_video] and `text_to_video` [n_text].

    Example: c2vbench score my_model.npz --tie expected --json
    """
    from ..metrics import check_tie_policy, check_v2t_mode, evaluate_similarity
    from ..postprocess import get_postprocessor

    check_tie_policy(tie)
    check_v2t_mode(v2t_mode)
    processor = get_postprocessor(postprocess)
    if not sim_file.exists():
        raise DataError(f"{sim_file} does not exist", "give the path of an .npz similarity file")
    arrays = load_similarity_file(sim_file, need_bank=processor.needs_bank)

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

    output: dict[str, Any] = {
        "metrics": final.metrics,
        "per_query": final.per_query,
        "tie": tie,
        "v2t_mode": v2t_mode,
        "postprocess": {"name": processor.name, "track": processor.track, "options": options},
    }
    if processor.name != "none":
        output["plain"] = {"metrics": plain.metrics, "per_query": plain.per_query}

    from . import terminal

    if as_json:
        terminal.print_json(output)
        return
    n_text, n_video = arrays["sim"].shape
    caption = f"{n_text} texts, {n_video} videos · tie policy {tie} · video→text {v2t_mode}"
    if processor.name != "none":
        terminal.console().print(terminal.metrics_table([("", plain.metrics)],
                                                        f"plain (no post-processing) — {caption}"))
        terminal.console().print(terminal.metrics_table([("", final.metrics)],
                                                        f"{processor.name} ({processor.track} track) — {caption}"))
    else:
        terminal.console().print(terminal.metrics_table([("", final.metrics)], caption))
