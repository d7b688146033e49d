"""Backbone embeddings of a split kept on disk, so that a second ``frozen`` or ``zeroshot`` run skips decoding and
the backbone entirely.

What is cached, per split: the per-frame embeddings and frame masks of every video (a
:class:`~c2vbench.evaluation.features.FrameBank`), and the text features of every caption (EOT vectors, per-token
embeddings and token masks). What keys an entry (:func:`frames_key`, :func:`texts_key`): a hash of the backbone's
weights, the preprocessing (image size, normalisation, tensor or PIL path), the frame sampling, the split (dataset
protocol, split name, every video's id and source file size and time) or its captions, the precision and the device type
— change any of them and the entry is simply not found.

Layout: ``<root>/<key[:2]>/<key>/`` holding ``meta.json`` and safetensors shards (``frames-00000.safetensors``,
...; ``text-00000.safetensors``, ...). An entry appears whole or not at all: it is written into a hidden folder
beside it and renamed into place (:func:`c2vbench.runtime.atomic_files.publish_folder_atomic`), so an interrupted or
killed writer leaves only a hidden folder that is never read (``c2vbench cache rm --stale`` removes them, but never
the staging folder of a writer that is still running: it holds a lock there, see
:func:`c2vbench.runtime.atomic_files.staging_is_live`), and of two concurrent writers of one key the first rename
wins. Every shard's SHA-256 and size are in ``meta.json`` and checked on reading: a damaged entry is a miss, never
wrong numbers, and it is moved aside (a hidden ``.damaged-*`` folder that ``cache ls`` shows and ``cache rm
--stale`` removes) so that the run that recomputes it writes it again.

The API is small on purpose (other features reuse it: order probes read per-frame embeddings of the test split)::

    cache = EmbeddingCache()                      # root: $C2VBENCH_EMBEDDING_CACHE or <c2vbench cache>/embeddings
    key = frames_key(backbone, image_format, sampling, split, precision="fp32", device_type="cpu")
    bank = cache.get_frames(key)                  # FrameBank or None
    cache.put_frames(key, bank, describe={...})   # returns False when another writer published it first
    cache.get_texts(key) / cache.put_texts(key, text_features, describe={...})
    cache.entries(); cache.remove(prefix)

The root is ``$C2VBENCH_EMBEDDING_CACHE``, else ``$C2VBENCH_CACHE/embeddings``, else ``~/.cache/c2vbench/embeddings``.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from c2vbench.runtime.atomic_files import publish_folder_atomic
from c2vbench.runtime.hashing import canonical_hash

if TYPE_CHECKING:
    from c2vbench.data.loader import ImageFormat
    from c2vbench.data.sampling import FrameSampling
    from c2vbench.data.types import RetrievalSplit
    from c2vbench.evaluation.features import FrameBank
    from c2vbench.platform.interfaces import TextFeatures

CACHE_FORMAT = 1
SHARD_ROWS = 4096  # videos (or captions) per shard
META_FILE = "meta.json"


def default_cache_root() -> Path:
    explicit = os.environ.get("C2VBENCH_EMBEDDING_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("C2VBENCH_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "c2vbench") / "embeddings"


# ---------------------------------------------------------------------------------------------------------------
# keys


def weights_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer (name, dtype, shape, bytes), in state-dict order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _source_stamp(source: Path) -> list[Any]:
    try:
        stat = source.stat()
    except OSError:
        return [str(source), None, None]
    return [str(source), stat.st_size, stat.st_mtime_ns]


def _window(video: Any) -> list[Any]:
    """A record's time window, when it has one (records without one keep the keys they always had)."""
    window = getattr(video, "window", None)
    return [] if window is None else [list(window)]


def frames_key(backbone_fingerprint: str, image_format: ImageFormat, preprocess: str, sampling: FrameSampling,
               split: RetrievalSplit, dataset_protocol: dict[str, Any], precision: str, device_type: str) -> str:
    """The key of a split's per-frame embeddings (see the module docs for what it covers)."""
    return canonical_hash({
        "kind": "frames", "format": CACHE_FORMAT, "backbone": backbone_fingerprint,
        "image": dataclasses.asdict(image_format), "preprocess": preprocess, "sampling": sampling.describe(),
        "dataset": dataset_protocol, "split": split.name,
        "videos": [[video.video_id, *_source_stamp(Path(video.source)), *_window(video)] for video in split.videos],
        "precision": precision, "device": device_type,
    })


