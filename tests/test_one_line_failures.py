"""One line, never a traceback: a full disk, signals, plug-ins that exit, hostile names and ids, empty splits,
concurrent runs on one --out, the score file that holds two things, and the epoch line after the save."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _cli_runner import run_cli
from _hostile_fs import file_size_limit, small_filesystem
from _small_runs import TINY_BACKBONE, TINY_DATASET, tiny_args

SLOW_EVAL_SITE = Path(__file__).parent / "plugin_fixtures" / "slow_eval"
EXITING_SITE = Path(__file__).parent / "plugin_fixtures" / "exiting"


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# a full disk


def test_a_full_disk_while_training_is_one_line_and_leaves_no_torn_file(tmp_path, capsys):
    from c2vbench.platform.registry import load_registry
    from c2vbench.platform.specs import build_options

    out = tmp_path / "out"
    spec = load_registry().get("dataset", "synthetic-motion").spec
    spec.factory(build_options(spec, dict(value.split("=") for value in TINY_DATASET)), None)  # generated first
    with file_size_limit(256 * 1024):  # the training state (MBs) cannot be written; nothing else is that large
        code, _, err = run_cli(tiny_args("run", out, "--epochs", "1", "--batch-size", "4", "--no-checkpoint"),
                               capsys)
    line = one_line(err)
    assert code == 2 and "cannot write" in line and "training_state.pt: File too large" in line
    assert "(while training); no epoch had finished, so nothing was kept" in line
    assert not [path for path in out.rglob("*") if path.name.startswith(".training_state")]  # no torn temp file
    assert not list(out.glob("*.json"))


def test_prepare_on_a_disk_that_fills_up_is_one_line(tmp_path, capsys):
    from _video_fixtures import encode_video

    encode_video(tmp_path / "videos" / "clip.mp4", n_frames=30, fps=10)
    with small_filesystem(tmp_path / "small", size="48k") as small:
        code, _, err = run_cli(["prepare", "msrvtt", "--videos", str(tmp_path / "videos"), "--out", str(small),
                                "--fps", "30", "--workers", "0"], capsys)
        line = one_line(err)
        assert code == 2 and "No space left on device" in line
        assert not any(path.suffix == ".jpg" for path in (small / ".partial").rglob("*"))  # staging cleaned


# ---------------------------------------------------------------------------------------------------------------
# signals and a second run on the same --out


def slow_eval_command(out: Path) -> list[str]:
    argv = [sys.executable, "-m", "c2vbench", *tiny_args("run", out, "--temporal", "slow-eval", "--epochs", "1",
                                                         "--batch-size", "4", "--eval-batch-size", "2",
                                                         "--select-on", "none", "--no-checkpoint")]
    argv.remove("--quiet")
    return argv


def slow_eval_environment(signal_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SLOW_EVAL_SITE), env.get("PYTHONPATH", "")])
    env["C2VBENCH_LOAD_PLUGINS"] = "c2vbench,c2vbench-slow-eval-fixture"
    env["C2VBENCH_TEST_EVAL_SIGNAL"] = str(signal_file)
    env["C2VBENCH_TEST_EVAL_SLEEP"] = "5"
    return env


def start_until_evaluating(out: Path, signal_file: Path) -> subprocess.Popen:
    process = subprocess.Popen(slow_eval_command(out), env=slow_eval_environment(signal_file),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not signal_file.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert signal_file.exists(), process.communicate()
    return process


def kept_line(stderr: str) -> str:
    return one_line("\n".join(line for line in stderr.splitlines()
                              if not line.startswith(("epoch ", "note:", "videos;")) and line.strip()))


def test_sigterm_says_what_was_kept_and_a_second_run_on_the_same_out_is_refused(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    process = start_until_evaluating(out, tmp_path / "evaluating")
    try:
        # the same run again on the same --out, while the first is evaluating: refused at once
        monkeypatch.setenv("PYTHONPATH", str(SLOW_EVAL_SITE))
        monkeypatch.syspath_prepend(str(SLOW_EVAL_SITE))
        monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench,c2vbench-slow-eval-fixture")
        code, _, err = run_cli(slow_eval_command(out)[3:], capsys)
        line = one_line(err)
        assert code == 2 and f"another run of this configuration and seed is using {out}" in line
        assert f"(pid {process.pid})" in line
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, stderr
    line = kept_line(stderr)
    assert line.startswith("error: terminated (SIGTERM) while evaluating; the finished training (1 epochs) is kept")
    assert "run the same command to evaluate it without training again" in line
    assert json.loads(next(out.glob(".partial/*/progress.json")).read_text())["completed_epochs"] == 1


SLOW_CLEAN_UP = """
import os, signal, sys, time
import c2vbench.cli.main as entry

def command_with_a_slow_clean_up(**_):
    try:
        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C, while the command works
        time.sleep(30)
    finally:  # a clean-up that takes long (a loader's workers, a distributed group): the user presses again
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)

