"""The ``folder`` dataset: a user's own videos (real encoded files) and a captions csv / JSON lines file."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest
from _cli_runner import run_cli
from _video_fixtures import encode_video, write_frame_folder, write_videos

from c2vbench.data.integrity import screen_split
from c2vbench.platform.errors import DataError
from c2vbench.platform.registry import load_registry
from c2vbench.platform.specs import build_options

TRAIN = [f"train{i}" for i in range(10)]
TEST = ["zebra", "apple", "mango"]  # file order differs from sorted order on purpose


@pytest.fixture(scope="module")
def registry():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")  # the built-ins alone
        return load_registry()


def build(registry, root, **overrides):
    spec = registry.get("dataset", "folder").spec
    return spec.factory(build_options(spec, {key: str(value) for key, value in overrides.items()}), root)


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def caption_rows(with_split=True):
    """Two captions per test video, one per train video; test rows name files (with suffix) for some videos."""
    rows = []
    for number, video_id in enumerate(TEST):
        name = f"{video_id}.mp4" if number % 2 == 0 else video_id
        rows += [[name, f"{video_id} first caption", "test"], [video_id, f"{video_id} second caption", "TEST"]]
    rows += [[video_id, f"{video_id} caption", "train"] for video_id in TRAIN]
    return rows if with_split else [row[:2] for row in rows]


@pytest.fixture(scope="module")
def video_root(tmp_path_factory):
    """Real encoded videos for every id (short: 12 frames at 10 fps), no captions file yet."""
    root = tmp_path_factory.mktemp("own_videos")
    write_videos(root / "videos", TRAIN + TEST, ".mp4", n_frames=12, fps=10)
    return root


def tree(tmp_path, video_root, rows, header=("video_id", "caption", "split"), name="captions.csv"):
    """A data root sharing ``video_root``'s videos (symlinked folder) with its own captions file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "videos").symlink_to(video_root / "videos", target_is_directory=True)
    if name.endswith(".csv"):
        write_csv(tmp_path / name, list(header), rows)
    else:
        lines = [json.dumps(dict(zip(header, row, strict=False))) for row in rows]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    return tmp_path


def test_split_column_groups_captions_in_file_order_and_carves_validation(registry, video_root, tmp_path):
    root = tree(tmp_path, video_root, caption_rows())
    dataset = build(registry, root)
    test = dataset.split("test")
    assert test.video_ids() == TEST  # order of first row, not sorted
    assert [c.text for c in test.captions] == [f"{v} {k} caption" for v in TEST for k in ("first", "second")]
    assert test.text_to_video == [0, 0, 1, 1, 2, 2] and test.is_multi_caption
    assert [video.source for video in test.videos] == [root / "videos" / f"{v}.mp4" for v in TEST]
    train, val = dataset.split("train"), dataset.split("val")
    # no val rows: one video (a tenth of 10) carved from train, disjoint, nothing lost
    assert len(val.videos) == 1 and sorted(train.video_ids() + val.video_ids()) == sorted(TRAIN)
    card = dataset.protocol
    assert card["variant"] == "column" and card["columns"]["split"] == "split"
    assert card["captions_format"] == "csv"
    assert set(card["annotation_sha256"]) == {"captions.csv"}
    assert "carved" in card["validation"]
    assert dataset.sampling.max_frames == 12 and dataset.sampling.feature_framerate == 1
    # the same screening as the published datasets: every listed video decodes
    screened = screen_split(test, sampling=dataset.sampling)
    assert screened.skipped == []


def test_without_split_column_every_video_is_test_and_training_is_refused_clearly(registry, video_root, tmp_path):
    root = tree(tmp_path, video_root, caption_rows(with_split=False), header=("video_id", "caption"))
    dataset = build(registry, root)
    assert set(dataset.splits) == {"test"}
    assert dataset.split("test").video_ids() == TEST + TRAIN
    assert dataset.protocol["variant"] == "all-test"
    assert "zero-shot" in dataset.protocol["split_rule"]
    with pytest.raises(DataError, match="no train split.*every video is a test video.*--protocol zeroshot"):
        dataset.split("train")


