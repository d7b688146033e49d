"""Streamed exact ranking: the same ranks and tie counts as the in-memory path, tile by tile."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _cli_runner import run_cli

from c2vbench.evaluation.metrics import evaluate_similarity
from c2vbench.evaluation.streamed_ranking import (
    DotProductScores,
    HeadScores,
    StreamedScores,
    count_streamed,
    evaluate_streamed,
)


def captions_for(rng: np.random.Generator, n_video: int, extra: int) -> np.ndarray:
    """Every video at least once, ``extra`` more captions on random videos, shuffled."""
    mapping = np.r_[np.arange(n_video), rng.integers(0, n_video, extra)]
    rng.shuffle(mapping)
    return mapping


def brute_force_counts(sim: np.ndarray, text_to_video: np.ndarray):
    """g and e by explicit loops over every candidate (independent of both implementations)."""
    t2v = []
    for row, truth in enumerate(text_to_video):
        m = sim[row, truth]
        others = [sim[row, j] for j in range(sim.shape[1]) if j != truth]
        t2v.append((sum(s > m for s in others), sum(s == m for s in others)))
    v2t = []
    for video in range(sim.shape[1]):
        own = [c for c in range(sim.shape[0]) if text_to_video[c] == video]
        m = max(sim[c, video] for c in own)
        others = [sim[c, video] for c in range(sim.shape[0]) if text_to_video[c] != video]
        v2t.append((sum(s > m for s in others), sum(s == m for s in others)))
    return np.array(t2v), np.array(v2t)


@pytest.mark.parametrize("seed", range(6))
def test_tie_heavy_inputs_give_the_in_memory_ranks_for_blocks_that_do_not_divide_the_sizes(seed):
    rng = np.random.default_rng(seed)
    n_video = int(rng.integers(5, 40))
    mapping = captions_for(rng, n_video, int(rng.integers(0, 50)))
    # small integers: many exact ties, and every product is exact whatever the summation order
    text = rng.integers(-1, 2, (len(mapping), 3)).astype(np.float32)
    video = rng.integers(-1, 2, (n_video, 3)).astype(np.float32)
    video[rng.integers(0, n_video)] = 0.0  # a blank video ties with every caption
    sim = text @ video.T
    text_block, video_block = int(rng.integers(1, 11)), int(rng.integers(1, 11))
    for tie in ("expected", "optimistic", "pessimistic"):
        expected = evaluate_similarity(sim, mapping, tie=tie)
        streamed = evaluate_streamed(DotProductScores(text, video), mapping, tie=tie, text_block=text_block,
                                     video_block=video_block)
        assert streamed.per_query == expected.per_query
        assert streamed.metrics == expected.metrics
    t2v, v2t = brute_force_counts(sim, mapping)
    for method in ("dense", "sparse"):
        counts = count_streamed(DotProductScores(text, video), mapping, text_block=text_block,
                                video_block=video_block, method=method)
        assert np.array_equal(counts.t2v_above, t2v[:, 0]) and np.array_equal(counts.t2v_tied, t2v[:, 1])
        assert np.array_equal(counts.v2t_above, v2t[:, 0]) and np.array_equal(counts.v2t_tied, v2t[:, 1])
    assert counts.t2v_tied.sum() > 0  # the inputs really are tie-heavy


@pytest.mark.parametrize("dense_word_fraction", [0, 10**9], ids=["candidates-decoded", "flags-summed"])
def test_both_ways_of_counting_a_sparse_tile_give_the_brute_force_counts(monkeypatch, dense_word_fraction):
    """A trained-like model (each caption close to its video: few candidates at or above a ground truth) with
    duplicated videos and captions (exact ties across tiles); the CPU counter either decodes the candidates from the
    flag words or, forced, sums the flags: both must give the brute-force counts."""
    from c2vbench.evaluation.streamed_ranking import _SparseTileCounter

    monkeypatch.setattr(_SparseTileCounter, "DENSE_WORD_FRACTION", dense_word_fraction)
    rng = np.random.default_rng(5)
    n_video = 150
    video = rng.integers(-3, 4, (n_video, 8)).astype(np.float32)
    video[100:110] = video[:10]  # duplicated videos: ties between tiles
    mapping = captions_for(rng, n_video, 120)
    text = video[mapping] + rng.integers(-1, 2, (len(mapping), 8)).astype(np.float32)
    text[-5:] = text[:5]  # duplicated captions
    sim = text @ video.T  # small integers: exact in every summation order
    t2v, v2t = brute_force_counts(sim, mapping)
    counts = count_streamed(DotProductScores(text, video), mapping, text_block=37, video_block=29, method="sparse")
    assert np.array_equal(counts.t2v_above, t2v[:, 0]) and np.array_equal(counts.t2v_tied, t2v[:, 1])
    assert np.array_equal(counts.v2t_above, v2t[:, 0]) and np.array_equal(counts.v2t_tied, v2t[:, 1])
    assert counts.t2v_tied.sum() > 0 and counts.v2t_tied.sum() > 0
    # few candidates per tile: the decoding branch really is the one a trained model takes by default
    assert (t2v[:, 0] + t2v[:, 1]).mean() < 0.1 * n_video


def test_random_multi_caption_inputs_and_subsets_match_the_in_memory_path():
    rng = np.random.default_rng(7)
    n_video = 97
    mapping = captions_for(rng, n_video, 300)
    text = rng.standard_normal((len(mapping), 16))
    video = rng.standard_normal((n_video, 16))
    subsets = {"some": (rng.choice(len(mapping), 40, replace=False), rng.choice(n_video, 10, replace=False)),
               "texts only": ([1, 2, 3], [])}
    expected = evaluate_similarity(text @ video.T, mapping, subsets=subsets)
    streamed = evaluate_streamed(DotProductScores(text, video, dtype=torch.float64), mapping, subsets=subsets,
                                 text_block=64, video_block=30)
    assert streamed.to_dict() == expected.to_dict()


def test_tiles_stay_within_the_block_and_entries_are_read_from_them():
    rng = np.random.default_rng(3)
    mapping = captions_for(rng, 50, 70)
    text = rng.integers(-3, 4, (len(mapping), 4)).astype(np.float32)
    video = rng.integers(-3, 4, (50, 4)).astype(np.float32)

    class Recording(DotProductScores):
        largest = 0

        def tile(self, text_block_index, video_block_index):
            tile = super().tile(text_block_index, video_block_index)
            Recording.largest = max(Recording.largest, tile.numel())
            return tile

    entries = [(0, 3), (119, 49), (5, int(mapping[5]))]
    counts = count_streamed(Recording(text, video), mapping, text_block=16, video_block=8, entries=entries)
    sim = text @ video.T
    assert Recording.largest <= 16 * 8
    assert counts.entries.tolist() == [sim[i, j] for i, j in entries]
    assert np.array_equal(counts.truth_scores, sim[np.arange(len(mapping)), mapping])


def test_a_head_without_factors_is_scored_tile_by_tile():
    import math
    from types import SimpleNamespace

    from c2vbench_builtins.align._tab_head import TemporalAlignmentHead

    from c2vbench.platform.interfaces import TextFeatures, VideoFeatures

    torch.manual_seed(0)
    width, n_text, n_video = 16, 23, 11
    head = TemporalAlignmentHead(width, centers=3, global_weight=0.5, stream="frames",
                                 initial_log_scale=math.log(100.0)).eval()
    mapping = captions_for(np.random.default_rng(1), n_video, n_text - n_video)
    text = TextFeatures(torch.randn(n_text, width), torch.randn(n_text, 6, width), torch.ones(n_text, 6).long())
    frames = torch.randn(n_video, 4, width)
    video = VideoFeatures(torch.nn.functional.normalize(frames.mean(1), dim=-1), frames, torch.ones(n_video, 4).long())
    with torch.no_grad():
        sim = head(text, video).numpy()
    model = SimpleNamespace(similarity=head)  # what HeadScores calls: the head's own forward, tile by tile
    streamed = evaluate_streamed(HeadScores(model, text, video), mapping, text_block=5, video_block=4)
    assert streamed.per_query == evaluate_similarity(sim, mapping).per_query
    dense = StreamedScores(HeadScores(model, text, video), torch.device("cpu"), 5, 4).matrix()
    assert np.abs(dense - sim).max() < 1e-5
    # the factorised form TAB offers scores the same (up to rounding)
    with torch.no_grad():
        factored = head.text_factors(text) @ head.video_factors(video).t()
    assert np.abs(factored.numpy() - sim).max() < 1e-4


def test_score_embeddings_file_matches_the_similarity_file(tmp_path, capsys):
    rng = np.random.default_rng(11)
    mapping = captions_for(rng, 30, 45)
    text = rng.integers(-2, 3, (len(mapping), 5)).astype(np.float32)
    video = rng.integers(-2, 3, (30, 5)).astype(np.float32)
    np.savez(tmp_path / "emb.npz", text_emb=text, video_emb=video, text_to_video=mapping)
    np.savez(tmp_path / "sim.npz", sim=text @ video.T, text_to_video=mapping)
    code, out, err = run_cli(["score", str(tmp_path / "emb.npz"), "--json", "--block", "7"], capsys)
    assert code == 0, err
    code, reference, _ = run_cli(["score", str(tmp_path / "sim.npz"), "--json"], capsys)
    assert json.loads(out) == json.loads(reference)


@pytest.mark.parametrize("arrays, flags, message", [
    ({"text_emb": np.ones((3, 4)), "video_emb": np.ones((2, 5)), "text_to_video": [0, 1, 1]}, [], "same d"),
    ({"text_emb": np.ones((3, 4)), "text_to_video": [0, 1, 1]}, [], "'video_emb'"),
    ({"text_emb": np.ones((3, 4)), "video_emb": np.ones((2, 4)), "text_to_video": [0, 1, 1]},
     ["--postprocess", "dsl"], "whole similarity matrix"),
    ({"text_emb": np.full((3, 4), np.nan), "video_emb": np.ones((2, 4)), "text_to_video": [0, 1, 1]}, [], "NaN"),
])
def test_bad_embedding_files_give_one_line(tmp_path, capsys, arrays, flags, message):
    np.savez(tmp_path / "emb.npz", **arrays)
    code, _, err = run_cli(["score", str(tmp_path / "emb.npz"), *flags], capsys)
    assert code == 2 and message in err and "Traceback" not in err
