"""The embedding cache: a second zero-shot run skips decoding and the backbone; keys follow weights, preprocessing
and sampling; interrupted, damaged or racing writes are never read back."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
from pathlib import Path

import pytest
import torch
from _cache_writers import start_stalled_writer
from _cli_runner import run_cli
from _small_runs import small_config

from c2vbench.data.loader import ImageFormat
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import RetrievalSplit, VideoRecord
from c2vbench.evaluation.embedding_cache import EmbeddingCache, frames_key, weights_fingerprint
from c2vbench.evaluation.encoding import FrameBank
from c2vbench.runtime.progress import Reporter


def a_bank(rows: int = 10, seed: int = 0) -> FrameBank:
    generator = torch.Generator().manual_seed(seed)
    return FrameBank(torch.randn(rows, 4, 8, generator=generator), torch.ones(rows, 4, dtype=torch.long), 1.5)


def test_second_zeroshot_run_with_another_temporal_module_never_decodes_nor_calls_the_backbone(tmp_path,
                                                                                               monkeypatch):
    from c2vbench.pipeline import run_benchmark

    first = run_benchmark(small_config(tmp_path, protocol="zeroshot"), reporter=Reporter(quiet=True)).result
    assert set(first["cost"]["embedding_cache"].values()) == {"miss"}

    def forbidden(*args, **kwargs):
        raise AssertionError("the backbone or the decoder was called on a cache hit")

    from c2vbench_builtins.backbones._clip_model import ClipBackbone

    import c2vbench.data.loader as loader

    monkeypatch.setattr(ClipBackbone, "encode_frames", forbidden)
    monkeypatch.setattr(ClipBackbone, "encode_text", forbidden)
    monkeypatch.setattr(loader, "read_sampled_frames", forbidden)
    again = run_benchmark(small_config(tmp_path, protocol="zeroshot"), reporter=Reporter(quiet=True)).result
    assert set(again["cost"]["embedding_cache"].values()) == {"hit"}
    assert again["per_query"] == first["per_query"]
    other = run_benchmark(small_config(tmp_path, protocol="zeroshot", temporal="seqtransf"),
                          reporter=Reporter(quiet=True)).result
    assert set(other["cost"]["embedding_cache"].values()) == {"hit"}
    # other weights (another seed initialises tiny-clip differently): a miss, so the forbidden backbone is called
    with pytest.raises(AssertionError, match="cache hit"):
        run_benchmark(small_config(tmp_path, protocol="zeroshot", seed=1), reporter=Reporter(quiet=True))


def test_the_key_follows_weights_preprocessing_and_sampling(tmp_path):
    from c2vbench.platform.registry import get_registry

    registry = get_registry()
    spec = registry.get("backbone", "tiny-clip").spec
    from c2vbench.platform.specs import build_options

    def backbone(seed: int):
        torch.manual_seed(seed)
        return spec.factory(build_options(spec, {"vision_layers": "1", "text_layers": "1"}))

    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    split = RetrievalSplit("test", [VideoRecord("v", video)], [])
    image = ImageFormat(32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    sampling = FrameSampling(max_frames=4)
    fingerprint = weights_fingerprint(backbone(0))
    assert weights_fingerprint(backbone(0)) == fingerprint

    def key(**changes):
        settings = dict(backbone_fingerprint=fingerprint, image_format=image, preprocess="tensor",
                        sampling=sampling, split=split, dataset_protocol={"dataset": "d"}, precision="fp32",
                        device_type="cpu")
        settings.update(changes)
        return frames_key(**settings)

    base = key()
    assert key() == base
    changed = [key(backbone_fingerprint=weights_fingerprint(backbone(1))), key(preprocess="pil"),
               key(sampling=dataclasses.replace(sampling, max_frames=3)), key(precision="fp16"),
               key(image_format=dataclasses.replace(image, size=48)), key(device_type="cuda")]
    assert len({base, *changed}) == len(changed) + 1
    os.utime(video, ns=(0, 0))  # the video file changed on disk
    assert key() != base


def test_round_trip_and_a_damaged_shard_is_a_miss(tmp_path, monkeypatch):
    import c2vbench.evaluation.embedding_cache as module

    monkeypatch.setattr(module, "SHARD_ROWS", 4)
    cache = EmbeddingCache(tmp_path)
    bank = a_bank(10)
    assert cache.put_frames("ab" * 32, bank, {"split": "test", "seconds": 1.5})
    assert not cache.put_frames("ab" * 32, bank)  # already there: left alone
    read = cache.get_frames("ab" * 32)
    assert torch.equal(read.features, bank.features) and torch.equal(read.frame_mask, bank.frame_mask)
    assert read.seconds == 1.5
    shards = sorted(cache.path_of("ab" * 32).glob("frames-*.safetensors"))
    assert len(shards) == 3
    payload = bytearray(shards[1].read_bytes())
    payload[-1] ^= 0xFF
    shards[1].write_bytes(bytes(payload))
    assert cache.get_frames("ab" * 32) is None


def test_a_writer_killed_mid_entry_leaves_nothing_that_is_read(tmp_path, capsys):
    child = start_stalled_writer(tmp_path / "cache", tmp_path / "marker")
    child.send_signal(signal.SIGKILL)
    child.wait()
    cache = EmbeddingCache(tmp_path / "cache")
    assert cache.get_frames("cd" * 32) is None
    assert cache.entries() == [] and len(cache.stale_folders()) == 1
    code, out, _ = run_cli(["cache", "ls", "--dir", str(tmp_path / "cache")], capsys)
    assert code == 0 and "1 unfinished write" in out
    code, _, _ = run_cli(["cache", "rm", "--stale", "--dir", str(tmp_path / "cache")], capsys)
    assert code == 0 and cache.stale_folders() == []
    # a later writer publishes normally
    assert cache.put_frames("cd" * 32, a_bank(6)) and cache.get_frames("cd" * 32) is not None


def test_concurrent_writers_of_one_key_leave_one_complete_entry(tmp_path):
    cache = EmbeddingCache(tmp_path)
    start = threading.Barrier(4)
    outcomes = []

    def write(seed: int):
        bank = a_bank(50, seed)
        start.wait()
        outcomes.append((cache.put_frames("ef" * 32, bank), seed))

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [seed for published, seed in outcomes if published]
    assert len(winners) == 1
    assert torch.equal(cache.get_frames("ef" * 32).features, a_bank(50, winners[0]).features)
    assert cache.stale_folders() == []


def test_cache_ls_and_rm(tmp_path, capsys):
    cache = EmbeddingCache(tmp_path)
    cache.put_frames("12" * 32, a_bank(3), {"split": "test"})
    cache.put_frames("34" * 32, a_bank(3), {"split": "train"})
    code, out, _ = run_cli(["cache", "ls", "--json", "--dir", str(tmp_path)], capsys)
    listed = json.loads(out)
    assert code == 0 and sorted(entry["describe"]["split"] for entry in listed) == ["test", "train"]
    code, _, err = run_cli(["cache", "rm", "nope-nope", "--dir", str(tmp_path)], capsys)
    assert code == 2 and "no cache entry" in err
    code, _, _ = run_cli(["cache", "rm", "1212", "--dir", str(tmp_path)], capsys)
    assert code == 0 and [entry.key for entry in cache.entries()] == ["34" * 32]
    assert not Path(cache.path_of("12" * 32)).exists()
