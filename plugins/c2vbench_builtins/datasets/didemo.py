"""DiDeMo (Hendricks et al., ICCV 2017) as paragraph-to-video retrieval, read from the files as distributed.

Expected layout under ``--data-root`` (the LocalizingMoments ``data/*.json`` and collaborative-experts' lists)::

    train_list.txt, val_list.txt, test_list.txt   # video names, one per line (8392 / 1065 / 1004), e.g.
                                                  # 10015567@N08_3655084291_d8b58466fa.mov (suffix included)
    train_data.json, val_data.json, test_data.json
        # a list of moments: {"annotation_id", "description", "video", "times": [[first, last], ...] (one
        # pair of 5-second chunk indices per annotator), "dl_link", "num_segments"}
    videos/<name>  ...        # the Flickr files as downloaded (or converted: any video suffix, same stem),
                              # or frames/<stem>/00000001.jpg ... (see `c2vbench prepare`)

Protocol (every choice recorded in the protocol card):

* One query per video: its descriptions joined with single spaces into a paragraph, **in time order** (by the
  annotators' mean start chunk, then mean end chunk, then file order; ``paragraph_order=file`` keeps the json's
  order, what CLIP4Clip's loader does).
* The video is cut to the annotated span: the six 5-second chunks annotators saw, 0 to 30 s (LocalizingMoments:
  longer videos were truncated to 30 s for annotation); ``span_seconds`` changes it, 0 keeps the whole video.
  CLIP4Clip's loader reads 0 to 31 s.
* 64 frame slots and 64 caption tokens (CLIP4Clip's DiDeMo script), 5 fps grid, ``feature_framerate`` 1.
* Splits as listed; selection on the official val list (``selection=test`` is recorded). Departure from
  CLIP4Clip's loader, on purpose: it silently drops listed videos it cannot find; here they stop the run, or are
  skipped and recorded with ``--allow-missing``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl, option

LISTS = {"train": "train_list.txt", "val": "val_list.txt", "test": "test_list.txt"}
DATA = {"train": "train_data.json", "val": "val_data.json", "test": "test_data.json"}
CHUNK_SECONDS = 5.0
HOW_TO_GET = ("get train/val/test_data.json from LocalizingMoments (https://github.com/LisaAnne/LocalizingMoments, "
              "data/) and train/val/test_list.txt from collaborative-experts (misc/datasets/didemo)")
LAYOUT = "train/val/test_list.txt, train/val/test_data.json and videos/ (or frames/)"


@dataclasses.dataclass(frozen=True)
class DidemoOptions(RealDatasetOptions):
    """Options of the ``didemo`` dataset (the shared ones are documented on ``RealDatasetOptions``).

    Attributes:
        paragraph_order: ``time`` (descriptions sorted by their annotated moment) or ``file`` (json order).
        span_seconds: the video is cut to 0..span_seconds (30: the annotated chunks); 0 keeps it whole.
        max_words: caption tokens of the paragraph query (start and end included).
    """

    paragraph_order: str = option("time", choices=("time", "file"), help="order of the descriptions in a query")
    span_seconds: float = option(30.0, min=0.0, help="cut videos to 0..span_seconds (0: whole video)")
    max_words: int = option(64, min=3, max=77, help="caption tokens of the paragraph query")
    max_frames: int = option(64, min=1, help="frame slots per video")


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="didemo",
        summary="DiDeMo: ~10k Flickr videos; paragraph-to-video retrieval, test 1004 videos, 30 s annotated span",
        data_layout=LAYOUT,
        factory=build_didemo,
        options_type=DidemoOptions,
        paper="Hendricks, Wang, Shechtman, Sivic, Darrell, Russell. Localizing Moments in Video with Natural "
              "Language. ICCV 2017",
        url="https://github.com/LisaAnne/LocalizingMoments",
    )


def build_didemo(options: DidemoOptions, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        VIDEO_SUFFIXES,
        RetrievalDataset,
        VideoRecord,
        VideoSources,
        check_selection,
        frame_sampling,
        protocol_card,
        read_annotation_files,
        read_id_list,
        read_json,
        refuse_overlaps,
        require_root,
        split_of_records,
    )

    selection = check_selection("didemo", options.selection)
    root = require_root("didemo", data_root, LAYOUT)
    readers = {LISTS[split]: read_id_list for split in LISTS} | {DATA[split]: read_json for split in DATA}
    files, contents = read_annotation_files("didemo", root, readers, HOW_TO_GET)
    ids = {split: contents[LISTS[split]] for split in LISTS}
    refuse_overlaps("didemo", ids)
    sources = VideoSources("didemo", root, options.video_source, options.frames_dir, options.videos_dir, ".mp4",
                           options.decoder)
    end = options.span_seconds or None
    splits = {}
    for split in LISTS:
        paragraphs = _paragraphs(contents[DATA[split]], files[DATA[split]], options.paragraph_order)
        records = []
        for name in ids[split]:
            stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in VIDEO_SUFFIXES else name
            records.append(VideoRecord(name, sources.source(stem), start=0.0 if end else None, end=end,
                                       source_key=stem))
        splits[split] = split_of_records(split, records, {name: [text] for name, text in paragraphs.items()},
                                         "didemo")
    if selection == "test":
        splits["val"] = splits["test"]
    sampling = frame_sampling(options, sources.decoder)
    order = ("time order: by the annotators' mean start chunk, then mean end chunk, then file order"
             if options.paragraph_order == "time" else "file order (the json's, as CLIP4Clip's loader)")
    query = f"one paragraph per video: its descriptions joined with single spaces, {order}"
    card = protocol_card(
        dataset="didemo", variant="paragraph", files=files, splits=splits, sources=sources,
        caption_expansion={split: query for split in LISTS},
        validation=("none: model selection on the test split" if selection == "test"
                    else f"official {LISTS['val']} ({len(ids['val'])} videos, one paragraph each)"),
        selection=selection, decoder=sources.decoder,
        extra={"query": "paragraph-to-video", "paragraph_order": options.paragraph_order,
               "video_window": (f"0 to {end:g} s of every video (the annotated 5-second chunks); start included, "
                                "end excluded" if end else "the whole video"),
               "max_words": options.max_words,
               "video_names": "list entries as in the json (suffix included); files found by their stem"})
    return RetrievalDataset("didemo", splits, sampling, card, selection_split=selection,
                            max_words=options.max_words)


def _paragraphs(data: Any, path: Path, order: str) -> dict[str, str]:
    """``video -> paragraph`` from a ``*_data.json`` list of moments."""
    from c2vbench.plugin import DataError

    if not isinstance(data, list):
        raise DataError(f"{path} holds a {type(data).__name__}, not a list of moments",
                        "use the LocalizingMoments data file as distributed")
    moments: dict[str, list[tuple[float, float, int, str]]] = {}
    for position, item in enumerate(data):
        video, description, times = (item.get(key) if isinstance(item, dict) else None
                                     for key in ("video", "description", "times"))
        if not isinstance(video, str) or not isinstance(description, str) or not _valid_times(times):
            raise DataError(f"{path}: moment {position} lacks a 'video' name, a 'description' or 'times' "
                            f"([[first, last] chunk], ...) ({item!r:.80})",
                            "use the LocalizingMoments data file as distributed")
        start = sum(pair[0] for pair in times) / len(times) * CHUNK_SECONDS
        end = (sum(pair[1] for pair in times) / len(times) + 1) * CHUNK_SECONDS
        moments.setdefault(video, []).append((start, end, position, description.strip()))
    paragraphs = {}
    for video, found in moments.items():
        ordered = sorted(found) if order == "time" else sorted(found, key=lambda moment: moment[2])
        paragraph = " ".join(text for *_, text in ordered if text)
        if paragraph:
            paragraphs[video] = paragraph
    return paragraphs


def _valid_times(times: Any) -> bool:
    return isinstance(times, list) and len(times) > 0 and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(value, (int, float)) and not
                                                            isinstance(value, bool) for value in pair)
        for pair in times)
