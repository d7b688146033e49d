"""The Python API: c2vbench.run / c2vbench.evaluate write what the commands write, and the notebook helpers
(c2vbench.results.load, per_query, c2vbench.compare, c2vbench.leaderboard) give what the files and the commands say."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import c2vbench
from c2vbench.platform.errors import C2VBenchError, UnknownComponentError
from tests._cli_runner import run_cli

ROOT = Path(__file__).resolve().parents[1]
BOARD_RESULTS = ROOT / "leaderboards" / "results" / "synthetic-motion"

SMALL_RUN = {"backbone_option": {"vision_layers": 1, "text_layers": 1},
             "dataset_option": {"train_videos": 16, "val_videos": 4, "test_twin_pairs": 4, "test_singles": 2,
                                "frames_per_video": 8, "max_frames": 4},
             "protocol": "zeroshot", "seed": 3, "no_cache": True, "quiet": True}


def as_arguments(options: dict) -> list[str]:
    """The same options written as a user types them on the command line (independently of c2vbench.api)."""
    arguments = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            arguments.append(flag)
        elif isinstance(value, dict):
            for name, item in value.items():
                arguments += [flag, f"{name}={item}"]
        else:
            arguments += [flag, str(value)]
    return arguments


def without_run_specifics(result: dict) -> dict:
    """The result minus what differs between two runs of one configuration: time stamps, run ids, timings, the
    output folder, the checkpoint path, and the content checksum (which covers them)."""
    def scrub(value, key=""):
        if isinstance(value, dict):
            return {k: scrub(v, k) for k, v in value.items()
                    if k not in ("created", "run_id", "out", "checkpoint", "path", "checksum") and "seconds" not in k
                    and "per_second" not in k}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    return scrub(json.loads(json.dumps(result)))


def leaves(value, prefix):
    """``("config.a.b", leaf)`` for every leaf of a nested settings dict (empty dicts are leaves)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, f"{prefix}.{key}")
    else:
        yield prefix, value


def only_file(folder: Path) -> Path:
    files = sorted(folder.glob("*.json"))
    assert len(files) == 1, files
    return files[0]


def test_run_and_evaluate_write_the_same_result_files_as_the_commands(tmp_path, capsys):
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    code, _, err = run_cli(["run", *as_arguments({**SMALL_RUN, "out": cli_out, "save_checkpoint": True})], capsys)
    assert code == 0, err
    result = c2vbench.run(**SMALL_RUN, out=api_out, save_checkpoint=True)

    written = only_file(api_out)
    assert result.path == written and json.loads(written.read_text()) == dict(result)
    cli_result = json.loads(only_file(cli_out).read_text())
    assert without_run_specifics(result) == without_run_specifics(cli_result)
    assert result["run_id"] != cli_result["run_id"]  # two runs, not one file read twice

    # eval of the checkpoint the API run saved: the command and c2vbench.evaluate
    eval_options = {"dataset_option": SMALL_RUN["dataset_option"], "no_cache": True, "quiet": True}
    code, _, err = run_cli(["eval", "--checkpoint", str(result.checkpoint),
                            *as_arguments({**eval_options, "out": tmp_path / "cli-eval"})], capsys)
    assert code == 0, err
    evaluated = c2vbench.evaluate(result.checkpoint, **eval_options, out=tmp_path / "api-eval")
    cli_evaluated = json.loads(only_file(tmp_path / "cli-eval").read_text())
    assert without_run_specifics(evaluated) == without_run_specifics(cli_evaluated)
    assert evaluated["metrics"] == result["metrics"]  # the saved model scores as it did at the end of its run


@pytest.mark.parametrize(("options", "message"), [
    ({"epochs": "two"}, "'two' is not a valid integer"),
    ({"epochs": 0, "protocol": "finetune"}, "--epochs 0 trains nothing"),
    ({"no_checkpoint": "yes"}, "is a switch"),
    ({"json": True}, "takes no json= option"),
    ({"temporl": "tdb"}, "unknown option temporl="),
])
def test_bad_options_are_refused_as_the_command_refuses_them(options, message, tmp_path):
    with pytest.raises(C2VBenchError) as raised:
        c2vbench.run(**options, out=tmp_path)
    assert message in str(raised.value)
    assert not list(tmp_path.iterdir())


def test_an_unknown_plug_in_gets_the_commands_error(tmp_path, capsys):
    code, _, err = run_cli(["run", "--temporal", "nosuch", "--out", str(tmp_path)], capsys)
    with pytest.raises(UnknownComponentError) as raised:
        c2vbench.run(temporal="nosuch", out=tmp_path)
    assert code == 2 and raised.value.problem in err


def test_importing_the_package_loads_neither_pandas_nor_torch():
    probe = ("import sys, c2vbench, c2vbench.results; c2vbench.results.__all__; "
             "print(sorted(m for m in ('pandas', 'torch') if m in sys.modules))")
    printed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "[]"


# ---------------------------------------------------------------------------------------------------------------
# DataFrames of a known folder: the committed synthetic-motion results


