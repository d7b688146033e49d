"""Tiny DiDeMo, ActivityNet Captions, LSMDC and YouCook2 trees in their distribution formats, with real encoded
videos (PyAV). Each maker documents its split layout; the tests rely on it."""

from __future__ import annotations

import json
from pathlib import Path

from _video_fixtures import encode_video

# ---------------------------------------------------------------------------------------------------------------
# DiDeMo: Flickr names with their original suffix; one test video converted to .mp4 (found by its stem)

DIDEMO_NAMES = [f"{10015560 + i}@N0{i % 3}_{3655084290 + i}_d8b5846{i}fa.{suffix}"
                for i, suffix in enumerate(["mov", "avi", "mp4", "mov", "avi", "mov", "mp4", "avi"])]
DIDEMO_SPLITS = {"train": DIDEMO_NAMES[:4], "val": DIDEMO_NAMES[4:5], "test": DIDEMO_NAMES[5:]}
DIDEMO_VIDEO_SECONDS = 36  # longer than the 30 annotated seconds, so the span cut matters
DIDEMO_FPS = 2


def didemo_moments(name: str) -> list[dict]:
    """Three moments per video, written out of time order: chunks (2, 3), then (0, 0), then (4, 5)."""
    stem = name.split(".")[0][-6:]
    return [{"annotation_id": f"{name}-{k}", "description": f"{stem} moment {label}", "video": name,
             "times": [list(chunks)] * 4, "dl_link": f"https://www.flickr.com/video_download.gne?id={k}",
             "num_segments": 6}
            for k, (label, chunks) in enumerate([("middle", (2, 3)), ("first", (0, 0)), ("last", (4, 5))])]


def make_didemo_tree(root: Path) -> Path:
    """train = names 0-3, val = 4, test = 5-7. Test video 6 (a ``.mp4`` in the lists) is stored as ``.mp4`` too;
    test video 7 (``.avi`` in the lists) is stored converted to ``.mp4``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for split, names in DIDEMO_SPLITS.items():
        (root / f"{split}_list.txt").write_text("\n".join(names) + "\n")
        moments = [moment for name in names for moment in didemo_moments(name)]
        (root / f"{split}_data.json").write_text(json.dumps(moments))
    for number, name in enumerate(DIDEMO_NAMES):
        stored = name if number != 7 else name.rsplit(".", 1)[0] + ".mp4"
        encode_video(root / "videos" / stored, n_frames=DIDEMO_VIDEO_SECONDS * DIDEMO_FPS, fps=DIDEMO_FPS,
                     seed=number)
    return root


# ---------------------------------------------------------------------------------------------------------------
# ActivityNet Captions: v_<id> keys; some files stored without the v_ prefix (as CLIP4Clip expects)

ACTIVITYNET_IDS = [f"v_{code}" for code in ("uqiMw7tQ1Cc", "bXdq2zI1Ms0", "-sS_NCZEfaI", "K6Tm5xHkJ5c",
                                             "4Lu8ECLHvK4", "HWV_ccmZVPA", "GGSY1Qvo990", "frePM0YGtQE",
                                             "JTrwGfPJNzU", "gOniW-yEZ0k", "cHYZPYLwvks", "HtkuvF7VbSQ")]
ACTIVITYNET_TRAIN, ACTIVITYNET_TEST = ACTIVITYNET_IDS[:9], ACTIVITYNET_IDS[9:]


def activitynet_entry(video_id: str, duration: float = 10.0) -> dict:
    """Three sentences written out of time order (timestamps 4-7 s, 0-3 s, 7-10 s), with ActivityNet's stray
    leading spaces."""
    return {"duration": duration, "timestamps": [[4.0, 7.0], [0.0, 3.0], [7.0, 10.0]],
            "sentences": [f" {video_id} then", f"{video_id} first ", f" {video_id} finally"]}


def make_activitynet_tree(root: Path) -> Path:
    """train = ids 0-8, test (val_1) = ids 9-11 in ``val_ids.json`` order 11, 9, 10. Files of ids 1 and 10 are
    stored without the ``v_`` prefix."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.json").write_text(json.dumps({v: activitynet_entry(v) for v in ACTIVITYNET_TRAIN}))
    (root / "val_1.json").write_text(json.dumps({v: activitynet_entry(v) for v in ACTIVITYNET_TEST}))
    (root / "train_ids.json").write_text(json.dumps(ACTIVITYNET_TRAIN))
    (root / "val_ids.json").write_text(json.dumps([ACTIVITYNET_TEST[2], ACTIVITYNET_TEST[0], ACTIVITYNET_TEST[1]]))
    for number, video_id in enumerate(ACTIVITYNET_IDS):
        stored = video_id[2:] if number in (1, 10) else video_id
        encode_video(root / "videos" / f"{stored}.mp4", n_frames=20, fps=2, seed=number)
    return root


# ---------------------------------------------------------------------------------------------------------------
# LSMDC: tab-separated rows, clip ids with dots, clips in movie folders

