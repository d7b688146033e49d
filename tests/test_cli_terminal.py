"""One terminal helper for CLI output (one console per stream, one metrics table, ``--json`` the same everywhere)
and click defaults read from the run configuration, never written twice."""

from __future__ import annotations

import dataclasses
import json

import click
import numpy as np
from _cli_runner import run_cli

from c2vbench.cli import terminal
from c2vbench.cli.evaluate import eval_command
from c2vbench.cli.run import run_command
from c2vbench.config import RunConfig

METRICS = {"t2v": {"R@1": 12.345, "R@5": 50.0, "R@10": 75.5, "MdR": 5.0, "MnR": 7.25},
           "v2t": {"R@1": 10.0, "R@5": 40.0, "R@10": 60.0, "MdR": 6.5, "MnR": 9.0}}


def flag_defaults(command: click.Command) -> dict[str, object]:
    return {param.name: param.default for param in command.params
            if isinstance(param, click.Option) and not param.is_flag}


def test_every_run_and_eval_flag_that_is_a_setting_defaults_to_the_run_configuration():
    config_defaults = RunConfig().to_dict()
    for command in (run_command, eval_command):
        defaults = flag_defaults(command)
        shared = set(defaults) & set(config_defaults)
        assert {"backbone", "temporal", "align", "dataset", "batch_size", "seed", "out", "tie"} <= shared
        for name in shared:
            assert defaults[name] == config_defaults[name], (command.name, name)
    assert {"protocol", "epochs", "lr", "select_on"} <= set(flag_defaults(run_command))


def test_the_defaults_follow_the_configuration_when_it_changes(monkeypatch):
    import importlib

    import c2vbench.cli.common as common

    fields = {field.name: field for field in dataclasses.fields(RunConfig)}
    monkeypatch.setattr(fields["temporal"], "default", "tdb")
    monkeypatch.setattr(fields["seed"], "default", 11)
    try:
        reloaded = importlib.reload(common)

        @click.command()
        @reloaded.run_options
        def probe(**params):
            pass

        defaults = flag_defaults(probe)
        assert defaults["temporal"] == "tdb" and defaults["seed"] == 11
    finally:
        monkeypatch.undo()
        importlib.reload(common)


def test_one_metrics_table_for_a_result_and_for_a_similarity_file():
    result_rows = terminal.metrics_rows([("all", METRICS)])
    score_rows = terminal.metrics_rows([("", METRICS)])
    assert result_rows[0] == ["t2v (all)", "12.35", "50.00", "75.50", "5.00", "7.25"]
    assert score_rows[0] == ["text → video", *result_rows[0][1:]]
    assert [row[1:] for row in result_rows] == [row[1:] for row in score_rows]


def test_json_is_one_document_on_stdout_for_every_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    sim_file = tmp_path / "sim.npz"
    np.savez(sim_file, sim=rng.standard_normal((4, 4)), text_to_video=np.arange(4))
    for args in (["plugins", "--json"], ["plugins", "--options", "tdb", "--json"], ["score", str(sim_file), "--json"],
                 ["check-plugin", "meanp", "--json"]):
        code, out, err = run_cli(args, capsys)
        assert code == 0, err
        assert out.count("\n") == 1, args  # one line: the document
        json.loads(out)


def test_errors_are_one_line_on_stderr(capsys):
    code, out, err = run_cli(["plugins", "--options", "nosuch"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
