"""Order probes (--probe order): what is permuted, what must not move, what must, and how it is reported."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from _cli_runner import run_cli
from _small_runs import small_config

from c2vbench.data.screening import SplitScreener
from c2vbench.data.types import CaptionRecord, RetrievalDataset, RetrievalSplit, VideoRecord
from c2vbench.evaluation.encoding import (
    EncodedSplit,
    FrameBank,
    encode_split,
    encode_texts,
    encode_videos_from_bank,
    score_all,
    streamed_scores,
)
from c2vbench.model.assembly import assemble
from c2vbench.model.retrieval_model import RetrievalModel
from c2vbench.pipeline import run_benchmark, seed_everything
from c2vbench.platform.registry import get_registry
from c2vbench.plugin import VideoFeatures
from c2vbench.probes.order_probes import paired_difference, run_order_probes
from c2vbench.probes.text_order import shuffle_words, special_token_ids, special_token_positions
from c2vbench.results.result_file import evaluation_block, validate_result
from c2vbench.runtime.progress import Reporter

QUIET = Reporter(quiet=True)
CPU = torch.device("cpu")
# Float rounding allowed between scores of a permuted and an unpermuted order-invariant model (float32 sums of
# the same frames in another order); ranks, and so every metric difference, must then be exactly equal.
SCORE_TOLERANCE = 1e-5


# ---------------------------------------------------------------------------------------------------------------
# the probe path, on hand-made frame embeddings


class RecordingMeanPool(torch.nn.Module):
    """A temporal module that keeps every input it is given (to see exactly what the probes feed it)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, frames, frame_mask, want_alignment_tokens=False):
        self.calls.append((frames.clone(), frame_mask.clone()))
        weights = frame_mask.float().unsqueeze(-1)
        pooled = (frames * weights).sum(1) / weights.sum(1).clamp(min=1)
        return VideoFeatures(pooled=torch.nn.functional.normalize(pooled, dim=-1), frames=frames,
                             frame_mask=frame_mask)


def tiny_model(temporal: torch.nn.Module) -> RetrievalModel:
    registry = get_registry()
    backbone = registry.get("backbone", "tiny-clip").spec
    backbone_module = backbone.factory(backbone.options_type(vision_layers=1, text_layers=1))
    from c2vbench.platform.interfaces import BuildContext

    align = registry.get("align", "cosine").spec
    head = align.factory(align.options_type(), BuildContext(backbone_module, int(backbone_module.embed_dim), 5))
    return RetrievalModel(backbone_module, temporal, head, max_frames=5).eval()


