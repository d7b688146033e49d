"""Result files as pandas DataFrames, for notebooks: :func:`load`, :func:`per_query`, :func:`compare`,
:func:`leaderboard`.

::

    import c2vbench

    runs = c2vbench.results.load("results/")          # one row per run
    runs.groupby(["temporal", "align_head"])["t2v R@1"].agg(["mean", "std", "count"])
    ranks = c2vbench.results.per_query(runs[runs.temporal == "tdb"])   # one column of ranks per run
    c2vbench.compare(runs[runs.temporal == "meanp"], runs[runs.temporal == "tdb"])   # seeds against seeds
    c2vbench.leaderboard(runs, baseline="tiny-clip · meanp · cosine")  # the ranked rows, as the CSV export

Everything reads the files the commands read, with the same rules (:mod:`c2vbench.results.inputs`), and computes
what they compute: ``compare`` is ``c2vbench compare``, ``leaderboard`` is ``c2vbench leaderboard``. A DataFrame
made by :func:`load` keeps each run's file in its ``path`` column, and that is how the other functions find the
per-query ranks again: select rows with pandas, then pass the selection on.

pandas is an optional dependency (``pip install 'c2vbench[pandas]'``); it is imported here only.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c2vbench.evaluation.metrics import DIRECTIONS
from c2vbench.platform.errors import C2VBenchError, ResultFileError
from c2vbench.results.comparison import configuration_of, postprocess_of
from c2vbench.results.inputs import collect_results, expand_sources
from c2vbench.results.result_file import load_result_file

if TYPE_CHECKING:
    import pandas as pd

# "align_head", not "align": DataFrame.align is a pandas method, and frame.align == "tab" would compare it silently
IDENTITY_COLUMNS = ("run_id", "created", "entry", "dataset", "split", "backbone", "temporal", "align_head", "protocol",
                    "postprocess", "track", "seed", "protocol_hash", "config_key")
COST_COLUMNS = ("parameters", "trainable_parameters", "videos_per_second", "texts_per_second")
Source = Any  # a path, a folder, a generated board, a result dict, a DataFrame from load() or one of its rows


def _pandas():
    try:
        import pandas
    except ImportError:
        raise C2VBenchError("the notebook helpers need pandas, which is not installed",
                            "pip install 'c2vbench[pandas]'") from None
    return pandas


# ---------------------------------------------------------------------------------------------------------------
# rows


def flatten(mapping: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` with prefix ``config`` to ``{"config.a.b": 1}`` (lists and scalars kept as they are)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def run_row(path: Path | None, result: Mapping[str, Any]) -> dict[str, Any]:
    """One run as one row: identity, metrics per direction (``t2v R@1``, ``v2t MnR``, ...), query counts, subset
    metrics (``order_twins t2v R@1``), cost, every configuration setting flattened (``config.epochs``,
    ``config.backbone_options.layers``), and the file (``path``)."""
    from c2vbench.results.leaderboard import entry_name

    plugins = result.get("plugins", {})
    config = result.get("config", {})
    protocol = result.get("protocol", {})

    def name(role: str) -> Any:
        plugin = plugins.get(role)
        return plugin.get("name") if isinstance(plugin, Mapping) else None

    postprocess, track = postprocess_of(result)
    row: dict[str, Any] = {
        "run_id": result.get("run_id"), "created": result.get("created"), "entry": entry_name(result),
        "dataset": name("dataset"), "split": protocol.get("split"), "backbone": name("backbone"),
        "temporal": name("temporal"), "align_head": name("align"), "protocol": config.get("protocol"),
        "postprocess": postprocess, "track": track, "seed": config.get("seed"), "protocol_hash": protocol.get("hash"),
        "config_key": configuration_of(result, path or "").partition(":")[2],
    }
    for direction in DIRECTIONS:
        for metric, value in result["metrics"][direction].items():
            row[f"{direction} {metric}"] = value
    per_query = result["per_query"]
    row["n_text"], row["n_video"] = len(per_query["t2v_rank"]), len(per_query["v2t_rank"])
    for subset, block in sorted((result.get("subsets") or {}).items()):
        for direction in DIRECTIONS:
            for metric, value in (block.get("metrics", {}).get(direction) or {}).items():
                row[f"{subset} {direction} {metric}"] = value
        if isinstance(block.get("pairwise"), Mapping):
            row[f"{subset} own > rival %"] = block["pairwise"].get("accuracy")
    cost = result.get("cost") if isinstance(result.get("cost"), Mapping) else {}
    for key in COST_COLUMNS:
        row[key] = cost.get(key)
    selection = result.get("model_selection")
    row["selected_on_test"] = bool(isinstance(selection, Mapping) and selection.get("selected_on_test"))
    row.update(flatten(config, "config"))
    row["path"] = None if path is None else str(path)
    return row


# ---------------------------------------------------------------------------------------------------------------
# sources -> runs


@functools.lru_cache(maxsize=256)
def _cached_result(path: str, modified_ns: int) -> dict[str, Any]:
    return load_result_file(path)


def _read(path: str | Path) -> dict[str, Any]:
    try:
        modified = os.stat(path).st_mtime_ns
    except OSError:
        raise ResultFileError(f"{path}: no such file", "the DataFrame names a result file that is gone") from None
    return _cached_result(str(path), modified)


def _from_paths(paths: Iterable[str | Path]) -> list[tuple[Path, dict[str, Any]]]:
    collected = collect_results(expand_sources(paths))
    for message in collected.messages():
        warnings.warn(message, stacklevel=3)
    return collected.results


def runs_of(source: Source) -> list[tuple[Path | None, dict[str, Any]]]:
    """``(path, result)`` of every run a source names (see :data:`Source`)."""
    pandas = _pandas()
    if isinstance(source, pandas.DataFrame):
        if "path" not in source.columns:
            raise ResultFileError("this DataFrame has no path column", "make it with c2vbench.results.load()")
        return [(Path(path), _read(path)) for path in source["path"]]
    if isinstance(source, pandas.Series):
        if "path" not in source.index:
            raise ResultFileError("this row has no path", "take it from a DataFrame made by c2vbench.results.load()")
        return [(Path(source["path"]), _read(source["path"]))]
    if isinstance(source, Mapping):
        path = getattr(source, "path", None)
        return [(None if path is None else Path(path), dict(source))]
    if isinstance(source, (str, os.PathLike)):
        return list(_from_paths([source]))
    if isinstance(source, Iterable):
        found: list[tuple[Path | None, dict[str, Any]]] = []
        for item in source:
            found += runs_of(item)
        return found
    raise ResultFileError(f"cannot read results from a {type(source).__name__}",
                          "give a result file, a folder, a DataFrame from c2vbench.results.load() or a row of it")


# ---------------------------------------------------------------------------------------------------------------
# the API


def load(*sources: Source) -> pd.DataFrame:
    """Result files as a DataFrame, one row per run (oldest first).

    Args:
        sources: result files, folders (searched for result files, as ``leaderboard`` searches them), generated
            leaderboards (``leaderboards/synthetic-motion.md`` or ``.html``: the results they were rendered from),
            result dicts (what :func:`c2vbench.run` returns), or lists of these.

    Returns:
        A DataFrame with the columns of :func:`run_row`: identity (``run_id``, ``entry``, ``backbone``,
        ``temporal``, ``align_head``, ``dataset``, ``seed``, ``protocol_hash``, ...), ``t2v R@1`` ... ``v2t MnR``,
        ``n_text`` / ``n_video``, subset metrics, cost, ``config.*`` and ``path``.

    Raises:
        ResultFileError: a named file is not a result file, or the sources hold no result at all. Malformed files
            found in folders are passed over with a warning (as ``leaderboard`` passes over them).
    """
    pandas = _pandas()
    runs = runs_of(list(sources))
    if not runs:
        raise ResultFileError(f"no result file in {', '.join(str(source) for source in sources) or 'nothing'}",
                              "give result files or the folders c2vbench run / eval wrote them into")
    rows = [run_row(path, result) for path, result in runs]
    frame = pandas.DataFrame(rows)
    leading = [column for column in IDENTITY_COLUMNS if column in frame.columns]
    frame = frame[leading + [column for column in frame.columns if column not in leading]]
    return frame.sort_values(["created", "run_id"], kind="stable", ignore_index=True)


def per_query(source: Source, direction: str = "t2v", subset: str | None = None) -> pd.DataFrame:
    """Every run's per-query ranks, one column per run (named by run id), one row per query in the test set's order.

    Args:
        source: runs on one test set (see :data:`Source`), e.g. a selection of :func:`load`'s rows.
        direction: ``t2v`` (text queries; the index also gives each query's ground-truth video) or ``v2t``.
        subset: a named query subset (``order_twins``) instead of the whole test set.

    Raises:
        ResultFileError: runs on different protocols (their queries are not the same), or an unknown subset.
    """
    pandas = _pandas()
    if direction not in DIRECTIONS:
        raise C2VBenchError(f"unknown direction {direction!r}", f"use one of {', '.join(DIRECTIONS)}")
    runs = runs_of(source)
    if not runs:
        raise ResultFileError("no run to read ranks from", "select at least one row")
    hashes = sorted({result["protocol"]["hash"] for _, result in runs})
    if len(hashes) > 1:
        raise ResultFileError(f"these runs are on {len(hashes)} protocols ({', '.join(h[:12] for h in hashes)}), "
                              "whose queries are not the same", "select the runs of one protocol_hash")
    columns: dict[str, list[float]] = {}
    mapping = None
    for path, result in runs:
        block = result["per_query"]
        if subset is not None:
            subsets = result.get("subsets") or {}
            if subset not in subsets:
                raise ResultFileError(f"run {result.get('run_id')} has no subset {subset!r}",
                                      f"its subsets: {', '.join(sorted(subsets)) or 'none'}")
            block = subsets[subset]["per_query"]
        name = str(result.get("run_id") or path)
        if name in columns:
            name = f"{name} ({path})"
        columns[name] = block[f"{direction}_rank"]
        if direction == "t2v" and mapping is None:
            mapping = block.get("t2v_video")
    frame = pandas.DataFrame(columns)
    if mapping is not None:
        frame.index = pandas.MultiIndex.from_arrays([range(len(frame)), mapping], names=["query", "video"])
    else:
        frame.index.name = "query"
    return frame


def _side(source: Source, label: str) -> list[dict[str, Any]]:
    from c2vbench.results.inputs import one_configuration

    runs = runs_of(source)
    if not runs:
        raise ResultFileError(f"side {label} holds no run", "check the selection (an empty DataFrame?)")
    if len(runs) == 1:
        return [runs[0][1]]
    results, set_aside = one_configuration([(path or Path(f"{label}[{index}]"), result)
                                            for index, (path, result) in enumerate(runs)], label)
    for item in set_aside:
        warnings.warn(f"set aside {item.describe()}", stacklevel=3)
    return results


def compare(a: Source, b: Source, n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """``c2vbench compare`` between two sides: each one run, or the seeds of one configuration (diff = b - a).

    Returns:
        One row per (direction, metric) with ``a``, ``b``, ``diff``, ``ci_low``, ``ci_high``, ``p``, ``test`` and
        the seeds of each side: the numbers ``c2vbench compare --json`` prints.

    Raises:
        ResultFileError: the sides are on different protocols, share runs, or a side mixes configurations.
    """
    from c2vbench.results.comparison import compare_results
    from c2vbench.results.inputs import refuse_shared_runs

    pandas = _pandas()
    first, second = _side(a, "a"), _side(b, "b")
    refuse_shared_runs(first, second, "a", "b")
    comparison = compare_results(first if len(first) > 1 else first[0], second if len(second) > 1 else second[0],
                                 n_resamples=n_resamples, seed=seed, labels=("a", "b"))
    rows = []
    for direction, metrics in comparison.items():
        for metric, row in metrics.items():
            rows.append({"direction": direction, "metric": metric, "a": row["a"], "b": row["b"], "diff": row["diff"],
                         "ci_low": row["ci"][0], "ci_high": row["ci"][1], "p": row["p"], "test": row["test"],
                         "seeds_a": row["seeds"][0], "seeds_b": row["seeds"][1]})
    return pandas.DataFrame(rows).set_index(["direction", "metric"])


def leaderboard(source: Source, baseline: str | None = None, n_resamples: int = 2000, seed: int = 0,
                format: str = "frame") -> Any:  # noqa: A002 - the command's option name
    """``c2vbench leaderboard`` on these runs.

    Args:
        source: the runs (see :data:`Source`); one protocol or several (never ranked together).
        baseline: entry name or run-id prefix the other rows are tested against.
        format: ``frame`` (a DataFrame: one row per ranked row, the CSV export's columns), ``records`` (the JSON
            export's list), ``md`` or ``html`` (the markdown or the web page, as text).
    """
    from c2vbench.results.leaderboard_export import records_table, render_board, table_records

    if format not in ("frame", "records", "md", "html"):
        raise C2VBenchError(f"unknown leaderboard format {format!r}", "use frame, records, md or html")
    runs = [(path or Path(f"run-{index}.json"), result) for index, (path, result) in enumerate(runs_of(source))]
    command = "c2vbench.leaderboard() in Python"
    if format in ("md", "html"):
        return render_board(runs, format, command, baseline, n_resamples, seed)
    from c2vbench.results.leaderboard import leaderboard_tables

    records = table_records(leaderboard_tables(runs, baseline, n_resamples, seed))
    if format == "records":
        return records
    header, rows = records_table(records)
    return _pandas().DataFrame(rows, columns=header)