@pytest.fixture(scope="module")
def board_files():
    return {path: json.loads(path.read_text()) for path in sorted(BOARD_RESULTS.glob("*.json"))}


@pytest.fixture(scope="module")
def frame():
    return c2vbench.results.load(BOARD_RESULTS)


def test_load_gives_one_row_per_run_with_metrics_per_direction_and_the_configuration_flattened(frame, board_files):
    assert len(frame) == len(board_files) > 0
    assert sorted(frame["path"]) == sorted(str(path) for path in board_files)
    assert list(frame["created"]) == sorted(frame["created"])
    for _, row in frame.iterrows():
        result = board_files[Path(row["path"])]
        assert row["run_id"] == result["run_id"] and row["seed"] == result["config"]["seed"]
        assert (row["backbone"], row["temporal"], row["align_head"]) == tuple(
            result["plugins"][role]["name"] for role in ("backbone", "temporal", "align"))
        assert row["protocol_hash"] == result["protocol"]["hash"] and row["config_key"] == result["config_key"]
        for direction in ("t2v", "v2t"):
            for metric, value in result["metrics"][direction].items():
                assert row[f"{direction} {metric}"] == value
        assert row["n_text"] == result["protocol"]["n_captions"] and row["n_video"] == result["protocol"]["n_videos"]
        assert row["order_twins t2v R@1"] == result["subsets"]["order_twins"]["metrics"]["t2v"]["R@1"]
        settings = dict(leaves(result["config"], "config"))
        assert settings and set(settings) <= set(frame.columns)
        for column, value in settings.items():
            assert row[column] == value or (value is None and row[column] is None) or (
                value is None and isinstance(row[column], float) and math.isnan(row[column])), column
    postprocessed = {path for path, result in board_files.items() if result["config"]["postprocess"] != "none"}
    assert {Path(path) for path in frame.loc[frame["postprocess"] != "none", "path"]} == postprocessed


def test_load_reads_a_generated_board_as_its_own_inputs(frame):
    from_board = c2vbench.results.load(ROOT / "leaderboards" / "synthetic-motion.md")
    assert list(from_board["run_id"]) == list(frame["run_id"])
    assert list(from_board["t2v R@1"]) == list(frame["t2v R@1"])


def test_per_query_holds_each_runs_ranks_in_query_order(frame, board_files):
    chosen = frame[frame["temporal"] == "tdb"]
    ranks = c2vbench.results.per_query(chosen)
    assert list(ranks.columns) == list(chosen["run_id"])
    for path, run_id in zip(chosen["path"], chosen["run_id"], strict=True):
        result = board_files[Path(path)]
        assert list(ranks[run_id]) == result["per_query"]["t2v_rank"]
        assert list(ranks.index.get_level_values("video")) == result["per_query"]["t2v_video"]
    twins = c2vbench.results.per_query(chosen.iloc[0], direction="v2t", subset="order_twins")
    result = board_files[Path(chosen.iloc[0]["path"])]
    assert list(twins.iloc[:, 0]) == result["subsets"]["order_twins"]["per_query"]["v2t_rank"]


def test_compare_on_rows_gives_what_the_compare_command_prints(frame, capsys):
    plain = frame[(frame["protocol"] == "finetune") & (frame["postprocess"] == "none") & (frame["seed"] == 0)]
    first = plain[plain["temporal"] == "meanp"].iloc[0]
    second = plain[(plain["temporal"] == "tdb") & (plain["align_head"] == "tab")].iloc[0]
    table = c2vbench.compare(first, second, n_resamples=500)
    code, out, err = run_cli(["compare", first["path"], second["path"], "--n-resamples", "500", "--json"], capsys)
    assert code == 0, err
    printed = json.loads(out)
    for direction, metrics in printed.items():
        for metric, row in metrics.items():
            got = table.loc[(direction, metric)]
            assert (got["a"], got["b"], got["diff"], got["p"]) == (row["a"], row["b"], row["diff"], row["p"])
            assert [got["ci_low"], got["ci_high"]] == row["ci"] and got["test"] == row["test"]
    with pytest.raises(C2VBenchError, match="mixes"):
        c2vbench.compare(plain, second)


def test_leaderboard_on_a_frame_gives_the_commands_csv_rows(frame, capsys):
    board = c2vbench.leaderboard(frame, baseline="tiny-clip · meanp · cosine", n_resamples=200)
    code, out, err = run_cli(["leaderboard", str(BOARD_RESULTS), "--baseline", "tiny-clip · meanp · cosine",
                              "--n-resamples", "200", "--format", "csv"], capsys)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert list(board.columns) == rows[0] and len(board) == len(rows) - 1
    from c2vbench.results.leaderboard_export import spreadsheet_safe

    for got, expected in zip(board.itertuples(index=False), rows[1:], strict=True):
        # the CSV's text cells are made spreadsheet-safe (the '=' mark is written '=, shown as = by spreadsheets)
        assert ["" if value is None or value != value else str(spreadsheet_safe(value)) for value in got] == expected
