"""End-to-end runs on a small synthetic-motion: result schema, determinism, resumption, checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from _small_runs import small_config

from c2vbench.pipeline import evaluate_checkpoint, run_benchmark
from c2vbench.platform.errors import C2VBenchError, RunInterrupted
from c2vbench.results.result_file import validate_result
from c2vbench.runtime.progress import Reporter

QUIET = Reporter(quiet=True)


def test_result_file_follows_the_contract(tmp_path):
    outcome = run_benchmark(small_config(tmp_path), reporter=QUIET)
    result = json.loads(outcome.result_path.read_text())
    validate_result(result)
    assert result["plugins"]["temporal"] == {"name": "meanp", "distribution": "c2vbench",
                                             "version": result["c2vbench_version"]}
    assert len(result["per_query"]["t2v_rank"]) == result["protocol"]["n_captions"] == 16
    assert len(result["per_query"]["v2t_rank"]) == result["protocol"]["n_videos"] == 16
    twins = result["subsets"]["order_twins"]
    assert len(twins["per_query"]["t2v_rank"]) == 12
    # Subset ranks are the whole-gallery ranks of the subset's queries.
    assert set(twins["per_query"]["t2v_rank"]) <= set(result["per_query"]["t2v_rank"])
    for key in ("seed", "max_frames", "protocol", "epochs", "lr", "batch_size", "tie"):
        assert key in result["config"]
    assert result["model_selection"] == {"split": "val", "epoch": result["model_selection"]["epoch"],
                                         "selected_on_test": False}
    assert result["protocol"]["sampling"]["max_frames"] == 4
    assert len(result["protocol"]["hash"]) == 64
    assert result["cost"]["parameters"] > result["cost"]["trainable_parameters"] - 1 > 0


def test_same_seed_gives_identical_numbers_and_another_seed_does_not(tmp_path):
    first = run_benchmark(small_config(tmp_path / "a", seed=3), reporter=QUIET).result
    second = run_benchmark(small_config(tmp_path / "b", seed=3), reporter=QUIET).result
    other = run_benchmark(small_config(tmp_path / "c", seed=4), reporter=QUIET).result
    assert first["per_query"] == second["per_query"]
    assert first["metrics"] == second["metrics"]
    assert first["training"]["history"] == second["training"]["history"]
    assert first["config_key"] == other["config_key"]  # seeds of one configuration group together
    assert first["training"]["history"] != other["training"]["history"]


def test_protocol_hash_tracks_the_protocol_not_the_model(tmp_path):
    base = run_benchmark(small_config(tmp_path / "a", protocol="zeroshot"), reporter=QUIET).result
    other_model = run_benchmark(small_config(tmp_path / "b", protocol="zeroshot", seed=9), reporter=QUIET).result
    fewer_frames = run_benchmark(small_config(tmp_path / "c", protocol="zeroshot", max_frames=2),
                                 reporter=QUIET).result
    other_tie = run_benchmark(small_config(tmp_path / "d", protocol="zeroshot", tie="optimistic"),
                              reporter=QUIET).result
    assert base["protocol"]["hash"] == other_model["protocol"]["hash"]
    assert base["cost"]["trainable_parameters"] == 0 < base["cost"]["parameters"]
    assert base["protocol"]["hash"] != fewer_frames["protocol"]["hash"]
    assert base["protocol"]["hash"] != other_tie["protocol"]["hash"]


def test_interrupted_training_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    uninterrupted = run_benchmark(small_config(tmp_path / "full", epochs=3), reporter=QUIET).result

    import c2vbench.training.loop as training

    real_selection_score = training.selection_score
    calls = {"n": 0}

    def interrupt_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_selection_score(*args, **kwargs)

    monkeypatch.setattr(training, "selection_score", interrupt_in_second_epoch)
    with pytest.raises(RunInterrupted, match="epoch 1 is kept .* resume from epoch 2"):
        run_benchmark(small_config(tmp_path / "resumed", epochs=3), reporter=QUIET)
    assert list((tmp_path / "resumed").glob("*.json")) == []  # no half result
    monkeypatch.setattr(training, "selection_score", real_selection_score)
    resumed = run_benchmark(small_config(tmp_path / "resumed", epochs=3), reporter=QUIET).result
    assert resumed["training"]["resumed_from_epoch"] == 0
    assert resumed["per_query"] == uninterrupted["per_query"]
    assert resumed["training"]["history"] == uninterrupted["training"]["history"]


def initial_and_trained(tmp_path, protocol: str):
    """The model as run_benchmark builds it (same seeding, same order), and the model it trained and saved."""
    from c2vbench import load_checkpoint
    from c2vbench.model.assembly import assemble
    from c2vbench.pipeline import seed_everything
    from c2vbench.platform.registry import get_registry

    config = small_config(tmp_path / protocol, protocol=protocol, temporal="meanp", align="cosine", device="cpu",
                          save_checkpoint=True, select_on="none")
    seed_everything(config.seed)
    initial = {k: v.clone() for k, v in assemble(config.assembly_plan(), get_registry()).model.state_dict().items()}
    outcome = run_benchmark(config, reporter=QUIET)
    trained = load_checkpoint(outcome.checkpoint_path, format="c2vbench").state_dict()
    return initial, trained, outcome.result


def test_frozen_protocol_trains_only_the_new_modules(tmp_path):
    initial, trained, result = initial_and_trained(tmp_path, "frozen")
    assert result["training"]["history"][0]["steps"] > 0
    assert result["cost"]["trainable_parameters"] == 1  # cosine's logit scale; meanp has none
    backbone = [key for key in initial if key.startswith("backbone.")]
    assert backbone and all(torch.equal(initial[key], trained[key]) for key in backbone)
    assert not torch.equal(initial["align_head.logit_scale"], trained["align_head.logit_scale"])


def test_finetune_protocol_moves_the_backbone(tmp_path):
    initial, trained, _ = initial_and_trained(tmp_path, "finetune")
    backbone = [key for key in initial if key.startswith("backbone.") and initial[key].is_floating_point()]
    moved = [key for key in backbone if not torch.equal(initial[key], trained[key])]
    assert len(moved) > len(backbone) // 2


def test_native_checkpoint_evaluates_to_the_same_numbers(tmp_path):
    outcome = run_benchmark(small_config(tmp_path, save_checkpoint=True), reporter=QUIET)
    assert (outcome.checkpoint_path / "model.safetensors").exists()
    evaluated = evaluate_checkpoint(small_config(tmp_path / "eval"), outcome.checkpoint_path, "c2vbench",
                                    legacy_mask=False, reporter=QUIET).result
    assert evaluated["per_query"] == outcome.result["per_query"]
    assert evaluated["protocol"]["hash"] == outcome.result["protocol"]["hash"]
    assert evaluated["plugins"]["temporal"]["name"] == "meanp"


def test_a_corrupt_test_video_stops_the_run_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("C2VBENCH_CACHE", str(tmp_path / "cache"))  # a private copy of the data to damage
    config = small_config(tmp_path / "out", protocol="zeroshot")
    run_benchmark(config, reporter=QUIET)  # generates the dataset into the cache
    victim = sorted((tmp_path / "cache").glob("synthetic-motion-*/videos/*.mkv"))[-1]
    victim.write_bytes(b"this is not a video")
    with pytest.raises(C2VBenchError) as caught:
        run_benchmark(config, reporter=QUIET)
    assert victim.stem in str(caught.value)
