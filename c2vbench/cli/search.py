"""``c2vbench search``: the best videos of an embeddings file for a text."""

from __future__ import annotations

import click


@click.command("search")
@click.argument("texts", nargs=-1, required=True)
@click.option("--index", "index", required=True, type=click.Path(dir_okay=False),
              help="An embeddings file written by `c2vbench embed`.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="How many videos per text.")
@click.option("--candidates", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Align heads that are no dot products: how many videos (closest by pooled cosine) the head "
                   "re-scores. Dot-product heads are always searched exactly over every video.")
@click.option("--checkpoint", default=None, help="Where the model's checkpoint lies now, if it moved.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
def search_command(texts: tuple[str, ...], index: str, top: int, candidates: int, checkpoint: str | None,
                   device: str, as_json: bool) -> None:
    """The TOP videos of --index for each TEXT, with their scores (the model the videos were embedded with encodes
    the text; ties are ordered by video id and reported).

    Example: c2vbench search "a red square moves left" --index clips.safetensors --top 5
    """
    from c2vbench.cli import terminal
    from c2vbench.search.query import search_embeddings

    results = search_embeddings(index, list(texts), top, candidates, device, checkpoint)
    if as_json:
        terminal.print_json([result.to_dict() for result in results])
        return
    for result in results:
        rows, previous = [], None
        for hit in result.hits:
            rows.append([hit.rank, f"{hit.score:.4f}", "=" if hit.score == previous else "", hit.video_id])
            previous = hit.score
        terminal.console().print(terminal.table(f'"{result.text}"', ["#", "score", "tie", "video"], rows,
                                                right=("#", "score")))
        terminal.print_line(result.method)
        if result.tied_beyond:
            terminal.print_line(f"{result.tied_beyond} more video(s) score exactly as #{len(result.hits)}; ties are "
                                "ordered by video id")
