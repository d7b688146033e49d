"""Something-Something v2 template and label retrieval (Lei et al., ACL 2023, "Revealing Single Frame Bias"), read
from the annotation files as distributed with Singularity.

Expected layout under ``--data-root``::

    ssv2_ret_template_train.json, ssv2_ret_template_val_small.json     # caption_type=template (default)
    ssv2_ret_label_train.json, ssv2_ret_label_val_small.json           # caption_type=label
        # a JSON list of {"image": "<video id>.webm" (or a list of them), "caption": "..."}
    videos/<video id>.webm ...    # the SSv2 files (any video suffix), or frames/<video id>/ (`c2vbench prepare`)

Protocol (recorded in the protocol card):

* Template retrieval asks for the action with its objects blanked ("Putting [something] on [something]"): many
  videos share one text, so **every text is one query whose correct videos are all the videos of that text**
  (items with the same caption are merged; the file may list one video or several per item). R@K counts a query
  as found when any correct video is in the top K; mAP is reported beside (:mod:`c2vbench.evaluation.multi_target`).
  Singularity evaluates the same way (a text's rank is its best-ranked correct video). Label retrieval
  (``caption_type=label``) is the same with the filled-in labels.
* Test on ``val_small``. Train on ``train``: one sample per video with its text. Validation: ``val_size`` training
  videos carved by a salted hash of their ids (grouped by text like the test), removed from train;
  ``selection=test`` selects on val_small, recorded.
* 12 frame slots from a 5 fps grid with ``feature_framerate`` 1 (SSv2 clips last about 4 s).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl, option

FILES = {"train": "ssv2_ret_{kind}_train.json", "test": "ssv2_ret_{kind}_val_small.json"}
HOW_TO_GET = ("get ssv2_ret_{label,template}_{train,val_small}.json from Singularity's downstream annotations "
              "(https://github.com/jayleicn/singularity, 'Data') and the videos from Something-Something v2")
LAYOUT = "ssv2_ret_<template|label>_train.json, ssv2_ret_<template|label>_val_small.json and videos/ (or frames/)"


@dataclasses.dataclass(frozen=True)
class Ssv2Options(RealDatasetOptions):
    """Options of the ``ssv2`` dataset (the shared ones are documented on ``RealDatasetOptions``).

    Attributes:
        caption_type: ``template`` (objects blanked) or ``label`` (objects named).
        val_size: training videos carved for validation (at most a tenth of them).
    """

    caption_type: str = option("template", choices=("template", "label"), help="template or label retrieval")
    val_size: int = option(500, min=1, help="training videos carved for validation")


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="ssv2",
        summary="SSv2 template / label retrieval: one text, many correct videos (R@K any-correct, mAP)",
        data_layout=LAYOUT,
        factory=build_ssv2,
        options_type=Ssv2Options,
        paper="Lei, Berg, Bansal. Revealing Single Frame Bias for Video-and-Language Learning. ACL 2023",
        url="https://github.com/jayleicn/singularity",
    )


def build_ssv2(options: Ssv2Options, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        CaptionRecord,
        RetrievalDataset,
        RetrievalSplit,
        VideoRecord,
        VideoSources,
        check_selection,
        frame_sampling,
        protocol_card,
        read_annotation_files,
        read_json,
        refuse_overlap,
        require_root,
        validation_or_test,
    )

    selection = check_selection("ssv2", options.selection)
    root = require_root("ssv2", data_root, LAYOUT)
    names = {split: pattern.format(kind=options.caption_type) for split, pattern in FILES.items()}
    files, contents = read_annotation_files("ssv2", root, dict.fromkeys(names.values(), read_json), HOW_TO_GET)
    items = {split: _items(contents[names[split]], files[names[split]]) for split in names}
    train_ids = list(dict.fromkeys(video for video, _ in items["train"]))
    test_ids = list(dict.fromkeys(video for video, _ in items["test"]))
    refuse_overlap("ssv2", ("train", train_ids), ("test", test_ids))
    text_of = {split: _one_text_per_video(items[split], files[names[split]]) for split in items}
    notes: list[str] = []
    train_ids, val_ids, validation = validation_or_test("ssv2", selection, train_ids, options.val_size,
                                                        names["train"], notes)
    if val_ids:
        validation += "; grouped by text like the test"
    sources = VideoSources("ssv2", root, options.video_source, options.frames_dir, options.videos_dir, ".webm",
                           options.decoder)

    def grouped(name: str, video_ids: list[str], texts: dict[str, str]) -> Any:
        """One query per distinct text, every video of that text correct."""
        videos = [VideoRecord(video_id, sources.source(video_id)) for video_id in video_ids]
        by_text: dict[str, list[int]] = {}
        for index, video_id in enumerate(video_ids):
            by_text.setdefault(texts[video_id], []).append(index)
        captions = [CaptionRecord(text, members[0]) for text, members in by_text.items()]
        return RetrievalSplit(name, videos, captions, relevant_videos=[tuple(m) for m in by_text.values()])

    train = RetrievalSplit("train", [VideoRecord(v, sources.source(v)) for v in train_ids],
                           [CaptionRecord(text_of["train"][v], index) for index, v in enumerate(train_ids)])
    splits = {"train": train, "test": grouped("test", test_ids, text_of["test"])}
    splits["val"] = grouped("val", val_ids, text_of["train"]) if selection == "val" else splits["test"]
    sampling = frame_sampling(options, sources.decoder)
    query = "one query per distinct text; every video with that text is correct (items with one caption merged)"
    card = protocol_card(
        dataset="ssv2", variant=options.caption_type, files=files, splits=splits, sources=sources,
        caption_expansion={"train": "one sample per video with its text", "val": query, "test": query},
        validation=validation, selection=selection, decoder=sources.decoder,
        extra={"caption_type": options.caption_type, "test": "val_small",
               "metrics": "R@K: any correct video in the top K; mAP beside",
               "queries": {split: len(splits[split].captions) for split in ("val", "test")}})
    return RetrievalDataset("ssv2", splits, sampling, card, selection_split=selection, notes=notes)


def _items(data: Any, path: Path) -> list[tuple[str, str]]:
    """``(video id, text)`` of every video of every item, in file order (ids: the file names without suffix)."""
    from c2vbench.plugin import DataError, confined_name

    if not isinstance(data, list):
        raise DataError(f"{path} is not a JSON list of {{image, caption}} items", "use the file as distributed")
    pairs = []
    for position, item in enumerate(data):
        images = item.get("image") if isinstance(item, dict) else None
        caption = item.get("caption") if isinstance(item, dict) else None
        images = [images] if isinstance(images, str) else images
        if not isinstance(caption, str) or not caption.strip() or not isinstance(images, list) or not images or \
                not all(isinstance(image, str) and image for image in images):
            raise DataError(f"{path}: item {position} lacks a video path ('image') or a 'caption' ({item!r:.80})",
                            "use the file as distributed")
        for image in images:
            confined_name("ssv2", image, "video path")
            pairs.append((PurePosixPath(image.replace("\\", "/")).name.split(".", 1)[0], caption.strip()))
    return pairs


def _one_text_per_video(pairs: list[tuple[str, str]], path: Path) -> dict[str, str]:
    from c2vbench.plugin import DataError

    texts: dict[str, str] = {}
    for video_id, text in pairs:
        if texts.setdefault(video_id, text) != text:
            raise DataError(f"{path}: video {video_id} has two texts ({texts[video_id]!r} and {text!r})",
                            "use the file as distributed: each SSv2 video has one template and one label")
    return texts
