"""ActivityNet Captions (Krishna et al., ICCV 2017) as paragraph-to-video retrieval on ``val_1``.

Expected layout under ``--data-root`` (the ActivityNet Captions json files and collaborative-experts' id lists)::

    train.json, val_1.json    # {"v_<youtube id>": {"duration", "timestamps": [[start, end], ...],
                              #                     "sentences": [...]}, ...}
    train_ids.json            # ["v_...", ...]  10,009 training videos
    val_ids.json              # ["v_...", ...]  4,917 videos of val_1, the test split
    videos/v_<id>.mp4 ...     # or <id>.mp4 (the ``v_`` dropped, as CLIP4Clip expects), any video suffix;
                              # or frames/<id>/00000001.jpg ... (see `c2vbench prepare`)

Protocol (every choice recorded in the protocol card):

* One query per video: its sentences stripped and joined with single spaces into a paragraph, **in time order**
  (by the start, then the end of their timestamps, then file order; ``paragraph_order=file`` keeps the json's
  order, what CLIP4Clip's loader does). The whole video is read.
* Test on ``val_1``: the videos of ``val_ids.json`` in its order (every one must have ``val_1.json`` captions).
* Long videos (about two minutes on average): 64 frame slots and 64 caption tokens by default (CLIP4Clip's
  ActivityNet script), 5 fps grid, ``feature_framerate`` 1; evaluation streams as for every dataset.
* Validation: the standard protocol has none (``val_2`` holds the same videos as ``val_1``): ``val_size`` training
  videos are carved by a salted hash of their ids and removed from train; ``selection=test`` selects on ``val_1``
  instead, the common practice in published code, and the card says so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl, option

CAPTIONS = {"train": "train.json", "test": "val_1.json"}
IDS = {"train": "train_ids.json", "test": "val_ids.json"}
HOW_TO_GET = ("get train.json and val_1.json from ActivityNet Captions (https://cs.stanford.edu/people/ranjaykrishna/"
              "densevid/) and train_ids.json / val_ids.json from CLIP4Clip's data preparation (collaborative-experts' "
              "activity-net lists)")
LAYOUT = "train.json, val_1.json, train_ids.json, val_ids.json and videos/ (or frames/)"


@dataclasses.dataclass(frozen=True)
class ActivitynetOptions(RealDatasetOptions):
    """Options of the ``activitynet`` dataset (the shared ones are documented on ``RealDatasetOptions``).

    Attributes:
        paragraph_order: ``time`` (sentences sorted by their timestamps) or ``file`` (json order).
        max_words: caption tokens of the paragraph query (start and end included).
        val_size: training videos carved for validation (at most a tenth of them).
    """

    paragraph_order: str = option("time", choices=("time", "file"), help="order of the sentences in a query")
    max_words: int = option(64, min=3, max=77, help="caption tokens of the paragraph query")
    max_frames: int = option(64, min=1, help="frame slots per video")
    val_size: int = option(500, min=1, help="training videos carved for validation")


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="activitynet",
        summary="ActivityNet Captions: 20k YouTube videos; paragraph-to-video on val_1 (4,917), 64 frames/words",
        data_layout=LAYOUT,
        factory=build_activitynet,
        options_type=ActivitynetOptions,
        paper="Krishna, Hata, Ren, Fei-Fei, Niebles. Dense-Captioning Events in Videos. ICCV 2017",
        url="https://cs.stanford.edu/people/ranjaykrishna/densevid/",
    )


def build_activitynet(options: ActivitynetOptions, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        DataError,
        RetrievalDataset,
        VideoRecord,
        VideoSources,
        check_selection,
        frame_sampling,
        protocol_card,
        read_annotation_files,
        read_json,
        refuse_overlap,
        require_root,
        split_of_records,
        validation_or_test,
    )

    selection = check_selection("activitynet", options.selection)
    root = require_root("activitynet", data_root, LAYOUT)
    names = [CAPTIONS["train"], CAPTIONS["test"], IDS["train"], IDS["test"]]
    files, contents = read_annotation_files("activitynet", root, dict.fromkeys(names, read_json), HOW_TO_GET)
    ids = {split: _id_list(contents[IDS[split]], files[IDS[split]]) for split in IDS}
    paragraphs = {split: _paragraphs(contents[CAPTIONS[split]], files[CAPTIONS[split]], options.paragraph_order)
                  for split in CAPTIONS}
    for split in IDS:
        absent = [video_id for video_id in ids[split] if video_id not in paragraphs[split]]
        if absent:
            raise DataError(f"activitynet: {len(absent)} video(s) of {IDS[split]} have no sentences in "
                            f"{CAPTIONS[split]}, e.g. {absent[:3]}", "use matching id and caption files")
    refuse_overlap("activitynet", ("train", ids["train"]), ("test", ids["test"]))
    notes: list[str] = []
    train_ids, val_ids, validation = validation_or_test("activitynet", selection, ids["train"], options.val_size,
                                                        IDS["train"], notes)
    sources = VideoSources("activitynet", root, options.video_source, options.frames_dir, options.videos_dir,
                           ".mp4", options.decoder)

    def records(video_ids: list[str]) -> list[Any]:
        made = []
        for video_id in video_ids:
            key = _file_key(video_id, sources)
            made.append(VideoRecord(video_id, sources.source(key), source_key=key))
        return made

    queries = {**{k: [v] for k, v in paragraphs["train"].items()}, **{k: [v] for k, v in paragraphs["test"].items()}}
    splits = {"train": split_of_records("train", records(train_ids), queries, "activitynet"),
              "test": split_of_records("test", records(ids["test"]), queries, "activitynet")}
    splits["val"] = splits["test"] if selection == "test" else split_of_records("val", records(val_ids), queries,
                                                                                  "activitynet")
    sampling = frame_sampling(options, sources.decoder)
    order = ("time order: by the start, then the end of their timestamps, then file order"
             if options.paragraph_order == "time" else "file order (the json's, as CLIP4Clip's loader)")
    query = f"one paragraph per video: its sentences stripped and joined with single spaces, {order}"
    card = protocol_card(
        dataset="activitynet", variant="paragraph-val_1", files=files, splits=splits, sources=sources,
        caption_expansion={split: query for split in ("train", "val", "test")}, validation=validation,
        selection=selection, decoder=sources.decoder,
        extra={"query": "paragraph-to-video", "test": "val_1 (videos of val_ids.json, in its order)",
               "paragraph_order": options.paragraph_order, "video_window": "the whole video",
               "max_words": options.max_words,
               "video_names": "v_<id> or <id> (the v_ prefix dropped), any video suffix"})
    return RetrievalDataset("activitynet", splits, sampling, card, selection_split=selection, notes=notes,
                            max_words=options.max_words)


def _file_key(video_id: str, sources: Any) -> str:
    """The name the video's file or frame folder goes by: ``v_<id>``, or ``<id>`` when only that one exists."""
    if not sources.has(video_id) and video_id.startswith("v_") and sources.has(video_id[2:]):
        return video_id[2:]
    return video_id


