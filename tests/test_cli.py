"""The command line: one clear line and exit 2 for bad input; tables and JSON for good input."""

from __future__ import annotations

import json

import pytest
from _cli_runner import run_cli


def invoke(capsys, *argv: str) -> tuple[int, str, str]:
    return run_cli(list(argv), capsys)


def test_plugins_json_lists_builtins_with_contract_keys(capsys):
    code, out, _ = invoke(capsys, "plugins", "--json")
    assert code == 0
    rows = json.loads(out)
    assert all(set(row) == {"kind", "name", "distribution", "version", "description"} for row in rows)
    names = {(row["kind"], row["name"]) for row in rows}
    assert {("backbone", "tiny-clip"), ("backbone", "clip"), ("temporal", "meanp"), ("align", "cosine"),
            ("dataset", "synthetic-motion")} <= names


@pytest.mark.parametrize("argv, expected", [
    (("run", "--temporal", "nosuchmodule"), "unknown temporal module 'nosuchmodule'"),
    (("run", "--align", "cosin"), "did you mean 'cosine'"),
    (("run", "--temporal-option", "layers"), "expects key=value"),
    (("run", "--backbone-option", "widht=3"), "has no option widht"),
    (("run", "--pretrained", "openai"), "backbone 'tiny-clip' has no option pretrained"),
    (("run", "--backbone", "clip", "--pretrained", "/no/such/weights.pt"), "neither a file nor an open_clip tag"),
    (("run", "--backbone", "clip", "--pretrained", "openai"), "are not in the local open_clip / Hugging Face cache"),
    (("run", "--protocol", "halfway"), "unknown protocol 'halfway'"),
    (("eval", "--checkpoint", "."), "is not a c2vbench checkpoint"),
    (("run", "--dataset", "msrvtt"), "dataset 'msrvtt' needs --data-root"),
    (("run", "--dataset", "msvd", "--data-root", "/nonexistent/msvd"), "--data-root /nonexistent/msvd does not exist"),
])
def test_bad_input_gives_one_error_line_and_exit_2(capsys, argv, expected):
    code, out, err = invoke(capsys, *argv)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert expected in lines[0]
    assert "Traceback" not in err


def test_run_prints_a_table_and_writes_the_result(capsys, tmp_path):
    code, out, err = invoke(
        capsys, "run", "--backbone-option", "vision_layers=1", "--backbone-option", "text_layers=1",
        "--dataset-option", "train_videos=16", "--dataset-option", "val_videos=4",
        "--dataset-option", "test_twin_pairs=4", "--dataset-option", "test_singles=2",
        "--dataset-option", "frames_per_video=8", "--dataset-option", "max_frames=4",
        "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path), "--no-checkpoint", "--quiet")
    assert code == 0, err
    assert "t2v (order_twins)" in out and "R@1" in out
    assert "order_twins: own video scored above its rival for" in out
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    result = json.loads(files[0].read_text())
    assert result["config"]["epochs"] == 1 and result["protocol"]["n_videos"] == 10


def test_config_file_is_overridden_by_flags(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('protocol = "zeroshot"\nseed = 5\nout = "%s"\n[dataset_options]\ntrain_videos = 4\n'
                      'val_videos = 2\ntest_twin_pairs = 2\ntest_singles = 2\nframes_per_video = 8\nmax_frames = 4\n'
                      % (tmp_path / "out"))
    code, out, err = invoke(capsys, "run", "--config", str(config), "--seed", "7", "--json", "--no-checkpoint")
    assert code == 0, err
    result = json.loads(out)
    assert result["config"]["protocol"] == "zeroshot" and result["config"]["seed"] == 7
    assert result["training"] is None


def test_compare_accepts_folders_of_seeds_and_refuses_mixed_folders(capsys, tmp_path):
    from _small_runs import small_config

    from c2vbench.pipeline import run_benchmark
    from c2vbench.runtime.progress import Reporter

    for temporal in ("meanp", "seqtransf"):
        for seed in (0, 1):
            run_benchmark(small_config(tmp_path / temporal, temporal=temporal, protocol="zeroshot", seed=seed),
                          reporter=Reporter(quiet=True))
    code, out, err = invoke(capsys, "compare", str(tmp_path / "meanp"), str(tmp_path / "seqtransf"), "--json",
                            "--n-resamples", "200")
    assert code == 0, err
    comparison = json.loads(out)
    row = comparison["t2v"]["R@1"]
    assert row["ci"][0] <= row["diff"] <= row["ci"][1] and 0 <= row["p"] <= 1
    assert set(comparison) == {"t2v", "v2t"} and {"R@1", "R@5", "R@10", "MnR"} <= set(comparison["v2t"])
    # the two seeds of one side are averaged: b equals the mean of the per-seed values
    per_seed = [json.loads(p.read_text())["metrics"]["t2v"]["R@1"] for p in (tmp_path / "seqtransf").glob("*.json")]
    assert abs(row["b"] - sum(per_seed) / 2) < 1e-9

    for path in (tmp_path / "seqtransf").glob("*.json"):
        path.rename(tmp_path / "meanp" / path.name)
    code, _, err = invoke(capsys, "compare", str(tmp_path / "meanp"), str(tmp_path / "meanp"))
    assert code == 2 and "mixes 2 configurations" in err
