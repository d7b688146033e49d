"""Verdicts: each (configuration, seed) counts once, the seed-level test keeps its size, every p names its test,
post-processed rows are compared with their own plain scores."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
from _cli_runner import run_cli

from c2vbench.evaluation.metrics import metrics_from_ranks
from c2vbench.results.comparison import BORROWED_SEED_TEST, NO_SEED_LEVEL_TEST, compare_results
from c2vbench.results.leaderboard import render_leaderboard

PROTOCOL = {"dataset": "synthetic-motion", "split": "test", "hash": "7" * 64}


def result_from_ranks(t2v: np.ndarray, v2t: np.ndarray, config_key: str, seed: int,
                      created: str = "2026-11-26T10:00:00+00:00", postprocess: str = "none",
                      plain_t2v: np.ndarray | None = None) -> dict:
    tracks = {"none": "inductive", "dsl": "transductive"}
    result = {
        "schema_version": 1, "c2vbench_version": "0.1.0", "created": created,
        "run_id": f"{config_key[:10]}-s{seed}-{zlib.crc32(created.encode()):08x}",
        "plugins": {role: {"name": name, "distribution": "c2vbench", "version": "0.1.0"}
                    for role, name in (("backbone", "tiny-clip"), ("temporal", config_key.split("-")[0]),
                                       ("align", "cosine"), ("dataset", "synthetic-motion"))},
        "config": {"seed": seed, "postprocess": postprocess},
        "config_key": config_key,
        "protocol": PROTOCOL,
        "metrics": {"t2v": metrics_from_ranks(t2v, None, "expected"), "v2t": metrics_from_ranks(v2t, None, "expected")},
        "per_query": {"t2v_rank": [float(r) for r in t2v], "v2t_rank": [float(r) for r in v2t]},
        "tie": "expected", "v2t_mode": "all-captions",
        "postprocess": {"name": postprocess, "track": tracks[postprocess]},
        "env": {"device": "cpu"},
    }
    if plain_t2v is not None:
        result["plain"] = {"metrics": {"t2v": metrics_from_ranks(plain_t2v, None, "expected"),
                                       "v2t": result["metrics"]["v2t"]},
                           "per_query": {"t2v_rank": [float(r) for r in plain_t2v],
                                         "v2t_rank": result["per_query"]["v2t_rank"]}}
    return result


def ranks(rng: np.random.Generator, quality: float, n: int) -> np.ndarray:
    return np.where(rng.random(n) < quality, 1, rng.integers(2, n + 1, n)).astype(float)


# ------------------------------------------------------------------------------------------------------------
# finding 2: a re-run counts as another seed


def three_seeds(rng, name: str, quality: float, n: int = 60) -> list[dict]:
    return [result_from_ranks(ranks(rng, quality, n), ranks(rng, quality, n), f"{name}-key".ljust(64, "0"), seed)
            for seed in range(3)]


def test_a_rerun_of_a_seed_counts_once_in_leaderboard_and_compare(tmp_path, capsys):
    rng = np.random.default_rng(1)
    baseline = three_seeds(rng, "meanp", 0.3)
    better = three_seeds(rng, "tdb", 0.45)
    # the same command run again for seed 0: another file, lucky numbers, same configuration and seed
    rerun = result_from_ranks(np.ones(60), np.ones(60), better[0]["config_key"], 0, created="2026-11-26T11:00:00+00:00")
    files = [(Path(f"r/{i}.json"), result) for i, result in enumerate(baseline + better)]
    clean = render_leaderboard(files, command="c", baseline="tiny-clip · meanp · cosine", n_resamples=200)
    with_rerun = render_leaderboard(files + [(Path("r/rerun.json"), rerun)], command="c",
                                    baseline="tiny-clip · meanp · cosine", n_resamples=200)
    tables = lambda text: text.split("## Set aside")[0].split("## Legend")[0]  # noqa: E731
    assert tables(with_rerun) == tables(clean)
    assert "r/rerun.json (same configuration and seed 0 as r/3.json)" in with_rerun

    folder = tmp_path / "tdb"
    folder.mkdir()
    for index, result in enumerate(better):
        (folder / f"{index}.json").write_text(json.dumps(result))
    base_folder = tmp_path / "meanp"
    base_folder.mkdir()
    for index, result in enumerate(baseline):
        (base_folder / f"{index}.json").write_text(json.dumps(result))
    code, before, _ = run_cli(["compare", str(base_folder), str(folder), "--json"], capsys)
    assert code == 0
    (folder / "zz-rerun.json").write_text(json.dumps(rerun))
    code, after, err = run_cli(["compare", str(base_folder), str(folder), "--json"], capsys)
    assert code == 0 and json.loads(after) == json.loads(before)
    assert "set aside" in err and "zz-rerun.json" in err


# ------------------------------------------------------------------------------------------------------------
# finding 3: seed-level inference keeps its size; finding 10: p names its test


def simulated_null_pair(rng: np.random.Generator, n_queries: int, seeds: int, spread_points: float):
    """Two configurations with equal expected R@1 over seeds and queries: a fresh test set (query difficulty and a
    system-by-query affinity), per-seed skill offsets of ``spread_points`` R@1 points, seed-by-query noise."""
    difficulty = np.log(0.4 / 0.6) + rng.normal(0.0, 1.0, n_queries)
    per_point = 1.0 / 24.0

    def system(name: str) -> list[dict]:
        affinity = rng.normal(0.0, 0.5, n_queries)
        runs = []
        for seed in range(seeds):
            logits = difficulty + affinity + rng.normal(0.0, spread_points * per_point) + rng.normal(0, 0.5, n_queries)
            hits = rng.random(n_queries) < 1.0 / (1.0 + np.exp(-logits))
            t2v = np.where(hits, 1.0, 2.0)
            runs.append(result_from_ranks(t2v, np.ones(n_queries), f"{name}".ljust(64, "0"), seed))
        return runs

    return system("meanp"), system("tdb")


def test_seed_level_test_keeps_its_size_under_training_noise():
    """2 vs 2 seeds, 1000 queries, seeds 10 R@1 points apart: the two-level bootstrap rejected ~27% of these
    nulls at alpha 0.05; the seed-level test must stay near 5%."""
    rng = np.random.default_rng(20261126)
    rejections = []
    for _ in range(150):
        a_runs, b_runs = simulated_null_pair(rng, 1000, 2, 10.0)
        row = compare_results(a_runs, b_runs, n_resamples=300, metrics=("R@1",))["t2v"]["R@1"]
        rejections.append(row["p"] < 0.05)
    assert np.mean(rejections) <= 0.08


def test_one_seed_against_several_borrows_their_seed_variance_and_one_against_one_gives_no_verdict():
    rng = np.random.default_rng(3)
    a_runs, b_runs = simulated_null_pair(rng, 200, 3, 10.0)
    row = compare_results(a_runs, b_runs[:1], n_resamples=300, metrics=("R@1",))["t2v"]["R@1"]
    assert row["seed_level"] is True and row["test"] == BORROWED_SEED_TEST and row["seeds"] == [3, 1]
    assert "equal seed variance" in row["assumption"] and 0 < row["p"] <= 1
    assert row["ci"][0] <= row["diff"] <= row["ci"][1] and row["detectable"] > 0
    row = compare_results(a_runs[:1], b_runs[:1], n_resamples=300, metrics=("R@1",))["t2v"]["R@1"]
    assert row["p"] is None and row["test"] == NO_SEED_LEVEL_TEST and row["ci_conditional"] is True
    assert 0 < row["p_query"] <= 1  # the conditional query-level p keeps its own field
    row = compare_results(a_runs, b_runs, n_resamples=300, metrics=("R@1",))["t2v"]["R@1"]
    assert row["seed_level"] is True and row["test"].startswith("seed-level t test") and row["assumption"] is None


def test_compare_prints_the_test_behind_its_p_values(tmp_path, capsys):
    rng = np.random.default_rng(4)
    a_runs, b_runs = simulated_null_pair(rng, 100, 2, 5.0)
    for name, runs in (("a", a_runs), ("b", b_runs)):
        (tmp_path / name).mkdir()
        for seed, result in enumerate(runs):
            (tmp_path / name / f"{seed}.json").write_text(json.dumps(result))
    code, out, _ = run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "b")], capsys)
    text = " ".join(out.split())
    assert code == 0 and "p and 95% CI: seed-level t test" in text and "detectable (80%)" in text
    code, out, _ = run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "b" / "0.json")], capsys)
    text = " ".join(out.split())
    assert code == 0 and "borrowing the other side's seed variance" in text and "Assumption: equal seed" in text
    assert "p is not resolved below 0.01" in text and "A 1% claim needs 2 seeds on each side" in text
    code, out, _ = run_cli(["compare", str(tmp_path / "a" / "0.json"), str(tmp_path / "b" / "0.json")], capsys)
    text = " ".join(out.split())
    assert code == 0 and "No verdict" in text and "conditional on the trained seeds" in text


# ------------------------------------------------------------------------------------------------------------
# finding 4: post-processed rows are tested against their own plain scores


def test_post_processed_rows_are_marked_against_their_own_plain_scores():
    rng = np.random.default_rng(5)
    baseline = three_seeds(rng, "meanp", 0.3)
    plain = ranks(rng, 0.5, 60)  # a lucky seed: far above the baseline before any post-processing
    post = plain.copy()
    post[:6] = np.where(post[:6] > 1, 1.0, post[:6])  # post-processing itself gains little
    dsl = result_from_ranks(post, ranks(rng, 0.5, 60), "meanp-dsl".ljust(64, "0"), 0, postprocess="dsl",
                            plain_t2v=plain)
    files = [(Path(f"r/{i}.json"), result) for i, result in enumerate(baseline + [dsl])]
    text = render_leaderboard(files, command="c", baseline="tiny-clip · meanp · cosine", n_resamples=500)
    transductive = text.split("### Transductive")[1].split("\n\n")[1]
    header, _, row = transductive.splitlines()[:3]
    assert header.rstrip(" |").endswith("vs own plain scores (T2V R@1)")
    mark = row.rstrip(" |").rsplit("|", 1)[1].strip()
    own_gain = 100 * (np.mean(post == 1) - np.mean(plain == 1))
    baseline_gap = 100 * np.mean(post == 1) - np.mean([100 * np.mean(np.asarray(r["per_query"]["t2v_rank"]) == 1)
                                                        for r in baseline])
    assert f"{own_gain:+.1f} p=" in mark and f"{baseline_gap:+.1f}" not in mark


def test_query_bank_results_without_a_video_bank_do_not_publish_video_to_text():
    rng = np.random.default_rng(6)
    old_style = result_from_ranks(ranks(rng, 0.4, 60), ranks(rng, 0.4, 60), "meanp-qb".ljust(64, "0"), 0)
    old_style["postprocess"] = {"name": "qbnorm", "track": "query-bank"}  # text bank only (before per-direction)
    text = render_leaderboard([(Path("q.json"), old_style)], command="c", n_resamples=200)
    row = text.split("### Query bank")[1].split("\n\n")[1].splitlines()[2]
    assert "not published (text bank only)" in row