def hand_made_split(lengths: list[int], slots: int, dim: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(len(lengths), slots, dim, generator=generator)
    mask = (torch.arange(slots)[None, :] < torch.tensor(lengths)[:, None]).long()
    videos = [VideoRecord(f"video{i}", Path(f"/nonexistent/video{i}.mp4")) for i in range(len(lengths))]
    words = ["a red ball rolls left", "the blue square jumps", "one", "green green", "a circle spins fast"]
    captions = [CaptionRecord(words[i % len(words)], i) for i in range(len(lengths))]
    return RetrievalSplit("test", videos, captions), FrameBank(features, mask, 0.0)


def evaluate_bank(model, split, bank, config):
    text = encode_texts(model, [c.text for c in split.captions], 8, CPU, QUIET)
    video = encode_videos_from_bank(model, bank, 8, CPU)
    encoded = EncodedSplit(text, video, 1.0, 1.0, frames=bank)
    unprobed = evaluation_block(score_all(model, text, video, CPU), split, config.evaluation_plan())
    return encoded, unprobed


def test_probes_rearrange_only_valid_frames_at_the_temporal_input_and_list_one_frame_videos(tmp_path):
    lengths = [4, 1, 3, 2, 5]
    temporal = RecordingMeanPool()
    model = tiny_model(temporal)
    split, bank = hand_made_split(lengths, 5, int(model.backbone.embed_dim))
    dataset = RetrievalDataset("hand-made", {"test": split}, sampling=None)
    config = small_config(tmp_path, protocol="zeroshot", probe_shuffles=2)
    original = bank.features.clone()
    encoded, unprobed = evaluate_bank(model, split, bank, config)
    temporal.calls.clear()

    block = run_order_probes(model, dataset, split, encoded, unprobed["per_query"], {}, config.evaluation_plan(), CPU,
                             QUIET, shuffles=2, n_resamples=200)

    # reverse, two shuffles, repeat_middle: one temporal call each (the word probe reuses the video features)
    assert len(temporal.calls) == 4
    assert torch.equal(bank.features, original)  # the unprobed embeddings are never written into
    for frames, mask in temporal.calls:
        assert torch.equal(mask, bank.frame_mask)
        for row, length in enumerate(lengths):
            assert torch.equal(frames[row, length:], original[row, length:])  # padded slots untouched
            valid = Counter(tuple(frame.tolist()) for frame in frames[row, :length])
            assert set(valid) <= {tuple(frame.tolist()) for frame in original[row, :length]}
            if length == 1:
                assert torch.equal(frames[row], original[row])
    reverse, first_shuffle, second_shuffle, middle = (frames for frames, _ in temporal.calls)
    assert torch.equal(reverse[0, :4], original[0, :4].flip(0))
    assert torch.equal(middle[4, :5], original[4, 2:3].expand(5, -1))
    assert not torch.equal(first_shuffle, second_shuffle)
    assert block["unaffected"]["videos"]["ids"] == ["video1"]
    assert block["unaffected"]["videos"]["count"] == 1
    # "one" and "green green" cannot be reordered: kept in the probe, listed as unaffected
    assert block["unaffected"]["captions"]["indices"] == [2, 3]
    assert [run["seed"] for run in block["probes"]["shuffle"]["runs"]] == [0, 1]
    assert block["protocol"]["frames"]["probes"]["shuffle"]["seeds"] == [0, 1]


def test_word_shuffle_keeps_the_tokenizers_special_tokens_in_place():
    model = tiny_model(RecordingMeanPool())
    tokenize = model.backbone.tokenize
    captions = ["a red ball rolls to the left.", "two squares jump over a blue line", "single",
                "same same same", "Punctuation, stays with: its word!"]
    shuffled, changed = shuffle_words(captions, seed=4)
    assert changed == [True, True, False, False, True]
    specials = special_token_ids(tokenize)
    assert len(specials) == 2  # CLIP's start and end of text
    before_ids, before_mask = tokenize(captions)
    after_ids, after_mask = tokenize(shuffled)
    assert special_token_positions(before_ids, before_mask, specials) == \
        special_token_positions(after_ids, after_mask, specials)
    for row, caption in enumerate(captions):
        assert sorted(shuffled[row].split()) == sorted(caption.split())
        valid_before = before_ids[row][before_mask[row].bool()].tolist()
        valid_after = after_ids[row][after_mask[row].bool()].tolist()
        assert Counter(valid_before) == Counter(valid_after)  # the same tokens ...
        assert (valid_before != valid_after) == changed[row]  # ... in another order where the words moved
    # a token-level shuffle that moved the special tokens would be caught
    naive = before_ids.clone()
    naive[0, : int(before_mask[0].sum())] = naive[0, : int(before_mask[0].sum())].flip(0)
    assert special_token_positions(naive, before_mask, specials) != \
        special_token_positions(before_ids, before_mask, specials)


def test_paired_difference_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    before = rng.integers(1, 6, size=40).astype(float)
    after = np.where(rng.random(40) < 0.5, before + 1, before)
    unprobed = {"t2v_rank": before.tolist(), "v2t_rank": before.tolist(), "t2v_video": list(range(40))}
    block = paired_difference(unprobed, [{"t2v_rank": after.tolist(), "v2t_rank": after.tolist()}], "optimistic",
                              n_resamples=2000)
    r1 = block["t2v"]["R@1"]
    assert r1["unprobed"] == pytest.approx(100 * np.mean(before == 1))
    assert r1["diff"] == pytest.approx(100 * (np.mean(after == 1) - np.mean(before == 1)))
    assert block["t2v"]["MnR"]["diff"] == pytest.approx(after.mean() - before.mean())
    assert r1["ci"][0] <= r1["diff"] <= r1["ci"][1]
    assert block["t2v"]["MnR"]["p"] < 0.01  # every change is a worsening: far from the sign-flip null


# ---------------------------------------------------------------------------------------------------------------
# on synthetic-motion: an order-blind model, an order-using one, and the unprobed result


def evaluate_directly(config, honour_declarations=True):
    """The pipeline's evaluation, step by step, so that the probes can be run against a declaration."""
    registry = get_registry()
    seed_everything(config.seed)
    assembly = assemble(config.assembly_plan(), registry)
    screen = SplitScreener(assembly.dataset, assembly.sampling, False, QUIET)
    test = screen("test")
    model = assembly.model.eval()
    encoded = encode_split(model, test, assembly.sampling, 16, CPU, QUIET)
    # ranked as the pipeline ranks (streamed), which the probes mirror
    unprobed = evaluation_block(streamed_scores(model, encoded.text, encoded.video, CPU), test,
                                config.evaluation_plan())
    block = run_order_probes(model, assembly.dataset, test, encoded, unprobed["per_query"], assembly.components,
                             config.evaluation_plan(), CPU, QUIET, shuffles=2, n_resamples=500,
                             honour_declarations=honour_declarations)
    return model, encoded, unprobed, block


def test_mean_pooling_is_exactly_unmoved_by_reversal_and_shuffles(tmp_path):
    config = small_config(tmp_path, protocol="zeroshot")
    model, encoded, unprobed, block = evaluate_directly(config, honour_declarations=False)
    for name in ("reverse", "shuffle"):
        probe = block["probes"][name]
        assert probe["unmoved"], name
        for run in probe["runs"]:
            assert run["per_query"]["t2v_rank"] == unprobed["per_query"]["t2v_rank"]
            assert run["per_query"]["v2t_rank"] == unprobed["per_query"]["v2t_rank"]
        for direction in ("t2v", "v2t"):
            for metric, difference in probe["difference"][direction].items():
                assert difference["diff"] == 0.0 and difference["ci"] == [0.0, 0.0], (name, direction, metric)
                assert difference["p"] == 1.0
    # the twins are exact ties for mean pooling, probed or not
    for name in ("reverse", "shuffle"):
        assert block["probes"][name]["pairwise_accuracy"] == {"order_twins": 50.0}
    # and the scores themselves agree up to float rounding
    from c2vbench.probes.frame_order import rearrange_frames

    bank = encoded.frames
    sim = score_all(model, encoded.text, encoded.video, CPU)
    shuffled = encode_videos_from_bank(model, FrameBank(rearrange_frames(bank.features, bank.frame_mask, "shuffle"),
                                                        bank.frame_mask, 0.0), 16, CPU)
    np.testing.assert_allclose(score_all(model, encoded.text, shuffled, CPU), sim, rtol=0, atol=SCORE_TOLERANCE)
    # repeat_middle is not a reordering: mean pooling of one frame is that frame's (normalised) embedding
    middle_index = (bank.frame_mask.sum(1) - 1) // 2
    middle = bank.features[torch.arange(len(middle_index)), middle_index]
    expected = model.align_head.logit_scale.exp().item() * (
        torch.nn.functional.normalize(encoded.text.eot, dim=-1)
        @ torch.nn.functional.normalize(middle, dim=-1).t()).numpy()
    expected_block = evaluation_block(expected, _test_split(config), config.evaluation_plan())
    assert block["probes"]["repeat_middle"]["runs"][0]["per_query"]["t2v_rank"] == \
        expected_block["per_query"]["t2v_rank"]


def _test_split(config):
    assembly = assemble(config.assembly_plan(), get_registry())
    return SplitScreener(assembly.dataset, assembly.sampling, False, QUIET)("test")


@pytest.fixture(scope="module")
def tdb_runs(tmp_path_factory):
    """A briefly trained tdb · cosine (frozen backbone, 2 epochs), run twice with one seed: without and with
    --probe order."""
    from c2vbench.platform.registry import get_registry as registry

    registry.cache_clear()
    base = tmp_path_factory.mktemp("tdb")
    settings = dict(temporal="tdb", temporal_options={"layers": "1"}, protocol="frozen", epochs=2,
                    save_checkpoint=True)
    plain = run_benchmark(small_config(base / "plain", **settings), reporter=QUIET)
    probed = run_benchmark(small_config(base / "probed", probe="order", probe_shuffles=2, **settings),
                           reporter=QUIET)
    registry.cache_clear()
    return plain, probed


def test_an_order_using_model_moves_under_reversal_and_shuffles(tdb_runs):
    _, probed = tdb_runs
    block = probed.result["probes"]
    assert block["refused"] == {}
    for name in ("reverse", "shuffle"):
        probe = block["probes"][name]
        assert not probe["unmoved"], name
        moved = sum(run["per_query"]["t2v_rank"] != probed.result["per_query"]["t2v_rank"] for run in probe["runs"])
        assert moved == len(probe["runs"])
        assert any(difference["diff"] != 0 for difference in probe["difference"]["t2v"].values())
    # Reversed, a twin's frames are exactly its partner's (7 frames sampled into 4 slots): a model that reads order
    # must then prefer the rival exactly as often as it preferred its own clip.
    unprobed = probed.result["subsets"]["order_twins"]["pairwise"]["accuracy"]
    assert unprobed != 50.0
    assert block["probes"]["reverse"]["pairwise_accuracy"]["order_twins"] == pytest.approx(100.0 - unprobed)


def test_probing_never_changes_the_unprobed_result(tdb_runs):
    plain, probed = tdb_runs
    for key in ("metrics", "per_query", "subsets", "protocol", "config_key"):
        assert probed.result[key] == plain.result[key], key

    def untimed(training):
        return {key: value for key, value in training.items() if "seconds" not in key}

    assert untimed(probed.result["training"]) == untimed(plain.result["training"])
    assert "probes" not in plain.result
    stored = json.loads(probed.result_path.read_text())
    validate_result(stored)
    assert stored["probes"]["protocol"]["hash"] and stored["probes"]["cost"]["seconds"] >= 0


def test_probes_with_and_without_the_embedding_cache_agree(tmp_path):
    settings = dict(temporal="tdb", temporal_options={"layers": "1"}, protocol="zeroshot", probe="order",
                    probe_shuffles=1)
    off = run_benchmark(small_config(tmp_path / "off", embedding_cache=False, **settings), reporter=QUIET).result
    filled = run_benchmark(small_config(tmp_path / "fill", **settings), reporter=QUIET).result
    hit = run_benchmark(small_config(tmp_path / "hit", **settings), reporter=QUIET).result
    assert off["cost"]["embedding_cache"] == "off"
    assert filled["cost"]["embedding_cache"]["test frames"] == "miss"
    assert hit["cost"]["embedding_cache"]["test frames"] == "hit"
    assert [r["probes"]["cost"]["frames_from"] for r in (off, filled, hit)] == \
        ["this evaluation", "this evaluation", "embedding cache"]
    for result in (filled, hit):
        assert result["per_query"] == off["per_query"]
        for name, probe in off["probes"]["probes"].items():
            assert result["probes"]["probes"][name]["runs"] == probe["runs"], name
            assert result["probes"]["probes"][name]["difference"] == probe["difference"], name


def test_probe_command_adds_the_same_probes_to_an_existing_result(tdb_runs, capsys, tmp_path):
    plain, probed = tdb_runs
    copy = tmp_path / plain.result_path.name
    copy.write_text(plain.result_path.read_text())
    code, out, err = run_cli(["probe", str(copy), "--probe-shuffles", "2", "--quiet"], capsys)
    assert code == 0, err
    updated = json.loads(copy.read_text())
    # nothing but the probes block (and the content checksum that covers it) changes
    assert {key: value for key, value in updated.items() if key not in ("probes", "checksum")} == \
        {key: value for key, value in plain.result.items() if key != "checksum"}
    assert "shuffle" in out and "reverse" in out
    for name, probe in probed.result["probes"]["probes"].items():
        assert updated["probes"]["probes"][name]["runs"] == probe["runs"], name
        assert updated["probes"]["probes"][name]["difference"]["t2v"]["R@1"]["diff"] == \
            probe["difference"]["t2v"]["R@1"]["diff"]


def test_probe_command_takes_a_results_folder_and_skips_probed_results(tdb_runs, capsys, tmp_path):
    plain, probed = tdb_runs
    folder = tmp_path / "results"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / plain.result_path.name).write_text(plain.result_path.read_text())
    (folder / probed.result_path.name).write_text(probed.result_path.read_text())
    before = (folder / probed.result_path.name).read_bytes()
    code, _, err = run_cli(["probe", str(folder), "--probe-shuffles", "2", "--quiet", "--json"], capsys)
    assert code == 0, err
    assert "probes" in json.loads((folder / "nested" / plain.result_path.name).read_text())
    assert (folder / probed.result_path.name).read_bytes() == before  # already probed: left alone
    code, _, err = run_cli(["probe", str(folder)], capsys)
    assert code == 2 and "no result file without probes" in err


