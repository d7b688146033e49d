"""DiDeMo, ActivityNet Captions, LSMDC and YouCook2 plug-ins on tiny trees written in their distribution formats
(real encoded videos): the protocols, the cards, and the refusal of broken trees."""

from __future__ import annotations

import hashlib
import json

import pytest
from _field_datasets import (
    ACTIVITYNET_TEST,
    ACTIVITYNET_TRAIN,
    DIDEMO_FPS,
    DIDEMO_NAMES,
    DIDEMO_SPLITS,
    LSMDC_TEST,
    LSMDC_TRAIN,
    LSMDC_VAL,
    YOUCOOK2_FPS,
    YOUCOOK2_SEGMENTS,
    YOUCOOK2_TRAIN,
    YOUCOOK2_VAL,
    lsmdc_row,
    make_activitynet_tree,
    make_didemo_tree,
    make_lsmdc_tree,
    make_youcook2_tree,
)

from c2vbench.data.decoding import read_sampled_frames
from c2vbench.data.integrity import screen_split
from c2vbench.platform.errors import DataError
from c2vbench.platform.registry import load_registry
from c2vbench.platform.specs import build_options

MAKERS = {"didemo": make_didemo_tree, "activitynet": make_activitynet_tree, "lsmdc": make_lsmdc_tree,
          "youcook2": make_youcook2_tree}


@pytest.fixture(scope="module")
def registry():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")  # the built-ins alone
        return load_registry()


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """One pristine tree per dataset (tests that break a tree copy it first)."""
    return {name: maker(tmp_path_factory.mktemp(name)) for name, maker in MAKERS.items()}


def build(registry, name, root, **overrides):
    spec = registry.get("dataset", name).spec
    return spec.factory(build_options(spec, {key: str(value) for key, value in overrides.items()}), root)


