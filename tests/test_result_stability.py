"""A refactoring leaves results exactly as they were: two small runs against the golden file recorded before it.

``tests/golden/small_runs.json`` was recorded by ``tests/golden/record_small_runs.py`` on the tree before the core
moved into stages (and the stages started receiving plans instead of the run configuration). Configuration, config
key, protocol card and hash, metrics, every per-query rank and the training losses must come out the same; settings
added since (at their defaults) may only extend the configuration. One deliberate change since the recording: on
7 Dec 2026 the config key started to hold the decoder that ran instead of the one asked for (``auto``), so the two
recorded keys were replaced by the ones the same runs give now; nothing else in the file was touched.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "small_runs.json"
RECORDER = Path(__file__).parent / "golden" / "record_small_runs.py"


def _recorder():
    spec = importlib.util.spec_from_file_location("record_small_runs", RECORDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(json.loads(GOLDEN.read_text())))
def test_a_small_run_matches_the_result_recorded_before_the_refactoring(name, tmp_path):
    expected = json.loads(GOLDEN.read_text())[name]
    observed = json.loads(json.dumps(_recorder().run_small(name, tmp_path)))  # as written to JSON
    # settings added since the recording (at their defaults) may extend the configuration; none may change
    observed["config"] = {key: value for key, value in observed["config"].items() if key in expected["config"]}
    differing = [key for key in sorted(expected) if observed.get(key) != expected[key]]
    assert not differing, f"{name}: {', '.join(differing)} differ from the recorded run"