def test_probe_command_refuses_a_result_without_checkpoint_in_one_line(tmp_path, capsys):
    outcome = run_benchmark(small_config(tmp_path, protocol="zeroshot"), reporter=QUIET)
    code, _, err = run_cli(["probe", str(outcome.result_path)], capsys)
    assert code == 2
    assert "names no checkpoint" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_reorderings_are_refused_for_declared_order_invariant_components(tmp_path, capsys):
    code, out, err = run_cli(["run", "--protocol", "zeroshot", "--probe", "order", "--no-checkpoint", "--json",
                              "--out", str(tmp_path), "--backbone-option", "vision_layers=1",
                              "--backbone-option", "text_layers=1"]
                             + [arg for key, value in small_config(tmp_path).dataset_options.items()
                                for arg in ("--dataset-option", f"{key}={value}")], capsys)
    assert code == 0, err
    block = json.loads(out)["probes"]
    assert block["declared_order_sensitive"] == {"temporal": False, "align": False}
    assert set(block["refused"]) == {"reverse", "shuffle"}
    assert "order-invariant" in block["refused"]["shuffle"]
    assert set(block["probes"]) == {"repeat_middle", "shuffle_words"}
    assert block["protocol"]["frames"]["refused"] == block["refused"]


def _r1_expected_ties(per_query) -> np.ndarray:
    """Brute-force R@1 contribution (percent) under the expected tie policy: P(ground truth first among ties)."""
    ranks = np.asarray(per_query["t2v_rank"], dtype=float)
    ties = np.asarray(per_query["t2v_ties"], dtype=float)
    above = ranks - ties / 2 - 1
    return 100 * np.clip((1 - above) / (ties + 1), 0, 1)


