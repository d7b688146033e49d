"""The embeddings file ``c2vbench embed`` writes and ``c2vbench search`` reads: one safetensors file.

Rows are videos, sorted by id. Tensors:

* ``ids.utf8`` (uint8) and ``ids.offsets`` (int64, ``n + 1``): the ids, UTF-8, row ``i`` in bytes
  ``offsets[i]:offsets[i+1]`` (kept as tensors, not in the header, so that millions of ids stay cheap);
* ``stamps`` (int64 ``[n, 2]``): each source's size and modification time (ns) when it was embedded; a video whose
  stamp changed is embedded again;
* the video side of the scores: ``factors`` ``[n, F]`` for an align head whose scores are dot products
  (``text_factors(text) @ factors.T``: search is then exact over every video); otherwise the head's whole input,
  ``pooled`` ``[n, D]``, ``frames`` ``[n, T, D]``, ``frame_mask`` ``[n, T]`` and, when the temporal module gives
  them, ``alignment_tokens`` / ``alignment_mask``.

The header's metadata holds ``format`` (``c2vbench-video-embeddings``), ``format_version`` and ``identity``: a JSON
description of the model (its checkpoint's SHA-256, or its components, options and seed) with a SHA-256 of all its
weights, the frame protocol, the preprocessing and precision, and the score form (``dot`` or ``head``). Rows are
only ever added to a file with the same identity.

Files from others are read as tensors only (safetensors holds no code) and checked before use; the file is written
through a temporary file and a rename, so it is always whole.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import torch

from c2vbench.platform.errors import DataError
from c2vbench.runtime.atomic_files import write_bytes_atomic

FORMAT = "c2vbench-video-embeddings"
FORMAT_VERSION = 1
DOT_TENSORS = ("factors",)
HEAD_TENSORS = ("pooled", "frames", "frame_mask")
OPTIONAL_HEAD_TENSORS = ("alignment_tokens", "alignment_mask")
# identity fields that must agree before rows are added to a file (paths and devices may differ)
MATCHING_FIELDS = ("weights_sha256", "frames", "preprocess", "precision", "scores")


@dataclasses.dataclass
class VideoEmbeddings:
    """Embedded videos (rows sorted by id) and the identity of what embedded them."""

    ids: list[str]
    stamps: torch.Tensor  # [n, 2] int64
    tensors: dict[str, torch.Tensor]  # the score tensors, rows aligned with ids
    identity: dict[str, Any]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def scores(self) -> str:
        return str(self.identity.get("scores"))

    def rows(self, indices: list[int] | torch.Tensor) -> VideoEmbeddings:
        index = torch.as_tensor(indices, dtype=torch.long)
        return VideoEmbeddings([self.ids[i] for i in index.tolist()], self.stamps[index],
                               {name: value[index] for name, value in self.tensors.items()}, self.identity)


def empty_like(identity: dict[str, Any]) -> VideoEmbeddings:
    return VideoEmbeddings([], torch.zeros((0, 2), dtype=torch.int64), {}, identity)


def concatenate(parts: list[VideoEmbeddings], identity: dict[str, Any]) -> VideoEmbeddings:
    """The rows of every part, sorted by id (a later part's row replaces an earlier one's of the same id)."""
    position: dict[str, tuple[int, int]] = {}
    for part_index, part in enumerate(parts):
        for row, video_id in enumerate(part.ids):
            position[video_id] = (part_index, row)
    ids = sorted(position)
    if not ids:
        return empty_like(identity)
    names = next(part.tensors.keys() for part in parts if len(part))
    stamps, tensors = [], {name: [] for name in names}
    for video_id in ids:
        part_index, row = position[video_id]
        part = parts[part_index]
        stamps.append(part.stamps[row])
        for name in names:
            tensors[name].append(part.tensors[name][row])
    return VideoEmbeddings(ids, torch.stack(stamps), {name: torch.stack(rows) for name, rows in tensors.items()},
                           identity)


def identity_differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """The identity fields (of :data:`MATCHING_FIELDS`) on which two embeddings disagree."""
    return [field for field in MATCHING_FIELDS if first.get(field) != second.get(field)]


# ---------------------------------------------------------------------------------------------------------------
# bytes


def to_bytes(embeddings: VideoEmbeddings) -> bytes:
    from safetensors.torch import save

    encoded = [video_id.encode("utf-8") for video_id in embeddings.ids]
    offsets = [0]
    for item in encoded:
        offsets.append(offsets[-1] + len(item))
    tensors = {"ids.utf8": torch.frombuffer(bytearray(b"".join(encoded)), dtype=torch.uint8) if encoded
               else torch.zeros(0, dtype=torch.uint8),
               "ids.offsets": torch.tensor(offsets, dtype=torch.int64),
               "stamps": embeddings.stamps.to(torch.int64).contiguous()}
    tensors.update({name: value.contiguous() for name, value in embeddings.tensors.items()})
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "identity": json.dumps(embeddings.identity, sort_keys=True)}
    return save(tensors, metadata=metadata)


def write_embeddings(path: str | Path, embeddings: VideoEmbeddings) -> Path:
    """Write the file atomically (whole or not at all)."""
    return write_bytes_atomic(path, to_bytes(embeddings))


def read_embeddings(path: str | Path) -> VideoEmbeddings:
    """Read and check an embeddings file.

    Raises:
        DataError: missing, not a safetensors file, not written by ``c2vbench embed``, or inconsistent.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist", "write it with `c2vbench embed VIDEOS --out FILE`")

    def bad(reason: str) -> DataError:
        return DataError(f"{path} is not a usable c2vbench embeddings file: {reason}",
                         "give a file written by `c2vbench embed`, or write it again")

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - not a dict
    except Exception as error:  # safetensors raises its own errors on damaged or foreign files
        raise bad(" ".join(str(error).split())[:120] or type(error).__name__) from None
    if metadata.get("format") != FORMAT:
        raise bad(f"its header says format {metadata.get('format')!r}, not {FORMAT!r}")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise bad(f"format version {metadata.get('format_version')!r} (this c2vbench reads {FORMAT_VERSION})")
    try:
        identity = json.loads(metadata.get("identity", ""))
    except json.JSONDecodeError:
        raise bad("its identity is not JSON") from None
    if not isinstance(identity, dict) or identity.get("scores") not in ("dot", "head"):
        raise bad("its identity names no score form (dot or head)")
    ids = _decode_ids(tensors, bad)
    stamps = tensors.pop("stamps", None)
    if stamps is None or stamps.dtype != torch.int64 or tuple(stamps.shape) != (len(ids), 2):
        raise bad("its stamps are missing or do not match the ids")
    wanted = DOT_TENSORS if identity["scores"] == "dot" else HEAD_TENSORS
    missing = [name for name in wanted if name not in tensors]
    unknown = sorted(set(tensors) - set(wanted) - set(OPTIONAL_HEAD_TENSORS))
    if missing or unknown:
        raise bad(f"tensors {', '.join(missing)} missing" if missing else f"unexpected tensors {', '.join(unknown)}")
    for name, value in tensors.items():
        if value.shape[0] != len(ids):
            raise bad(f"{name} has {value.shape[0]} rows for {len(ids)} ids")
        if value.is_floating_point() and value.numel() and not bool(torch.isfinite(value).all()):
            raise bad(f"{name} holds NaN or infinite values")
    return VideoEmbeddings(ids, stamps, tensors, identity)


def _decode_ids(tensors: dict[str, torch.Tensor], bad) -> list[str]:
    data, offsets = tensors.pop("ids.utf8", None), tensors.pop("ids.offsets", None)
    if data is None or offsets is None or data.dtype != torch.uint8 or offsets.dtype != torch.int64 \
            or offsets.ndim != 1 or offsets.numel() < 1:
        raise bad("its ids are missing")
    bounds = offsets.tolist()
    if bounds[0] != 0 or bounds[-1] != data.numel() or any(a > b for a, b in itertools.pairwise(bounds)):
        raise bad("its id offsets are inconsistent")
    raw = data.numpy().tobytes()
    try:
        ids = [raw[start:end].decode("utf-8") for start, end in itertools.pairwise(bounds)]
    except UnicodeDecodeError:
        raise bad("an id is not UTF-8") from None
    if ids != sorted(set(ids)):
        raise bad("its ids are not unique and sorted")
    return ids
