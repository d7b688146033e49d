"""Every check before the work: options, TOML files, output folders and resource estimates are refused in one line
before torch is imported, a video is read or an epoch is trained."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_runner import run_cli
from _hostile_fs import read_only_folder, small_filesystem
from _small_runs import TINY_DATASET

# (arguments, words the one error line must hold): each is refused before torch is imported
REFUSED_BEFORE_TORCH = [
    (["run", "--postprocess", "qb-norm"], "post-processor 'qb-norm'"),
    (["run", "--tie", "optimist"], "tie policy 'optimist'"),
    (["run", "--v2t-mode", "all"], "video-to-text mode 'all'"),
    (["run", "--select-on", "Valid!"], "--select-on"),
    (["run", "--lr", "-1"], "--lr"),
    (["run", "--lr", "nan"], "--lr"),
    (["run", "--backbone-lr", "-5"], "--backbone-lr"),
    (["run", "--num-workers", "-5"], "--num-workers"),
    (["run", "--seed", "-1"], "--seed"),
    (["run", "--max-frames", "0"], "--max-frames"),
    (["run", "--backbone-option", "patch_size=7"], "patch_size=7 does not divide image_size=32"),
    (["run", "--backbone", "timm", "--backbone-option", "model_kwargs=img_size=32,patch_size=6"],
     "patch_size=6 does not divide"),
    (["eval", "--checkpoint", ".", "--tie", "optimist"], "tie policy 'optimist'"),
    (["prepare", "msrvtt", "--videos", ".", "--out", "{tmp}/frames", "--fps", "0"], "--fps 0"),
    (["prepare", "msrvtt", "--videos", ".", "--out", "{tmp}/frames", "--fps", "100000"], "100000"),
    (["prepare", "msrvtt", "--videos", ".", "--out", "{tmp}/frames", "--workers", "-5"], "--workers"),
    (["run", "--config", "{tmp}/typed.toml"], "setting epochs = 'ten' is not valid: it must be a whole number"),
    (["run", "--config", "{tmp}/latin1.toml"], "is not UTF-8"),
    (["run", "--config", "{tmp}/table.toml"], "temporal_options = 3"),
]

PROBE = """
import contextlib, io, json, sys
from c2vbench.cli.main import main
outcomes = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args)
            code = 0
        except SystemExit as exit_:
            code = exit_.code
    outcomes.append([code, "torch" in sys.modules, err.getvalue()])
print(json.dumps(outcomes))
"""


def test_bad_options_and_files_are_refused_in_one_line_before_torch_is_imported(tmp_path):
    (tmp_path / "typed.toml").write_text('epochs = "ten"\n')
    (tmp_path / "latin1.toml").write_bytes('# réglages\nepochs = 2\n'.encode("latin-1"))
    (tmp_path / "table.toml").write_text("temporal_options = 3\n")
    cases = [[arg.format(tmp=tmp_path) for arg in args] for args, _ in REFUSED_BEFORE_TORCH]
    completed = subprocess.run([sys.executable, "-c", PROBE, json.dumps(cases)], capture_output=True, text=True,
                               cwd=tmp_path, check=True, env={**__import__("os").environ,
                                                              "C2VBENCH_LOAD_PLUGINS": "c2vbench"})
    outcomes = json.loads(completed.stdout)
    for (args, words), (code, torch_loaded, err) in zip(REFUSED_BEFORE_TORCH, outcomes, strict=True):
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and words in lines[0], (args, err)
        assert not torch_loaded, args
    assert not (tmp_path / "frames").exists()  # prepare refused before creating its output


def test_an_unknown_selection_split_is_an_error_before_training(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["run", "--select-on", "valid", "--epochs", "1", "--out", str(out), "--quiet"]
    for value in TINY_DATASET:
        args += ["--dataset-option", value]
    code, _, err = run_cli(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "has no split 'valid'" in lines[0] and "test, train, val" in lines[0]
    assert not (out / ".partial").exists()  # no epoch was trained


def test_an_absurd_frame_count_is_refused_with_the_memory_it_would_need(tmp_path, capsys):
    from c2vbench.runtime.resources import check_frame_batch_fits, frame_batch_bytes

    args = ["run", "--protocol", "zeroshot", "--max-frames", "10000000", "--out", str(tmp_path / "out")]
    for value in TINY_DATASET:
        args += ["--dataset-option", value]
    code, _, err = run_cli(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    needed = frame_batch_bytes(64, 10_000_000, 32)  # eval batch 64 x 10^7 slots x 3x32x32 float32
    assert f"{needed / 1e12:.1f} TB" in lines[0] and "--max-frames" in lines[0]
    assert not list((tmp_path / "out").glob("*.json"))
    check_frame_batch_fits(2, 4, 32, available=frame_batch_bytes(2, 4, 32))  # exactly what is there: fits
    with pytest.raises(Exception, match="more than the"):
        check_frame_batch_fits(2, 5, 32, available=frame_batch_bytes(2, 4, 32))


def test_a_read_only_out_is_refused_before_the_work(tmp_path, capsys):
    with read_only_folder(tmp_path / "locked") as locked:
        code, _, err = run_cli(["run", "--protocol", "zeroshot", "--out", str(locked / "results")], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "is not writable" in lines[0], err
        result = Path(__file__).parent / "golden"
        code, _, err = run_cli(["leaderboard", str(result), "--out", str(locked / "board.md")], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "is not writable" in lines[0], err


def test_prepare_refuses_a_video_whose_frames_cannot_fit_on_the_disk(tmp_path):
    from _video_fixtures import encode_video

    from c2vbench.data.extraction import prepare_videos

    videos = tmp_path / "videos"
    encode_video(videos / "clip.mp4", n_frames=30, fps=10, width=64, height=48)  # 3 seconds
    with small_filesystem(tmp_path / "small", size="16k") as small:
        report = prepare_videos(videos, small, fps=120, workers=1)
        outcome = report.outcomes[0]
        assert outcome.status == "failed" and "360 frames at 120 fps need at least" in outcome.reason
        assert "free" in outcome.reason and not (small / "clip").exists()


def test_the_post_processor_vocabulary_is_the_registered_one():
    from c2vbench.evaluation.postprocess import POSTPROCESSORS
    from c2vbench.platform.choices import POSTPROCESSOR_NAMES

    assert tuple(POSTPROCESSORS) == POSTPROCESSOR_NAMES
