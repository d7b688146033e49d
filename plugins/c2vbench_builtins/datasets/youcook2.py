"""YouCook2 (Zhou et al., AAAI 2018) as clip-level retrieval on the validation clips, read from the files as
distributed.

Expected layout under ``--data-root``::

    youcookii_annotations_trainval.json
        # {"database": {"<youtube id>": {"duration", "subset": "training" | "validation", "recipe_type",
        #   "video_url", "annotations": [{"id", "segment": [start, end], "sentence"}, ...]}, ...}}
    videos/<youtube id>.mp4 ...   # whole videos, flat or as downloaded (raw_videos' <subset>/<recipe type>/<id>.*),
                                  # any video suffix; or frames/<youtube id>/00000001.jpg ... (`c2vbench prepare`)

Protocol (every choice recorded in the protocol card):

* A clip per annotated segment, id ``<youtube id>_<segment id>``, with its one sentence (single-caption). The clip
  is **cut from the video by time**: sampling reads the grid positions inside ``[start, end)`` of the segment
  (:attr:`VideoRecord.start` / ``end``), the same for video files and extracted frames, so ``c2vbench prepare``
  extracts each video once for all its clips.
* Test: the clips of the ``validation`` videos, in file order (the test annotations are not public). Train on the
  ``training`` videos' clips. Validation: ``val_size`` *training videos* (all their clips) carved by a salted hash of
  the video ids, so that no video has clips on both sides; ``selection=test`` selects on the test clips, recorded.
* 12 frame slots from a 5 fps grid with ``feature_framerate`` 1.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl, option

ANNOTATIONS = "youcookii_annotations_trainval.json"
SUBSETS = {"train": "training", "test": "validation"}
HOW_TO_GET = "download youcookii_annotations_trainval.json from http://youcook2.eecs.umich.edu/download"
LAYOUT = "youcookii_annotations_trainval.json and videos/ (or frames/)"


@dataclasses.dataclass(frozen=True)
class Youcook2Options(RealDatasetOptions):
    """Options of the ``youcook2`` dataset (the shared ones are documented on ``RealDatasetOptions``).

    Attributes:
        val_size: training videos (with all their clips) carved for validation (at most a tenth of them).
    """

    val_size: int = option(100, min=1, help="training videos carved for validation")


@dataclasses.dataclass(frozen=True)
class Clip:
    """One annotated segment of a video."""

    clip_id: str
    video_id: str
    start: float
    end: float
    sentence: str


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="youcook2",
        summary="YouCook2: 2k cooking videos cut into ~14k clips; clip retrieval on the validation clips",
        data_layout=LAYOUT,
        factory=build_youcook2,
        options_type=Youcook2Options,
        paper="Zhou, Xu, Corso. Towards Automatic Learning of Procedures from Web Instructional Videos. AAAI 2018",
        url="http://youcook2.eecs.umich.edu/",
    )


def build_youcook2(options: Youcook2Options, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        RetrievalDataset,
        VideoRecord,
        VideoSources,
        check_selection,
        frame_sampling,
        protocol_card,
        read_annotation_files,
        read_json,
        require_root,
        split_of_records,
        validation_or_test,
    )

    selection = check_selection("youcook2", options.selection)
    root = require_root("youcook2", data_root, LAYOUT)
    files, contents = read_annotation_files("youcook2", root, {ANNOTATIONS: read_json}, HOW_TO_GET)
    clips = _clips(contents[ANNOTATIONS], files[ANNOTATIONS])
    videos = {split: list(dict.fromkeys(clip.video_id for clip in clips[subset])) for split, subset in SUBSETS.items()}
    notes: list[str] = []
    train_videos, val_videos, validation = validation_or_test("youcook2", selection, videos["train"],
                                                              options.val_size, "the training videos", notes)
    if val_videos:
        validation += "; every clip of those videos"
    sources = VideoSources("youcook2", root, options.video_source, options.frames_dir, options.videos_dir, ".mp4",
                           options.decoder, tree=True)
    sentences = {clip.clip_id: [clip.sentence] for subset in clips.values() for clip in subset}

    def split_of(name: str, subset: str, video_ids: list[str]) -> Any:
        wanted = set(video_ids)
        records = [VideoRecord(clip.clip_id, sources.source(clip.video_id), start=clip.start, end=clip.end,
                               source_key=clip.video_id) for clip in clips[subset] if clip.video_id in wanted]
        return split_of_records(name, records, sentences, "youcook2")

    splits = {"train": split_of("train", "training", train_videos),
              "test": split_of("test", "validation", videos["test"])}
    splits["val"] = split_of("val", "training", val_videos) if selection == "val" else splits["test"]
    sampling = frame_sampling(options, sources.decoder)
    one = "one sentence per clip (each annotated segment is a clip)"
    card = protocol_card(
        dataset="youcook2", variant="clips-validation", files=files, splits=splits, sources=sources,
        caption_expansion={split: one for split in ("train", "val", "test")}, validation=validation,
        selection=selection, decoder=sources.decoder,
        extra={"test": "the clips of the 'validation' videos, in file order (test annotations are not public)",
               "clips": "cut from the whole video by time: grid positions in [segment start, segment end) s",
               "clip_ids": "<youtube id>_<segment id>",
               "video_names": "youtube id = file name without its video suffix, in any sub-folder of videos/"})
    return RetrievalDataset("youcook2", splits, sampling, card, selection_split=selection, notes=notes)


def _clips(data: Any, path: Path) -> dict[str, list[Clip]]:
    """``subset -> clips`` (``training``, ``validation``), videos and segments in file order; other subsets are
    ignored (the test annotations are not distributed)."""
    from c2vbench.plugin import DataError

    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise DataError(f"{path} has no 'database' object", "use the YouCook2 annotation file as distributed")
    clips: dict[str, list[Clip]] = {subset: [] for subset in SUBSETS.values()}
    for video_id, entry in database.items():
        subset = entry.get("subset") if isinstance(entry, dict) else None
        annotations = entry.get("annotations") if isinstance(entry, dict) else None
        if not isinstance(subset, str) or not isinstance(annotations, list):
            raise DataError(f"{path}: video {video_id} lacks 'subset' or an 'annotations' list",
                            "use the YouCook2 annotation file as distributed")
        if subset not in clips:
            continue
        for annotation in annotations:
            segment = annotation.get("segment") if isinstance(annotation, dict) else None
            sentence = annotation.get("sentence") if isinstance(annotation, dict) else None
            segment_id = annotation.get("id") if isinstance(annotation, dict) else None
            if not (isinstance(segment, list) and len(segment) == 2 and all(
                    isinstance(value, (int, float)) and not isinstance(value, bool) for value in segment)
                    and 0 <= segment[0] < segment[1]) or not isinstance(sentence, str) or not sentence.strip() \
                    or isinstance(segment_id, bool) or not isinstance(segment_id, (int, str)):
                raise DataError(f"{path}: a segment of video {video_id} lacks an 'id', a 'segment' [start, end] "
                                f"with start < end, or a 'sentence' ({annotation!r:.80})",
                                "use the YouCook2 annotation file as distributed")
            clips[subset].append(Clip(f"{video_id}_{segment_id}", video_id, float(segment[0]), float(segment[1]),
                                      sentence.strip()))
    return clips
