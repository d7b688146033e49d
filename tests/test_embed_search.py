"""c2vbench embed and c2vbench search on real encoded videos: incremental embedding (a grown folder costs only its
new videos, and equals one pass), resuming after a real SIGINT, exact search against a brute-force ranking with
ties, and re-scoring for an align head whose scores are no dot products."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal

import numpy as np
import pytest
import torch

from c2vbench.platform.errors import DataError, RunInterrupted
from tests._cli_runner import run_cli

SMALL_DATASET = {"train_videos": "16", "val_videos": "4", "test_twin_pairs": "4", "test_singles": "2",
                 "frames_per_video": "8", "max_frames": "4"}  # the videos test_cli generates (shared cache)
MODEL_FLAGS = ["--backbone", "tiny-clip", "--backbone-option", "vision_layers=1", "--backbone-option",
               "text_layers=1", "--max-frames", "4", "--grid-fps", "native", "--seed", "5", "--quiet"]
MODEL_OPTIONS = {"backbone": {"vision_layers": "1", "text_layers": "1"}}


@pytest.fixture(scope="module")
def dataset_videos():
    """The test split of a small synthetic-motion set: real encoded video files, and their captions."""
    from c2vbench.platform.registry import load_registry
    from c2vbench.platform.specs import build_options

    component = load_registry().get("dataset", "synthetic-motion")
    dataset = component.build(build_options(component.spec, SMALL_DATASET), None)
    test = dataset.split("test")
    return test.videos, [caption.text for caption in test.captions]


def copy_videos(records, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        shutil.copy2(record.source, folder / record.source.name)


def embed(capsys, *arguments):
    code, out, err = run_cli(["embed", *arguments, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def cache_videos():
    """How many videos went through the backbone into the (test-private) embedding cache so far."""
    from c2vbench.evaluation.embedding_cache import EmbeddingCache

    return sum(entry.describe.get("videos", 0) for entry in EmbeddingCache().entries() if entry.kind == "frames")


def assert_same_embeddings(first, second, exact_rows=()):
    assert first.ids == second.ids and torch.equal(first.stamps, second.stamps)
    assert first.identity == second.identity
    for name, value in first.tensors.items():
        torch.testing.assert_close(value, second.tensors[name], rtol=0, atol=1e-5)
        for row in exact_rows:
            assert torch.equal(value[row], second.tensors[name][row])


def test_a_grown_folder_costs_only_its_new_videos_and_equals_one_pass(tmp_path, capsys, dataset_videos):
    from c2vbench.search.index_file import read_embeddings

    videos, _ = dataset_videos
    folder = tmp_path / "clips"
    copy_videos(videos[:6], folder)
    out = tmp_path / "clips.safetensors"
    first = embed(capsys, str(folder), *MODEL_FLAGS, "--chunk-size", "4", "--out", str(out))
    assert (first["embedded"], first["kept"], first["total"]) == (6, 0, 6)
    before = read_embeddings(out)
    decoded = cache_videos()

    copy_videos(videos[6:], folder)
    second = embed(capsys, str(folder), *MODEL_FLAGS, "--chunk-size", "4", "--out", str(out))
    assert (second["embedded"], second["kept"], second["total"]) == (len(videos) - 6, 6, len(videos))
    assert cache_videos() - decoded == len(videos) - 6  # only the new videos went through the feed and backbone
    grown = read_embeddings(out)

    one_pass = tmp_path / "all.safetensors"
    embed(capsys, str(folder), *MODEL_FLAGS, "--no-cache", "--out", str(one_pass))
    assert_same_embeddings(grown, read_embeddings(one_pass))
    kept_rows = [grown.ids.index(video_id) for video_id in before.ids]
    assert torch.equal(grown.tensors["factors"][kept_rows], before.tensors["factors"])  # old rows untouched
    assert grown.identity["scores"] == "dot" and grown.identity["model"]["components"]["backbone"] == "tiny-clip"

    # a third call over the same folder does nothing; one changed video is embedded again
    third = embed(capsys, str(folder), *MODEL_FLAGS, "--out", str(out))
    assert (third["embedded"], third["kept"]) == (0, len(videos))
    changed = folder / videos[0].source.name
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    fourth = embed(capsys, str(folder), *MODEL_FLAGS, "--out", str(out))
    assert (fourth["embedded"], fourth["kept"]) == (1, len(videos) - 1)


def test_an_interrupted_embed_keeps_its_finished_chunks_and_goes_on(tmp_path, dataset_videos):
    from c2vbench.search.embed import EmbedSettings, embed_videos, partial_folder
    from c2vbench.search.index_file import read_embeddings
    from c2vbench.search.model_source import from_components

    videos, _ = dataset_videos
    folder = tmp_path / "clips"
    copy_videos(videos, folder)
    out = tmp_path / "clips.safetensors"

    def source():
        return from_components("tiny-clip", "meanp", "cosine", MODEL_OPTIONS, seed=5, max_frames=4)

    settings = EmbedSettings(_native_sampling(), chunk_size=3)

    def interrupt(done, total):
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, after the first chunk is on disk

    with pytest.raises(RunInterrupted) as raised:
        embed_videos([folder], out, source(), settings, after_chunk=interrupt)
    assert "3 video(s) embedded so far are kept" in raised.value.problem
    assert not out.exists() and len(list(partial_folder(out).glob("chunk-*.safetensors"))) == 1

    decoded = cache_videos()
    report = embed_videos([folder], out, source(), settings)
    assert len(report.resumed) == 3 and len(report.embedded) == len(videos) and report.total == len(videos)
    assert cache_videos() - decoded == len(videos) - 3
    assert not partial_folder(out).exists()
    one_pass = embed_videos([folder], tmp_path / "all.safetensors", source(),
                            dataclasses.replace(settings, use_cache=False, chunk_size=100))
    assert one_pass.total == len(videos)
    assert_same_embeddings(read_embeddings(out), read_embeddings(tmp_path / "all.safetensors"))


def _native_sampling():
    from c2vbench.data.sampling import FrameSampling

    return FrameSampling(max_frames=4, grid_fps=None)


def brute_force(scores: np.ndarray, k: int) -> tuple[list[int], int]:
    """The top k by score (ties: lower index first), and how many outside it tie the k-th."""
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    kth = scores[order[-1]]
    return order.tolist(), int((scores == kth).sum() - (scores[order] == kth).sum())


def test_search_equals_a_brute_force_ranking_ties_included(tmp_path, capsys, dataset_videos):
    from c2vbench.search.index_file import concatenate, read_embeddings, write_embeddings
    from c2vbench.search.model_source import from_components
    from c2vbench.search.query import encode_queries

    videos, captions = dataset_videos
    folder = tmp_path / "clips"
    copy_videos(videos, folder)
    out = tmp_path / "clips.safetensors"
    embed(capsys, str(folder), *MODEL_FLAGS, "--out", str(out))
    embedded = read_embeddings(out)
    # the same videos again under other ids: exact ties (identical rows) scattered through the gallery
    twins = embedded.rows(list(range(0, len(embedded), 2)))
    twins.ids = [f"again/{video_id}" for video_id in twins.ids]
    gallery = concatenate([embedded, twins], embedded.identity)
    write_embeddings(out, gallery)

    model = from_components("tiny-clip", "meanp", "cosine", MODEL_OPTIONS, seed=5, max_frames=4).model
    factors = gallery.tensors["factors"].double().numpy()
    for text in captions[:3]:
        with torch.no_grad():
            query = model.align_head.text_factors(encode_queries(model, [text], torch.device("cpu"), "fp32"))
        scores = (factors * query.double().numpy()).sum(axis=1)
        full_order, _ = brute_force(scores, len(scores))
        # cut right after the first member of a tied pair, so that its twin lies beyond the cut
        tied_at = next(rank for rank, index in enumerate(full_order) if (scores == scores[index]).sum() > 1)
        for top in (tied_at + 1, len(scores)):
            code, printed, err = run_cli(["search", text, "--index", str(out), "--top", str(top), "--json"], capsys)
            assert code == 0, err
            [result] = json.loads(printed)
            expected, tied_beyond = brute_force(scores, top)
            assert [hit["video_id"] for hit in result["hits"]] == [gallery.ids[index] for index in expected]
            np.testing.assert_allclose([hit["score"] for hit in result["hits"]], scores[expected], rtol=1e-12)
            assert result["tied_beyond"] == tied_beyond
            assert result["tied_beyond"] >= 1 if top == tied_at + 1 else result["tied_beyond"] == 0


class MaxFrameHead(torch.nn.Module):
    """An align head whose score is no dot product: the best cosine between the sentence and any valid frame."""

    wants_alignment_tokens = False

    def forward(self, text, video):
        sentence = torch.nn.functional.normalize(text.eot, dim=-1)
        frames = torch.nn.functional.normalize(video.frames, dim=-1)
        cosine = torch.einsum("td,vfd->tvf", sentence, frames)
        return cosine.masked_fill(video.frame_mask[None] == 0, -2.0).amax(dim=2)

    def loss(self, text, video):
        return -self.forward(text, video).diagonal().mean()


class MaxFramePlugin:
    from c2vbench.plugin import hookimpl

    @hookimpl
    def c2vbench_register_align_heads(self):
        from c2vbench.plugin import AlignSpec

        yield AlignSpec(name="max-frame-test", summary="best frame cosine (tests)", order_sensitive=False,
                        factory=lambda options, context: MaxFrameHead())


def test_a_head_without_dot_products_re_scores_the_exact_top_candidates(tmp_path, dataset_videos):
    from c2vbench.platform.registry import Provider, load_registry
    from c2vbench.search.embed import EmbedSettings, embed_videos
    from c2vbench.search.index_file import read_embeddings
    from c2vbench.search.model_source import from_components
    from c2vbench.search.query import encode_queries, search_embeddings, stored_video_features

    registry = load_registry([(MaxFramePlugin(), Provider("max-frame-test"))])
    videos, captions = dataset_videos
    folder = tmp_path / "clips"
    copy_videos(videos, folder)
    source = from_components("tiny-clip", "meanp", "max-frame-test", MODEL_OPTIONS, 5, 4, registry)
    out = tmp_path / "clips.safetensors"
    embed_videos([folder], out, source, EmbedSettings(_native_sampling()))
    gallery = read_embeddings(out)
    assert gallery.identity["scores"] == "head" and set(gallery.tensors) >= {"pooled", "frames", "frame_mask"}

    model, video = source.model, stored_video_features(gallery)
    with torch.no_grad():
        text = encode_queries(model, [captions[0]], torch.device("cpu"), "fp32")
        head_scores = model.similarity(text, video)[0].double().numpy()
    pooled = torch.nn.functional.normalize(video.pooled.double(), dim=1)
    cosine = (pooled * torch.nn.functional.normalize(text.eot.double(), dim=1)).sum(dim=1).numpy()
    for candidates in (len(gallery), 4):
        [result] = search_embeddings(out, [captions[0]], top=3, candidates=candidates, registry=registry)
        shortlist = sorted(brute_force(cosine, candidates)[0])  # the exact top candidates, in id order
        order, tied = brute_force(head_scores[shortlist], 3)
        assert [hit.video_id for hit in result.hits] == [gallery.ids[shortlist[index]] for index in order]
        assert result.scored == candidates and result.tied_beyond == tied
        assert ("exact" in result.method) == (candidates == len(gallery))


def test_files_of_another_model_or_no_embeddings_are_refused(tmp_path, capsys, dataset_videos):
    videos, _ = dataset_videos
    folder = tmp_path / "clips"
    copy_videos(videos[:2], folder)
    out = tmp_path / "clips.safetensors"
    embed(capsys, str(folder), *MODEL_FLAGS, "--out", str(out))
    other_seed = [flag if flag != "5" else "6" for flag in MODEL_FLAGS]
    code, _, err = run_cli(["embed", str(folder), *other_seed, "--out", str(out)], capsys)
    assert code == 2 and "made another way (differing: weights_sha256)" in err and len(err.strip().splitlines()) == 1
    foreign = tmp_path / "foreign.safetensors"
    foreign.write_bytes(os.urandom(300))
    code, _, err = run_cli(["search", "a dog", "--index", str(foreign)], capsys)
    assert code == 2 and "not a usable c2vbench embeddings file" in err and "Traceback" not in err
    with pytest.raises(DataError, match="does not exist"):
        from c2vbench.search.embed import list_videos

        list_videos([tmp_path / "nowhere"])


def test_a_runs_model_and_frame_protocol_embed_and_search_and_a_moved_checkpoint_is_found_again(
        tmp_path, capsys, dataset_videos):
    import c2vbench

    videos, captions = dataset_videos
    folder = tmp_path / "clips"
    copy_videos(videos[:4], folder)
    result = c2vbench.run(protocol="zeroshot", save_checkpoint=True, no_cache=True, quiet=True, seed=2,
                          backbone_option={"vision_layers": 1, "text_layers": 1}, dataset_option=SMALL_DATASET,
                          out=tmp_path / "results")
    out = tmp_path / "clips.safetensors"
    report = embed(capsys, str(folder), "--checkpoint", str(result.path), "--quiet", "--out", str(out))
    assert report["embedded"] == 4

    from c2vbench.search.index_file import read_embeddings

    identity = read_embeddings(out).identity
    recorded = result["protocol"]["sampling"]  # the run's frame protocol, not a default
    assert {key: identity["frames"][key] for key in recorded} == recorded
    assert identity["model"]["run_id"] == result["run_id"] and identity["model"]["format"] == "c2vbench"

    search = ["search", captions[0], "--index", str(out), "--top", "2", "--json"]
    code, printed, err = run_cli(search, capsys)
    assert code == 0, err
    first = json.loads(printed)[0]["hits"]
    moved = tmp_path / "moved-checkpoint"
    shutil.move(str(result.checkpoint), moved)
    code, _, err = run_cli(search, capsys)
    assert code == 2 and "is gone" in err and "--checkpoint PATH" in err
    code, printed, err = run_cli([*search, "--checkpoint", str(moved)], capsys)
    assert code == 0, err
    assert json.loads(printed)[0]["hits"] == first
