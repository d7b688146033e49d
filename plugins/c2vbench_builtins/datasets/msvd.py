"""MSVD (Chen & Dolan, ACL 2011) with the standard split, read from the files as distributed.

Expected layout under ``--data-root`` (the annotation files are CLIP4Clip's ``msvd_data.zip``)::

    raw-captions.pkl          # pickled dict video_id -> list of captions, each a list of word tokens
    train_list.txt            # 1200 ids, one per line (e.g. -4wsuPCjDBc_5_15)
    val_list.txt              # 100 ids
    test_list.txt             # 670 ids
    videos/-4wsuPCjDBc_5_15.avi ...   # the YouTubeClips files, or frames/<id>/00000001.jpg ...

Protocol: train, val and test as listed, every caption of every video (about 40 per video), multi-caption. Videos
follow the list order and each video's captions follow the pickle's order; token lists are joined with single
spaces, as the official loader does. The pickle is read with a restricted unpickler that accepts only plain
containers and strings (``_annotations.load_plain_pickle``), so a tampered file cannot run code.

Frames: 12 per video from a 5 fps grid with ``feature_framerate`` 1 (the official MSVD script).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl

CAPTIONS = "raw-captions.pkl"
LISTS = {"train": "train_list.txt", "val": "val_list.txt", "test": "test_list.txt"}
HOW_TO_GET = ("download CLIP4Clip's msvd_data.zip (https://github.com/ArrowLuo/CLIP4Clip, 'Data Preparing') and "
              "unzip it")
LAYOUT = "raw-captions.pkl, train_list.txt, val_list.txt, test_list.txt and videos/ (or frames/)"


@dataclasses.dataclass(frozen=True)
class MsvdOptions(RealDatasetOptions):
    """Options of the ``msvd`` dataset (the shared ones are documented on ``RealDatasetOptions``).

    Attributes:
        selection: ``val`` (the official 100-video val list) or ``test`` (recorded in the result).
    """

    # the shared options only (MSVD has official train/val/test lists)


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="msvd",
        summary="MSVD: 1970 YouTube clips, ~40 captions each; train 1200 / val 100 / test 670 (multi-caption)",
        data_layout=LAYOUT,
        factory=build_msvd,
        options_type=MsvdOptions,
        paper="Chen, Dolan. Collecting Highly Parallel Data for Paraphrase Evaluation. ACL 2011",
        url="https://www.cs.utexas.edu/users/ml/clamp/videoDescription/",
    )


def build_msvd(options: MsvdOptions, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        FrameSampling,
        RetrievalDataset,
        VideoSources,
        build_split,
        check_selection,
        load_plain_pickle,
        protocol_card,
        read_id_list,
        refuse_overlap,
        require_file,
        require_root,
    )

    selection = check_selection("msvd", options.selection)
    root = require_root("msvd", data_root, LAYOUT)
    files = {CAPTIONS: require_file(root, CAPTIONS, "msvd", HOW_TO_GET)}
    for name in LISTS.values():
        files[name] = require_file(root, name, "msvd", HOW_TO_GET)
    captions = _captions(load_plain_pickle(files[CAPTIONS]), files[CAPTIONS])
    ids = {split: read_id_list(files[name]) for split, name in LISTS.items()}
    refuse_overlap("msvd", ("train", ids["train"]), ("test", ids["test"]))
    refuse_overlap("msvd", ("train", ids["train"]), ("val", ids["val"]))
    sources = VideoSources("msvd", root, options.video_source, options.frames_dir, options.videos_dir, ".avi",
                           options.decoder)
    splits = {split: build_split(split, ids[split], captions, sources, "msvd") for split in LISTS}
    if selection == "test":
        splits["val"] = splits["test"]
    sampling = FrameSampling(max_frames=options.max_frames, grid_fps=5.0,
                             feature_framerate=options.feature_framerate, mode=options.sampling,
                             train_jitter=options.train_jitter, decoder=sources.decoder)
    expansion = {split: "every caption of every video (token lists joined with spaces)" for split in LISTS}
    validation = ("none: model selection on the test split" if selection == "test"
                  else f"official {LISTS['val']} ({len(ids['val'])} videos, all captions)")
    card = protocol_card(dataset="msvd", variant="standard", files=files, splits=splits, sources=sources,
                         caption_expansion=expansion, validation=validation, selection=selection,
                         decoder=sources.decoder)
    return RetrievalDataset("msvd", splits, sampling, card, selection_split=selection)


def _captions(data: Any, path: Path) -> dict[str, list[str]]:
    """``video_id -> [caption, ...]``; token lists are joined with single spaces (official loader)."""
    from c2vbench.plugin import DataError

    if not isinstance(data, dict):
        raise DataError(f"{path} holds a {type(data).__name__}, not a dict of video id to captions",
                        "use raw-captions.pkl as distributed")
    captions: dict[str, list[str]] = {}
    for video_id, entries in data.items():
        if not isinstance(video_id, str) or not isinstance(entries, (list, tuple)):
            raise DataError(f"{path}: entry {video_id!r} is not 'video id -> list of captions'",
                            "use raw-captions.pkl as distributed")
        texts = []
        for entry in entries:
            if isinstance(entry, str):
                texts.append(entry)
            elif isinstance(entry, (list, tuple)) and all(isinstance(token, str) for token in entry):
                texts.append(" ".join(entry))
            else:
                raise DataError(f"{path}: a caption of {video_id} is neither text nor a list of tokens",
                                "use raw-captions.pkl as distributed")
        captions[video_id] = texts
    return captions
