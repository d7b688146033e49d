"""Records that every dataset plug-in returns: videos, captions, splits and the protocol they define.

A dataset plug-in's factory returns a :class:`RetrievalDataset`. The core never looks inside annotation files: it
only sees these records, so one pipeline serves every dataset.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from c2vbench.data.sampling import FrameSampling


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    """One video of a split.

    Attributes:
        video_id: the dataset's id (``video7010``, ``-4wsuPCjDBc_5_15``).
        source: a video file, or a folder of extracted frames (``00000001.jpg``...).
        start, end: a time window in seconds from the start of the source, ``start`` included and ``end``
            excluded (None: from the start / to the end). Sampling then works on the part of the grid inside the
            window, as if the clip had been cut out of the video (YouCook2's segments, DiDeMo's 30 annotated
            seconds); see :func:`c2vbench.data.sampling.window_bounds`.
        source_key: the name the source goes by under the dataset root: its frame folder's name, the id
            ``c2vbench prepare`` extracts it under (default: ``video_id``). Records cut from one video share it.
    """

    video_id: str
    source: Path
    start: float | None = None
    end: float | None = None
    source_key: str | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.start < 0:
            raise ValueError(f"video {self.video_id}: window start {self.start} is negative")
        if self.start is not None and self.end is not None and not self.end > self.start:
            raise ValueError(f"video {self.video_id}: window end {self.end} is not after its start {self.start}")

    @property
    def window(self) -> tuple[float, float | None] | None:
        """``(start, end)`` in seconds when the record is cut from its source by time, else None."""
        if self.start is None and self.end is None:
            return None
        return (self.start or 0.0, self.end)

    @property
    def key(self) -> str:
        """:attr:`source_key`, or the video id."""
        return self.source_key or self.video_id


@dataclasses.dataclass(frozen=True)
class CaptionRecord:
    """One caption (one text query), pointing at its video by index into ``RetrievalSplit.videos``."""

    text: str
    video_index: int


@dataclasses.dataclass(frozen=True)
class QuerySubset:
    """A named subset of a test split, reported separately in the result file (e.g. ``order_twins``).

    Attributes:
        caption_indices: text queries of the subset (indices into ``RetrievalSplit.captions``).
        video_indices: video queries of the subset (indices into ``RetrievalSplit.videos``).

    Ranks inside a subset are still computed against the whole gallery; only the averaging is restricted.

    ``rival_videos`` (optional, aligned with ``caption_indices``): for each text query, one competing video. The
    result then also reports the subset's pairwise accuracy: how often the query's own video scores above its rival
    (ties count one half), 50% for a model that cannot tell the two apart.
    """

    caption_indices: tuple[int, ...]
    video_indices: tuple[int, ...]
    rival_videos: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.rival_videos and len(self.rival_videos) != len(self.caption_indices):
            raise ValueError("rival_videos must give one video per caption of the subset")


@dataclasses.dataclass(frozen=True)
class TextContrast:
    """Pairs of texts scored against one video each: does the video score its caption above a contrasting text?

    VITATECS asks it with a counterfactual caption that changes one temporal aspect (``groups`` names the aspect
    of each pair); RTime-Binary with the caption of the reversed video. The result reports the accuracy (ties
    count one half; 50% is chance) overall and per group, with intervals, and ``compare`` tests two results pair
    by pair (:mod:`c2vbench.results.contrasts`).

    Attributes:
        video_indices: the video of each pair (index into ``RetrievalSplit.videos``).
        caption_indices: its true caption (index into ``RetrievalSplit.captions``).
        rival_texts: the contrasting text of each pair.
        groups: a group name per pair (``Direction``, ``Sequence``...), or empty for one group.
        description: what is contrasted, for the protocol card.
    """

    video_indices: tuple[int, ...]
    caption_indices: tuple[int, ...]
    rival_texts: tuple[str, ...]
    groups: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        sizes = {len(self.video_indices), len(self.caption_indices), len(self.rival_texts)}
        if len(sizes) != 1 or (self.groups and len(self.groups) != len(self.video_indices)):
            raise ValueError("a TextContrast needs one video, caption, rival text (and group) per pair")


@dataclasses.dataclass
class RetrievalSplit:
    """Videos and captions of one split, in the split's canonical (query) order.

    ``contrasts`` (optional): named sets of :class:`TextContrast` pairs scored beside the retrieval metrics.

    ``relevant_videos`` (optional, aligned with ``captions``): every correct video of each caption, its own
    ``video_index`` included, for protocols where a text has several (SSv2 template retrieval: every video of the
    template). The split is then scored by :mod:`c2vbench.evaluation.multi_target` (R@K = a correct video in the
    top K, and mAP); without it every caption has exactly one correct video.
    """

    name: str
    videos: list[VideoRecord]
    captions: list[CaptionRecord]
    subsets: dict[str, QuerySubset] = dataclasses.field(default_factory=dict)
    relevant_videos: list[tuple[int, ...]] | None = None
    contrasts: dict[str, TextContrast] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for caption in self.captions:
            if not 0 <= caption.video_index < len(self.videos):
                raise ValueError(f"caption {caption.text!r} points at video {caption.video_index}, "
                                 f"but split '{self.name}' has {len(self.videos)} videos")
        for name, contrast in self.contrasts.items():
            if any(not 0 <= v < len(self.videos) for v in contrast.video_indices) or any(
                    not 0 <= c < len(self.captions) for c in contrast.caption_indices):
                raise ValueError(f"split '{self.name}': contrast {name!r} points outside the split")
        if self.relevant_videos is not None:
            if len(self.relevant_videos) != len(self.captions):
                raise ValueError(f"split '{self.name}': relevant_videos must give one tuple per caption")
            for caption, relevant in zip(self.captions, self.relevant_videos, strict=True):
                if caption.video_index not in relevant or not all(0 <= v < len(self.videos) for v in relevant):
                    raise ValueError(f"caption {caption.text!r}: its correct videos {relevant} must hold its own "
                                     f"video {caption.video_index} and lie inside the split")

    @property
    def is_multi_target(self) -> bool:
        """Whether some caption has several correct videos (scored by the multi-target metrics)."""
        return self.relevant_videos is not None

    @property
    def text_to_video(self) -> list[int]:
        """For every caption, the index of its ground-truth video."""
        return [caption.video_index for caption in self.captions]

    @property
    def is_multi_caption(self) -> bool:
        return len(self.captions) != len(self.videos)

    def video_ids(self) -> list[str]:
        return [video.video_id for video in self.videos]


@dataclasses.dataclass
class RetrievalDataset:
    """What a dataset plug-in's factory returns.

    Attributes:
        name: the dataset's registered name.
        splits: at least ``train`` and ``test``; ``val`` when there is one for model selection.
        sampling: how frames are sampled from each video.
        protocol: everything that defines the benchmark besides the model (variant, split names, annotation
            checksums, caption expansion, missing ids, ...); it is merged with the sampling description and hashed
            into ``protocol.hash`` of every result.
        selection_split: the split used for model selection (``val``; ``test`` is allowed but recorded).
        notes: what the user should know about how the splits were built (e.g. a validation split smaller than
            asked for); the pipeline prints each and records it in the result's ``notes``.
        max_words: caption tokens (start and end included) the protocol calls for, or None for the backbone's
            own default. Paragraph queries (ActivityNet, DiDeMo) are long: their protocol reads 64. A backbone with
            a ``max_words`` option gets it unless the run sets that option itself (a different value is refused:
            the dataset's option is what the protocol card records).
    """

    name: str
    splits: dict[str, RetrievalSplit]
    sampling: FrameSampling
    protocol: dict[str, Any] = dataclasses.field(default_factory=dict)
    selection_split: str = "val"
    notes: list[str] = dataclasses.field(default_factory=list)
    max_words: int | None = None

    def split(self, name: str) -> RetrievalSplit:
        from c2vbench.platform.errors import DataError

        if name not in self.splits:
            raise DataError(f"dataset '{self.name}' has no split '{name}'",
                            f"its splits are: {', '.join(sorted(self.splits))}")
        return self.splits[name]