entry.cli.main = command_with_a_slow_clean_up
entry.main(["run"])
"""


def test_a_second_ctrl_c_while_the_first_is_handled_stops_at_once_in_one_line():
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-c", SLOW_CLEAN_UP], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 130 and time.monotonic() - started < 25  # it did not wait for the clean-up
    line = one_line(completed.stderr)
    assert line.startswith("interrupted again: stopped at once") and "run the same command" in line


# ---------------------------------------------------------------------------------------------------------------
# plug-ins that exit


def test_plug_ins_raising_system_exit_or_base_exception_take_nothing_down(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(EXITING_SITE))
    monkeypatch.delenv("C2VBENCH_LOAD_PLUGINS")
    code, out, err = run_cli(["plugins", "--json"], capsys)
    assert code == 1 and err.count("failed: entry point") == 3 and "Traceback" not in err, err  # named, one each
    listed = json.loads(out)
    assert {"meanp", "tiny-clip", "synthetic-motion"} <= {entry["name"] for entry in listed}
    from c2vbench.platform.registry import load_registry

    failures = {failure.provider.entry_point: failure.error for failure in load_registry().failures}
    assert "SystemExit" in failures["exits-at-import"] and "PluginAbort" in failures["base-exception-at-import"]
    assert "SystemExit" in failures["exits-in-hook"]
    code, _, err = run_cli(tiny_args("run", tmp_path / "out", "--protocol", "zeroshot"), capsys)
    assert code == 0, err


# ---------------------------------------------------------------------------------------------------------------
# hostile names: mathtext in plot labels, formulas in CSV cells; ids out of the data root


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory, c2vbench_cache):
    """Two small zero-shot results whose plug-in names a hostile file would carry (mathtext, a formula)."""
    from c2vbench.config import RunConfig
    from c2vbench.pipeline import run_benchmark
    from c2vbench.platform.registry import get_registry
    from c2vbench.results.integrity import seal_result
    from c2vbench.runtime.progress import Reporter

    folder = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C2VBENCH_CACHE", str(c2vbench_cache))
        patch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
        get_registry.cache_clear()
        for seed, name in enumerate((r"$\frac{1}{", "=HYPERLINK(\"http://x\",\"y\")")):
            config = RunConfig(protocol="zeroshot", out=str(folder / "runs"), seed=seed, embedding_cache=False,
                               backbone_options=dict(value.split("=") for value in TINY_BACKBONE),
                               dataset_options=dict(value.split("=") for value in TINY_DATASET))
            path = run_benchmark(config, reporter=Reporter(quiet=True)).result_path
            result = json.loads(path.read_text())
            result["plugins"]["temporal"]["name"] = name
            result["config_key"] = f"hostile-{seed}"
            path.write_text(json.dumps(seal_result(result)))
        get_registry.cache_clear()
    return folder / "runs"


def test_mathtext_in_a_plot_label_is_drawn_as_text(hostile_results, tmp_path, capsys):
    plot = tmp_path / "board.png"
    code, _, err = run_cli(["leaderboard", str(hostile_results), "--plot", str(plot), "--out",
                            str(tmp_path / "board.md"), "--n-resamples", "200"], capsys)
    assert code == 0, err
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(hostile_results, capsys):
    code, out, err = run_cli(["leaderboard", str(hostile_results), "--format", "csv", "--n-resamples", "200"],
                             capsys)
    assert code == 0, err
    cells = [cell for row in csv.reader(io.StringIO(out)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@"))]
    assert any(cell.startswith("'=HYPERLINK") or "'=HYPERLINK" in cell or "=HYPERLINK" not in cell
               for cell in cells)
    entries = [cell for cell in cells if "HYPERLINK" in cell]
    assert entries and all(not cell.startswith("=") for cell in entries)
    from c2vbench.results.leaderboard_export import spreadsheet_safe

    assert [spreadsheet_safe(v) for v in ("=1+1", "+1", "-1", "@A1", "\tx", "ok", -1.5)] == \
        ["'=1+1", "'+1", "'-1", "'@A1", "'\tx", "ok", -1.5]


def test_annotation_ids_cannot_reach_outside_the_video_folder(tmp_path, capsys):
    from _video_fixtures import make_msrvtt_tree

    from c2vbench.data.building import VideoSources
    from c2vbench.platform.errors import DataError

    root = make_msrvtt_tree(tmp_path / "msrvtt", n_videos=14, bad_videos=False)
    data = json.loads((root / "MSRVTT_data.json").read_text())
    data["sentences"][0]["video_id"] = "../../outside/secret"
    target = data["sentences"][0]["video_id"]
    (root / "MSRVTT_data.json").write_text(json.dumps(data))
    rows = (root / "MSRVTT_JSFUSION_test.csv").read_text().splitlines()
    rows[1] = rows[1].replace(rows[1].split(",")[2], target)
    (root / "MSRVTT_JSFUSION_test.csv").write_text("\n".join(rows) + "\n")
    code, _, err = run_cli(["run", "--dataset", "msrvtt", "--data-root", str(root), "--protocol", "zeroshot",
                            "--out", str(tmp_path / "out"), "--quiet"], capsys)
    line = one_line(err)
    assert code == 2 and "'../../outside/secret'" in line and "outside the dataset" in line
    sources = VideoSources("vatex", root, "videos", "", "", ".mp4", decoder="pyav")  # msvd and vatex share it
    for bad in ("../x", "/etc/passwd", "a/../../b", "..\\..\\x", ""):
        with pytest.raises(DataError, match="outside the dataset"):
            sources.source(bad)
    assert sources.source("video3") == root / "videos" / "video3.mp4"


# ---------------------------------------------------------------------------------------------------------------
# symlinked frame folders, empty splits, the score file that holds two things, the epoch line


def test_prepare_skips_a_symlinked_frame_folder_with_a_note(tmp_path, capsys):
    from _video_fixtures import encode_video

    encode_video(tmp_path / "videos" / "clip.mp4", n_frames=10, fps=5)
    encode_video(tmp_path / "videos" / "other.mp4", n_frames=10, fps=5)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    out = tmp_path / "frames"
    out.mkdir()
    (out / "clip").symlink_to(elsewhere, target_is_directory=True)
    code, stdout, err = run_cli(["prepare", "msrvtt", "--videos", str(tmp_path / "videos"), "--out", str(out),
                                 "--workers", "0"], capsys)
    assert code == 0 and "Traceback" not in err, err
    assert "clip is a symbolic link: left as it is" in stdout + err
    assert [path.name for path in elsewhere.iterdir()] == ["keep.txt"] and (out / "clip").is_symlink()
    assert (out / "other").is_dir() and any((out / "other").glob("*.jpg"))


def test_an_empty_test_split_is_one_line(tmp_path, capsys):
    from _video_fixtures import encode_video

    root = tmp_path / "mine"
    for name in ("a0", "a1", "a2"):
        encode_video(root / "videos" / f"{name}.mp4", n_frames=10, fps=5)
    (root / "captions.csv").write_text("video_id,caption,split\na0,a cat,train\na1,a dog,train\na2,a cow,train\n"
                                       "gone,a missing video,test\n")
    code, _, err = run_cli(["run", "--dataset", "folder", "--data-root", str(root), "--protocol", "zeroshot",
                            "--allow-missing", "--out", str(tmp_path / "out"), "--quiet"], capsys)
    line = one_line(err)
    assert code == 2 and "split 'test' of dataset 'folder' has 0 video(s)" in line and "after skipping 1" in line


def test_score_refuses_a_file_with_a_matrix_and_embeddings_unless_told_which(tmp_path, capsys):
    rng = np.random.default_rng(0)
    text, video = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    mapping = np.array([0, 1, 2, 3, 4, 0])
    noise = rng.normal(size=(6, 5))  # a matrix that is not text @ video.T: the two disagree
    both = tmp_path / "both.npz"
    np.savez(both, sim=noise, text_emb=text, video_emb=video, text_to_video=mapping)
    np.savez(tmp_path / "sim.npz", sim=noise, text_to_video=mapping)
    np.savez(tmp_path / "emb.npz", text_emb=text, video_emb=video, text_to_video=mapping)
    code, _, err = run_cli(["score", str(both)], capsys)
    line = one_line(err)
    assert code == 2 and "holds both a similarity matrix" in line and "--use sim or --use embeddings" in line
    for use, alone in (("sim", "sim.npz"), ("embeddings", "emb.npz")):
        chosen = json.loads(run_cli(["score", str(both), "--use", use, "--json"], capsys)[1])
        single = json.loads(run_cli(["score", str(tmp_path / alone), "--json"], capsys)[1])
        assert chosen["per_query"] == single["per_query"]


def test_the_epoch_line_is_printed_after_the_epoch_is_saved(tmp_path):
    from c2vbench.config import RunConfig
    from c2vbench.pipeline import run_benchmark, training_state_dir
    from c2vbench.runtime.progress import Reporter

    config = RunConfig(epochs=1, batch_size=4, out=str(tmp_path), save_checkpoint=False, select_on="none",
                       backbone_options=dict(value.split("=") for value in TINY_BACKBONE),
                       dataset_options=dict(value.split("=") for value in TINY_DATASET))
    state_dir = training_state_dir(config)
    seen = []

    reporter = Reporter()
    printing = reporter.console.print

    def watching(text, *args, **kwargs):
        if str(text).startswith("epoch "):  # what the state on disk holds when the line is printed
            epoch = int(str(text).split()[1].rstrip(":"))
            seen.append((epoch, json.loads((state_dir / "progress.json").read_text())["completed_epochs"]))
        return printing(text, *args, **kwargs)

    reporter.console.print = watching
    run_benchmark(config, reporter=reporter)
    assert seen == [(1, 1)]
