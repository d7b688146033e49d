"""Subsets with rival videos: pairwise accuracy, twin rivals on synthetic-motion, and renumbering after drops."""

from __future__ import annotations

import numpy as np

from c2vbench.data.integrity import drop_videos
from c2vbench.data.types import CaptionRecord, QuerySubset, RetrievalSplit, VideoRecord
from c2vbench.evaluation.metrics import pairwise_accuracy


def test_pairwise_accuracy_matches_a_loop_with_half_credit_for_ties():
    rng = np.random.default_rng(0)
    sim = rng.integers(0, 3, size=(12, 6)).astype(np.float32)  # many exact ties
    queries = [0, 2, 3, 5, 7, 11]
    own = [1, 0, 4, 2, 5, 3]
    rival = [2, 1, 5, 3, 0, 4]
    expected = []
    for q, o, r in zip(queries, own, rival, strict=True):
        expected.append(1.0 if sim[q, o] > sim[q, r] else 0.5 if sim[q, o] == sim[q, r] else 0.0)
    result = pairwise_accuracy(sim, queries, own, rival)
    assert result["per_query"] == expected
    assert abs(result["accuracy"] - 100 * sum(expected) / len(expected)) < 1e-9


def test_identical_scores_give_exactly_chance():
    sim = np.ones((4, 4))
    assert pairwise_accuracy(sim, [0, 1, 2, 3], [0, 1, 2, 3], [1, 0, 3, 2])["accuracy"] == 50.0


def test_synthetic_motion_rivals_are_the_twins(tmp_path):
    from c2vbench.platform.registry import load_registry
    from c2vbench.platform.specs import build_options

    spec = load_registry().get("dataset", "synthetic-motion").spec
    options = build_options(spec, {"train_videos": "4", "val_videos": "2", "test_twin_pairs": "3",
                                   "test_singles": "2"})
    test = spec.factory(options, tmp_path / "data").split("test")
    twins = test.subsets["order_twins"]
    for caption_index, rival in zip(twins.caption_indices, twins.rival_videos, strict=True):
        own = test.captions[caption_index].video_index
        assert rival != own
        assert {own, rival} in [{twins.video_indices[i], twins.video_indices[i + 1]}
                                for i in range(0, len(twins.video_indices), 2)]


def test_dropping_a_video_renumbers_rivals_and_drops_queries_whose_rival_is_gone(tmp_path):
    videos = [VideoRecord(f"v{i}", tmp_path / f"v{i}.mkv") for i in range(4)]
    captions = [CaptionRecord(f"c{i}", i) for i in range(4)]
    subset = QuerySubset(caption_indices=(0, 1, 2, 3), video_indices=(0, 1, 2, 3), rival_videos=(1, 0, 3, 2))
    split = RetrievalSplit("test", videos, captions, {"pairs": subset})
    kept = drop_videos(split, {"v1"}).subsets["pairs"]
    # v1 is gone: caption 1 (its own) and caption 0 (whose rival it was) leave; v2/v3 become 1/2
    assert kept.caption_indices == (1, 2) and kept.rival_videos == (2, 1)
    assert kept.video_indices == (0, 1, 2)


def test_run_reports_pairwise_accuracy_and_meanp_sees_twins_alike(tmp_path):
    from _small_runs import small_config

    import c2vbench.pipeline as pipeline
    from c2vbench.runtime.progress import Reporter

    captured = {}
    real_build_result = pipeline.build_result

    def keep_sim(settings, plan, assembly, split, sim, *args, **kwargs):
        captured["sim"], captured["split"] = sim, split
        return real_build_result(settings, plan, assembly, split, sim, *args, **kwargs)

    pipeline.build_result = keep_sim
    try:
        result = pipeline.run_benchmark(small_config(tmp_path, protocol="zeroshot"), reporter=Reporter(quiet=True))
    finally:
        pipeline.build_result = real_build_result
    pairwise = result.result["subsets"]["order_twins"]["pairwise"]
    twins = captured["split"].subsets["order_twins"]
    assert len(pairwise["per_query"]) == len(twins.caption_indices) == 12
    sim = captured["sim"]
    sim = sim.matrix() if hasattr(sim, "matrix") else sim  # streamed scores: assemble the (small) matrix
    for caption_index, rival in zip(twins.caption_indices, twins.rival_videos, strict=True):
        own = captured["split"].captions[caption_index].video_index
        # mean pooling sees the same frames in both twins: the scores differ only by float rounding
        assert abs(sim[caption_index, own] - sim[caption_index, rival]) < 1e-4