LSMDC_MOVIES = ["0001_American_Beauty", "0002_As_Good_As_It_Gets", "3001_21_JUMP_STREET"]


def lsmdc_clip(movie: int, number: int) -> str:
    seconds = 10 + 4 * number
    return f"{LSMDC_MOVIES[movie]}_00.00.{seconds:02d}.163-00.00.{seconds + 2:02d}.083"


LSMDC_TRAIN = [lsmdc_clip(0, n) for n in range(4)]
LSMDC_VAL = [lsmdc_clip(1, n) for n in range(2)]
LSMDC_TEST = [lsmdc_clip(2, n) for n in (2, 0, 1)]  # file order differs from id order


def lsmdc_row(clip: str, sentence: str) -> str:
    return "\t".join([clip, "00.00.10.163", "00.00.12.083", "00.00.10.100", "00.00.12.100", sentence])


def make_lsmdc_tree(root: Path) -> Path:
    """Training clips have two sentences each (two rows, not adjacent); val one; test one each. Videos live in
    ``videos/<movie>/<clip>.avi`` except the first test clip, stored flat."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    training = [lsmdc_row(clip, f"SOMEONE walks in {k}") for k in range(2) for clip in LSMDC_TRAIN]
    (root / "LSMDC16_annos_training.csv").write_text("\n".join(training) + "\n")
    (root / "LSMDC16_annos_val.csv").write_text("\n".join(lsmdc_row(c, "SOMEONE looks up") for c in LSMDC_VAL) + "\n")
    (root / "LSMDC16_challenge_1000_publictect.csv").write_text(
        "\n".join(lsmdc_row(clip, f"test sentence of {clip[-12:]}") for clip in LSMDC_TEST) + "\n")
    for number, clip in enumerate(LSMDC_TRAIN + LSMDC_VAL + LSMDC_TEST):
        movie = clip.rsplit("_", 1)[0]
        folder = root / "videos" if clip == LSMDC_TEST[0] else root / "videos" / movie
        encode_video(folder / f"{clip}.avi", n_frames=20, fps=10, seed=number)
    return root


# ---------------------------------------------------------------------------------------------------------------
# YouCook2: whole videos in raw_videos' <subset>/<recipe type>/ layout; clips are segments cut by time

YOUCOOK2_TRAIN = ["GLd3aX16zBg", "xHr8X2Wpmno", "V53XmPeyjIU", "mZwK0TBI1iY"]
YOUCOOK2_VAL = ["sGzBQrg1adY", "-wc4HnWLOkA"]
YOUCOOK2_TEST_VIDEO = "withheld0001"  # subset "testing": not distributed with annotations, must be ignored
YOUCOOK2_SEGMENTS = [[1, 5], [6, 12], [14, 19]]
YOUCOOK2_FPS = 2
YOUCOOK2_SECONDS = 20


def make_youcook2_tree(root: Path) -> Path:
    """Every video has the three segments of ``YOUCOOK2_SEGMENTS`` (ids 0-2). Videos are stored in
    ``videos/<subset>/<recipe type>/<id>.mp4``, except the second validation video, stored flat as ``.mkv``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    database = {}
    for subset, video_ids in (("training", YOUCOOK2_TRAIN), ("validation", YOUCOOK2_VAL)):
        for video_id in video_ids:
            database[video_id] = {
                "duration": float(YOUCOOK2_SECONDS), "subset": subset, "recipe_type": "113",
                "video_url": f"https://www.youtube.com/watch?v={video_id}",
                "annotations": [{"segment": segment, "id": k, "sentence": f"{video_id} step {k}"}
                                for k, segment in enumerate(YOUCOOK2_SEGMENTS)]}
    database[YOUCOOK2_TEST_VIDEO] = {"duration": 10.0, "subset": "testing", "recipe_type": "113", "annotations": []}
    (root / "youcookii_annotations_trainval.json").write_text(json.dumps({"database": database}))
    for number, video_id in enumerate(YOUCOOK2_TRAIN + YOUCOOK2_VAL):
        subset = "training" if video_id in YOUCOOK2_TRAIN else "validation"
        path = root / "videos" / f"{video_id}.mkv" if video_id == YOUCOOK2_VAL[1] else \
            root / "videos" / subset / "113" / f"{video_id}.mp4"
        encode_video(path, n_frames=YOUCOOK2_SECONDS * YOUCOOK2_FPS, fps=YOUCOOK2_FPS, seed=number)
    return root


# ---------------------------------------------------------------------------------------------------------------
# SSv2 template retrieval: several videos per text (files named .webm in the annotations, stored converted)

SSV2_TRAIN = {f"{100 + i}": f"Pushing [something] {'left' if i % 2 else 'right'}" for i in range(10)}
SSV2_VAL = {"201": "Putting [something] on [something]", "202": "Putting [something] on [something]",
            "203": "Taking [something] out of [something]", "204": "Putting [something] on [something]",
            "205": "Taking [something] out of [something]", "206": "Spinning [something]"}


