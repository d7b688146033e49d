"""MSR-VTT (Xu et al., CVPR 2016) with the standard retrieval protocols, read from the files as distributed.

Expected layout under ``--data-root`` (the annotation files are CLIP4Clip's ``msrvtt_data.zip``)::

    MSRVTT_data.json               # {"sentences": [{"video_id", "caption", "sen_id"}, ...], ...}
    MSRVTT_train.9k.csv            # column video_id (9000 ids)       variant 9k
    MSRVTT_train.7k.csv            # column video_id (7010 ids)       variant 7k
    MSRVTT_JSFUSION_test.csv       # key,vid_key,video_id,sentence   test 1k-A (1000 rows, one caption each)
    MSRVTT_train.full.csv          # 6513 ids                         variant full
    MSRVTT_val.full.csv            # 497 ids                          variant full (official val)
    MSRVTT_test.full.csv           # 2990 ids                         test full (20 captions each)
    videos/video7010.mp4 ...       # or frames/video7010/00000001.jpg ... (see `c2vbench prepare`)

Protocols (options ``variant`` and ``test``):

* ``9k`` / ``7k`` train on the csv's videos with every caption (about 20 per video; the trainer decides whether
  each is a sample, as CLIP4Clip's ``--expand_msrvtt_sentences``, or one is drawn per video) and test on
  ``1k-A``: the JSFUSION csv's 1000 (video, sentence) rows in file order, one caption per video.
* ``full`` trains on the 6513 ``train.full`` videos, selects on the official 497 ``val.full`` videos and tests on
  the 2990 ``test.full`` videos with all their captions (multi-caption; videos in order of first appearance in
  ``MSRVTT_data.json``, captions in file order, as the official loader).
* Validation for ``9k``/``7k`` (the standard protocol has none): ``val_size`` videos carved from the training list
  by a salted hash of their ids (see ``_dataset_common``), each with its first caption (mirroring 1k-A), and removed
  from train. ``selection=test`` instead keeps the whole training list and selects on the test split — the common
  practice in published code — and the card says so.

Frames: 12 per video from a 5 fps grid with ``feature_framerate`` 2 (the official MSR-VTT scripts).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl, option

ANNOTATIONS = "MSRVTT_data.json"
TRAIN_LISTS = {"9k": "MSRVTT_train.9k.csv", "7k": "MSRVTT_train.7k.csv", "full": "MSRVTT_train.full.csv"}
VAL_FULL = "MSRVTT_val.full.csv"
TEST_LISTS = {"1k-A": "MSRVTT_JSFUSION_test.csv", "full": "MSRVTT_test.full.csv"}
HOW_TO_GET = ("download CLIP4Clip's msrvtt_data.zip (https://github.com/ArrowLuo/CLIP4Clip, 'Data Preparing') and "
              "unzip it")
LAYOUT = "MSRVTT_data.json, the MSRVTT_*.csv split files and videos/ (or frames/)"


@dataclasses.dataclass(frozen=True)
class MsrvttOptions(RealDatasetOptions):
    """Options of the ``msrvtt`` dataset (the shared ones are documented on ``RealDatasetOptions``).

    Attributes:
        variant: training list ``9k``, ``7k`` or ``full``.
        test: ``1k-A`` (one caption per video), ``full`` (multi-caption), or ``auto`` (``full`` for the full
            variant, ``1k-A`` otherwise).
        val_size: videos carved from the training list for validation (9k/7k only; at most a tenth of it).
    """

    variant: str = option("9k", choices=("9k", "7k", "full"), help="training list")
    test: str = option("auto", choices=("auto", "1k-A", "full"),
                       help="test split (auto: full for variant=full, else 1k-A)")
    val_size: int = option(500, min=1, help="videos carved from training for validation (9k/7k)")
    # the official MSR-VTT scripts sample a 2.5 fps grid
    feature_framerate: int = option(2, min=1, help="frames per second kept from the 5 fps grid")


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="msrvtt",
        summary="MSR-VTT: 10k web videos, 20 captions each; protocols 9k/7k + 1k-A and full (multi-caption)",
        data_layout=LAYOUT,
        factory=build_msrvtt,
        options_type=MsrvttOptions,
        paper="Xu, Mei, Yao, Rui. MSR-VTT: A Large Video Description Dataset for Bridging Video and Language. "
              "CVPR 2016",
        url="https://www.microsoft.com/en-us/research/publication/msr-vtt-a-large-video-description-dataset-for-"
            "bridging-video-and-language/",
    )


def build_msrvtt(options: MsrvttOptions, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        DataError,
        FrameSampling,
        RetrievalDataset,
        VideoSources,
        build_split,
        carve_validation,
        carving_description,
        check_selection,
        protocol_card,
        read_csv_column,
        read_csv_rows,
        read_json,
        refuse_overlap,
        require_file,
        require_root,
    )

    if options.variant not in TRAIN_LISTS:
        raise DataError(f"msrvtt: unknown variant {options.variant!r}", f"use one of {', '.join(TRAIN_LISTS)}")
    test = options.test if options.test != "auto" else ("full" if options.variant == "full" else "1k-A")
    if test not in TEST_LISTS:
        raise DataError(f"msrvtt: unknown test split {options.test!r}", "use 1k-A, full or auto")
    selection = check_selection("msrvtt", options.selection)
    root = require_root("msrvtt", data_root, LAYOUT)

    files = {ANNOTATIONS: require_file(root, ANNOTATIONS, "msrvtt", HOW_TO_GET)}
    files[TRAIN_LISTS[options.variant]] = require_file(root, TRAIN_LISTS[options.variant], "msrvtt", HOW_TO_GET)
    files[TEST_LISTS[test]] = require_file(root, TEST_LISTS[test], "msrvtt", HOW_TO_GET)
    captions, first_appearance = _captions_by_video(read_json(files[ANNOTATIONS]), files[ANNOTATIONS])
    sources = VideoSources("msrvtt", root, options.video_source, options.frames_dir, options.videos_dir, ".mp4",
                           options.decoder)

    train_ids = read_csv_column(files[TRAIN_LISTS[options.variant]], "video_id")
    if test == "1k-A":
        rows = read_csv_rows(files[TEST_LISTS[test]], ("video_id", "sentence"))
        test_ids = [row["video_id"].strip() for row in rows]
        test_captions = {row["video_id"].strip(): [row["sentence"]] for row in rows}
        if len(set(test_ids)) != len(test_ids):
            raise DataError(f"{files[TEST_LISTS[test]]} has a video more than once; 1k-A has one row per video",
                            "use the file as distributed")
        test_split = build_split("test", test_ids, test_captions, sources, "msrvtt")
    else:
        listed = set(read_csv_column(files[TEST_LISTS[test]], "video_id"))
        test_ids = _in_order_of_appearance(listed, first_appearance, files[TEST_LISTS[test]])
        test_split = build_split("test", test_ids, captions, sources, "msrvtt")
    refuse_overlap("msrvtt", ("train", train_ids), ("test", test_ids))

    notes: list[str] = []
    if selection == "test":
        val_split = test_split
        validation = "none: model selection on the test split"
    elif options.variant == "full":
        files[VAL_FULL] = require_file(root, VAL_FULL, "msrvtt", HOW_TO_GET)
        listed = set(read_csv_column(files[VAL_FULL], "video_id"))
        val_ids = _in_order_of_appearance(listed, first_appearance, files[VAL_FULL])
        refuse_overlap("msrvtt", ("train", train_ids), ("val", val_ids))
        val_split = build_split("val", val_ids, captions, sources, "msrvtt")
        validation = f"official {VAL_FULL} ({len(val_ids)} videos, all captions)"
    else:
        train_ids, val_ids = carve_validation("msrvtt", train_ids, options.val_size, notes)
        first_captions = {video_id: captions.get(video_id, [])[:1] for video_id in val_ids}
        val_split = build_split("val", val_ids, first_captions, sources, "msrvtt")
        validation = carving_description("msrvtt", TRAIN_LISTS[options.variant], len(val_ids)) + \
            "; one caption per video (its first in MSRVTT_data.json), as 1k-A"
    train_split = build_split("train", train_ids, captions, sources, "msrvtt")

    splits = {"train": train_split, "val": val_split, "test": test_split}
    sampling = FrameSampling(max_frames=options.max_frames, grid_fps=5.0,
                             feature_framerate=options.feature_framerate, mode=options.sampling,
                             train_jitter=options.train_jitter, decoder=sources.decoder)
    expansion = {
        "train": "every caption of every video is in the train split (how the trainer draws them is recorded "
                 "by the run as config.caption_sampling)",
        "test": "1k-A: one caption per video, the JSFUSION csv sentence" if test == "1k-A"
        else "full: every caption of every video (multi-caption protocol)",
    }
    card = protocol_card(dataset="msrvtt", variant=options.variant, files=files, splits=splits, sources=sources,
                         caption_expansion=expansion, validation=validation, selection=selection,
                         decoder=sources.decoder, extra={"test": test})
    return RetrievalDataset("msrvtt", splits, sampling, card, selection_split=selection, notes=notes)


def _captions_by_video(data: Any, path: Path) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Captions grouped per video in file order, and each video's position of first appearance."""
    from c2vbench.plugin import DataError

    sentences = data.get("sentences") if isinstance(data, dict) else None
    if not isinstance(sentences, list):
        raise DataError(f"{path} has no 'sentences' list", "use MSRVTT_data.json as distributed")
    captions: dict[str, list[str]] = {}
    first: dict[str, int] = {}
    for sentence in sentences:
        try:
            video_id, caption = str(sentence["video_id"]), str(sentence["caption"])
        except (KeyError, TypeError):
            raise DataError(f"{path}: a sentence lacks 'video_id' or 'caption' ({sentence!r:.80})",
                            "use MSRVTT_data.json as distributed") from None
        first.setdefault(video_id, len(first))
        captions.setdefault(video_id, []).append(caption)
    return captions, first


def _in_order_of_appearance(listed: set[str], first_appearance: dict[str, int], path: Path) -> list[str]:
    from c2vbench.plugin import DataError

    absent = sorted(listed - set(first_appearance))
    if absent:
        raise DataError(f"{path} lists {len(absent)} video(s) without captions in {ANNOTATIONS}, e.g. {absent[:3]}",
                        "use matching annotation and split files as distributed")
    return sorted(listed, key=first_appearance.__getitem__)
