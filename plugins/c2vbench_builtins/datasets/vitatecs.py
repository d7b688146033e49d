"""VITATECS (Li et al., 2023): does a model score a video's caption above a counterfactual that changes one
temporal aspect? Read from the annotation files as distributed (https://github.com/lscpku/VITATECS, ``data/``),
over the MSR-VTT and VATEX test videos read from those datasets' own roots.

Expected layout::

    --data-root:  Direction.jsonl, Intensity.jsonl, Sequence.jsonl, Localization.jsonl, Compositionality.jsonl,
                  Type.jsonl    (or a data/ folder holding them); one JSON object per line:
                  {"src_dataset": "MSRVTT" | "VATEX", "video_name": "video9770.mp4", "caption": ...,
                   "counterfactual": ..., "aspect": "Direction"}
    msrvtt_root:  the MSR-VTT root c2vbench's msrvtt dataset reads (videos/video9770.mp4 or frames/video9770/)
    vatex_root:   the VATEX root of the vatex dataset (videos/<clip id>.mp4 or frames/<clip id>/)

Protocol (recorded in the protocol card):

* Every line is a pair: its video with the caption and with the counterfactual. The result's
  ``contrasts.vitatecs`` holds each pair's outcome (1 when the caption scores higher, 0.5 on a tie) and the
  accuracy per aspect with a bootstrap interval over videos; ``c2vbench compare`` tests two results pair by pair
  (the videos of the pairs flipped together).
* The test split holds the videos of the selected aspects with their (distinct) captions, so the retrieval
  metrics of the run are caption-to-video retrieval among the VITATECS videos: a by-product, not a published
  number. No training split: zero-shot only.
* 12 frame slots from a 5 fps grid with ``feature_framerate`` 1 (VATEX's and MSVD's rule; MSR-VTT's own protocol
  uses ``feature_framerate`` 2, set it with ``--dataset-option feature_framerate=2`` if you compare with it).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path, PurePosixPath
from typing import Any

from c2vbench.plugin import DatasetSpec, RealDatasetOptions, hookimpl, option

ASPECTS = ("Direction", "Intensity", "Sequence", "Localization", "Compositionality", "Type")
SOURCES = {"MSRVTT": "msrvtt_root", "VATEX": "vatex_root"}
HOW_TO_GET = "get the aspect files from https://github.com/lscpku/VITATECS (data/)"
LAYOUT = "the VITATECS <Aspect>.jsonl files (with --dataset-option msrvtt_root=DIR vatex_root=DIR)"


@dataclasses.dataclass(frozen=True)
class VitatecsOptions(RealDatasetOptions):
    """Options of the ``vitatecs`` dataset (the shared ones are documented on ``RealDatasetOptions``).

    Attributes:
        aspects: ``all`` or a comma-separated list of aspects.
        msrvtt_root, vatex_root: the MSR-VTT and VATEX dataset roots (absolute, or relative to ``--data-root``).
        sources: ``both``, ``msrvtt`` or ``vatex``: which source datasets' pairs to keep.
    """

    aspects: str = option("all", help="all, or a comma-separated list of " + ", ".join(ASPECTS))
    msrvtt_root: str = option("", help="the MSR-VTT dataset root (videos/ or frames/)")
    vatex_root: str = option("", help="the VATEX dataset root (videos/ or frames/)")
    sources: str = option("both", choices=("both", "msrvtt", "vatex"), help="source datasets whose pairs are kept")


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="vitatecs",
        summary="VITATECS: caption vs temporal counterfactual, accuracy per aspect (MSR-VTT and VATEX test videos)",
        data_layout=LAYOUT,
        factory=build_vitatecs,
        options_type=VitatecsOptions,
        paper="Li, Yang, et al. VITATECS: A Diagnostic Dataset for Temporal Concept Understanding of Video-Language "
              "Models. ECCV 2024 (arXiv:2311.17404)",
        url="https://github.com/lscpku/VITATECS",
    )


def build_vitatecs(options: VitatecsOptions, data_root: Path | None) -> Any:
    from c2vbench.plugin import (
        CaptionRecord,
        DataError,
        RetrievalDataset,
        RetrievalSplit,
        TextContrast,
        VideoRecord,
        VideoSources,
        frame_sampling,
        protocol_card,
        read_annotation_files,
        require_root,
    )

    root = require_root("vitatecs", data_root, LAYOUT)
    aspects = _aspects(options.aspects)
    folder = root / "data" if not (root / f"{aspects[0]}.jsonl").exists() and (root / "data").is_dir() else root
    files, contents = read_annotation_files("vitatecs", folder, {f"{a}.jsonl": _read_lines for a in aspects},
                                            HOW_TO_GET)
    wanted = {"both": set(SOURCES), "msrvtt": {"MSRVTT"}, "vatex": {"VATEX"}}[options.sources]
    pairs = [pair for aspect in aspects for pair in _pairs(contents[f"{aspect}.jsonl"], files[f"{aspect}.jsonl"],
                                                             aspect) if pair["src_dataset"] in wanted]
    needed = sorted({pair["src_dataset"] for pair in pairs})
    sources = {}
    for source in needed:
        given = getattr(options, SOURCES[source])
        if not given:
            raise DataError(f"vitatecs: the pairs use {source} videos and no {SOURCES[source]} was given",
                            f"pass --dataset-option {SOURCES[source]}=DIR (the {source.lower()} dataset's root), or "
                            f"--dataset-option sources={'vatex' if source == 'MSRVTT' else 'msrvtt'}")
        path = Path(given).expanduser()
        sources[source] = VideoSources(f"vitatecs ({source})", path if path.is_absolute() else root / path,
                                       options.video_source, options.frames_dir, options.videos_dir, ".mp4",
                                       options.decoder)
    videos: dict[tuple[str, str], int] = {}
    records, captions, caption_index = [], [], {}
    contrast = ([], [], [], [])
    for pair in pairs:
        key = (pair["src_dataset"], pair["video"])
        if key not in videos:
            videos[key] = len(records)
            records.append(VideoRecord(f"{key[0]}/{key[1]}", sources[key[0]].source(key[1]), source_key=key[1]))
        text_key = (videos[key], pair["caption"])
        if text_key not in caption_index:
            caption_index[text_key] = len(captions)
            captions.append(CaptionRecord(pair["caption"], videos[key]))
        for values, value in zip(contrast, (videos[key], caption_index[text_key], pair["counterfactual"],
                                            pair["aspect"]), strict=True):
            values.append(value)
    described = "VITATECS: the caption vs its counterfactual, which changes one temporal aspect (group = aspect)"
    test = RetrievalSplit("test", records, captions, contrasts={"vitatecs": TextContrast(
        *(tuple(values) for values in contrast), description=described)})
    kinds = {source.kind for source in sources.values()}
    decoder = next((source.decoder for source in sources.values() if source.kind == "videos"), "frames")
    sampling = frame_sampling(options, decoder)
    first = next(iter(sources.values()))
    card = protocol_card(
        dataset="vitatecs", variant=",".join(aspects), files=files, splits={"test": test}, sources=first,
        caption_expansion={"test": "the distinct captions of each video (retrieval metrics: a by-product)"},
        validation="none: zero-shot diagnostic", selection="val", decoder=decoder,
        extra={"aspects": aspects, "source_datasets": needed,
               "video_sources": {source: sources[source].describe() for source in needed},
               "pairs": {aspect: sum(pair["aspect"] == aspect for pair in pairs) for aspect in aspects},
               "contrast": "per pair: caption vs counterfactual scored with the video; ties count one half",
               "frame_kinds": sorted(kinds)})
    return RetrievalDataset("vitatecs", {"test": test}, sampling, card, selection_split="val")


def _aspects(value: str) -> list[str]:
    from c2vbench.plugin import DataError

    if value.strip().lower() == "all":
        return list(ASPECTS)
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in ASPECTS]
    if unknown or not chosen:
        raise DataError(f"vitatecs: unknown aspect(s) {unknown or value!r}",
                        f"use all, or some of {', '.join(ASPECTS)}")
    return chosen


def _read_lines(path: Path) -> list[Any]:
    from c2vbench.plugin import DataError, read_text

    text = read_text(path)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DataError(f"{path} is not valid JSON lines (line {number}: {error.msg})",
                            "re-download the file") from None
    return records


def _pairs(records: list[Any], path: Path, aspect: str) -> list[dict[str, str]]:
    from c2vbench.plugin import DataError, confined_name

    pairs = []
    for number, record in enumerate(records, start=1):
        fields = {key: record.get(key) if isinstance(record, dict) else None
                  for key in ("src_dataset", "video_name", "caption", "counterfactual")}
        if not all(isinstance(value, str) and value.strip() for value in fields.values()) or \
                fields["src_dataset"] not in SOURCES:
            raise DataError(f"{path} record {number} needs src_dataset (MSRVTT or VATEX), video_name, caption and "
                            f"counterfactual ({record!r:.80})", "use the file as distributed")
        confined_name("vitatecs", fields["video_name"], "video name")
        video = PurePosixPath(fields["video_name"].replace("\\", "/")).name.split(".", 1)[0]
        pairs.append({"src_dataset": fields["src_dataset"], "video": video, "caption": fields["caption"].strip(),
                      "counterfactual": fields["counterfactual"].strip(), "aspect": aspect})
    return pairs
