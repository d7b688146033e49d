"""The ``xpool``, ``drl`` and ``tmass`` align heads: parity with their official code, the conformance kit, T-MASS's
test-time draws and protocol card, and a short training run of each.

The official numbers come from ``tests/fixtures/successor_heads/*.npz``, recorded by
``tests/fixtures/record_successor_heads.py`` with the official modules on tiny random weights (the tests never need
that code). Official evaluation scores are cosines (X-Pool, T-MASS) or unscaled interaction scores (DRL); the
heads return them times their logit scale.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from _small_runs import small_config
from c2vbench_builtins._layers.blocks import TemporalTransformer
from c2vbench_builtins.align._drl_head import DrlHead
from c2vbench_builtins.align._stochastic_draws import draws_from_codes, pair_codes, row_keys
from c2vbench_builtins.align._tmass_head import TMassHead
from c2vbench_builtins.align._xpool_head import XPoolHead
from c2vbench_builtins.temporal._modules import SequenceTransformer
from scipy import stats

from c2vbench.pipeline import run_benchmark
from c2vbench.platform.interfaces import TextFeatures, VideoFeatures
from c2vbench.results.result_file import protocol_card, validate_result
from c2vbench.runtime.progress import Reporter
from c2vbench.testing import assert_plugin_conforms

FIXTURES = Path(__file__).parent / "fixtures" / "successor_heads"
RTOL, ATOL = 1e-4, 1e-6  # fp32 parity: 1e-4 relative (and 1e-6 absolute for scores near 0)


def fixture(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}.npz") as data:
        return {key: data[key] for key in data.files}


def official_state(data: dict[str, np.ndarray], renames: dict[str, str] | None = None) -> dict[str, torch.Tensor]:
    """The recorded weights (``param/<official name>``) under the head's names."""
    state = {}
    for key, value in data.items():
        if key.startswith("param/"):
            name = key[len("param/"):]
            for old, new in (renames or {}).items():
                if name.startswith(old):
                    name = new + name[len(old):]
            state[name] = torch.from_numpy(value)
    return state


def setting(data: dict[str, np.ndarray], name: str):
    return data[f"setting/{name}"].item()


def assert_parity(got: torch.Tensor, expected) -> None:
    torch.testing.assert_close(got.detach().double(), torch.as_tensor(np.asarray(expected)).double(), rtol=RTOL,
                               atol=ATOL)


def sentence_features(text: np.ndarray) -> TextFeatures:
    """Sentence vectors as TextFeatures (X-Pool and T-MASS read ``eot`` only)."""
    eot = torch.from_numpy(text)
    return TextFeatures(eot, eot[:, None].clone(), torch.ones(len(eot), 1, dtype=torch.long))


def frame_features(frames: np.ndarray, frame_mask: np.ndarray | None = None) -> VideoFeatures:
    frames_t = torch.from_numpy(frames)
    mask = torch.ones(frames_t.shape[:2], dtype=torch.long) if frame_mask is None else torch.from_numpy(frame_mask)
    return VideoFeatures(frames_t.mean(dim=1), frames_t, mask)


# ---------------------------------------------------------------------------------------------------------------
# X-Pool


def xpool_from(data: dict[str, np.ndarray]) -> XPoolHead:
    head = XPoolHead(data["text"].shape[1], setting(data, "heads"), setting(data, "dropout"),
                     float(data["logit_scale"]))
    head.pool_frames.load_state_dict(official_state(data))
    return head


@pytest.mark.parametrize("heads", [1, 2])
def test_xpool_matches_the_official_scores_and_loss(heads):
    data = fixture(f"xpool_heads{heads}")
    head = xpool_from(data).eval()
    text, video = sentence_features(data["text"]), frame_features(data["frames"])
    with torch.no_grad():
        # six captions of four videos, every caption against every video (the official evaluation)
        assert_parity(head(text, video) / math.exp(float(data["logit_scale"])), data["eval_scores"])
    pairs = torch.from_numpy(data["train_pairs"])
    batch_text, batch_video = text.index(pairs), video.index(torch.from_numpy(data["video_of_text"])[pairs])
    head.train()
    head.pool_frames.dropout.p = 0.0
    assert_parity(head.loss(batch_text, batch_video), data["train_loss"])
    # with dropout: the same generator state draws the same mask, since the head drops the same tensor
    head.pool_frames.dropout.p = setting(data, "dropout")
    torch.manual_seed(setting(data, "dropout_seed"))
    assert_parity(head.loss(batch_text, batch_video), data["train_loss_dropout"])


