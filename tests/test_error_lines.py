"""Errors sized for people: each bad input of issue 10's list gets one clear line and the right exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_runner import run_cli
from _small_runs import SMALL_DATASET

from c2vbench.config import RunConfig
from c2vbench.platform.errors import C2VBenchError
from c2vbench.results import result_file as results
from c2vbench.results.integrity import seal_result

COMMITTED = Path(__file__).resolve().parents[1] / "leaderboards" / "results" / "synthetic-motion"


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def committed_result() -> dict:
    return json.loads(sorted(COMMITTED.glob("*.json"))[0].read_text())


def with_protocol(result: dict, **changes) -> dict:
    """Another run's result on a changed protocol, sealed as c2vbench seals what it writes."""
    card = {key: value for key, value in result["protocol"].items() if key != "hash"}
    card.update(changes)
    return seal_result(dict(result, protocol=results.protocol_card(card), run_id=result["run_id"] + "-other"))


def write(path: Path, result: dict) -> str:
    path.write_text(json.dumps(result))
    return str(path)


def test_a_tie_policy_mismatch_names_the_field_and_the_right_fix(tmp_path, capsys):
    base = committed_result()
    a = write(tmp_path / "a.json", base)
    b = write(tmp_path / "b.json", with_protocol(base, tie="optimistic"))
    code, _, err = run_cli(["compare", a, b], capsys)
    line = one_error_line(err)
    assert code == 2 and "tie: 'expected' vs 'optimistic'" in line
    assert "--tie" in line and "same dataset, split and frame sampling" not in line


def test_a_protocol_mismatch_lists_a_few_shortened_fields(tmp_path, capsys):
    base = committed_result()
    skipped = {"test": [{"video_id": f"synth{i:05d}", "reason": "missing"} for i in range(400)]}
    other = with_protocol(base, skipped_videos=skipped, annotations_sha256="f" * 64, generator_version=9,
                          n_videos=1, caption_expansion="x" * 500)
    code, _, err = run_cli(["compare", write(tmp_path / "a.json", base), write(tmp_path / "b.json", other)], capsys)
    line = one_error_line(err)
    assert code == 2 and len(line) < 600, len(line)
    assert "and 2 more field(s)" in line and "annotations_sha256" in line


def test_compare_refuses_a_binary_file_in_one_line(tmp_path, capsys):
    npz = tmp_path / "sim.npz"
    npz.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe binary")
    code, _, err = run_cli(["compare", str(npz), str(sorted(COMMITTED.glob("*.json"))[0])], capsys)
    line = one_error_line(err)
    assert code == 2 and "binary data, not a JSON result file" in line and "c2vbench score" in line
    assert "UnicodeDecodeError" not in line


def test_compare_refuses_a_run_against_itself(capsys):
    path = str(sorted(COMMITTED.glob("*.json"))[0])
    code, _, err = run_cli(["compare", path, path], capsys)
    assert code == 2 and "are the same run" in one_error_line(err)


def test_a_misspelt_plugin_is_refused_before_torch_is_imported():
    script = ("import sys\nfrom c2vbench.cli.main import main\ntry:\n    main(['run', '--temporal', 'meanpp'])\n"
              "except SystemExit as exit_:\n    print('torch' in sys.modules, exit_.code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "C2VBENCH_LOAD_PLUGINS": "c2vbench"})
    assert done.stdout.split() == ["False", "2"], done.stderr
    assert "did you mean 'meanp'" in one_error_line(done.stderr)


@pytest.mark.parametrize("argv, words", [
    (["run", "--temporal", "tdb", "--temporal-option", "layers=-1"], ["layers=-1", "out of range", "1 to 24"]),
    (["run", "--temporal", "tdb", "--temporal-option", "layers=two"], ["layers='two'", "whole number"]),
    (["run", "--dataset", "msrvtt"], ["needs --data-root", "MSRVTT_data.json"]),
    (["run", "--device", "gpu"], ["unknown device 'gpu'", "cuda:N"]),
])
def test_bad_run_options_give_one_line_exit_2(capsys, argv, words):
    code, _, err = run_cli(argv, capsys)
    line = one_error_line(err)
    assert code == 2
    for word in words:
        assert word in line
    assert "c2vbench plugins" not in line  # the old hint pointed at a listing that shows no layout


def test_device_cuda_n_is_accepted_and_checked_against_the_gpus():
    import torch

    from c2vbench.pipeline import select_device

    assert RunConfig(device="cuda:1").device == "cuda:1"
    if not torch.cuda.is_available():
        with pytest.raises(C2VBenchError, match="--device cuda:1 was requested but no CUDA device"):
            select_device("cuda:1")
        return
    count = torch.cuda.device_count()
    assert select_device(f"cuda:{count - 1}") == torch.device(f"cuda:{count - 1}")
    with pytest.raises(C2VBenchError, match=f"names GPU {count}, but this machine has {count}"):
        select_device(f"cuda:{count}")


def test_eval_prints_the_checkpoint_it_evaluated_not_a_dict(capsys):
    from c2vbench.cli.run import print_outcome

    result = dict(committed_result(), checkpoint={"path": "ckpt/pytorch_model.bin.2", "format": "clip2video",
                                                  "legacy_mask": True})
    print_outcome(result, "results/x.json", as_json=False)
    out = capsys.readouterr().out
    assert "evaluated checkpoint: ckpt/pytorch_model.bin.2 (format clip2video, legacy mask)" in out
    assert "{'path'" not in out


def small_eval_args(checkpoint: Path, out: Path) -> list[str]:
    argv = ["eval", "--checkpoint", str(checkpoint), "--out", str(out), "--quiet"]
    for key, value in SMALL_DATASET.items():
        argv += ["--dataset-option", f"{key}={value}"]
    return argv


@pytest.mark.parametrize("content", [b"garbage, not a checkpoint\n", b"PK\x03\x04" + b"\x00" * 64])
def test_a_corrupt_official_checkpoint_gets_one_line_without_torch_advice(tmp_path, capsys, content):
    checkpoint = tmp_path / "pytorch_model.bin.2"
    checkpoint.write_bytes(content)
    code, _, err = run_cli(small_eval_args(checkpoint, tmp_path / "out"), capsys)
    line = one_error_line(err)
    assert code == 2 and "cannot read" in line and str(checkpoint) in line
    assert "weights_only" not in line and "arbitrary code" not in line


def test_a_corrupt_native_checkpoint_gets_one_line(tmp_path, capsys):
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"format": "c2vbench", "format_version": 1, "components": {
        "backbone": "tiny-clip", "temporal": "meanp", "align": "cosine"}, "options": {}, "max_frames": 4}))
    (folder / "model.safetensors").write_bytes(b"\x01\x02 truncated")
    code, _, err = run_cli(small_eval_args(folder, tmp_path / "out"), capsys)
    line = one_error_line(err)
    assert code == 2 and "model.safetensors" in line and "truncated or damaged" in line