def copy_tree(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


# ---------------------------------------------------------------------------------------------------------------
# DiDeMo


def test_didemo_paragraphs_in_time_order_over_the_annotated_span(registry, trees):
    root = trees["didemo"]
    dataset = build(registry, "didemo", root)
    counts = {name: (len(split.videos), len(split.captions)) for name, split in dataset.splits.items()}
    assert counts == {"train": (4, 4), "val": (1, 1), "test": (3, 3)}  # one paragraph query per video
    test = dataset.split("test")
    assert test.video_ids() == DIDEMO_SPLITS["test"]  # list order, names with their suffix as in the json
    stem = DIDEMO_NAMES[5].split(".")[0][-6:]
    # written middle, first, last in the json: joined in time order
    assert test.captions[0].text == f"{stem} moment first {stem} moment middle {stem} moment last"
    assert all(video.window == (0.0, 30.0) for video in test.videos)
    # the .avi of the lists was converted to .mp4: found by its stem, and extracted under it
    assert test.videos[2].source.name == DIDEMO_NAMES[7].split(".")[0] + ".mp4"
    assert test.videos[2].key == DIDEMO_NAMES[7].split(".")[0]
    assert dataset.max_words == 64 and dataset.sampling.max_frames == 64
    card = dataset.protocol
    assert card["paragraph_order"] == "time" and card["query"] == "paragraph-to-video"
    assert "0 to 30 s" in card["video_window"] and card["max_words"] == 64
    assert set(card["annotation_sha256"]) == {f"{s}_{kind}" for s in ("train", "val", "test")
                                              for kind in ("list.txt", "data.json")}
    file_order = build(registry, "didemo", root, paragraph_order="file")
    assert file_order.split("test").captions[0].text.startswith(f"{stem} moment middle")
    assert file_order.protocol["paragraph_order"] == "file"


def test_didemo_frames_come_from_the_annotated_span_only(registry, trees):
    dataset = build(registry, "didemo", trees["didemo"])
    video = dataset.split("test").videos[0]
    whole = read_sampled_frames(video.source, dataset.sampling)
    cut = read_sampled_frames(video.source, dataset.sampling, window=video.window)
    # the window is cut on the 5 fps grid's time line; ffmpeg's rate conversion shows at a grid position a frame
    # up to one native frame later (sampling.ffmpeg_cfr_frame_map), so that is the tolerance
    assert max(whole.indices) / DIDEMO_FPS > 31  # the video runs past the span...
    assert max(cut.indices) / DIDEMO_FPS <= 30 and len(cut.frames) == 64  # ...the query's frames do not
    whole_video = build(registry, "didemo", trees["didemo"], span_seconds=0)
    assert whole_video.split("test").videos[0].window is None
    assert whole_video.protocol["video_window"] == "the whole video"
    assert whole_video.protocol != dataset.protocol


# ---------------------------------------------------------------------------------------------------------------
# ActivityNet Captions


def test_activitynet_val_1_paragraphs(registry, trees):
    dataset = build(registry, "activitynet", trees["activitynet"])
    test = dataset.split("test")
    assert test.video_ids() == [ACTIVITYNET_TEST[2], ACTIVITYNET_TEST[0], ACTIVITYNET_TEST[1]]  # val_ids order
    first = ACTIVITYNET_TEST[2]
    assert test.captions[0].text == f"{first} first {first} then {first} finally"  # by timestamps, spaces stripped
    assert not test.is_multi_caption
    # a file stored without the v_ prefix is found, and its frame folder is named as the file
    assert test.videos[2].source.name == ACTIVITYNET_TEST[1][2:] + ".mp4"
    assert test.videos[2].key == ACTIVITYNET_TEST[1][2:]
    train, val = dataset.split("train"), dataset.split("val")
    assert sorted(train.video_ids() + val.video_ids()) == sorted(ACTIVITYNET_TRAIN) and len(val.videos) == 1
    assert dataset.max_words == 64 and dataset.sampling.max_frames == 64
    card = dataset.protocol
    assert card["paragraph_order"] == "time" and card["max_words"] == 64
    assert "val_1" in card["test"] and "carved" in card["validation"]
    on_test = build(registry, "activitynet", trees["activitynet"], selection="test")
    assert on_test.split("val") is on_test.split("test") and len(on_test.split("train").videos) == 9
    assert "test split" in on_test.protocol["selection_warning"]


# ---------------------------------------------------------------------------------------------------------------
# LSMDC


def test_lsmdc_public_test_and_multi_sentence_training(registry, trees):
    root = trees["lsmdc"]
    dataset = build(registry, "lsmdc", root)
    test = dataset.split("test")
    assert test.video_ids() == LSMDC_TEST and len(test.captions) == 3  # file order, one sentence each
    assert test.videos[0].source == root / "videos" / f"{LSMDC_TEST[0]}.avi"  # stored flat
    movie = LSMDC_TEST[1].rsplit("_", 1)[0]
    assert test.videos[1].source == root / "videos" / movie / f"{LSMDC_TEST[1]}.avi"  # in its movie folder
    train = dataset.split("train")
    assert train.video_ids() == LSMDC_TRAIN and train.is_multi_caption
    assert [c.text for c in train.captions[:2]] == ["SOMEONE walks in 0", "SOMEONE walks in 1"]
    assert dataset.split("val").video_ids() == LSMDC_VAL
    assert dataset.protocol["variant"] == "public-test-1000"
    assert "not read" in dataset.protocol["clips"]


def test_lsmdc_refuses_a_repeated_test_clip_and_a_short_row(registry, trees, tmp_path):
    root = copy_tree(trees["lsmdc"], tmp_path / "lsmdc")
    test_file = root / "LSMDC16_challenge_1000_publictect.csv"
    original = test_file.read_text()
    test_file.write_text(original + lsmdc_row(LSMDC_TEST[0], "again") + "\n")
    with pytest.raises(DataError, match=r"lists 1 clip\(s\) more than once"):
        build(registry, "lsmdc", root)
    test_file.write_text(original + "clip_only\tone\n")
    with pytest.raises(DataError, match=r"line 4 has 2 tab-separated field\(s\), not the 6"):
        build(registry, "lsmdc", root)


# ---------------------------------------------------------------------------------------------------------------
# YouCook2


def test_youcook2_validation_clips_cut_by_time(registry, trees):
    root = trees["youcook2"]
    dataset = build(registry, "youcook2", root)
    test = dataset.split("test")
    assert test.video_ids() == [f"{video}_{k}" for video in YOUCOOK2_VAL for k in range(3)]
    assert [video.window for video in test.videos[:3]] == [tuple(map(float, s)) for s in YOUCOOK2_SEGMENTS]
    assert test.videos[0].source == root / "videos" / "validation" / "113" / f"{YOUCOOK2_VAL[0]}.mp4"
    assert test.videos[3].source == root / "videos" / f"{YOUCOOK2_VAL[1]}.mkv"
    assert {video.key for video in test.videos} == set(YOUCOOK2_VAL)  # one frame folder per video
    assert [c.text for c in test.captions[:2]] == [f"{YOUCOOK2_VAL[0]} step 0", f"{YOUCOOK2_VAL[0]} step 1"]
    # validation is carved by video: no video has clips on both sides
    train_videos = {video.key for video in dataset.split("train").videos}
    val_videos = {video.key for video in dataset.split("val").videos}
    assert train_videos | val_videos == set(YOUCOOK2_TRAIN) and not train_videos & val_videos
    for video in test.videos[:3]:
        decoded = read_sampled_frames(video.source, dataset.sampling, window=video.window)
        times = decoded.indices / YOUCOOK2_FPS
        start, end = video.window
        # grid time line: a frame up to one native frame (0.5 s) later may show at a grid position
        assert len(decoded.frames) > 0 and times.min() >= start and times.max() <= end
        assert times.min() <= start + 0.5 and times.max() >= end - 1
    assert "[segment start, segment end)" in dataset.protocol["clips"]


# ---------------------------------------------------------------------------------------------------------------
# Broken trees: every problem named, each once


BROKEN_FILES = {
    "didemo": (["val_list.txt"], ["test_data.json"]),
    "activitynet": (["val_ids.json"], ["train.json"]),
    "lsmdc": (["LSMDC16_annos_val.csv"], []),
    "youcook2": ([], ["youcookii_annotations_trainval.json"]),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_missing_and_malformed_annotation_files_are_named_in_one_error(registry, trees, tmp_path, name):
    root = copy_tree(trees[name], tmp_path / name)
    removed, corrupted = BROKEN_FILES[name]
    for file_name in removed:
        (root / file_name).unlink()
    for file_name in corrupted:
        (root / file_name).write_text('{"cut short": [')
    if name == "lsmdc":  # no JSON: a row without its six fields is the malformed file
        corrupted = ["LSMDC16_annos_training.csv"]
        (root / corrupted[0]).write_text("a row\twith too few fields\n")
    with pytest.raises(DataError) as caught:
        build(registry, name, root)
    message = str(caught.value)
    assert f"{len(removed) + len(corrupted)} annotation file(s)" in message
    for file_name in removed:
        assert message.count(f"{file_name} (missing)") == 1
    for file_name in corrupted:
        assert message.count(f"{file_name} (") == 1
    assert "not valid JSON" in message or name == "lsmdc"


def _break_videos(name, root, dataset):
    """Delete one test video and empty another; return the test ids screening must name."""
    test = dataset.split("test")
    first, second = test.videos[0], test.videos[-1]
    first.source.unlink()
    second.source.write_bytes(b"")
    return [video.video_id for video in test.videos if video.source in (first.source, second.source)]


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_missing_and_empty_videos_are_each_listed_once(registry, trees, tmp_path, name):
    root = copy_tree(trees[name], tmp_path / name)
    dataset = build(registry, name, root)
    offenders = _break_videos(name, root, dataset)
    with pytest.raises(DataError) as caught:
        screen_split(dataset.split("test"), sampling=dataset.sampling)
    message = str(caught.value)
    assert f"{len(offenders)} of {len(dataset.split('test').videos)} video(s)" in message
    for video_id in offenders:
        assert message.count(f"{video_id} (") == 1
    assert "missing" in message and "empty file" in message
    kept = screen_split(dataset.split("test"), allow_missing=True, sampling=dataset.sampling)
    assert [item["video_id"] for item in kept.skipped] == offenders
    assert len(kept.split.videos) == len(dataset.split("test").videos) - len(offenders)


def _hostile(name, root):
    """Make the annotations name a video outside the dataset's folder."""
    escape = "../../../outside"
    if name == "didemo":
        (root / "test_list.txt").write_text(escape + ".mp4\n")
        (root / "test_data.json").write_text(json.dumps([{"video": escape + ".mp4", "description": "x",
                                                          "times": [[0, 0]]}]))
    elif name == "activitynet":
        (root / "val_ids.json").write_text(json.dumps(["v_" + escape]))
        (root / "val_1.json").write_text(json.dumps({"v_" + escape: {"duration": 1, "timestamps": [[0, 1]],
                                                                      "sentences": ["x"]}}))
    elif name == "lsmdc":
        (root / "LSMDC16_challenge_1000_publictect.csv").write_text(lsmdc_row(escape, "x") + "\n")
    else:
        data = json.loads((root / "youcookii_annotations_trainval.json").read_text())
        data["database"][escape] = {"subset": "validation", "annotations": [{"id": 0, "segment": [0, 1],
                                                                             "sentence": "x"}]}
        (root / "youcookii_annotations_trainval.json").write_text(json.dumps(data))


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_annotation_ids_are_confined_to_the_data_root(registry, trees, tmp_path, name):
    root = copy_tree(trees[name], tmp_path / name)
    _hostile(name, root)
    with pytest.raises(DataError, match="points outside the dataset's video folder"):
        build(registry, name, root)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_the_card_is_location_free(registry, trees, tmp_path, name):
    moved = copy_tree(trees[name], tmp_path / "elsewhere" / name)
    here, there = build(registry, name, trees[name]).protocol, build(registry, name, moved).protocol
    assert here == there
    assert str(trees[name]) not in json.dumps(here) and str(tmp_path) not in json.dumps(there)
    assert here["annotation_sha256"] == {file: hashlib.sha256((moved / file).read_bytes()).hexdigest()
                                         for file in here["annotation_sha256"]}


# ---------------------------------------------------------------------------------------------------------------
# End to end: `c2vbench run` on each tree, and `prepare` then `--decoder frames`

RUN = ["run", "--protocol", "zeroshot", "--quiet", "--no-checkpoint", "--json", "--eval-batch-size", "4"]


def run_json(capsys, *args):
    from _cli_runner import run_cli

    code, out, err = run_cli([*RUN, *args], capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_run_on_each_generated_tree(trees, tmp_path, capsys, name):
    result = run_json(capsys, "--dataset", name, "--data-root", str(trees[name]), "--out", str(tmp_path))
    card = result["protocol"]
    assert card["dataset"] == name and card["split"] == "test"
    assert len(result["per_query"]["t2v_rank"]) == card["n_captions"] == card["splits"]["test"]["captions"]
    assert card["annotation_sha256"] and card["video_source"]["kind"] == "videos"
    if name in ("didemo", "activitynet"):  # paragraph queries: the protocol's 64 tokens reach the backbone
        assert card["max_words"] == 64 and card["sampling"]["max_frames"] == 64
        assert result["config"]["resolved_options"]["backbone"]["max_words"] == 64


@pytest.mark.parametrize("name", ["didemo", "youcook2"])
def test_prepare_then_decoder_frames(trees, tmp_path, capsys, name):
    from _cli_runner import run_cli

    root = copy_tree(trees[name], tmp_path / name)
    code, out, err = run_cli(["prepare", name, "--videos", str(root / "videos"), "--out", str(root / "frames"),
                              "--data-root", str(root), "--workers", "1", "--json"], capsys)
    assert code == 0, err
    counts = json.loads(out)["counts"]
    # one folder per video file (YouCook2's clips share their video's), named as the dataset looks it up
    assert counts["extracted"] == len({path.stem for path in (root / "videos").rglob("*.*")}) and \
        counts["missing"] == 0
    on_frames = run_json(capsys, "--dataset", name, "--data-root", str(root), "--decoder", "frames",
                         "--out", str(tmp_path / "out"))
    on_videos = run_json(capsys, "--dataset", name, "--data-root", str(root), "--decoder", "pyav",
                         "--out", str(tmp_path / "out"))
    assert on_frames["protocol"]["decoder"]["name"] == "PIL (extracted frames)"
    assert on_frames["protocol"]["video_source"]["kind"] == "frames"
    assert on_frames["protocol"]["n_videos"] == on_videos["protocol"]["n_videos"]
    assert on_frames["protocol"]["hash"] != on_videos["protocol"]["hash"]
