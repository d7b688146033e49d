"""Integrity on everything read back: the training state, native checkpoints, the embedding cache, result files."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from _cache_writers import start_stalled_writer
from _cli_runner import run_cli
from _hostile_fs import read_only_folder
from _small_runs import TINY_BACKBONE, TINY_DATASET, tiny_args

from c2vbench.platform.errors import C2VBenchError

COMMITTED = Path(__file__).parent.parent / "leaderboards" / "results"


def flip_byte_inside(path: Path, needle: bytes) -> None:
    """Flip one byte of ``path`` where ``needle`` (a run of bytes the file holds) starts + 8."""
    data = bytearray(path.read_bytes())
    offset = data.find(needle)
    assert offset >= 0
    data[offset + 8] ^= 0x01
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------------------------------------------------
# the training state


def test_a_flipped_byte_in_the_training_state_is_refused_with_the_command_that_discards_it(tmp_path, capsys):
    from c2vbench.config import RunConfig
    from c2vbench.pipeline import training_state_dir
    from c2vbench.training.loop import TRAINING_STATE_FILE, seal_training_state

    out = tmp_path / "out"
    args = tiny_args("run", out, "--epochs", "1", "--batch-size", "4", "--no-checkpoint")
    config = RunConfig(epochs=1, batch_size=4, out=str(out), backbone_options=dict(v.split("=") for v in TINY_BACKBONE),
                       dataset_options=dict(value.split("=") for value in TINY_DATASET))
    state_dir = training_state_dir(config)
    state_dir.mkdir(parents=True)
    weights = torch.arange(4096, dtype=torch.float32)
    sealed = seal_training_state({"model": {"w": weights}, "optimizer": {}, "scheduler": {}, "history": [],
                                  "epoch": 0, "best": None})
    (state_dir / TRAINING_STATE_FILE).write_bytes(sealed)
    flip_byte_inside(state_dir / TRAINING_STATE_FILE, weights[1000:1010].numpy().tobytes())
    code, _, err = run_cli(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "is damaged" in lines[0] and str(state_dir / TRAINING_STATE_FILE) in lines[0]
    discard = lines[0].split("discard it and train from the start: ")[1].split(", then run")[0]
    assert shlex.split(discard) == ["rm", "-r", str(state_dir)]
    subprocess.run(shlex.split(discard), check=True)  # the command given works, and the run then goes through
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert len(list(out.glob("*.json"))) == 1


def test_a_truncated_or_foreign_training_state_is_one_line_too(tmp_path):
    from c2vbench.training.loop import TRAINING_STATE_FILE, read_training_state, seal_training_state

    sealed = seal_training_state({"model": {"w": torch.ones(64)}, "optimizer": {}, "scheduler": {}, "history": [],
                                  "epoch": 0, "best": None})
    (tmp_path / TRAINING_STATE_FILE).write_bytes(sealed[: len(sealed) // 2])
    with pytest.raises(C2VBenchError, match=r"cannot be resumed.*discard it and train from the start: rm -r"):
        read_training_state(tmp_path)
    torch.save({"something": torch.ones(2)}, tmp_path / TRAINING_STATE_FILE)
    with pytest.raises(C2VBenchError, match=r"not a c2vbench training state.*rm -r"):
        read_training_state(tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# native checkpoints


def test_a_flipped_byte_in_a_native_checkpoint_is_refused(tmp_path, capsys):
    import c2vbench
    from c2vbench.config import RunConfig
    from c2vbench.model.assembly import assemble
    from c2vbench.model.native_checkpoint import WEIGHTS_FILE, save_native_checkpoint
    from c2vbench.platform.registry import get_registry

    config = RunConfig(protocol="zeroshot", backbone_options=dict(v.split("=") for v in TINY_BACKBONE),
                       dataset_options=dict(value.split("=") for value in TINY_DATASET), out=str(tmp_path))
    model = assemble(config.assembly_plan(), get_registry()).model
    folder = save_native_checkpoint(model, config.to_dict(), tmp_path / "checkpoint")
    assert json.loads((folder / "config.json").read_text())["weights_sha256"]
    c2vbench.load_checkpoint(folder, format="c2vbench")  # intact: loads
    data = bytearray((folder / WEIGHTS_FILE).read_bytes())
    data[-7] ^= 0x01  # in the last tensor's bytes: safetensors itself would read it without complaint
    (folder / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(C2VBenchError, match="are damaged: their SHA-256 differs"):
        c2vbench.load_checkpoint(folder, format="c2vbench")
    code, _, err = run_cli(tiny_args("eval", tmp_path / "out", "--checkpoint", str(folder)), capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "damaged" in lines[0] and WEIGHTS_FILE in lines[0], err


# ---------------------------------------------------------------------------------------------------------------
# the embedding cache


def a_bank(videos: int):
    from c2vbench.evaluation.features import FrameBank

    generator = torch.Generator().manual_seed(videos)
    return FrameBank(torch.randn(videos, 3, 8, generator=generator), torch.ones(videos, 3, dtype=torch.long), 1.0)


def test_a_damaged_entry_is_shown_quarantined_and_rewritten(tmp_path, capsys):
    from c2vbench.evaluation.embedding_cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path)
    key = "ef" * 32
    assert cache.put_frames(key, a_bank(5))
    (shard,) = cache.path_of(key).glob("frames-*.safetensors")
    shard.write_bytes(shard.read_bytes()[:-3])  # truncated on disk
    code, out, _ = run_cli(["cache", "ls", "--dir", str(tmp_path)], capsys)
    assert code == 0 and "damaged" in out  # shown as such before any run reads it
    assert cache.get_frames(key) is None  # a miss ...
    assert not cache.path_of(key).exists()  # ... and moved aside, so that the recomputed entry is written
    assert [entry.state for entry in cache.hidden_folders()] == ["damaged"]
    assert cache.put_frames(key, a_bank(5))
    assert torch.equal(cache.get_frames(key).features, a_bank(5).features)
    code, out, _ = run_cli(["cache", "ls", "--dir", str(tmp_path), "--json"], capsys)
    assert sorted(entry["state"] for entry in json.loads(out)) == ["damaged", "ok"]
    code, out, _ = run_cli(["cache", "rm", "--stale", "--dir", str(tmp_path)], capsys)
    assert code == 0 and cache.hidden_folders() == [] and cache.get_frames(key) is not None
    # a flipped byte (same size) is found by --verify, and by a run reading it
    (shard,) = cache.path_of(key).glob("frames-*.safetensors")
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0x01
    shard.write_bytes(bytes(data))
    assert [entry.state for entry in cache.entries()] == ["ok"]
    assert [entry.state for entry in cache.entries(verify=True)] == ["damaged"]


def test_cache_rm_stale_never_touches_a_live_writers_staging(tmp_path, capsys):
    from c2vbench.evaluation.embedding_cache import EmbeddingCache

    root = tmp_path / "cache"
    child = start_stalled_writer(root, tmp_path / "marker")
    try:
        cache = EmbeddingCache(root)
        assert [entry.state for entry in cache.hidden_folders()] == ["staging"]
        code, out, _ = run_cli(["cache", "ls", "--dir", str(root)], capsys)
        assert "1 being written now" in out
        code, out, _ = run_cli(["cache", "rm", "--stale", "--dir", str(root)], capsys)
        assert code == 0 and "left 1 folder(s) that a running writer is filling" in out
        assert [entry.state for entry in cache.hidden_folders()] == ["staging"] and child.poll() is None
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert [entry.state for entry in cache.hidden_folders()] == ["stale"]  # its writer is gone
    code, _, _ = run_cli(["cache", "rm", "--stale", "--dir", str(root)], capsys)
    assert cache.hidden_folders() == []


def test_a_cache_that_cannot_be_written_warns_and_the_run_goes_on(tmp_path, capsys, monkeypatch):
    with read_only_folder(tmp_path / "locked") as locked:
        monkeypatch.setenv("C2VBENCH_EMBEDDING_CACHE", str(locked / "embeddings"))
        code, out, err = run_cli(tiny_args("run", tmp_path / "out", "--protocol", "zeroshot", "--json"), capsys)
    assert code == 0, err
    result = json.loads(out)
    assert any("the embedding cache could not keep test frames" in note for note in result["notes"])
    assert result["cost"]["embedding_cache"]["test frames"] == "miss (not written)"


# ---------------------------------------------------------------------------------------------------------------
# result files


@pytest.fixture(scope="module")
def result_path(tmp_path_factory, c2vbench_cache):
    """One small zero-shot result, shared by the tests below (each edits a copy)."""
    from c2vbench.config import RunConfig
    from c2vbench.pipeline import run_benchmark
    from c2vbench.platform.registry import get_registry
    from c2vbench.runtime.progress import Reporter

    out = tmp_path_factory.mktemp("results")
    config = RunConfig(protocol="zeroshot", out=str(out), embedding_cache=False,
                       backbone_options=dict(value.split("=") for value in TINY_BACKBONE),
                       dataset_options=dict(value.split("=") for value in TINY_DATASET))
    with pytest.MonkeyPatch.context() as patch:  # the isolation conftest gives each test, for this module's run
        patch.setenv("C2VBENCH_CACHE", str(c2vbench_cache))
        patch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
        get_registry.cache_clear()
        path = run_benchmark(config, reporter=Reporter(quiet=True)).result_path
        get_registry.cache_clear()
    return path


def test_a_result_carries_a_checksum_of_its_content(result_path):
    from c2vbench.results.integrity import checksum_state, content_checksum
    from c2vbench.results.result_file import load_result_file

    raw = json.loads(result_path.read_text())
    assert raw["checksum"]["sha256"] == content_checksum(raw) and checksum_state(raw) == "ok"
    assert "integrity" not in load_result_file(result_path)


def test_edited_metrics_are_named_and_every_reader_shows_the_per_query_numbers(result_path, tmp_path, capsys):
    from c2vbench.evaluation.metrics import metrics_from_ranks

    raw = json.loads(result_path.read_text())
    true_r1 = metrics_from_ranks(raw["per_query"]["t2v_rank"], raw["per_query"]["t2v_ties"], raw["tie"])["R@1"]
    raw["metrics"]["t2v"]["R@1"] = 99.0
    edited = tmp_path / "edited" / result_path.name
    edited.parent.mkdir()
    edited.write_text(json.dumps(raw))
    for args in (["results", "show", str(edited)], ["results", "ls", str(edited.parent)],
                 ["leaderboard", str(edited.parent)]):
        code, out, err = run_cli(args, capsys)
        assert code == 0, err
        assert "edited after it was written" in err and "99.0 in metrics" in err, args
        assert "per-query ranks are trusted" in err
        shown = "\n".join(line for line in out.splitlines() if str(edited.parent) not in line)
        assert not re.search(r"(?<![\w.])99\.0(?!\d)", shown), args
        assert f"{true_r1:.1f}" in shown or f"{true_r1:.2f}" in shown, args


def test_an_edit_that_leaves_the_numbers_alone_is_named_but_changes_nothing(result_path, tmp_path):
    from c2vbench.results.result_file import load_result_file

    raw = json.loads(result_path.read_text())
    raw["notes"].append("added by hand")
    edited = tmp_path / result_path.name
    edited.write_text(json.dumps(raw))
    loaded = load_result_file(edited)
    assert loaded["integrity"]["checksum"] == "mismatch" and len(loaded["integrity"]["notes"]) == 1
    assert loaded["metrics"] == raw["metrics"]


def test_results_without_a_checksum_still_read_quietly_and_committed_ones_are_sealed(tmp_path):
    from c2vbench.results.integrity import checksum_state
    from c2vbench.results.result_file import iter_result_files

    committed = [item for _, item in iter_result_files([COMMITTED])]
    assert committed and all(checksum_state(item) == "ok" and "integrity" not in item for item in committed)
    for index, item in enumerate(committed[:5]):  # as written before checksums existed
        older = {key: value for key, value in item.items() if key != "checksum"}
        (tmp_path / f"older-{index}.json").write_text(json.dumps(older))
    loaded = [item for _, item in iter_result_files([tmp_path])]
    assert len(loaded) == 5 and all(checksum_state(item) == "absent" and "integrity" not in item
                                    for item in loaded)


def test_compare_compares_content_not_run_ids(result_path, tmp_path, capsys):
    from c2vbench.results.integrity import seal_result

    raw = json.loads(result_path.read_text())
    copy = dict(raw, run_id="another-id-0000")  # the same run under another id
    (tmp_path / "copy.json").write_text(json.dumps(seal_result(copy)))
    code, _, err = run_cli(["compare", str(result_path), str(tmp_path / "copy.json")], capsys)
    assert code == 2 and "are the same run (identical per-query ranks" in err
    other = json.loads(result_path.read_text())
    other["per_query"]["t2v_rank"] = [rank + 1 for rank in other["per_query"]["t2v_rank"]]
    (tmp_path / "other.json").write_text(json.dumps(seal_result(other)))  # same id, other ranks
    code, out, err = run_cli(["compare", str(result_path), str(tmp_path / "other.json"), "--json",
                              "--n-resamples", "200"], capsys)
    assert code == 0, err
    assert "both carry run id" in err and "compared by their content" in err
    assert json.loads(out)["t2v"]["MnR"]["diff"] == pytest.approx(1.0)


def test_a_result_write_on_a_full_disk_is_one_line_and_leaves_nothing_torn(result_path, tmp_path):
    from _hostile_fs import file_size_limit

    from c2vbench.results.result_file import load_result_file, write_result
    from c2vbench.runtime.atomic_files import WriteFailed

    result = load_result_file(result_path)
    out = tmp_path / "out"
    out.mkdir()
    with file_size_limit(1024), pytest.raises(WriteFailed, match="cannot write .*: File too large"):
        write_result(result, out)
    assert list(out.iterdir()) == []  # no temp file left behind
    shutil.rmtree(out)


# ---------------------------------------------------------------------------------------------------------------
# drift: what a result records about the numerics, and re-runs whose ranks differ


def test_a_result_records_what_can_make_cpu_runs_differ(result_path):
    import torch

    numerics = json.loads(result_path.read_text())["env"]["numerics"]
    assert numerics["intra_op_threads"] == torch.get_num_threads() >= 1
    assert numerics["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert numerics["deterministic_algorithms"] is True  # the run asked for deterministic kernels
    assert any("BLAS_INFO=" in line for line in numerics["build"]) and numerics["cpu"]


def test_a_rerun_whose_ranks_differ_is_reported_with_the_size_of_the_difference(result_path, tmp_path, capsys):
    from c2vbench.results.integrity import metrics_from_per_query, seal_result

    first = json.loads(result_path.read_text())
    rerun = json.loads(result_path.read_text())
    ranks = rerun["per_query"]["t2v_rank"]
    moved = next(index for index, rank in enumerate(ranks) if rank != 1.0)
    ranks[moved], rerun["per_query"]["t2v_ties"][moved] = 1.0, 0  # one query ranked otherwise on another machine
    rerun["metrics"] = metrics_from_per_query(rerun)
    change = rerun["metrics"]["t2v"]["R@1"] - first["metrics"]["t2v"]["R@1"]
    assert change > 0
    rerun.update(run_id=first["run_id"][:-8] + "00000000", created="2999-01-01T00:00:00+00:00")
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(result_path, runs / "first.json")
    (runs / "rerun.json").write_text(json.dumps(seal_result(rerun)))
    drop = f"{change:+.2f}"
    wanted = f"its ranks differ on 1 of {len(ranks)} text→video and 0 of"
    for args in (["results", "ls", str(runs)], ["leaderboard", str(runs), "--n-resamples", "200"],
                 ["compare", str(runs / "first.json"), str(runs / "rerun.json"), "--n-resamples", "200"]):
        code, out, err = run_cli(args, capsys)
        assert code == 0, err
        assert wanted in err and drop in err and "rerun.json re-runs" in err, args
    code, out, _ = run_cli(["leaderboard", str(runs), "--n-resamples", "200"], capsys)
    assert "## Set aside" in out and wanted in out  # and on the board itself
