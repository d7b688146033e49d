"""The ``folder`` dataset's record types: a dataset that explains a missing train split, and video sources that
find the files its captions rows name (imported when the dataset is built, not when plug-ins are listed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from c2vbench.plugin import VIDEO_SUFFIXES, DataError, RetrievalDataset, VideoSources


class FolderDataset(RetrievalDataset):
    """A :class:`RetrievalDataset` whose missing ``train`` split is explained (zero-shot collections have none)."""

    def __init__(self, *args: Any, no_training_reason: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.no_training_reason = no_training_reason

    def split(self, name: str) -> Any:
        if name == "train" and name not in self.splits and self.no_training_reason:
            raise DataError(f"dataset 'folder' has no train split: {self.no_training_reason}",
                            "run with --protocol zeroshot, add rows with split 'train' to the captions file, or "
                            "pass --dataset-option split_rule=hash for a deterministic split")
        return super().split(name)


class FolderSources(VideoSources):
    """Video sources that also find the file a row named (``clips/dog.mp4``) and ids with dots (``a.b.mp4``)."""

    def __init__(self, *args: Any, listed_files: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.listed_files = listed_files
        self._by_stem: dict[str, Path] | None = None

    def source(self, video_id: str) -> Path:
        if self.kind == "frames":
            return super().source(video_id)
        if video_id in self.listed_files:
            return self.folder / self.listed_files[video_id]
        if self._by_stem is None:
            self._by_stem = {}
            for entry in sorted(self.folder.iterdir()):
                if entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES:
                    self._by_stem.setdefault(entry.name[: -len(entry.suffix)], entry)
        return self._by_stem.get(video_id) or super().source(video_id)
