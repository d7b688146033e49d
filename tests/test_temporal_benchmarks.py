"""The temporal benchmarks on tiny trees in their distribution formats (real encoded videos): SSv2 template
retrieval (several correct videos per text), RTime (reversed copies generated and cached, RTime-Binary) and
VITATECS (caption vs counterfactual per aspect); the contrasts block, its comparison and its leaderboard columns."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from _field_datasets import (
    RTIME_TEST,
    SSV2_VAL,
    VITATECS_ASPECTS,
    make_rtime_tree,
    make_ssv2_tree,
    make_vitatecs_tree,
)
from _video_fixtures import encode_video

from c2vbench.data.integrity import screen_split
from c2vbench.data.reversal import reversed_copy
from c2vbench.platform.errors import DataError
from c2vbench.platform.registry import load_registry
from c2vbench.platform.specs import build_options

VITATECS_ROOTS = {"msrvtt_root": "msrvtt", "vatex_root": "vatex"}


@pytest.fixture(scope="module")
def registry():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
        return load_registry()


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    return {"ssv2": make_ssv2_tree(tmp_path_factory.mktemp("ssv2")),
            "rtime": make_rtime_tree(tmp_path_factory.mktemp("rtime")),
            "vitatecs": make_vitatecs_tree(tmp_path_factory.mktemp("vitatecs"))}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("C2VBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "c2vbench-cache"))


def build(registry, name, root, **overrides):
    spec = registry.get("dataset", name).spec
    return spec.factory(build_options(spec, {key: str(value) for key, value in overrides.items()}), root)


# ---------------------------------------------------------------------------------------------------------------
# SSv2


@pytest.mark.parametrize("caption_type", ["template", "label"])
def test_ssv2_one_query_per_text_with_every_video_of_it_correct(registry, trees, caption_type):
    dataset = build(registry, "ssv2", trees["ssv2"], caption_type=caption_type)
    test = dataset.split("test")
    by_text: dict[str, list[str]] = {}
    for video, text in SSV2_VAL.items():
        key = text if caption_type == "template" else text.replace("[something]", f"object {video}")
        by_text.setdefault(key, []).append(video)
    assert [c.text for c in test.captions] == list(by_text)
    assert [[test.videos[i].video_id for i in relevant] for relevant in test.relevant_videos] == list(by_text.values())
    train = dataset.split("train")
    assert not train.is_multi_target and len(train.captions) == len(train.videos)  # one sample per video
    assert dataset.protocol["caption_type"] == caption_type and "any correct" in dataset.protocol["metrics"]


def test_ssv2_refuses_a_video_with_two_texts_and_a_path_out_of_the_root(registry, trees, tmp_path):
    root = shutil.copytree(trees["ssv2"], tmp_path / "ssv2")
    val = root / "ssv2_ret_template_val_small.json"
    items = json.loads(val.read_text())
    val.write_text(json.dumps(items + [{"image": "201.webm", "caption": "another text"}]))
    with pytest.raises(DataError, match="video 201 has two texts"):
        build(registry, "ssv2", root)
    val.write_text(json.dumps(items + [{"image": "../../etc/passwd", "caption": "x"}]))
    with pytest.raises(DataError, match="points outside the dataset's video folder"):
        build(registry, "ssv2", root)


# ---------------------------------------------------------------------------------------------------------------
# Reversed copies and RTime


def test_a_reversed_copy_is_the_source_backwards_frame_for_frame_and_is_cached(tmp_path):
    import av

    source = encode_video(tmp_path / "clip.mp4", n_frames=45, fps=10, gop=9)
    copy = reversed_copy(source, tmp_path / "cache")

    def frames(path):
        with av.open(str(path)) as container:
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]

    original, reversed_frames = frames(source), frames(copy)
    assert len(original) == len(reversed_frames) == 45
    assert all(np.array_equal(a, b) for a, b in zip(original, reversed_frames[::-1], strict=True))  # lossless
    stamp = copy.stat().st_mtime_ns
    assert reversed_copy(source, tmp_path / "cache") == copy and copy.stat().st_mtime_ns == stamp  # reused
    assert [entry.name for entry in (tmp_path / "cache").iterdir()] == [copy.name]  # no scratch left behind
    other = encode_video(tmp_path / "other.mp4", n_frames=45, fps=10, seed=5)
    assert reversed_copy(other, tmp_path / "cache") != copy  # content-addressed


def test_rtime_hard_puts_reversed_copies_in_the_gallery(registry, trees):
    dataset = build(registry, "rtime", trees["rtime"])
    test = dataset.split("test")
    ids = test.video_ids()
    reversible = [clip for clip, (_, reverse) in RTIME_TEST.items() if reverse]
    assert ids == [name for clip in RTIME_TEST for name in ([clip, f"{clip}#reversed"] if clip in reversible
                                                            else [clip])]
    captions = {c.text: test.videos[c.video_index].video_id for c in test.captions}
    assert captions["clip 33176965 goes backward"] == "33176965#reversed"
    correct = {c.text: sorted(test.videos[i].video_id for i in relevant)
               for c, relevant in zip(test.captions, test.relevant_videos, strict=True)}
    assert correct["clip 33176965 goes forward"] == ["33176965"]  # temporal: the copy is a hard negative
    assert correct["clip 1055407676 goes forward"] == ["1055407676", "1055407676#reversed"]  # reads both ways
    binary = test.contrasts["rtime_binary"]
    assert set(binary.groups) == {"clip", "reversed copy"} and len(binary.groups) == 4  # the two temporal clips
    assert "generated by c2vbench" in dataset.protocol["reversed_copies"]
    origin = build(registry, "rtime", trees["rtime"], setting="origin")
    assert origin.split("test").video_ids() == list(RTIME_TEST) and origin.split("test").relevant_videos is None
    assert set(origin.split("test").contrasts["rtime_binary"].groups) == {"clip"}
    rewrites = build(registry, "rtime", trees["rtime"], rewrites=True)
    assert len(rewrites.split("test").captions) == 3 * len(test.captions)


def test_rtime_screening_names_a_missing_clip_and_its_copy_once_each(registry, trees, tmp_path):
    root = shutil.copytree(trees["rtime"], tmp_path / "rtime")
    (root / "videos" / "1105771335.mp4").unlink()
    dataset = build(registry, "rtime", root)
    with pytest.raises(DataError) as caught:
        screen_split(dataset.split("test"), sampling=dataset.sampling)
    message = str(caught.value)
    assert message.count("1105771335 (missing)") == 1 and message.count("1105771335#reversed (missing)") == 1


# ---------------------------------------------------------------------------------------------------------------
# VITATECS


def test_vitatecs_pairs_per_aspect_over_both_source_datasets(registry, trees):
    root = trees["vitatecs"]
    dataset = build(registry, "vitatecs", root, **VITATECS_ROOTS)
    test = dataset.split("test")
    contrast = test.contrasts["vitatecs"]
    assert list(dict.fromkeys(contrast.groups)) == list(VITATECS_ASPECTS) and len(contrast.groups) == 13
    assert {video.video_id.split("/")[0] for video in test.videos} == {"MSRVTT", "VATEX"}
    assert test.videos[0].source == root / "msrvtt" / "videos" / "video9770.mp4"
    # a caption shared by two pairs is one caption of the video
    first = [c for c, g in zip(contrast.caption_indices, contrast.groups, strict=True) if g == "Direction"]
    assert first[0] == first[2] and len(test.captions) == 12
    assert dataset.protocol["pairs"]["Direction"] == 3
    one = build(registry, "vitatecs", root, aspects="Sequence", sources="msrvtt", msrvtt_root="msrvtt")
    assert one.split("test").contrasts["vitatecs"].groups == ("Sequence",)
    with pytest.raises(DataError, match="no vatex_root was given"):
        build(registry, "vitatecs", root, msrvtt_root="msrvtt")
    with pytest.raises(DataError, match="unknown aspect"):
        build(registry, "vitatecs", root, aspects="Speed", **VITATECS_ROOTS)


# ---------------------------------------------------------------------------------------------------------------
# End to end: runs, the contrasts block, compare and the leaderboard


def run_json(capsys, *args):
    from _cli_runner import run_cli

    code, out, err = run_cli(["run", "--protocol", "zeroshot", "--quiet", "--no-checkpoint", "--json", *args], capsys)
    assert code == 0, err
    return json.loads(out)


def test_ssv2_and_rtime_runs_report_any_correct_recall_and_map(trees, tmp_path, capsys):
    ssv2 = run_json(capsys, "--dataset", "ssv2", "--data-root", str(trees["ssv2"]), "--out", str(tmp_path))
    assert len(ssv2["per_query"]["t2v_rank"]) == len(set(SSV2_VAL.values()))  # one query per text
    assert 0 <= ssv2["metrics"]["t2v"]["mAP"] <= 100
    assert ssv2["protocol"]["targets"].startswith("R@K: a correct video in the top K")
    rtime = run_json(capsys, "--dataset", "rtime", "--data-root", str(trees["rtime"]), "--out", str(tmp_path))
    binary = rtime["contrasts"]["rtime_binary"]
    assert set(binary["summary"]) == {"all", "clip", "reversed copy"}
    own, rival = np.asarray(binary["own"]), np.asarray(binary["rival"])
    assert binary["outcome"] == np.where(own > rival, 1.0, np.where(own == rival, 0.5, 0.0)).tolist()
    assert rtime["protocol"]["contrasts"]["rtime_binary"]["pairs"] == 4


def test_vitatecs_runs_compare_pair_by_pair_and_fill_the_leaderboard_block(trees, tmp_path, capsys):
    from _cli_runner import run_cli

    common = ["--dataset", "vitatecs", "--data-root", str(trees["vitatecs"]), "--out", str(tmp_path / "results"),
              "--dataset-option", "msrvtt_root=msrvtt", "--dataset-option", "vatex_root=vatex"]
    first = run_json(capsys, *common, "--seed", "0")
    second = run_json(capsys, *common, "--seed", "1")
    summary = first["contrasts"]["vitatecs"]["summary"]
    assert set(summary) == {"all", *VITATECS_ASPECTS} and summary["Direction"]["pairs"] == 3
    outcome = np.asarray(first["contrasts"]["vitatecs"]["outcome"])
    assert summary["all"]["accuracy"] == pytest.approx(100 * outcome.mean())
    files = sorted((tmp_path / "results").glob("*.json"))
    code, out, err = run_cli(["compare", str(files[0]), str(files[1]), "--json"], capsys)
    assert code == 0, err
    compared = json.loads(out)["contrasts"]["vitatecs"]
    a, b = (json.loads(path.read_text())["contrasts"]["vitatecs"]["outcome"] for path in files)
    assert compared["all"]["diff"] == pytest.approx(100 * (np.mean(b) - np.mean(a)))
    assert 0 < compared["Direction"]["p"] <= 1
    code, out, err = run_cli(["leaderboard", str(tmp_path / "results"), "--out", str(tmp_path / "board.md")], capsys)
    assert code == 0, err
    board = (tmp_path / "board.md").read_text()
    assert "vitatecs: Direction acc. %" in board and "vitatecs: all acc. %" in board
    assert "temporal benchmarks" in board
    assert second["protocol"]["hash"] == first["protocol"]["hash"]


def test_a_reported_file_without_checked_numbers_must_say_why(tmp_path):
    from c2vbench.platform.errors import ResultFileError
    from c2vbench.results.reported import load_reported, render_reported

    path = tmp_path / "reported.json"
    path.write_text(json.dumps({"dataset": "vitatecs", "entries": []}))
    with pytest.raises(ResultFileError, match="non-empty 'entries' list"):
        load_reported(path)
    path.write_text(json.dumps({"dataset": "vitatecs", "entries": [], "note": "nothing checked yet"}))
    lines = render_reported(load_reported(path), str)
    assert "nothing checked yet" in lines and not any(line.startswith("| Method") for line in lines)