def make_ssv2_tree(root: Path) -> Path:
    """``val_small`` lists one item per text with its videos (201, 202, 204 | 203, 205 | 206); ``train`` one item
    per video. Label files hold the same videos with labels."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    def text(kind, value, video):
        return value if kind == "template" else value.replace("[something]", f"object {video}")

    for kind in ("template", "label"):
        train = [{"image": f"{video}.webm", "caption": text(kind, value, video)} for video, value in SSV2_TRAIN.items()]
        grouped: dict[str, list[str]] = {}
        for video, value in SSV2_VAL.items():
            grouped.setdefault(text(kind, value, video), []).append(video)
        val = [{"image": [f"{video}.webm" for video in videos], "caption": caption}
               for caption, videos in grouped.items()]
        (root / f"ssv2_ret_{kind}_train.json").write_text(json.dumps(train))
        (root / f"ssv2_ret_{kind}_val_small.json").write_text(json.dumps(val))
    for number, video in enumerate([*SSV2_TRAIN, *SSV2_VAL]):
        encode_video(root / "videos" / f"{video}.mp4", n_frames=16, fps=8, seed=number)
    return root


# ---------------------------------------------------------------------------------------------------------------
# RTime: clips with forward / reverse captions and temporal flags

RTIME_TEST = {
    "33176965": (True, True), "1105771335": (True, True),  # temporal, reversal annotated
    "1055407676": (False, True),  # reads the same both ways
    "1032094505": (True, False),  # reversal not annotated: no copy
}
RTIME_VALID = {"1068111035": (True, True), "1018637503": (False, True)}


def rtime_entry(clip: str, temporal: bool, reverse: bool) -> dict:
    return {"temporal": temporal, "reverse": reverse,
            "forward_captions": [f"clip {clip} goes forward"],
            "reverse_captions": [f"clip {clip} goes backward"] if reverse else [],
            "forward_rewrites": [f"forward rewrite {k} of {clip}" for k in range(2)],
            "reverse_rewrites": [f"backward rewrite {k} of {clip}" for k in range(2)] if reverse else [],
            "url": f"https://www.shutterstock.com/video/clip-{clip}"}


def make_rtime_tree(root: Path) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name, clips in (("test.json", RTIME_TEST), ("valid.json", RTIME_VALID)):
        (root / name).write_text(json.dumps({clip: rtime_entry(clip, *flags) for clip, flags in clips.items()}))
    for number, clip in enumerate([*RTIME_TEST, *RTIME_VALID]):
        encode_video(root / "videos" / f"{clip}.mp4", n_frames=20, fps=10, seed=number)
    return root


# ---------------------------------------------------------------------------------------------------------------
# VITATECS: aspect files over MSR-VTT and VATEX roots

VITATECS_MSRVTT = ["video9770", "video8317", "video9496"]
VITATECS_VATEX = ["Ptf_2VRj-V0_000122_000132", "-Ab12_cdEF0_000005_000015"]
VITATECS_ASPECTS = ("Direction", "Intensity", "Sequence", "Localization", "Compositionality", "Type")


def vitatecs_lines(aspect: str) -> list[dict]:
    """Two pairs per aspect: one MSR-VTT video, one VATEX video; Direction adds a second pair for video9770 with the
    same caption (so captions are shared between pairs)."""
    number = VITATECS_ASPECTS.index(aspect)
    msrvtt, vatex = VITATECS_MSRVTT[number % 3], VITATECS_VATEX[number % 2]
    lines = [{"src_dataset": "MSRVTT", "video_name": f"{msrvtt}.mp4", "caption": f"{msrvtt} {aspect} caption",
              "counterfactual": f"{msrvtt} {aspect} counterfactual", "aspect": aspect},
             {"src_dataset": "VATEX", "video_name": f"{vatex}.mp4", "caption": f"{vatex} {aspect} caption",
              "counterfactual": f"{vatex} {aspect} counterfactual", "aspect": aspect}]
    if aspect == "Direction":
        lines.append({**lines[0], "counterfactual": f"{msrvtt} another counterfactual"})
    return lines


def make_vitatecs_tree(root: Path) -> Path:
    """``root/data/<Aspect>.jsonl`` (as in the repository), ``root/msrvtt/videos`` and ``root/vatex/videos``."""
    root = Path(root)
    (root / "data").mkdir(parents=True, exist_ok=True)
    for aspect in VITATECS_ASPECTS:
        (root / "data" / f"{aspect}.jsonl").write_text("\n".join(json.dumps(line) for line in vitatecs_lines(aspect))
                                                       + "\n")
    for number, video in enumerate(VITATECS_MSRVTT):
        encode_video(root / "msrvtt" / "videos" / f"{video}.mp4", n_frames=16, fps=8, seed=number)
    for number, video in enumerate(VITATECS_VATEX):
        encode_video(root / "vatex" / "videos" / f"{video}.mp4", n_frames=16, fps=8, seed=10 + number)
    return root
