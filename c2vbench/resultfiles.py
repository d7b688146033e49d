"""Reading and validating result files for ``compare`` and ``leaderboard``.

The pipeline writes result files (see :mod:`c2vbench.results`); this module is the reading side: it accepts only
files that carry what the comparison tools rely on, and reports anything else as one :class:`ResultFileError`
naming the file and the problem.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import ResultFileError
from .metrics import METRIC_NAMES, TIE_POLICIES, V2T_MODES

SUPPORTED_SCHEMA_VERSIONS = (1,)


class ForeignFileError(ResultFileError):
    """A JSON file that does not claim to be a result file at all (no ``schema_version``): e.g. a checkpoint's
    ``config.json`` lying next to the results. Directory scans may summarise these instead of listing each."""


class _ForeignFile(ValueError):
    pass


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _require_mapping(container: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{where}{key!r} must be an object" if key in container else f"missing {where}{key!r}")
    return value


def _check_number_list(values: Any, name: str, length: int | None = None, integral: bool = False) -> int:
    if not isinstance(values, list):
        raise ValueError(f"per_query.{name} must be a list")
    if not all(_is_number(value) for value in values):
        raise ValueError(f"per_query.{name} must hold finite numbers only")
    if integral and not all(float(value).is_integer() for value in values):
        raise ValueError(f"per_query.{name} must hold integers")
    if length is not None and len(values) != length:
        raise ValueError(f"per_query.{name} has {len(values)} entries, expected {length}")
    return len(values)


def validate_result(result: Any) -> dict[str, Any]:
    """Return ``result`` if it is a usable result dictionary, else raise ``ValueError`` with the reason."""
    if not isinstance(result, dict):
        raise _ForeignFile("not a JSON object (not a c2vbench result file?)")
    version = result.get("schema_version")
    if "schema_version" not in result:
        raise _ForeignFile("missing 'schema_version' (not a c2vbench result file?)")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"schema_version must be an integer, got {version!r}")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ValueError(
            f"schema_version {version} is not supported (this c2vbench reads {list(SUPPORTED_SCHEMA_VERSIONS)}); "
            "upgrade c2vbench"
        )
    metrics = _require_mapping(result, "metrics", "")
    for direction in ("t2v", "v2t"):
        block = _require_mapping(metrics, direction, "metrics.")
        for name in METRIC_NAMES:
            if not _is_number(block.get(name)):
                raise ValueError(f"metrics.{direction}.{name} must be a finite number")
    per_query = _require_mapping(result, "per_query", "")
    for direction in ("t2v", "v2t"):
        if f"{direction}_rank" not in per_query:
            raise ValueError(f"missing per_query.{direction}_rank")
        count = _check_number_list(per_query[f"{direction}_rank"], f"{direction}_rank")
        if count == 0:
            raise ValueError(f"per_query.{direction}_rank is empty")
        if any(rank < 1 for rank in per_query[f"{direction}_rank"]):
            raise ValueError(f"per_query.{direction}_rank holds ranks below 1 (ranks are 1-based)")
        if f"{direction}_ties" in per_query:
            _check_number_list(per_query[f"{direction}_ties"], f"{direction}_ties", count, integral=True)
    if "t2v_video" in per_query:
        _check_number_list(per_query["t2v_video"], "t2v_video", len(per_query["t2v_rank"]), integral=True)
    protocol = _require_mapping(result, "protocol", "")
    if not isinstance(protocol.get("hash"), str) or not protocol["hash"]:
        raise ValueError("protocol.hash must be a non-empty string")
    for key in ("plugins", "config", "postprocess", "cost", "env", "subsets", "plain"):
        if key in result and not isinstance(result[key], dict):
            raise ValueError(f"{key!r} must be an object")
    for key in ("run_id", "config_key"):
        if key in result and not isinstance(result[key], str):
            raise ValueError(f"{key!r} must be a string")
    if "tie" in result and result["tie"] not in TIE_POLICIES:
        raise ValueError(f"unknown tie policy {result['tie']!r}")
    if "v2t_mode" in result and result["v2t_mode"] not in V2T_MODES:
        raise ValueError(f"unknown v2t_mode {result['v2t_mode']!r}")
    return result


def load_result_file(path: str | Path) -> dict[str, Any]:
    """Read and validate one result file.

    Raises:
        ResultFileError: ``"<file>: <reason>"`` for unreadable, non-JSON or malformed files.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file", "check the path") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ResultFileError(f"{path}: cannot read ({error.__class__.__name__}: {error})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultFileError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    try:
        return validate_result(data)
    except _ForeignFile as error:
        raise ForeignFileError(f"{path}: {error}", "remove it from the inputs") from None
    except ValueError as error:
        raise ResultFileError(f"{path}: {error}", "regenerate it with `c2vbench run` or `c2vbench eval`") from None


def iter_result_files(paths_or_dirs: Iterable[str | Path]) -> Iterator[tuple[Path, dict[str, Any] | ResultFileError]]:
    """Yield ``(path, result)`` or ``(path, error)`` for every file given or found under the directories given.

    Directories are searched recursively for ``*.json`` (sorted), skipping hidden files and directories (a
    writer's partial state); a path that does not exist yields an error.
    """
    for entry in paths_or_dirs:
        entry = Path(entry)
        if entry.is_dir():
            files = sorted(
                candidate
                for candidate in entry.rglob("*.json")
                if candidate.is_file() and not any(part.startswith(".") for part in candidate.relative_to(entry).parts)
            )
        else:
            files = [entry]
        for file in files:
            try:
                yield file, load_result_file(file)
            except ResultFileError as error:
                yield file, error
