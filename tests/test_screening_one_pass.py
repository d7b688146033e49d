"""Every unusable video of every split a run needs is reported in one message, before any training starts."""

from __future__ import annotations

from _cli_runner import run_cli

SMALL = ["train_videos=8", "val_videos=2", "test_twin_pairs=2", "test_singles=2", "frames_per_video=5",
         "max_frames=3"]


def run_argv(out) -> list[str]:
    argv = ["run", "--epochs", "1", "--batch-size", "4", "--out", str(out), "--no-checkpoint",
            "--backbone-option", "vision_layers=1", "--backbone-option", "text_layers=1"]
    for pair in SMALL:
        argv += ["--dataset-option", pair]
    return argv


def test_bad_videos_of_all_splits_are_listed_in_one_error_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("C2VBENCH_CACHE", str(tmp_path / "cache"))  # a private copy of the data to damage
    out = tmp_path / "results"
    assert run_cli([*run_argv(out), "--protocol", "zeroshot"], capsys)[0] == 0  # generates the dataset
    (root,) = (tmp_path / "cache").glob("synthetic-motion-*")
    ids = {split: (root / f"{split}_list.txt").read_text().split() for split in ("train", "val", "test")}
    broken = {"train": ids["train"][:3], "val": ids["val"][:1], "test": ids["test"][-1:]}
    for video_ids in broken.values():
        for video_id in video_ids:
            (root / "videos" / f"{video_id}.mkv").write_bytes(b"not a video")

    code, out_text, err = run_cli(run_argv(out), capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    message = lines[0]
    assert "5 video(s) of dataset 'synthetic-motion' cannot be used" in message
    assert "train: 3 (" in message and "val: 1 (" in message and "test: 1 (" in message
    for video_ids in broken.values():
        assert video_ids[0] in message
    listing = out / "unusable-videos-synthetic-motion.tsv"
    assert str(listing) in message
    rows = [row.split("\t") for row in listing.read_text().splitlines()[1:]]
    assert sorted(row[1] for row in rows) == sorted(v for video_ids in broken.values() for v in video_ids)
    assert "epoch 1" not in out_text + err and not (out / ".partial").exists()  # nothing trained