def test_hash_split_depends_on_the_ids_only(registry, video_root, tmp_path):
    rows = caption_rows(with_split=False)
    first = build(registry, tree(tmp_path / "a", video_root, rows, header=("video_id", "caption")),
                  split_rule="hash", test_fraction=0.25)
    shuffled = build(registry, tree(tmp_path / "b", video_root, rows[::-1], header=("video_id", "caption")),
                     split_rule="hash", test_fraction=0.25)
    ids = {name: sorted(split.video_ids()) for name, split in first.splits.items()}
    assert ids == {name: sorted(split.video_ids()) for name, split in shuffled.splits.items()}
    assert len(ids["test"]) == round(13 * 0.25)
    assert sorted(ids["train"] + ids["val"] + ids["test"]) == sorted(TRAIN + TEST)
    assert not set(ids["test"]) & set(ids["train"] + ids["val"])
    # a different fraction moves videos between splits (the rule really is applied)
    half = build(registry, tmp_path / "a", split_rule="hash", test_fraction=0.5)
    assert len(half.split("test").videos) == round(13 * 0.5)
    assert first.protocol["variant"] == "hash" and first.protocol != half.protocol


def test_json_lines_give_the_same_dataset_as_csv(registry, video_root, tmp_path):
    from_csv = build(registry, tree(tmp_path / "csv", video_root, caption_rows()))
    from_jsonl = build(registry, tree(tmp_path / "jsonl", video_root, caption_rows(), name="captions.jsonl"))
    for name in ("train", "val", "test"):
        csv_split, jsonl_split = from_csv.split(name), from_jsonl.split(name)
        assert csv_split.video_ids() == jsonl_split.video_ids() and csv_split.captions == jsonl_split.captions
    assert from_jsonl.protocol["captions_format"] == "jsonl"
    assert set(from_jsonl.protocol["annotation_sha256"]) == {"captions.jsonl"}


def test_named_columns_subfolders_and_ids_with_dots(registry, tmp_path):
    encode_video(tmp_path / "clips" / "kitchen" / "cut.one.webm", n_frames=10, codec="libvpx", seed=1)
    encode_video(tmp_path / "clips" / "walk.two.mp4", n_frames=10, seed=2)
    write_csv(tmp_path / "my captions.csv", ["file", "text"],
              [["kitchen/cut.one.webm", "someone cuts onions"], ["walk.two", "a walk in the park"]])
    dataset = build(registry, tmp_path, captions="my captions.csv", video_column="file", caption_column="text",
                    videos_dir="clips", label="home videos")
    test = dataset.split("test")
    assert test.video_ids() == ["kitchen/cut.one", "walk.two"]
    assert [v.source for v in test.videos] == [tmp_path / "clips" / "kitchen" / "cut.one.webm",
                                               tmp_path / "clips" / "walk.two.mp4"]
    assert screen_split(test, sampling=dataset.sampling).skipped == []
    assert dataset.protocol["label"] == "home videos"
    assert dataset.protocol["columns"] == {"video": "file", "caption": "text", "split": None}


def test_frame_folders(registry, tmp_path):
    for number, video_id in enumerate(("a", "b")):
        write_frame_folder(tmp_path / "frames" / video_id, 10, seed=number)
    write_csv(tmp_path / "captions.csv", ["video_id", "caption"], [["a", "first"], ["b", "second"]])
    dataset = build(registry, tmp_path)
    # location-free: the kind and a digest of the folder's entry names, never its path
    assert dataset.protocol["video_source"] == {"kind": "frames", "entries": 2,
                                                "video_list_sha256": hashlib.sha256(b"a\nb").hexdigest()}
    assert dataset.split("test").videos[1].source == tmp_path / "frames" / "b"
    assert screen_split(dataset.split("test"), sampling=dataset.sampling).skipped == []


@pytest.mark.parametrize(("rows", "header", "overrides", "message"), [
    ([["a", "x"]], ("video", "caption"), {},
     r"has no column 'video_id' \(it has caption, video\).*video_column=NAME"),
    ([["a", "x", "eval"]], ("video_id", "caption", "split"), {}, r"line 2: split 'eval' is not train, val or test"),
    ([["a", "x", "test"], ["b", "y", "test"], ["a", "x", "test"]], ("video_id", "caption", "split"), {},
     r"same row twice \(line 2 and line 4: video a"),
    ([["a", "x", "train"], ["a", "y", "test"]], ("video_id", "caption", "split"), {},
     r"video a is in split train \(line 2\) and test \(line 3\)"),
    ([["a", "", "test"]], ("video_id", "caption", "split"), {}, r"line 2 has an empty 'caption'"),
    ([["a", "x", "train"]], ("video_id", "caption", "split"), {}, r"no row .* has split 'test'"),
    ([["a", "x"]], ("video_id", "caption"), {"split_rule": "column"}, r"no column 'split' but split_rule=column"),
    ([["../a.mp4", "x"]], ("video_id", "caption"), {}, r"outside the videos folder"),
])
def test_bad_captions_files_give_one_clear_error(registry, tmp_path, rows, header, overrides, message):
    (tmp_path / "videos").mkdir()
    write_csv(tmp_path / "captions.csv", list(header), rows)
    with pytest.raises(DataError, match=message):
        build(registry, tmp_path, **overrides)


