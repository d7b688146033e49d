"""LSMDC (Rohrbach et al., IJCV 2017) with the 1,000-clip public test, read from the files as distributed.

Expected layout under ``--data-root`` (the LSMDC 2016 challenge files, from MPII on request)::

    LSMDC16_annos_training.csv               # tab-separated, no header: clip id, start aligned, end aligned,
    LSMDC16_annos_val.csv                    #   start extracted, end extracted, sentence
    LSMDC16_challenge_1000_publictect.csv    # the 1,000 test clips (the file's name has this spelling)
    videos/<movie>/<clip id>.avi ...         # the clips as distributed, in their movie folders (or flat);
                                             # or frames/<clip id>/00000001.jpg ... (see `c2vbench prepare`)

Clip ids look like ``0001_American_Beauty_00.00.51.926-00.00.54.129``: they hold dots, so files are found by
their whole name without the video suffix, in any sub-folder.

Protocol (recorded in the protocol card):

* Test: the 1,000 clips of the public test file, one sentence each, in file order (a clip listed twice is
  refused). Train on the training file and select on the val file, every sentence of every clip (a clip may have
  several rows: multi-caption), clips in order of first appearance. ``selection=test`` is recorded.
* The clips are used as distributed (LSMDC cut them from the movies); the four times of each row are not read.
* 12 frame slots from a 5 fps grid with ``feature_framerate`` 1, as MSVD and VATEX.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl

FILES = {"train": "LSMDC16_annos_training.csv", "val": "LSMDC16_annos_val.csv",
         "test": "LSMDC16_challenge_1000_publictect.csv"}
FIELDS = 6
HOW_TO_GET = ("request the LSMDC 2016 files from MPII (https://sites.google.com/site/describingmovies/download); "
              "the test file is LSMDC16_challenge_1000_publictect.csv")
LAYOUT = ("LSMDC16_annos_training.csv, LSMDC16_annos_val.csv, LSMDC16_challenge_1000_publictect.csv and videos/ "
          "(or frames/)")


@dataclasses.dataclass(frozen=True)
class LsmdcOptions(RealDatasetOptions):
    """Options of the ``lsmdc`` dataset (the shared ones are documented on ``RealDatasetOptions``)."""


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="lsmdc",
        summary="LSMDC: ~118k movie clips with audio-description sentences; 1,000-clip public test, one sentence each",
        data_layout=LAYOUT,
        factory=build_lsmdc,
        options_type=LsmdcOptions,
        paper="Rohrbach, Torabi, Rohrbach, Tandon, Pal, Larochelle, Courville, Schiele. Movie Description. IJCV 2017",
        url="https://sites.google.com/site/describingmovies/",
    )


def build_lsmdc(options: LsmdcOptions, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        DataError,
        RetrievalDataset,
        VideoSources,
        build_split,
        check_selection,
        frame_sampling,
        protocol_card,
        read_annotation_files,
        refuse_overlaps,
        require_root,
    )

    selection = check_selection("lsmdc", options.selection)
    root = require_root("lsmdc", data_root, LAYOUT)
    files, contents = read_annotation_files("lsmdc", root, dict.fromkeys(FILES.values(), _read_rows), HOW_TO_GET)
    grouped = {split: _group(contents[FILES[split]]) for split in FILES}
    counts = Counter(clip for clip, _ in contents[FILES["test"]])
    repeated = sorted(clip for clip, count in counts.items() if count > 1)
    if repeated:
        raise DataError(f"lsmdc: {FILES['test']} lists {len(repeated)} clip(s) more than once, e.g. {repeated[:3]}; "
                        "the public test has one sentence per clip", "use the file as distributed")
    ids = {split: grouped[split][0] for split in FILES}
    refuse_overlaps("lsmdc", ids)
    sources = VideoSources("lsmdc", root, options.video_source, options.frames_dir, options.videos_dir, ".avi",
                           options.decoder, tree=True)
    splits = {split: build_split(split, ids[split], grouped[split][1], sources, "lsmdc") for split in FILES}
    if selection == "test":
        splits["val"] = splits["test"]
    sampling = frame_sampling(options, sources.decoder)
    every = "every sentence of every clip (rows grouped by clip id, clips in order of first appearance)"
    card = protocol_card(
        dataset="lsmdc", variant="public-test-1000", files=files, splits=splits, sources=sources,
        caption_expansion={"train": every, "val": every,
                           "test": "one sentence per clip: the public test file's rows, in file order"},
        validation=("none: model selection on the test split" if selection == "test"
                    else f"official {FILES['val']} ({len(ids['val'])} clips, all sentences)"),
        selection=selection, decoder=sources.decoder,
        extra={"clips": "as distributed (cut by LSMDC); the rows' four times are not read",
               "video_names": "clip id = file name without its video suffix, in any sub-folder of videos/"})
    return RetrievalDataset("lsmdc", splits, sampling, card, selection_split=selection)


def _read_rows(path: Path) -> list[tuple[str, str]]:
    """``(clip id, sentence)`` of every row of a tab-separated LSMDC file (blank lines ignored)."""
    from c2vbench.plugin import DataError, read_text

    text = read_text(path)
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) != FIELDS or not fields[0].strip() or not fields[-1].strip():
            raise DataError(f"{path} line {number} has {len(fields)} tab-separated field(s), not the {FIELDS} of "
                            "LSMDC (clip id, four times, sentence)", "use the file as distributed")
        rows.append((fields[0].strip(), fields[-1].strip()))
    if not rows:
        raise DataError(f"{path} has no rows", "use the file as distributed")
    return rows


def _group(rows: list[tuple[str, str]]) -> tuple[list[str], dict[str, list[str]]]:
    """Clip ids in order of first appearance, and each clip's sentences in file order."""
    sentences: dict[str, list[str]] = {}
    for clip, sentence in rows:
        sentences.setdefault(clip, []).append(sentence)
    return list(sentences), sentences
