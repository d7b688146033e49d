"""Readers for annotation files as the datasets distribute them: id lists, csv, json, and a *safe* pickle reader.

Every reader raises :class:`c2vbench.platform.errors.DataError` naming the file and what is wrong with it. Every file a
dataset reads is checksummed (:func:`c2vbench.data.extraction.sha256_file`) so the protocol card can prove which
annotations a result used.

Pickles: ``raw-captions.pkl`` (MSVD) is a pickle, and unpickling runs code chosen by whoever wrote the file.
:func:`load_plain_pickle` uses an unpickler that resolves no global at all except a few plain container types, so
a pickle that tries to call anything (``os.system``, ``eval``, a class constructor) is refused before it runs.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
from pathlib import Path
from typing import Any

from c2vbench.platform.errors import DataError

# The only globals a caption pickle may name: plain containers. Strings, lists, dicts and tuples need no global.
_ALLOWED_GLOBALS = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
    ("builtins", "str"),
    ("collections", "OrderedDict"),
    ("__builtin__", "set"),  # Python 2 pickles
    ("__builtin__", "frozenset"),
}


def require_file(root: Path, relative: str, dataset: str, how_to_get: str) -> Path:
    """``root/relative``, or a DataError naming exactly the file expected and how to get it."""
    path = Path(root) / relative
    if not path.is_file():
        raise DataError(f"{dataset}: annotation file {path} not found",
                        f"{how_to_get}; point --data-root at the folder that holds {relative}")
    return path


def read_id_list(path: Path) -> list[str]:
    """One id per line (blank lines ignored), in file order; duplicates are refused."""
    ids = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    _refuse_duplicates(ids, path)
    return ids


def read_csv_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a csv with a header line; every ``required`` column must exist."""
    reader = csv.DictReader(io.StringIO(read_text(path)))
    missing = [column for column in required if column not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{path} has no column {', '.join(missing)} (its header is {reader.fieldnames})",
                        "use the csv file as distributed with the dataset")
    return [dict(row) for row in reader]


def read_csv_column(path: Path, column: str) -> list[str]:
    ids = [row[column].strip() for row in read_csv_rows(path, (column,)) if (row[column] or "").strip()]
    _refuse_duplicates(ids, path)
    return ids


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON ({error})", "re-download the annotation file") from None


class PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global except plain container types (so it can never call code)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain containers and strings are "
                                     "allowed in an annotation pickle")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids in an annotation pickle")


def load_plain_pickle(path: Path) -> Any:
    """Unpickle ``path`` with :class:`PlainDataUnpickler`; anything else than plain data raises DataError."""
    try:
        with open(path, "rb") as handle:
            return PlainDataUnpickler(handle, encoding="utf-8").load()
    except pickle.UnpicklingError as error:
        raise DataError(f"{path} is not a plain-data pickle: {error}",
                        "use the file as distributed; a pickle that names code is never loaded") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError) as error:
        raise DataError(f"{path} is not a readable pickle ({type(error).__name__}: {error})",
                        "re-download the annotation file") from None


def read_text(path: Path) -> str:
    """The file's text (UTF-8, a byte-order mark dropped), or a DataError saying it is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text ({error})", "re-download the annotation file") from None


def _refuse_duplicates(ids: list[str], path: Path) -> None:
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = sorted({item for item in ids if item in seen or seen.add(item)})
        raise DataError(f"{path} lists {len(repeated)} video id(s) more than once, e.g. {repeated[:3]}",
                        "use the list file as distributed")
