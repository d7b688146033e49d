"""Leaderboard rendering: golden file, escaping, determinism, protocol separation, baseline marks, --check."""

from __future__ import annotations

import json
import os
import random
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from _cli_runner import run_cli

from c2vbench.evaluation.metrics import metrics_from_ranks
from c2vbench.platform.errors import C2VBenchError
from c2vbench.results.leaderboard import escape_markdown, group_entries, render_leaderboard, significance_vs_baseline
from c2vbench.results.result_file import iter_result_files
from c2vbench.results.stats import holm_adjust

GOLDEN = Path(__file__).parent / "golden" / "leaderboard.md"
N_CAPTIONS, N_VIDEOS = 40, 20
CAPTION_VIDEO = [i % N_VIDEOS for i in range(N_CAPTIONS)]
PROTOCOL = {"dataset": "synthetic-motion", "split": "test", "frames": 8, "hash": "1" * 64}
OTHER_PROTOCOL = {"dataset": "msrvtt", "split": "1k-A", "frames": 12, "hash": "2" * 64}


def plugin(name: str, distribution: str = "c2vbench", version: str = "0.1.0") -> dict:
    return {"name": name, "distribution": distribution, "version": version}


def make_result(
    backbone: str,
    temporal: str,
    align: str,
    quality: float,
    seed: int = 0,
    protocol: dict | None = None,
    postprocess: str = "none",
    temporal_distribution: tuple[str, str] = ("c2vbench", "0.1.0"),
    config_extra: str = "",
) -> dict:
    """A synthetic result: t2v ranks get better with ``quality`` (0..1); deterministic in all arguments."""
    rng = np.random.default_rng(zlib.crc32(repr((backbone, temporal, align, quality, seed, postprocess)).encode()))
    t2v = np.where(rng.random(N_CAPTIONS) < quality, 1, rng.integers(1, N_VIDEOS + 1, N_CAPTIONS)).astype(float)
    v2t = np.where(rng.random(N_VIDEOS) < quality, 1, rng.integers(1, N_CAPTIONS + 1, N_VIDEOS)).astype(float)
    tracks = {"none": "inductive", "dsl": "transductive", "qbnorm": "query-bank"}
    config_key = f"{backbone}-{temporal}-{align}-{postprocess}{config_extra}".encode().hex()[:64]
    return {
        "schema_version": 1,
        "c2vbench_version": "0.1.0",
        "created": "2026-11-24T06:10:00+00:00",
        "run_id": f"{config_key[:10]}-seed{seed}",
        "plugins": {
            "backbone": plugin(backbone),
            "temporal": plugin(temporal, *temporal_distribution),
            "align": plugin(align),
            "dataset": plugin((protocol or PROTOCOL)["dataset"]),
        },
        "config": {"seed": seed, "postprocess": postprocess, "tie": "expected"},
        "config_key": config_key,
        "protocol": protocol or PROTOCOL,
        "metrics": {"t2v": metrics_from_ranks(t2v, None, "expected"), "v2t": metrics_from_ranks(v2t, None, "expected")},
        "per_query": {
            "t2v_rank": t2v.tolist(),
            "v2t_rank": v2t.tolist(),
            "t2v_ties": [0] * N_CAPTIONS,
            "v2t_ties": [0] * N_VIDEOS,
            "t2v_video": CAPTION_VIDEO,
        },
        "tie": "expected",
        "v2t_mode": "all-captions",
        "postprocess": {"name": postprocess, "track": tracks[postprocess]},
        "cost": {
            "parameters": 1_234_567,
            "trainable_parameters": 45_000,
            "videos_per_second": 12.5,
            "texts_per_second": 300.0,
        },
        "env": {"python": "3.11.7", "torch": "2.14.1", "c2vbench": "0.1.0", "device": "cpu"},
    }


def standard_results() -> list[tuple[Path, dict]]:
    results = [make_result("tiny-clip", "meanp", "cosine", 0.3, seed=s) for s in range(3)]
    results += [make_result("tiny-clip", "tdb", "tab", 0.8, seed=s) for s in range(3)]
    results += [make_result("tiny-clip", "seqtransf", "cosine", 0.3, seed=7)]
    results += [
        make_result("tiny-clip", "evil|`x`<b>&_[1]*", "cosine", 0.05, seed=s,
                    temporal_distribution=("acme<script>", "2.0"))
        for s in range(2)
    ]
    results += [make_result("tiny-clip", "tdb", "tab", 0.85, postprocess="dsl")]
    results += [make_result("tiny-clip", "tdb", "tab", 0.82, postprocess="qbnorm")]
    results += [make_result("tiny-clip", "meanp", "cosine", 0.5, protocol=OTHER_PROTOCOL)]
    return [(Path(f"results/{index:02d}.json"), result) for index, result in enumerate(results)]


