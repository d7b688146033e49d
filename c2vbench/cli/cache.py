"""``c2vbench cache ls|rm``: the embedding cache of zero-shot and frozen runs (see
:mod:`c2vbench.evaluation.embedding_cache`)."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _cache(directory: Path | None):
    from c2vbench.evaluation.embedding_cache import EmbeddingCache

    return EmbeddingCache(directory)


@click.group("cache")
def cache_command() -> None:
    """The embedding cache: per-frame and caption embeddings of backbones that zeroshot and frozen runs reuse.

    Example: c2vbench cache ls
    """


@cache_command.command("ls")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder (default: $C2VBENCH_EMBEDDING_CACHE or ~/.cache/c2vbench/embeddings).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--verify", is_flag=True, help="Also check every shard's SHA-256 (reads every byte).")
def list_command(directory: Path | None, as_json: bool, verify: bool) -> None:
    """List the cached entries: key, kind, split, rows, size, creation time and state.

    States: ok; damaged (a shard missing, of the wrong size or, with --verify, of the wrong hash; or an entry a run
    found damaged and moved aside: the run wrote it again); staging (a writer at work now); stale (left by a
    writer that stopped; `c2vbench cache rm --stale` removes stale and damaged folders).
    """
    cache = _cache(directory)
    entries = cache.entries(verify=verify) + cache.hidden_folders()
    if as_json:
        click.echo(json.dumps([{"key": e.key, "kind": e.kind, "rows": e.rows, "size_bytes": e.size_bytes,
                                "created": e.created, "describe": e.describe, "path": str(e.path), "state": e.state}
                               for e in entries]))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"embedding cache {cache.root}", title_justify="left")
    for column in ("key", "kind", "split", "rows", "size", "created", "state"):
        table.add_column(column, justify="right" if column in ("rows", "size") else "left")
    for entry in entries:
        state = entry.state if entry.state in ("ok", "staging") else f"[red]{entry.state}[/]"
        table.add_row(entry.key[:16], entry.kind, str(entry.describe.get("split", "")), str(entry.rows),
                      f"{entry.size_bytes / 2**20:.1f} MiB", entry.created, state)
    console = Console()
    console.print(table)
    counts = {state: sum(entry.state == state for entry in entries) for state in ("ok", "damaged", "staging",
                                                                                 "stale")}
    total = sum(entry.size_bytes for entry in entries)
    labels = {"damaged": "damaged", "staging": "being written now", "stale": "unfinished write(s)"}
    extra = [f"{count} {labels[state]}" for state, count in counts.items() if count and state != "ok"]
    console.print(f"{counts['ok']} entries, {total / 2**20:.1f} MiB"
                  + (f"; {', '.join(extra)}" if extra else "")
                  + ("; c2vbench cache rm --stale removes stale and damaged folders"
                     if counts["stale"] or counts["damaged"] else ""), highlight=False)


@cache_command.command("rm")
@click.argument("keys", nargs=-1)
@click.option("--all", "remove_all", is_flag=True, help="Remove every entry.")
@click.option("--stale", is_flag=True, help="Remove the hidden folders left by interrupted writers.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder (default: $C2VBENCH_EMBEDDING_CACHE or ~/.cache/c2vbench/embeddings).")
def remove_command(keys: tuple[str, ...], remove_all: bool, stale: bool, directory: Path | None) -> None:
    """Remove entries by key (or key prefix, as `ls` shows them), or --all, or --stale.

    Example: c2vbench cache rm 3fa2b9c1
    """
    import shutil

    from c2vbench.platform.errors import C2VBenchError

    if not keys and not remove_all and not stale:
        raise C2VBenchError("nothing to remove", "give entry keys (from `c2vbench cache ls`), --all or --stale")
    cache = _cache(directory)
    removed: list[str] = []
    if remove_all:
        removed += cache.remove("")
    for key in keys:
        if len(key) < 4:
            raise C2VBenchError(f"key prefix {key!r} is too short", "give at least 4 characters of the key")
        found = cache.remove(key)
        if not found:
            raise C2VBenchError(f"no cache entry starts with {key!r}", "see `c2vbench cache ls`")
        removed += found
    live = []
    if stale:
        for entry in cache.entries():  # published but damaged entries go too
            if entry.state == "damaged":
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.key)
        for hidden in cache.hidden_folders():
            if hidden.state == "staging":  # a writer at work: never touched
                live.append(hidden.path.name)
                continue
            shutil.rmtree(hidden.path, ignore_errors=True)
            removed.append(hidden.path.name)
    click.echo(f"removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}"
               + (f"; left {len(live)} folder(s) that a running writer is filling" if live else ""))
