"""``c2vbench score`` and ``c2vbench compare`` through the real entry point (one-line errors, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _cli_runner import run_cli

from c2vbench.evaluation.metrics import evaluate_similarity
from c2vbench.evaluation.postprocess import dual_softmax


@pytest.fixture
def similarity_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    text_to_video = np.r_[np.arange(8), np.arange(8)]
    sim = rng.standard_normal((16, 8)).astype(np.float32) + 1.5 * np.eye(8, dtype=np.float32)[text_to_video]
    path = tmp_path / "sim.npz"
    np.savez(path, sim=sim, text_to_video=text_to_video, bank_sim=rng.standard_normal((20, 8)))
    return path


def test_score_json_matches_evaluate_similarity(similarity_file, capsys):
    code, out, err = run_cli(["score", str(similarity_file), "--tie", "pessimistic", "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    arrays = np.load(similarity_file)
    expected = evaluate_similarity(arrays["sim"], arrays["text_to_video"], tie="pessimistic")
    assert payload["metrics"] == expected.metrics
    assert payload["per_query"] == expected.per_query
    assert payload["postprocess"]["name"] == "none" and "plain" not in payload


def test_score_dsl_reports_processed_and_plain(similarity_file, capsys):
    code, out, _ = run_cli(["score", str(similarity_file), "--postprocess", "dsl", "--json"], capsys)
    assert code == 0
    payload = json.loads(out)
    arrays = np.load(similarity_file)
    processed = evaluate_similarity(dual_softmax(arrays["sim"]), arrays["text_to_video"])
    plain = evaluate_similarity(arrays["sim"], arrays["text_to_video"])
    assert payload["metrics"] == processed.metrics
    assert payload["plain"]["metrics"] == plain.metrics
    assert payload["postprocess"]["track"] == "transductive"


def test_score_table_output(similarity_file, capsys):
    code, out, _ = run_cli(["score", str(similarity_file)], capsys)
    assert code == 0 and "R@1" in out and "text → video" in out


def _save(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda p: p.write_text("not a zip") and p, [], "not an .npz archive"),
        (lambda p: _save(p, sim=np.zeros((2, 2))), [], "no 'text_to_video'"),
        (lambda p: _save(p, sim=np.eye(2), text_to_video=[0, 1]), ["--postprocess", "qbnorm"], "no 'bank_sim'"),
        (lambda p: _save(p, sim=np.zeros((2, 2, 2)), text_to_video=[0, 1]), [], "2-D"),
        (lambda p: _save(p, sim=np.array([[np.nan, 0], [0, 1]]), text_to_video=[0, 1]), [], "NaN"),
        (lambda p: _save(p, sim=np.eye(2), text_to_video=[0, 1, 1]), [], "length"),
        (lambda p: _save(p, sim=np.eye(2), text_to_video=[0, 1]), ["--tie", "average"], "tie policy"),
        (lambda p: _save(p, sim=np.eye(2), text_to_video=[0, 1]), ["--postprocess", "magic"], "post-processor"),
    ],
)
def test_score_malformed_input_is_one_error_line(tmp_path, capsys, make, extra, message):
    path = tmp_path / "bad.npz"
    make(path)
    code, out, err = run_cli(["score", str(path), *extra], capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_score_missing_file(tmp_path, capsys):
    code, _, err = run_cli(["score", str(tmp_path / "absent.npz")], capsys)
    assert code == 2 and "does not exist" in err


# ------------------------------------------------------------------------------------------------------------
# compare


def write_result(path: Path, t2v_rank, v2t_rank, protocol_hash="p" * 64, split="test", **extra) -> Path:
    from c2vbench.evaluation.metrics import metrics_from_ranks

    result = {
        "schema_version": 1,
        "c2vbench_version": "0.1.0",
        "created": "2026-01-01T00:00:00+00:00",
        "run_id": path.stem,
        "plugins": {},
        "config": {"seed": 0},
        "protocol": {"dataset": "synthetic-motion", "split": split, "hash": protocol_hash},
        "metrics": {
            "t2v": metrics_from_ranks(t2v_rank, None, "expected"),
            "v2t": metrics_from_ranks(v2t_rank, None, "expected"),
        },
        "per_query": {"t2v_rank": [float(r) for r in t2v_rank], "v2t_rank": [float(r) for r in v2t_rank]},
        "tie": "expected",
        "v2t_mode": "all-captions",
        "env": {},
        **extra,
    }
    path.write_text(json.dumps(result))
    return path


@pytest.fixture
def result_pair(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    a_t2v = rng.integers(1, 12, 50)
    b_t2v = np.maximum(1, a_t2v - rng.integers(0, 4, 50))
    first = write_result(tmp_path / "a.json", a_t2v, rng.integers(1, 12, 50))  # one caption per video
    second = write_result(tmp_path / "b.json", b_t2v, rng.integers(1, 12, 50))
    return first, second


def test_compare_json_shape(result_pair, capsys):
    from c2vbench.results.comparison import compare_results
    from c2vbench.results.result_file import load_result_file

    first, second = result_pair
    code, out, err = run_cli(["compare", str(first), str(second), "--json", "--n-resamples", "500"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    expected = compare_results(load_result_file(first), load_result_file(second), n_resamples=500, seed=0)
    assert payload == expected
    for direction in ("t2v", "v2t"):
        for metric in ("R@1", "R@5", "R@10", "MnR"):
            row = payload[direction][metric]
            assert {"a", "b", "diff", "ci", "p", "test"} <= set(row) and len(row["ci"]) == 2
            assert row["diff"] == pytest.approx(row["b"] - row["a"])


def test_compare_table(result_pair, capsys):
    code, out, _ = run_cli(["compare", *map(str, result_pair), "--n-resamples", "300"], capsys)
    assert code == 0 and "MnR" in out and "95% CI" in out
    assert "sign-flip test over queries, conditional on the trained seeds" in " ".join(out.split())  # names the test


def test_compare_refuses_different_protocols(tmp_path, capsys):
    first = write_result(tmp_path / "a.json", [1, 2, 3], [1, 2], protocol_hash="a" * 64, split="test")
    second = write_result(tmp_path / "b.json", [1, 2, 3], [1, 2], protocol_hash="b" * 64, split="val")
    code, out, err = run_cli(["compare", str(first), str(second)], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "split: 'test' vs 'val'" in err and "a.json" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"name": "some package"}', "schema_version"),
        ('{"schema_version": 99}', "not supported"),
        ('{"schema_version": 1, "metrics": {"t2v": {}, "v2t": {}}}', "metrics.t2v.R@1"),
    ],
)
def test_compare_malformed_file_is_one_line(tmp_path, capsys, content, message):
    good = write_result(tmp_path / "good.json", [1, 2], [1, 2])
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, _, err = run_cli(["compare", str(good), str(bad)], capsys)
    assert code == 2 and "bad.json" in err and message in err and len(err.strip().splitlines()) == 1
