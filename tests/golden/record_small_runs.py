"""Record the results of two small runs as a golden file, for ``tests/test_result_stability.py``.

    python tests/golden/record_small_runs.py tests/golden/small_runs.json

Run it from a checkout whose numbers are the reference (it was first run on the tree before the core moved into
stages, commit 07cbb44). Re-record only for a change that is meant to change what a run computes or records, and
say so in the commit. Each run is recorded with what must not move under a refactoring: its configuration, config
key, protocol card and hash, metrics and every per-query rank.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for _small_runs

from _small_runs import small_config  # noqa: E402

# The two runs: zero-shot mean pooling (assembly, encoding, ranking) and CLIP2Video's TDB + TAB fine-tuned for two
# epochs with model selection (the training plan, selection scoring, the backbone's learning rate).
RUNS = {
    "zeroshot-meanp-cosine": {"protocol": "zeroshot"},
    "finetune-tdb-tab": {"protocol": "finetune", "temporal": "tdb", "align": "tab", "epochs": 2},
}
STABLE_KEYS = ("config_key", "protocol", "metrics", "per_query", "subsets", "tie", "v2t_mode", "postprocess",
               "model_selection")


def stable_part(result: dict) -> dict:
    """What a refactoring must leave exactly as it was (the configuration without its output folder)."""
    part = {key: result.get(key) for key in STABLE_KEYS}
    part["config"] = {key: value for key, value in result["config"].items() if key != "out"}
    part["training_losses"] = [epoch["loss"] for epoch in (result.get("training") or {}).get("history", [])]
    return part


def run_small(name: str, out: Path) -> dict:
    from c2vbench.pipeline import run_benchmark

    try:
        from c2vbench.runtime.progress import Reporter
    except ImportError:  # the tree before the core moved into stages (where the golden file was first recorded)
        from c2vbench.progress import Reporter

    outcome = run_benchmark(small_config(out / name, **RUNS[name]), reporter=Reporter(quiet=True))
    return stable_part(outcome.result)


def main(path: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        recorded = {name: run_small(name, Path(folder)) for name in RUNS}
    Path(path).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
