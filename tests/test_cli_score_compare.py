"""``c2vbench score`` and ``c2vbench compare`` through the real entry point (one-line errors, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from c2vbench.cli.main import main
from c2vbench.metrics import evaluate_similarity
from c2vbench.postprocess import dual_softmax


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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