COMMAND = "c2vbench leaderboard results --baseline 'tiny-clip · meanp · cosine' --out leaderboard.md"


def render(results=None, baseline="tiny-clip · meanp · cosine") -> str:
    return render_leaderboard(results or standard_results(), command=COMMAND, baseline=baseline, n_resamples=300)


def test_golden_file():
    markdown = render()
    if os.environ.get("C2VBENCH_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(markdown.encode("utf-8"))
    assert markdown == GOLDEN.read_text(encoding="utf-8")


def test_rendering_is_deterministic_and_order_independent():
    results = standard_results()
    shuffled = results[:]
    random.Random(3).shuffle(shuffled)
    assert render(results) == render(shuffled)


def test_plugin_strings_are_escaped():
    markdown = render()
    assert "evil\\|\\`x\\`&lt;b&gt;&amp;\\_\\[1\\]\\*" in markdown
    assert "acme&lt;script&gt; 2.0" in markdown
    assert "<b>" not in markdown and "<script>" not in markdown
    # every table row keeps its column count: escaped pipes do not split cells
    table_lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 * 4 + 1 + 4 + 1 + 1  # header + rule per table, and 7 rows
    for line in table_lines:
        assert len(re.findall(r"(?<!\\)\|", line)) == 14  # 13 columns


def test_escape_markdown_covers_specials_and_newlines():
    assert escape_markdown("a|b`c*d_e<f>g&h[i]j\nk\r\nl") == "a\\|b\\`c\\*d\\_e&lt;f&gt;g&amp;h\\[i\\]j k l"


def test_protocols_are_never_mixed():
    markdown = render()
    synthetic = protocol_section(markdown, "synthetic-motion / test")
    msrvtt = protocol_section(markdown, "msrvtt / 1k-A")
    assert "`111111111111`" in synthetic and "`222222222222`" in msrvtt
    assert msrvtt.count("\n| 1 |") == 1 and "\n| 2 |" not in msrvtt
    assert "tdb" not in msrvtt
    assert "Baseline tiny-clip · meanp · cosine" not in msrvtt  # found there too (its own run)


def test_tracks_are_separate_tables():
    synthetic = protocol_section(render(), "synthetic-motion")
    plain, rest = synthetic.split("### Query bank")
    query_bank, transductive = rest.split("### Transductive")
    assert "+ dsl" in transductive and "+ dsl" not in plain + query_bank
    assert "+ qbnorm" in query_bank and "+ qbnorm" not in plain + transductive
    assert plain.count("| tiny-clip") == 4


def protocol_section(markdown: str, title: str) -> str:
    return next(part for part in markdown.split("\n## ") if part.startswith(title))


def table_rows(markdown: str, table: str) -> dict[str, list[str]]:
    """Rows (cells by entry label) of one table of the synthetic-motion section."""
    part = protocol_section(markdown, "synthetic-motion").split(table)[1].split("\n\n")[1]
    rows = {}
    for line in part.splitlines()[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[1]] = cells
    return rows


def test_baseline_marks_use_holm_adjusted_p_values():
    results = standard_results()
    markdown = render(results)
    rows = table_rows(markdown, "### Plain inference")
    assert rows["tiny-clip · meanp · cosine"][-1] == "baseline"
    assert rows["tiny-clip · tdb · tab"][-1].startswith("▲")
    # one seed against the baseline's three: its seed variance is borrowed from the baseline, and the cell says so
    assert rows["tiny-clip · seqtransf · cosine"][-1].endswith("1 seed, seed variance borrowed)")

    # recompute: raw p-values of the seed-level rows of the plain table, Holm-adjusted together
    tables = group_entries(results)
    plain_entries = tables["1" * 64]["inductive"]
    baseline = next(e for e in plain_entries if e.name == "tiny-clip · meanp · cosine")
    others = sorted((e for e in plain_entries if e is not baseline), key=lambda e: e.label)
    assert len(others) == 3
    raw = [significance_vs_baseline(e, baseline, 300, 0).p_value for e in others]
    for entry, adjusted in zip(others, holm_adjust(raw), strict=True):
        assert f"p={adjusted:.3f} (detectable" in rows[escape_markdown(entry.label)][-1]
    assert holm_adjust(raw) != raw  # the adjustment changes something in this fixture


def test_entries_merge_seeds_and_sort_by_t2v_r1():
    rows = table_rows(render(), "### Plain inference")
    assert rows["tiny-clip · meanp · cosine"][7] == "3"
    order = [cells[1] for cells in rows.values()]
    assert order[0] == "tiny-clip · tdb · tab"
    r1 = [float(cells[2].split(" ")[0]) for cells in rows.values()]
    assert r1 == sorted(r1, reverse=True)


def test_unknown_baseline_is_an_error():
    with pytest.raises(C2VBenchError, match="matches no entry"):
        render(baseline="nonexistent")


def test_same_name_different_config_is_disambiguated():
    results = standard_results() + [
        (Path("results/99.json"), make_result("tiny-clip", "tdb", "tab", 0.4, config_extra="-epochs5"))
    ]
    markdown = render(results, baseline=None)
    assert markdown.count("tiny-clip · tdb · tab (config ") == 2


def test_entries_trained_with_other_global_batches_name_their_batch():
    """Runs trained with other global batches are other rows, and the rows say so (not only a config hash)."""
    small, large = (make_result("tiny-clip", "tdb", "tab", 0.4, config_extra=f"-b{batch}") for batch in (32, 128))
    for result, batch, devices in ((small, 32, 1), (large, 128, 4)):
        result["config"].update(protocol="finetune", batch_size=batch,
                                data_parallel={"world_size": devices, "nodes": 1, "global_batch": batch,
                                               "per_device_batch": batch // devices})
    markdown = render(standard_results() + [(Path("results/s.json"), small), (Path("results/l.json"), large)],
                      baseline=None)
    assert markdown.count("tiny-clip · tdb · tab (global batch 32, config ") == 1
    assert markdown.count("tiny-clip · tdb · tab (global batch 128, config ") == 1


# ------------------------------------------------------------------------------------------------------------
# CLI


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "results"
    (directory / "nested").mkdir(parents=True)
    for path, result in standard_results():
        (directory / "nested" / path.name).write_text(json.dumps(result))
    (directory / "broken.json").write_text("{oops")
    (directory / "package.json").write_text('{"name": "not a result"}')
    (directory / "checkpoints").mkdir()
    (directory / "checkpoints" / "config.json").write_text('{"width": 64}')
    (directory / ".partial").mkdir()
    (directory / ".partial" / "progress.json").write_text("{torn")
    (directory / "old.json").write_text(json.dumps({**standard_results()[0][1], "schema_version": 0}))
    return directory


def test_cli_writes_skips_malformed_and_checks(results_dir, tmp_path, capsys):
    out = tmp_path / "board" / "leaderboard.md"
    args = ["leaderboard", str(results_dir), "--baseline", "tiny-clip · meanp · cosine", "--n-resamples", "200"]
    code, _, err = run_cli([*args, "--out", str(out)], capsys)
    assert code == 0, err
    skipped = [line for line in err.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 3  # broken.json, old.json, one summary of the 2 foreign files; .partial is hidden
    assert any("broken.json" in line and "not valid JSON" in line for line in skipped)
    assert any("2 JSON file(s) that are not result files" in line for line in skipped)
    assert any("old.json" in line and "not supported" in line for line in skipped)
    markdown = out.read_text(encoding="utf-8")
    assert f"--out {out}" in markdown.splitlines()[1] and "--check" not in markdown
    assert "tiny-clip · tdb · tab" in markdown

    code, _, err = run_cli([*args, "--out", str(out), "--check"], capsys)
    assert code == 0, err

    out.write_text(markdown.replace("tiny-clip · tdb · tab", "tiny-clip · tdb · tab (edited)"), encoding="utf-8")
    code, _, err = run_cli([*args, "--out", str(out), "--check"], capsys)
    assert code == 2 and "differs from a fresh rendering" in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1

    # a new result file is drift too
    new = make_result("tiny-clip", "seqtransf", "tab", 0.6)
    (results_dir / "new.json").write_text(json.dumps(new))
    run_cli([*args, "--out", str(out)], capsys)
    (results_dir / "new2.json").write_text(json.dumps(make_result("tiny-clip", "meanp", "tab", 0.6)))
    code, _, err = run_cli([*args, "--out", str(out), "--check"], capsys)
    assert code == 2


def test_cli_rerender_is_byte_identical(results_dir, tmp_path, capsys):
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    run_cli(["leaderboard", str(results_dir), "--n-resamples", "200", "--out", str(first)], capsys)
    run_cli(["leaderboard", str(results_dir), "--n-resamples", "200", "--out", str(second)], capsys)
    assert first.read_bytes().replace(b"a.md", b"b.md") == second.read_bytes()


def test_cli_no_usable_files(tmp_path, capsys):
    (tmp_path / "x.json").write_text("[]")
    code, _, err = run_cli(["leaderboard", str(tmp_path), "--out", str(tmp_path / "o.md")], capsys)
    assert code == 2 and "no usable result files" in err


def test_iter_result_files_yields_errors_for_missing_paths(tmp_path):
    outcomes = list(iter_result_files([tmp_path / "absent.json"]))
    assert len(outcomes) == 1 and "no such file" in str(outcomes[0][1])


def test_selected_on_test_runs_are_labelled_and_long_protocol_values_cut():
    path, result = standard_results()[3]
    result = {**result, "model_selection": {"split": "test", "epoch": 2, "selected_on_test": True}}
    result["protocol"] = {**result["protocol"], "skipped_videos": [f"video{i}" for i in range(100)]}
    markdown = render([(path, result)], baseline=None)
    assert "| tiny-clip · tdb · tab † |" in markdown
    protocol_line = next(line for line in markdown.splitlines() if line.startswith("Protocol:"))
    assert "video99" not in protocol_line and "…" in protocol_line


def test_explicit_foreign_file_is_reported_by_name(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(standard_results()[3][1]))
    foreign = tmp_path / "package.json"
    foreign.write_text('{"name": "x"}')
    code, _, err = run_cli(["leaderboard", str(good), str(foreign), "--out", str(tmp_path / "o.md")], capsys)
    assert code == 0 and f"skipped {foreign}: missing 'schema_version'" in err


def test_baseline_missing_from_a_protocol_is_noted_there():
    markdown = render(baseline="tiny-clip · tdb · tab")
    msrvtt = protocol_section(markdown, "msrvtt")
    assert "Baseline tiny-clip · tdb · tab has no result on this protocol." in msrvtt
    assert msrvtt.rstrip().splitlines()[-1].endswith("| n/a |")
    rows = table_rows(markdown, "### Plain inference")
    assert rows["tiny-clip · tdb · tab"][-1] == "baseline"
    assert rows["tiny-clip · meanp · cosine"][-1].startswith("▼")  # 3 seeds vs 2: a seed-level verdict


def with_subset(result: dict, name: str, caption_indices: list[int]) -> dict:
    ranks = [result["per_query"]["t2v_rank"][i] for i in caption_indices]
    subset = {"metrics": {"t2v": metrics_from_ranks(ranks, None, "expected")},
              "per_query": {"t2v_rank": ranks, "t2v_ties": [0] * len(ranks),
                            "t2v_video": [CAPTION_VIDEO[i] for i in caption_indices]}}
    return {**result, "subsets": {name: subset}}


def test_subset_column_shows_each_entry_subset_recall_when_every_entry_has_it():
    twins = list(range(0, N_CAPTIONS, 2))
    first = with_subset(make_result("tiny-clip", "meanp", "cosine", 0.3), "order_twins", twins)
    second = with_subset(make_result("tiny-clip", "tdb", "tab", 0.8), "order_twins", twins)
    text = render_leaderboard([(Path("a.json"), first), (Path("b.json"), second)], command="test")
    assert "T2V R@1 (order\\_twins)" in text
    for result in (first, second):
        expected = 100.0 * np.mean([rank <= 1 for rank in result["subsets"]["order_twins"]["per_query"]["t2v_rank"]])
        row = next(line for line in text.splitlines()
                   if line.startswith("| ") and result["plugins"]["temporal"]["name"] in line)
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[7].startswith(f"{expected:.1f} [")
    without = render_leaderboard([(Path("a.json"), first), (Path("c.json"), make_result("x", "y", "z", 0.5))],
                                 command="test")
    assert "order\\_twins" not in without


def test_pairwise_column_appears_when_every_run_reports_it():
    twins = list(range(0, N_CAPTIONS, 2))
    runs = []
    for temporal, wins in (("meanp", 0.5), ("tdb", 0.75)):
        result = with_subset(make_result("tiny-clip", temporal, "cosine", 0.5), "order_twins", twins)
        per_query = [1.0 if i < wins * len(twins) else 0.0 for i in range(len(twins))]
        result["subsets"]["order_twins"]["pairwise"] = {"accuracy": 100 * wins, "per_query": per_query}
        runs.append((Path(f"{temporal}.json"), result))
    text = render_leaderboard(runs, command="test")
    header = next(line for line in text.splitlines() if line.startswith("| # |"))
    column = [cell.strip() for cell in header.strip("|").split("|")].index("order\\_twins: own > rival %")
    for temporal, expected in (("meanp", "50.0 ["), ("tdb", "75.0 [")):
        row = next(line for line in text.splitlines() if line.startswith("| ") and f"· {temporal} ·" in line)
        assert [cell.strip() for cell in row.strip("|").split("|")][column].startswith(expected)