def texts_key(backbone_fingerprint: str, captions: list[str], context_length: int, precision: str,
              device_type: str) -> str:
    """The key of the text features of a list of captions."""
    return canonical_hash({
        "kind": "texts", "format": CACHE_FORMAT, "backbone": backbone_fingerprint, "context": context_length,
        "captions": hashlib.sha256("\n".join(captions).encode()).hexdigest(), "n": len(captions),
        "precision": precision, "device": device_type,
    })


# ---------------------------------------------------------------------------------------------------------------
# the cache


DAMAGED_PREFIX = ".damaged-"


@dataclasses.dataclass
class CacheEntry:
    """One cached entry as ``c2vbench cache ls`` shows it.

    ``state``: ``ok``; ``damaged`` (a shard missing or of the wrong size or, with ``verify``, hash; or an entry
    moved aside when a run found it damaged); ``staging`` (a writer at work now); ``stale`` (left by a writer that
    stopped)."""

    key: str
    kind: str
    path: Path
    size_bytes: int
    rows: int
    created: str
    describe: dict[str, Any]
    state: str = "ok"


class EmbeddingCache:
    """Per-split embeddings on disk (see the module docs)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_root()

    def path_of(self, key: str) -> Path:
        return self.root / key[:2] / key

    # -- frames ----------------------------------------------------------------------------------------------

    def get_frames(self, key: str) -> FrameBank | None:
        """The cached per-frame embeddings of a split, or None (absent, incomplete or damaged)."""
        from c2vbench.evaluation.features import FrameBank

        found = self._read(key, "frames")
        if found is None:
            return None
        tensors, meta = found
        # the seconds the backbone took when the entry was written: the result's cost stays the model's cost
        return FrameBank(tensors["features"], tensors["frame_mask"], float(meta["describe"].get("seconds", 0.0)))

    def put_frames(self, key: str, bank: FrameBank, describe: dict[str, Any] | None = None) -> bool:
        """Store a split's per-frame embeddings; False when the key is already there (another writer won)."""
        return self._write(key, "frames", {"features": bank.features, "frame_mask": bank.frame_mask}, describe)

    # -- texts -----------------------------------------------------------------------------------------------

    def get_texts(self, key: str) -> TextFeatures | None:
        """The cached text features of a caption list, or None."""
        from c2vbench.platform.interfaces import TextFeatures

        found = self._read(key, "texts")
        if found is None:
            return None
        tensors, _ = found
        return TextFeatures(tensors["eot"], tensors["tokens"], tensors["token_mask"])

    def describe(self, key: str) -> dict[str, Any]:
        """The ``describe`` dictionary an entry was written with ({} when absent)."""
        try:
            return json.loads((self.path_of(key) / META_FILE).read_text()).get("describe", {})
        except (OSError, ValueError):
            return {}

    def put_texts(self, key: str, text: TextFeatures, describe: dict[str, Any] | None = None) -> bool:
        """Store the text features of a caption list; False when the key is already there."""
        return self._write(key, "texts", {"eot": text.eot, "tokens": text.tokens, "token_mask": text.token_mask},
                           describe)

    # -- listing and removal ---------------------------------------------------------------------------------

    def entries(self, verify: bool = False) -> list[CacheEntry]:
        """Every published entry, oldest first, each with its state: ``ok`` or ``damaged`` (a shard missing or of
        the wrong size; with ``verify``, also a shard whose SHA-256 differs: every byte is read)."""
        found = []
        if not self.root.is_dir():
            return found
        for folder in sorted(self.root.glob("*/*")):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            try:
                meta = json.loads((folder / META_FILE).read_text())
                state = "ok" if self._shards_intact(folder, meta, verify) else "damaged"
            except (OSError, ValueError, AttributeError):
                meta, state = {}, "damaged"
            size = sum(item.stat().st_size for item in folder.iterdir() if item.is_file())
            found.append(CacheEntry(folder.name, meta.get("kind", "?"), folder, size, int(meta.get("rows", 0)),
                                    meta.get("created", ""), meta.get("describe", {}), state))
        return sorted(found, key=lambda entry: entry.created)

    def hidden_folders(self) -> list[CacheEntry]:
        """The hidden folders: writers at work (``staging``), writers that stopped (``stale``) and entries moved
        aside as damaged (``damaged``). None of them is ever read."""
        from c2vbench.runtime.atomic_files import staging_is_live

        if not self.root.is_dir():
            return []
        listed = []
        for path in sorted(path for path in self.root.glob("*/.*") if path.is_dir()):
            if path.name.startswith(DAMAGED_PREFIX):
                state, key = "damaged", path.name[len(DAMAGED_PREFIX):].split(".")[0]
            else:
                state, key = ("staging" if staging_is_live(path) else "stale"), path.name[1:].split(".")[0]
            size = sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
            listed.append(CacheEntry(key, "?", path, size, 0, "", {}, state))
        return listed

    def stale_folders(self) -> list[Path]:
        """Hidden folders that no running writer holds: left by interrupted writers, or damaged entries moved
        aside. A live writer's staging folder is never among them."""
        return [entry.path for entry in self.hidden_folders() if entry.state != "staging"]

    def _shards_intact(self, folder: Path, meta: dict[str, Any], verify: bool) -> bool:
        for shard in meta.get("shards", []):
            path = folder / shard["file"]
            if not path.is_file():
                return False
            if "bytes" in shard and path.stat().st_size != shard["bytes"]:
                return False
            if verify and hashlib.sha256(path.read_bytes()).hexdigest() != shard.get("sha256"):
                return False
        return bool(meta.get("shards"))

    def quarantine(self, key: str) -> Path | None:
        """Move a damaged entry aside (hidden, never read), so that the next put of its key writes it again."""
        import uuid

        folder = self.path_of(key)
        target = folder.parent / f"{DAMAGED_PREFIX}{key}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(folder, target)
        except OSError:  # another reader moved it first, or the cache is read-only: a miss either way
            return None
        return target

    def remove(self, prefix: str = "") -> list[str]:
        """Remove every entry whose key starts with ``prefix`` (all entries for ``""``); returns their keys."""
        removed = []
        for entry in self.entries():
            if entry.key.startswith(prefix):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.key)
        return removed

    # -- shards ----------------------------------------------------------------------------------------------

    def _write(self, key: str, kind: str, tensors: dict[str, torch.Tensor], describe: dict[str, Any] | None) -> bool:
        from safetensors.torch import save

        final = self.path_of(key)
        if (final / META_FILE).exists():
            return False
        rows = int(next(iter(tensors.values())).shape[0])
        files: dict[str, bytes] = {}
        shards = []
        for index, start in enumerate(range(0, max(rows, 1), SHARD_ROWS)):
            part = {name: value[start:start + SHARD_ROWS].detach().to("cpu").contiguous()
                    for name, value in tensors.items()}
            payload = save(part, metadata={"key": key, "kind": kind, "start": str(start)})
            name = f"{kind}-{index:05d}.safetensors"
            files[name] = payload
            shards.append({"file": name, "rows": int(next(iter(part.values())).shape[0]),
                           "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()})
        meta = {"format": CACHE_FORMAT, "key": key, "kind": kind, "rows": rows, "shards": shards,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "describe": describe or {}}
        # meta.json last: the folder is renamed into place only once every shard is on disk
        files[META_FILE] = (json.dumps(meta, indent=1) + "\n").encode()
        return publish_folder_atomic(final, files)

    def _read(self, key: str, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:

        folder = self.path_of(key)
        if not folder.is_dir():
            return None
        found = self._read_entry(folder, key, kind)
        if found is None:  # damaged on disk: a miss, recomputed and never trusted, and moved aside to be rewritten
            self.quarantine(key)
        return found

    def _read_entry(self, folder: Path, key: str,
                    kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        from safetensors.torch import load

        try:
            meta = json.loads((folder / META_FILE).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT or meta.get("kind") != kind \
                or meta.get("key") != key:
            return None
        parts: dict[str, list[torch.Tensor]] = {}
        for shard in meta.get("shards", []):
            try:
                payload = (folder / shard["file"]).read_bytes()
            except (OSError, KeyError, TypeError):
                return None
            if hashlib.sha256(payload).hexdigest() != shard.get("sha256"):
                return None
            for name, value in load(payload).items():
                parts.setdefault(name, []).append(value)
        if not parts:
            return None
        tensors = {name: torch.cat(values) for name, values in parts.items()}
        if any(value.shape[0] != meta.get("rows") for value in tensors.values()):
            return None
        meta.setdefault("describe", {})
        return tensors, meta