def test_leaderboard_shows_the_drop_under_shuffle_unmoved_models_and_refusals(tdb_runs, tmp_path):
    from c2vbench.results.leaderboard import render_leaderboard

    _, probed = tdb_runs
    tdb = json.loads(probed.result_path.read_text())
    blind = run_benchmark(small_config(tmp_path / "meanp", protocol="frozen", epochs=1, probe="order"),
                          reporter=QUIET).result
    still = json.loads(json.dumps(tdb))
    still["config_key"], still["run_id"] = "f" * 64, "still-s0"
    still["plugins"]["temporal"]["name"] = "still"
    for run in still["probes"]["probes"]["shuffle"]["runs"]:
        run["per_query"] = {key: still["per_query"][key] for key in ("t2v_rank", "t2v_ties", "v2t_rank", "v2t_ties")}
    blind["protocol"] = tdb["protocol"]  # the same test set (the meanp run is on it too): one table
    markdown = render_leaderboard([(Path("tdb.json"), tdb), (Path("meanp.json"), blind),
                                   (Path("still.json"), still)], "test", n_resamples=300)
    header = next(line for line in markdown.splitlines() if line.startswith("| #"))
    column = header.split(" | ").index("T2V R@1 drop under shuffle")
    rows = {line.split(" | ")[1]: line.split(" | ")[column] for line in markdown.splitlines()
            if line.startswith("| ") and not line.startswith("| #")}
    shuffles = tdb["probes"]["probes"]["shuffle"]["runs"]
    drop = _r1_expected_ties(tdb["per_query"]).mean() - np.mean([_r1_expected_ties(run["per_query"]).mean()
                                                                  for run in shuffles])
    # all three ran under --protocol frozen, which the entry names say
    assert rows["tiny-clip · tdb · cosine (frozen)"].startswith(f"{drop:.1f} [")
    assert rows["tiny-clip · meanp · cosine (frozen)"] == "order-blind (declared)"
    assert rows["tiny-clip · still · cosine (frozen)"] == "0 (unmoved)"
    assert "T2V R@1 drop under shuffle (`--probe order`)" in markdown


def test_probes_are_refused_before_training_under_torchrun(tmp_path):
    from c2vbench.pipeline import check_probes_supported
    from c2vbench.platform.errors import C2VBenchError
    from c2vbench.runtime.distributed import World

    config = small_config(tmp_path, probe="order")
    with pytest.raises(C2VBenchError, match="torchrun") as refused:
        check_probes_supported(config, World(rank=0, size=2, backend="gloo"))
    assert "c2vbench probe RESULT" in str(refused.value)
    check_probes_supported(config, World())  # one process: allowed
    check_probes_supported(small_config(tmp_path), World(rank=0, size=2, backend="gloo"))  # no probes: allowed
