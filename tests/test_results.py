"""Result files: schema validation, atomic writes, protocol hashing."""

from __future__ import annotations

import json

import pytest

from c2vbench.results import result_file as results


def minimal_result(**changes):
    metrics = {name: 1.0 for name in results.METRIC_NAMES}
    result = {
        "schema_version": results.SCHEMA_VERSION, "c2vbench_version": "0", "created": results.now_iso(),
        "run_id": "r1",
        "plugins": {role: {"name": role, "distribution": "d", "version": "1"} for role in results.PLUGIN_ROLES},
        "config": {"seed": 0}, "protocol": results.protocol_card({"dataset": "x"}),
        "metrics": {"t2v": dict(metrics), "v2t": dict(metrics)},
        "per_query": {"t2v_rank": [1.0], "v2t_rank": [1.0]}, "env": {},
    }
    result.update(changes)
    return result


def test_valid_result_is_written_and_read_back(tmp_path):
    path = results.write_result(minimal_result(), tmp_path)
    assert json.loads(path.read_text())["run_id"] == "r1"


@pytest.mark.parametrize("breakage, message", [
    ({"metrics": {"t2v": {"R@1": 1.0}, "v2t": {}}}, "R@5"),
    ({"plugins": {"backbone": {"name": "x"}}}, "plugins.backbone"),
    ({"protocol": {"dataset": "x"}}, "protocol.hash"),
    ({"per_query": {"t2v_rank": [1.0]}}, "v2t_rank"),
])
def test_invalid_results_are_refused_before_writing(tmp_path, breakage, message):
    with pytest.raises(ValueError, match=message):
        results.write_result(minimal_result(**breakage), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_writer_and_reader_share_one_validator(tmp_path):
    """What the writer accepts the reader reads back; what the reader refuses the writer refuses too."""
    path = results.write_result(minimal_result(), tmp_path)
    assert results.load_result_file(path)["run_id"] == "r1"
    negative = minimal_result()
    negative["per_query"]["t2v_rank"] = [0]
    with pytest.raises(ValueError, match="below 1"):
        results.write_result(negative, tmp_path / "other")


def test_a_failed_write_leaves_the_previous_file_intact_and_no_temporary(tmp_path):
    target = tmp_path / "r.json"
    results.write_json_atomic(target, {"version": 1})
    with pytest.raises(ValueError):
        results.write_json_atomic(target, {"version": 2, "bad": float("nan")})  # allow_nan=False fails mid-dump
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_protocol_hash_is_canonical_and_sensitive():
    a = results.protocol_card({"dataset": "x", "split": "test", "sampling": {"max_frames": 12}})
    b = results.protocol_card({"sampling": {"max_frames": 12}, "split": "test", "dataset": "x"})
    c = results.protocol_card({"dataset": "x", "split": "test", "sampling": {"max_frames": 8}})
    assert a["hash"] == b["hash"] != c["hash"]
    assert results.protocol_card(a)["hash"] == a["hash"]  # re-hashing a card ignores its old hash