def _id_list(data: Any, path: Path) -> list[str]:
    from c2vbench.plugin import DataError

    if not isinstance(data, list) or not all(isinstance(item, str) and item for item in data):
        raise DataError(f"{path} is not a JSON list of video ids", "use the id file as distributed")
    if len(set(data)) != len(data):
        raise DataError(f"{path} lists a video id more than once", "use the id file as distributed")
    return list(data)


def _paragraphs(data: Any, path: Path, order: str) -> dict[str, str]:
    """``video id -> paragraph`` from an ActivityNet Captions json."""
    from c2vbench.plugin import DataError

    if not isinstance(data, dict):
        raise DataError(f"{path} is not a JSON object of video id to annotations",
                        "use the ActivityNet Captions file as distributed")
    paragraphs = {}
    for video_id, entry in data.items():
        sentences = entry.get("sentences") if isinstance(entry, dict) else None
        timestamps = entry.get("timestamps") if isinstance(entry, dict) else None
        if not isinstance(sentences, list) or not all(isinstance(text, str) for text in sentences) or \
                not isinstance(timestamps, list) or len(timestamps) != len(sentences) or not all(
                    isinstance(pair, list) and len(pair) == 2 and all(
                        isinstance(value, (int, float)) and not isinstance(value, bool) for value in pair)
                    for pair in timestamps):
            raise DataError(f"{path}: video {video_id} needs 'sentences' and one [start, end] 'timestamps' pair "
                            "per sentence", "use the ActivityNet Captions file as distributed")
        moments = [(float(pair[0]), float(pair[1]), position, text.strip())
                   for position, (pair, text) in enumerate(zip(timestamps, sentences, strict=True))]
        ordered = sorted(moments) if order == "time" else moments
        paragraph = " ".join(text for *_, text in ordered if text)
        if paragraph:
            paragraphs[video_id] = paragraph
    return paragraphs
