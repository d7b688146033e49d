"""Result identity and faithful cards: config_key from what ran, location-free protocol hashes, stable failure
categories, what training saw, open_clip tags built with their own configuration, official evaluation batching,
ambiguous official checkpoints refused."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from _small_runs import small_config
from _video_fixtures import make_msrvtt_tree, make_vatex_tree

from c2vbench.pipeline import evaluate_checkpoint, run_benchmark
from c2vbench.platform.errors import C2VBenchError
from c2vbench.platform.registry import load_registry
from c2vbench.platform.specs import build_options
from c2vbench.results.leaderboard import render_leaderboard
from c2vbench.runtime.progress import Reporter

QUIET = Reporter(quiet=True)


# ------------------------------------------------------------------------------------------------------------
# finding 1: eval results are keyed by the checkpoint and the components read from it


def test_two_different_checkpoints_give_two_leaderboard_rows(tmp_path):
    first = run_benchmark(small_config(tmp_path / "a", protocol="zeroshot", save_checkpoint=True, device="cpu"),
                          reporter=QUIET)
    second = run_benchmark(small_config(tmp_path / "b", protocol="zeroshot", temporal="seqtransf",
                                        save_checkpoint=True, device="cpu"), reporter=QUIET)
    # `c2vbench eval` with the command line's defaults (meanp, cosine): what ran must come from the checkpoint
    defaults = small_config(tmp_path / "eval", device="cpu")
    evaluated = [evaluate_checkpoint(defaults, outcome.checkpoint_path, "c2vbench", False, reporter=QUIET)
                 for outcome in (first, second)]
    keys = [outcome.result["config_key"] for outcome in evaluated]
    assert keys[0] != keys[1]
    assert evaluated[1].result["config"]["temporal"] == "seqtransf"
    assert evaluated[1].result["plugins"]["temporal"]["name"] == "seqtransf"
    assert evaluated[1].result["checkpoint"]["sha256"] != evaluated[0].result["checkpoint"]["sha256"]
    board = render_leaderboard([(o.result_path, o.result) for o in evaluated], command="c")
    assert "| 1 |" in board and "| 2 |" in board and "· seqtransf ·" in board

    # the same checkpoint elsewhere evaluates to the same key (paths never enter it); legacy_mask does enter it
    moved = tmp_path / "moved" / "ckpt"
    shutil.copytree(second.checkpoint_path, moved)
    again = evaluate_checkpoint(dataclasses.replace(defaults, out=str(tmp_path / "eval2")), moved, "c2vbench", False,
                                reporter=QUIET).result
    assert again["config_key"] == keys[1]
    legacy = evaluate_checkpoint(defaults, moved, "c2vbench", True, reporter=QUIET).result
    assert legacy["config_key"] != keys[1]
    assert legacy["protocol"]["legacy_mask_batching"]["caption_batch"] == defaults.eval_batch_size


def test_decoder_auto_and_the_decoder_it_picks_are_one_configuration(tmp_path):
    from c2vbench.data.decoders import auto_decoder

    asked = run_benchmark(small_config(tmp_path / "auto", protocol="zeroshot", device="cpu", decoder="auto"),
                          reporter=QUIET).result
    named = run_benchmark(small_config(tmp_path / "named", protocol="zeroshot", device="cpu",
                                       decoder=auto_decoder()), reporter=QUIET).result
    assert asked["config"]["decoder"] == "auto"  # the config records the request ...
    assert named["config"]["decoder"] == auto_decoder()
    assert asked["protocol"]["hash"] == named["protocol"]["hash"]
    assert asked["config_key"] == named["config_key"]  # ... the key what ran: seeds of one entry on a leaderboard
    if auto_decoder() != "pyav":  # another decoder that ran is another configuration (and protocol)
        pytest.importorskip("av")
        other = run_benchmark(small_config(tmp_path / "pyav", protocol="zeroshot", device="cpu", decoder="pyav"),
                              reporter=QUIET).result
        assert other["config_key"] != named["config_key"]
        assert other["protocol"]["hash"] != named["protocol"]["hash"]


# ------------------------------------------------------------------------------------------------------------
# finding 5: the protocol hash does not depend on where the data lives; failures hash as categories


@pytest.fixture(scope="module")
def registry():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
        return load_registry()


def dataset_card(registry, name: str, root: Path, **options):
    spec = registry.get("dataset", name).spec
    return spec.factory(build_options(spec, {k: str(v) for k, v in options.items()}), root).protocol


def test_the_same_tree_in_two_folders_gives_one_protocol_hash(registry, tmp_path):
    from c2vbench.results.result_file import protocol_card

    first = make_vatex_tree(tmp_path / "one" / "annotations")
    shutil.move(first / "videos", tmp_path / "one" / "videos")  # videos outside the root, as distributed
    shutil.copytree(tmp_path / "one", tmp_path / "elsewhere" / "two")
    cards = [dataset_card(registry, "vatex", base / "annotations", videos_dir=base / "videos")
             for base in (tmp_path / "one", tmp_path / "elsewhere" / "two")]
    assert str(tmp_path) not in json.dumps(cards[0])
    assert protocol_card(cards[0])["hash"] == protocol_card(cards[1])["hash"]
    # a different video list is a different protocol
    (tmp_path / "elsewhere" / "two" / "videos" / "extra.mp4").write_bytes(b"x")
    changed = dataset_card(registry, "vatex", tmp_path / "elsewhere" / "two" / "annotations",
                           videos_dir=tmp_path / "elsewhere" / "two" / "videos")
    assert protocol_card(changed)["hash"] != protocol_card(cards[0])["hash"]


def test_skipped_videos_enter_the_card_as_stable_categories(tmp_path):
    root = make_msrvtt_tree(tmp_path / "msrvtt", bad_videos=True, n_frames=20)
    common = ["run", "--dataset", "msrvtt", "--data-root", str(root), "--protocol", "zeroshot", "--quiet",
              "--no-checkpoint", "--json", "--allow-missing", "--backbone-option", "image_size=32",
              "--device", "cpu"]
    from click.testing import CliRunner

    from c2vbench.cli.main import cli

    outcome = CliRunner().invoke(cli, [*common, "--out", str(tmp_path / "out")])
    assert outcome.exit_code == 0, outcome.output
    result = json.loads(outcome.output)
    skipped = result["protocol"]["skipped_videos"]["test"]
    assert {item["category"] for item in skipped} <= {"missing", "empty-file", "undecodable", "no-frames",
                                                       "unreadable", "empty-folder", "empty-frame-files"}
    assert all(set(item) == {"video_id", "category"} for item in skipped)
    # the decoders' own words stay out of the card but are kept beside it
    raw = [item["reason"] for item in result["screening"]["skipped"]["test"]]
    card_text = json.dumps(result["protocol"])
    assert raw and not any(reason in card_text for reason in raw if reason not in {"missing"})


# ------------------------------------------------------------------------------------------------------------
# finding 6: the card and key say what ran


def test_execution_enters_the_key_and_frozen_caches_in_eval_mode(tmp_path, monkeypatch):
    from c2vbench.config import RunConfig
    from c2vbench.results.identity import configuration_key, execution

    config = RunConfig(protocol="finetune", precision="fp16")
    cpu, cuda = execution("fp32", torch.device("cpu")), execution(config.precision, torch.device("cuda"))
    assert cpu == {"device_type": "cpu", "precision": "fp32"}
    assert cuda == {"device_type": "cuda", "precision": "fp16"}  # what ran (fp16 autocast on CUDA)
    # the same settings on another device type are another configuration
    settings = config.to_dict()
    assert configuration_key(settings, cuda, {}) != configuration_key(settings, {**cuda, "device_type": "cpu"}, {})

    modes = []
    import c2vbench.model.retrieval_model as model_module

    real = model_module.RetrievalModel.encode_frames

    def spy(self, frames):
        modes.append(self.backbone.training)
        return real(self, frames)

    monkeypatch.setattr(model_module.RetrievalModel, "encode_frames", spy)
    result = run_benchmark(small_config(tmp_path, protocol="frozen", epochs=1, device="cpu"), reporter=QUIET).result
    assert modes and not any(modes)  # every frame feature (cached for training or not) in eval mode
    assert "no jitter" in result["config"]["training_frames"]
    assert "train_jitter" not in result["protocol"]["sampling"]
    assert result["config"]["execution"] == {"device_type": "cpu", "precision": "fp32"}


# ------------------------------------------------------------------------------------------------------------
# finding 7: open_clip tags are built with open_clip's configuration for the tag


def test_openai_tag_builds_quick_gelu_and_laion_tag_builds_gelu():
    import open_clip
    from c2vbench_builtins.backbones.clip import create_for_tag
    from open_clip.transformer import QuickGELU

    def activations(model):
        return {type(module) for module in model.modules() if isinstance(module, (QuickGELU, torch.nn.GELU))}

    assert open_clip.get_pretrained_cfg("ViT-B-32", "openai").get("quick_gelu")
    assert activations(create_for_tag(open_clip, "ViT-B-32", "openai", None)) == {QuickGELU}
    assert not open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k").get("quick_gelu")  # nn.GELU there


# ------------------------------------------------------------------------------------------------------------
# finding 8: official multi-caption batching under the legacy mask


def test_official_batching_equals_an_independent_reading_of_section_6_1():
    from c2vbench.data.sampling import FrameSampling
    from c2vbench.data.types import CaptionRecord, RetrievalSplit, VideoRecord
    from c2vbench.evaluation.encoding import FrameBank, encode_split, official_video_batches, score_all
    from c2vbench.model.assembly import build_model

    registry = load_registry()
    components = {role: registry.get(kind, name) for role, kind, name in (
        ("backbone", "backbone", "tiny-clip"), ("temporal", "temporal", "tdb"), ("align", "align", "tab"))}
    # 256 wide: 4 attention heads, so that the tiled mask mixes batch-mates (one head cannot)
    options = {"backbone": build_options(components["backbone"].spec, {"vision_layers": "1", "text_layers": "1",
                                                                       "embed_dim": "256"}),
               "temporal": build_options(components["temporal"].spec, {"legacy_mask": "true"}),
               "align": build_options(components["align"].spec, {"legacy_mask": "true", "centers": "3"})}
    torch.manual_seed(0)
    model = build_model(components, options, 6).eval()
    # a multi-caption split: 9 videos with 1-4 captions each, captions grouped per video in list order
    counts = [3, 1, 4, 2, 2, 1, 3, 4, 1]
    videos = [VideoRecord(f"v{i}", Path(f"/nowhere/v{i}.mp4")) for i in range(len(counts))]
    captions = [CaptionRecord(f"a clip number {i} caption {k}", i) for i, n in enumerate(counts) for k in range(n)]
    split = RetrievalSplit("test", videos, captions)
    generator = torch.Generator().manual_seed(1)
    width = model.backbone.embed_dim
    features = torch.randn(len(videos), 6, width, generator=generator)
    lengths = [6, 2, 4, 6, 1, 3, 5, 2, 6]  # different masks make the legacy tiling batch-dependent
    frame_mask = torch.tensor([[1] * n + [0] * (6 - n) for n in lengths])
    bank = FrameBank(features, frame_mask, 0.0)
    sampling = FrameSampling(max_frames=6)
    caption_batch = 4

    batches = official_video_batches(split, caption_batch)
    encoded = encode_split(model, split, sampling, caption_batch, torch.device("cpu"), QUIET, bank=bank,
                           video_batches=batches)
    ours = score_all(model, encoded.text, encoded.video, torch.device("cpu"), video_batches=batches)

    # §6.1, read independently: walk the caption rows in batches; a video is encoded at its last caption's row,
    # together with the other videos whose last caption falls in the same batch; blocks fill S.
    last_row = {}
    for row, caption in enumerate(captions):
        last_row[caption.video_index] = row
    ids, mask = model.backbone.tokenize([c.text for c in captions])
    with torch.no_grad():
        text = model.encode_text(ids, mask)
        reference = torch.zeros(len(captions), len(videos))
        for start in range(0, len(captions), caption_batch):
            members = [v for v in range(len(videos)) if start <= last_row[v] < start + caption_batch]
            if not members:
                continue
            video = model.encode_video_from_frame_features(features[members], frame_mask[members])
            reference[:, members] = model.similarity(text, video)
    torch.testing.assert_close(torch.from_numpy(ours), reference, rtol=1e-5, atol=1e-5)
    contiguous = encode_split(model, split, sampling, caption_batch, torch.device("cpu"), QUIET, bank=bank)
    naive = score_all(model, contiguous.text, contiguous.video, torch.device("cpu"))
    assert abs(naive - reference.numpy()).max() > 1e-3  # the batching matters under the legacy mask


# ------------------------------------------------------------------------------------------------------------
# finding 9: an ambiguous official checkpoint is refused with the option that resolves it


def test_ambiguous_official_checkpoint_is_refused_until_the_variant_is_named(tmp_path):
    from test_clip2video_checkpoint import official_state, save

    import c2vbench

    path = save(official_state(), tmp_path)  # TDB + TAB with actionClip: TAB_TDB and TAB have the same keys
    with pytest.raises(C2VBenchError, match="variant=TAB_TDB"):
        c2vbench.load_checkpoint(path)
    tab_tdb = c2vbench.load_checkpoint(path, variant="TAB_TDB")
    tab = c2vbench.load_checkpoint(path, variant="tab")
    assert tab_tdb.align_head.stream == "tdb" and tab.align_head.stream == "plain"