def test_missing_or_ambiguous_captions_file(registry, tmp_path):
    (tmp_path / "videos").mkdir()
    with pytest.raises(DataError, match=r"no captions file in .*captions\.csv, captions\.jsonl"):
        build(registry, tmp_path)
    with pytest.raises(DataError, match=r"captions file .*mine\.csv not found"):
        build(registry, tmp_path, captions="mine.csv")
    write_csv(tmp_path / "captions.csv", ["video_id", "caption"], [["a", "x"]])
    (tmp_path / "captions.jsonl").write_text('{"video_id": "a", "caption": "x"}\n')
    with pytest.raises(DataError, match=r"several captions files \(captions\.csv, captions\.jsonl\)"):
        build(registry, tmp_path)


def test_cli_refuses_a_bad_file_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
    (tmp_path / "videos").mkdir()
    write_csv(tmp_path / "captions.csv", ["video_id", "caption", "split"], [["a", "x", "holdout"]])
    code, out, err = run_cli(["run", "--dataset", "folder", "--data-root", str(tmp_path), "--protocol", "zeroshot",
                              "--out", str(tmp_path / "results"), "--quiet"], capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "split 'holdout' is not train, val or test" in lines[0], err
    assert "Traceback" not in err + out


SMALL_RUN = ["--backbone", "tiny-clip", "--backbone-option", "vision_layers=1", "--backbone-option", "text_layers=1",
             "--max-frames", "2", "--eval-batch-size", "8", "--quiet", "--json", "--no-checkpoint"]


def test_zeroshot_run_end_to_end_and_absent_videos(video_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
    rows = [[video_id, f"{video_id} caption"] for video_id in [*TEST, "not_there"]]
    root = tree(tmp_path / "data", video_root, rows, header=("video_id", "caption"))
    args = ["run", "--dataset", "folder", "--data-root", str(root), "--protocol", "zeroshot",
            "--out", str(tmp_path / "results"), *SMALL_RUN]
    code, out, err = run_cli(args, capsys)
    assert code == 2 and "not_there (missing" in err and "--allow-missing" in err
    code, out, err = run_cli([*args, "--allow-missing"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["plugins"]["dataset"]["name"] == "folder"
    assert result["protocol"]["variant"] == "all-test" and result["protocol"]["n_videos"] == 3
    assert [s["video_id"] for s in result["protocol"]["skipped_videos"]["test"]] == ["not_there"]
    assert len(result["per_query"]["t2v_rank"]) == 3
    code, out, err = run_cli(["run", "--dataset", "folder", "--data-root", str(root), "--protocol", "finetune",
                              "--allow-missing", "--epochs", "1", "--out", str(tmp_path / "results"), *SMALL_RUN],
                             capsys)
    assert code == 2 and "no train split" in err and "Traceback" not in err


@pytest.mark.slow
def test_tiny_training_run_on_own_videos(video_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
    root = tree(tmp_path / "data", video_root, caption_rows())
    code, out, err = run_cli(["run", "--dataset", "folder", "--data-root", str(root), "--protocol", "finetune",
                              "--epochs", "1", "--batch-size", "4", "--out", str(tmp_path / "results"),
                              *SMALL_RUN], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["training"]["selection_split"] == "val"
    assert result["protocol"]["splits"]["train"]["videos"] == 9
    assert result["protocol"]["n_captions"] == 6 and len(result["per_query"]["v2t_rank"]) == 3


def test_prepare_extracts_the_listed_videos_and_the_dataset_then_reads_frames(registry, tmp_path, capsys):
    write_videos(tmp_path / "videos", ["a", "b", "unlisted"], ".mp4", n_frames=12)
    write_csv(tmp_path / "captions.csv", ["video_id", "caption"], [["a", "first"], ["b.mp4", "second"]])
    code, out, err = run_cli(["prepare", "folder", "--videos", str(tmp_path / "videos"), "--out",
                              str(tmp_path / "frames"), "--data-root", str(tmp_path), "--workers", "1", "--json"],
                             capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "frames").iterdir() if not p.name.startswith(".")) == ["a", "b"]
    dataset = build(registry, tmp_path)  # video_source=auto now finds the frame folders
    assert dataset.protocol["video_source"] == {"kind": "frames", "entries": 2,  # location-free
                                                "video_list_sha256": hashlib.sha256(b"a\nb").hexdigest()}
    assert screen_split(dataset.split("test"), sampling=dataset.sampling).skipped == []
