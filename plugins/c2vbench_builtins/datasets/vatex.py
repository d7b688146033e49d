"""VATEX English (Wang et al., ICCV 2019) with the HGR split or CLIP2Video's random 1k5 split.

Expected layout under ``--data-root`` (CLIP2Video's ``data/vatex_data`` files)::

    vatex_data.json           # {video_id: {"enCap": [10 English captions], "chCap": [...]}, ...}
    train_list.txt            # 25,991 ids (e.g. Ptf_2VRj-V0_000122_000132)
    val_list.txt              # 1,500 ids (HGR validation)
    test_list.txt             # 1,500 ids (HGR test)
    test1k5_sec_list.txt      # 1,500 ids: the paper's random split, drawn from HGR val + test
    videos/Ptf_2VRj-V0_000122_000132.mp4 ...   # clips cut by you, or frames/<id>/00000001.jpg ...

Protocols (option ``test``):

* ``hgr``: test on ``test_list.txt``, select on ``val_list.txt`` (HGR's own validation list).
* ``random1k5``: test on ``test1k5_sec_list.txt`` (the numbers in CLIP2Video's paper; the official loader needs the
  file renamed to ``test_list.txt`` for this). Its videos come from HGR val and test, so validation is the rest of
  HGR val + test (``val_list`` then ``test_list`` order, the random 1k5 ids removed).

Train on ``train_list.txt``. All splits use the 10 English captions of each video, in ``enCap`` order
(multi-caption). Departure from the official loader, on purpose: it silently drops every video whose frame folder
is missing or has 5 frames or fewer, so its test set depends on what you could download; here such videos stop the
run, or are skipped *and recorded* with ``--allow-missing``.

Frames: 12 per video from a 5 fps grid with ``feature_framerate`` 1 (the official VATEX script).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl, option

ANNOTATIONS = "vatex_data.json"
TRAIN_LIST, VAL_LIST, TEST_LIST, RANDOM_1K5_LIST = "train_list.txt", "val_list.txt", "test_list.txt", \
    "test1k5_sec_list.txt"
TESTS = ("hgr", "random1k5")
HOW_TO_GET = "get the VATEX annotation and list files (CLIP2Video's data/vatex_data/ and vatex_data.json)"
LAYOUT = "vatex_data.json, train_list.txt, val_list.txt, test_list.txt, test1k5_sec_list.txt and videos/ (or frames/)"


@dataclasses.dataclass(frozen=True)
class VatexOptions(RealDatasetOptions):
    """Options of the ``vatex`` dataset (the shared ones are documented on ``RealDatasetOptions``).

    Attributes:
        test: ``hgr`` (HGR test list) or ``random1k5`` (the paper's split).
        selection: ``val`` (default) or ``test`` (recorded in the result).
    """

    test: str = option("hgr", choices=("hgr", "random1k5"), help="test split")


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="vatex",
        summary="VATEX English: ~35k YouTube clips, 10 English captions each; test hgr or random1k5",
        data_layout=LAYOUT,
        factory=build_vatex,
        options_type=VatexOptions,
        paper="Wang, Wu, Chen, Li, Wang, Wang. VATEX: A Large-Scale, High-Quality Multilingual Dataset for "
              "Video-and-Language Research. ICCV 2019",
        url="https://eric-xw.github.io/vatex-website/",
    )


def build_vatex(options: VatexOptions, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        DataError,
        FrameSampling,
        RetrievalDataset,
        VideoSources,
        build_split,
        check_selection,
        protocol_card,
        read_id_list,
        read_json,
        refuse_overlap,
        require_file,
        require_root,
    )

    if options.test not in TESTS:
        raise DataError(f"vatex: unknown test split {options.test!r}", f"use one of {', '.join(TESTS)}")
    selection = check_selection("vatex", options.selection)
    root = require_root("vatex", data_root, LAYOUT)
    needed = [ANNOTATIONS, TRAIN_LIST, VAL_LIST, TEST_LIST] + ([RANDOM_1K5_LIST] if options.test == "random1k5"
                                                               else [])
    files = {name: require_file(root, name, "vatex", HOW_TO_GET) for name in needed}
    captions = _english_captions(read_json(files[ANNOTATIONS]), files[ANNOTATIONS])
    train_ids = read_id_list(files[TRAIN_LIST])
    hgr_val, hgr_test = read_id_list(files[VAL_LIST]), read_id_list(files[TEST_LIST])
    if options.test == "hgr":
        test_ids, val_ids = hgr_test, hgr_val
        validation = f"official HGR {VAL_LIST} ({len(val_ids)} videos, all captions)"
    else:
        test_ids = read_id_list(files[RANDOM_1K5_LIST])
        taken = set(test_ids)
        pool = list(dict.fromkeys(hgr_val + hgr_test))
        val_ids = [video_id for video_id in pool if video_id not in taken]
        validation = (f"HGR {VAL_LIST} + {TEST_LIST} minus the {RANDOM_1K5_LIST} ids ({len(val_ids)} videos, "
                      "all captions)")
    refuse_overlap("vatex", ("train", train_ids), ("test", test_ids))
    refuse_overlap("vatex", ("train", train_ids), ("val", val_ids))
    refuse_overlap("vatex", ("val", val_ids), ("test", test_ids))
    sources = VideoSources("vatex", root, options.video_source, options.frames_dir, options.videos_dir, ".mp4",
                           options.decoder)
    splits = {
        "train": build_split("train", train_ids, captions, sources, "vatex"),
        "val": build_split("val", val_ids, captions, sources, "vatex"),
        "test": build_split("test", test_ids, captions, sources, "vatex"),
    }
    if selection == "test":
        splits["val"] = splits["test"]
        validation = "none: model selection on the test split"
    sampling = FrameSampling(max_frames=options.max_frames, grid_fps=5.0,
                             feature_framerate=options.feature_framerate, mode=options.sampling,
                             train_jitter=options.train_jitter, decoder=sources.decoder)
    expansion = {split: "every English caption (enCap) of every video" for split in ("train", "val", "test")}
    card = protocol_card(dataset="vatex", variant="english", files=files, splits=splits, sources=sources,
                         caption_expansion=expansion, validation=validation, selection=selection,
                         decoder=sources.decoder, extra={"test": options.test})
    return RetrievalDataset("vatex", splits, sampling, card, selection_split=selection)


def _english_captions(data: Any, path: Path) -> dict[str, list[str]]:
    from c2vbench.plugin import DataError

    if not isinstance(data, dict):
        raise DataError(f"{path} is not a dict of video id to captions", "use vatex_data.json as distributed")
    captions = {}
    for video_id, entry in data.items():
        english = entry.get("enCap") if isinstance(entry, dict) else None
        if not isinstance(english, list) or not all(isinstance(text, str) for text in english):
            raise DataError(f"{path}: video {video_id} has no 'enCap' list of strings",
                            "use vatex_data.json as distributed")
        captions[video_id] = english
    return captions