def test_xpool_evaluation_path_computes_the_training_path_without_dropout():
    generator = torch.Generator().manual_seed(1)
    head = XPoolHead(16, 4, 0.0, 0.0)
    with torch.no_grad():
        for parameter in head.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    text = torch.randn(5, 16, generator=generator)
    frames = torch.randn(3, 6, 16, generator=generator)
    mask = torch.tensor([[1] * 6, [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0]])
    pooling = head.pool_frames
    with torch.no_grad():
        pooled_in_training = pooling.train()(text, frames, mask)  # dropout 0: the official order of operations
        pooled_factored = pooling.eval()(text, frames, mask)
    torch.testing.assert_close(pooled_factored, pooled_in_training, rtol=1e-5, atol=1e-5)


def test_xpool_pools_a_video_and_its_reversal_to_the_same_bits():
    generator = torch.Generator().manual_seed(0)
    head = XPoolHead(16, 2, 0.0, math.log(20.0)).eval()
    with torch.no_grad():
        for parameter in head.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    frames = torch.randn(3, 5, 16, generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    reversed_frames = frames.clone()
    for row, length in enumerate(mask.sum(dim=1).tolist()):
        reversed_frames[row, :length] = frames[row, :length].flip(0)
    text = sentence_features(torch.randn(4, 16, generator=generator).numpy())
    with torch.no_grad():
        forward = head(text, VideoFeatures(frames.mean(1), frames, mask))
        backward = head(text, VideoFeatures(frames.mean(1), reversed_frames, mask))
    assert torch.equal(forward, backward)


# ---------------------------------------------------------------------------------------------------------------
# DRL


def drl_from(data: dict[str, np.ndarray], legacy_padding: bool) -> DrlHead:
    state = official_state(data, {"frame_position_embeddings": "frame_encoder.frame_position_embeddings",
                                  "transformerClip": "frame_encoder.transformerClip"})
    width = data["tokens"].shape[-1]
    encoder = None
    if setting(data, "agg_module") == "seqTransf":
        layers = len({key.split(".")[3] for key in state if key.startswith("frame_encoder.transformerClip.")})
        heads = 2  # the recording script's official cross Transformer has two heads
        encoder = SequenceTransformer(width, layers, state["frame_encoder.frame_position_embeddings.weight"].shape[0])
        encoder.transformerClip = TemporalTransformer(width, layers, heads)
    head = DrlHead(width, setting(data, "interaction"), setting(data, "wti_arch"), encoder, setting(data, "cdcr"),
                   setting(data, "cdcr_alpha1"), setting(data, "cdcr_alpha2"), setting(data, "cdcr_lambda"),
                   float(data["logit_scale"]), legacy_padding=legacy_padding)
    missing, unexpected = head.load_state_dict(state, strict=False)
    assert missing == ["logit_scale"] and not unexpected
    return head


def drl_features(data: dict[str, np.ndarray]) -> tuple[TextFeatures, VideoFeatures]:
    tokens, mask = torch.from_numpy(data["tokens"]), torch.from_numpy(data["token_mask"])
    eot = tokens[torch.arange(len(tokens)), mask.sum(dim=1) - 1]
    return TextFeatures(eot, tokens, mask), frame_features(data["frames"], data["frame_mask"])


def drl_scores_and_loss(head: DrlHead, text: TextFeatures, video: VideoFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    head.eval()
    with torch.no_grad():
        scores = head(text, video) / head.scale()
    head.train()
    return scores, head.loss(text, video)


def test_drl_with_legacy_padding_reproduces_the_official_scores_and_loss():
    # WTI + seqTransf + CDCR 3 on mean-zero features: padded positions win some official maxima
    data = fixture("drl_wti_seqtransf")
    scores, loss = drl_scores_and_loss(drl_from(data, legacy_padding=True), *drl_features(data))
    assert_parity(scores, data["eval_scores"])
    assert_parity(loss, data["train_loss"])


def test_drl_matches_the_official_code_when_no_padded_position_can_win():
    # TI + CDCR 2 on features that share a direction (as CLIP's do): every cosine is positive
    data = fixture("drl_ti_none")
    for legacy_padding in (False, True):
        scores, loss = drl_scores_and_loss(drl_from(data, legacy_padding), *drl_features(data))
        assert_parity(scores, data["eval_scores"])
        assert_parity(loss, data["train_loss"])


def brute_force_wti(text_states, text_mask, text_weights, frame_states, frame_mask, frame_weights) -> np.ndarray:
    """DRL's weighted token-wise score with padding left out, one pair and one position at a time (float64)."""
    n_text, n_video = len(text_states), len(frame_states)
    scores = np.zeros((n_text, n_video))
    for a in range(n_text):
        words = [i for i in range(text_states.shape[1]) if text_mask[a, i]]
        for b in range(n_video):
            frames = [j for j in range(frame_states.shape[1]) if frame_mask[b, j]]
            cosine = {(i, j): float(np.dot(text_states[a, i], frame_states[b, j]) /
                                    (np.linalg.norm(text_states[a, i]) * np.linalg.norm(frame_states[b, j])))
                      for i in words for j in frames}
            to_video = sum(text_weights[a, i] * max(cosine[i, j] for j in frames) for i in words)
            to_text = sum(frame_weights[b, j] * max(cosine[i, j] for i in words) for j in frames)
            scores[a, b] = (to_video + to_text) / 2
    return scores


def test_drl_by_default_leaves_padded_positions_out_of_the_maxima():
    data = fixture("drl_wti_seqtransf")
    text, video = drl_features(data)
    head = drl_from(data, legacy_padding=False).eval()
    with torch.no_grad():
        scores = head(text, video) / head.scale()
        # the head's own states and weights (checked against the official code above) enter the reference
        text_side, video_side = head.text_side(text), head.video_side(video)
        raw_frames = head.frame_encoder.encode(video.frames, video.frame_mask)
    reference = brute_force_wti(text.tokens.double().numpy(), text.token_mask.numpy(), text_side.weights.numpy(),
                                raw_frames.double().numpy(), video.frame_mask.numpy(), video_side.weights.numpy())
    assert_parity(scores, reference)
    # the official maxima differ exactly where a padded position's 0 beats every real cosine
    assert float((scores - torch.from_numpy(data["eval_scores"])).abs().max()) > 1e-2


# ---------------------------------------------------------------------------------------------------------------
# T-MASS


def tmass_from(data: dict[str, np.ndarray], trials: int) -> TMassHead:
    width, slots = data["frames"].shape[-1], data["frames"].shape[1]
    head = TMassHead(width, slots, 1, setting(data, "dropout"), float(data["logit_scale"]), trials,
                     setting(data, "prior"), support_weight=setting(data, "support_weight"))
    missing, unexpected = head.load_state_dict(
        official_state(data, {"stochastic.std_branch.": "radius."}), strict=False)
    assert missing == ["logit_scale"] and not unexpected
    return head


def test_tmass_loss_matches_the_official_training_step():
    data = fixture("tmass")
    head = tmass_from(data, trials=setting(data, "trials")).train()
    text, video = sentence_features(data["text"]), frame_features(data["frames"])
    pairs = torch.from_numpy(data["train_pairs"])
    batch_text, batch_video = text.index(pairs), video.index(torch.from_numpy(data["video_of_text"])[pairs])
    head.pool_frames.dropout.p = 0.0
    assert_parity(head.loss(batch_text, batch_video, torch.from_numpy(data["train_loss_noise"])), data["train_loss"])
    # from the generator: the pooling's dropout first, then the stochastic text, as officially
    head.pool_frames.dropout.p = setting(data, "dropout")
    torch.manual_seed(setting(data, "dropout_seed"))
    assert_parity(head.loss(batch_text, batch_video), data["train_loss_dropout"])


def test_tmass_trials_match_the_official_evaluation_and_its_indexing_bug():
    data = fixture("tmass")
    head = tmass_from(data, trials=setting(data, "trials")).eval()
    draws = torch.from_numpy(data["eval_noise"]).permute(1, 2, 0, 3)  # official [video, trial, text, D]
    text, video = sentence_features(data["text"]), frame_features(data["frames"])
    with torch.no_grad():
        scores = head.stochastic_cosines(text, video, draws)
    official = data["eval_scores"]
    truth = torch.from_numpy(data["video_of_text"])
    rows = torch.arange(len(truth))
    # a caption against its own video: the official score is the best trial's cosine
    assert_parity(scores[rows, truth], official[rows.numpy(), truth.numpy()])
    # every other official score comes from the ground-truth-conditioned vector: reproduced, NaNs included ...
    reproduced = head.official_indexing_cosines(text, video, truth, draws).numpy()
    assert np.array_equal(np.isnan(reproduced), np.isnan(official))
    assert_parity(torch.from_numpy(np.nan_to_num(reproduced)), np.nan_to_num(official))
    # ... and it changes the numbers: the head scores p(v | t) for every pair
    negatives = np.ones(official.shape, dtype=bool)
    negatives[rows.numpy(), truth.numpy()] = False
    assert np.nanmax(np.abs(scores.numpy() - official)[negatives]) > 1e-2


def test_tmass_draws_are_the_same_for_a_pair_in_every_tile():
    generator = torch.Generator().manual_seed(4)
    head = TMassHead(8, 3, 1, 0.0, math.log(20.0), trials=4).eval()
    text = sentence_features(torch.randn(7, 8, generator=generator).numpy())
    frames = torch.randn(9, 3, 8, generator=generator)
    mask = torch.ones(9, 3, dtype=torch.long)
    mask[4, 2] = 0
    video = VideoFeatures(frames.mean(1), frames, mask)
    with torch.no_grad():
        whole = head(text, video)
        order = torch.tensor([5, 1, 6])
        tile = head(text.index(order), video.index(torch.tensor([8, 4, 0, 2])))
        padded = frames.clone()
        padded[4, 2] = 1e3  # a padded slot's content never reaches the draws
        again = head(text, VideoFeatures(frames.mean(1), padded, mask))
    torch.testing.assert_close(tile, whole[order][:, [8, 4, 0, 2]], rtol=1e-6, atol=1e-6)
    assert torch.equal(again, whole)


def test_tmass_draws_are_uniform_and_independent():
    generator = torch.Generator().manual_seed(5)
    text_keys = row_keys(torch.randn(3, 8, generator=generator))
    frames = torch.randn(3000, 4, 8, generator=generator)
    video_keys = row_keys(frames, torch.ones(3000, 4, dtype=torch.long))
    draws = draws_from_codes(pair_codes(text_keys, video_keys, trials=2, columns=8, seed=24), "uniform01", 1.0)
    values = draws.double().numpy()  # [text, video, trial, dim]
    for text_row, trial, dim in ((0, 0, 0), (2, 1, 7), (1, 0, 3)):
        assert stats.kstest(values[text_row, :, trial, dim], "uniform").pvalue > 1e-3
    bound = 5.0 / math.sqrt(values.shape[1])  # five standard errors of a correlation of independent draws
    across = {"dimensions": (values[0, :, 0, 0], values[0, :, 0, 1]),
              "trials": (values[0, :, 0, 2], values[0, :, 1, 2]),
              "queries": (values[0, :, 0, 4], values[1, :, 0, 4]),
              "candidates": (values[0, :-1, 0, 5], values[0, 1:, 0, 5])}
    for name, (first, second) in across.items():
        assert abs(np.corrcoef(first, second)[0, 1]) < bound, name
    # two pairs' whole draws (trials x dims) are unrelated too
    pair_correlations = [np.corrcoef(values[0, v].ravel(), values[1, v + 1].ravel())[0, 1] for v in range(200)]
    assert abs(np.mean(pair_correlations)) < 5.0 / math.sqrt(200 * values[0, 0].size)
    # a reordering of a video's frames keeps its key; other content does not
    assert torch.equal(row_keys(frames.flip(1), torch.ones(3000, 4, dtype=torch.long)), video_keys)
    assert len(set(video_keys.tolist())) == len(video_keys)
    normal = draws_from_codes(pair_codes(text_keys, video_keys, 1, 16, seed=24), "normal", 0.5).double().numpy()
    assert stats.kstest(normal[0, :, 0, 3], "norm", args=(0.0, 0.5)).pvalue > 1e-3


def test_tmass_protocol_is_empty_only_for_the_deterministic_pass():
    generator = torch.Generator().manual_seed(6)
    single = TMassHead(8, 3, 1, 0.0, math.log(20.0), trials=0).eval()
    assert single.evaluation_protocol() == {}
    assert TMassHead(8, 3, 1, 0.0, 0.0, trials=5).evaluation_protocol()["n_trials"] == 5
    xpool = XPoolHead(8, 1, 0.0, math.log(20.0)).eval()
    xpool.pool_frames.load_state_dict(single.pool_frames.state_dict())
    text = sentence_features(torch.randn(4, 8, generator=generator).numpy())
    video = frame_features(torch.randn(5, 3, 8, generator=generator).numpy())
    with torch.no_grad():
        assert torch.equal(single(text, video), xpool(text, video))  # the mass's centre is X-Pool's score


# ---------------------------------------------------------------------------------------------------------------
# the plug-in rules and a short training run of each


# test_conformance_kit.py runs the kit on every built-in with its default options; here, the other variants
@pytest.mark.parametrize(("name", "options"), [
    ("xpool", {"heads": "2"}),
    ("drl", {"interaction": "ti", "frames": "none", "cdcr": "2", "legacy_padding": "true"}),
    ("tmass", {"trials": "0", "prior": "normal", "prior_std": "0.1"}),
], ids=["xpool-heads2", "drl-ti-raw-frames-legacy", "tmass-single-pass-normal"])
def test_other_variants_conform(name, options):
    assert_plugin_conforms(name, options=options)


def test_each_head_trains_on_the_embedded_dataset_and_tmass_trials_stay_apart(tmp_path):
    results = {}
    for name, options in (("xpool", {}), ("drl", {"frame_layers": "1"}), ("tmass", {"trials": "3"})):
        # frozen: the backbone's frame features are computed once and every head trains on them
        outcome = run_benchmark(small_config(tmp_path / name, align=name, align_options=options, epochs=2,
                                             protocol="frozen"), reporter=Reporter(quiet=True))
        result = json.loads(outcome.result_path.read_text())
        validate_result(result)
        losses = [epoch["loss"] for epoch in result["training"]["history"]]
        assert all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0], (name, losses)
        results[name] = result
    assert results["drl"]["config"]["resolved_options"]["align"]["cdcr"] == 3
    trials = results["tmass"]["protocol"].pop("align_head_evaluation")
    assert trials["n_trials"] == 3
    # the trial count is the only difference between the protocols: T-MASS ranks apart from the single-pass heads
    assert results["tmass"]["protocol"]["hash"] != results["xpool"]["protocol"]["hash"]
    assert protocol_card(results["tmass"]["protocol"])["hash"] == results["xpool"]["protocol"]["hash"]
    assert "align_head_evaluation" not in results["drl"]["protocol"]


def test_reported_numbers_show_how_they_were_computed_at_test_time(tmp_path):
    from c2vbench.results.reported import load_reported, render_reported

    entry = {"method": "T-MASS", "backbone": "ViT-B/32", "t2v_r1": 50.2, "source": "README",
             "post_processing": "none", "model_selection": "test split", "test_time": "20 stochastic trials"}
    older = {key: value for key, value in entry.items() if key != "test_time"} | {"method": "X", "t2v_r1": 40.0}
    path = tmp_path / "reported.json"
    path.write_text(json.dumps({"dataset": "msrvtt", "entries": [entry, older]}))
    header, _, first, second = [line for line in render_reported(load_reported(path), str) if line.startswith("|")]
    column = header.split(" | ").index("Test time")
    assert first.split(" | ")[column] == "20 stochastic trials" and second.split(" | ")[column] == "–"
