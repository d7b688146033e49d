"""The embedded dataset: deterministic generation, real decodable videos, and exact order twins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c2vbench.data.decoding import read_sampled_frames
from c2vbench.platform.registry import load_registry
from c2vbench.platform.specs import build_options

SMALL = {"train_videos": "6", "val_videos": "2", "test_twin_pairs": "3", "test_singles": "2",
         "frames_per_video": "15", "max_frames": "8"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    spec = load_registry().get("dataset", "synthetic-motion").spec
    return spec.factory(build_options(spec, SMALL), tmp_path_factory.mktemp("synthetic") / "data")


def twin_pairs(dataset):
    test = dataset.split("test")
    twins = test.subsets["order_twins"].video_indices
    return [(test.videos[twins[i]], test.videos[twins[i + 1]]) for i in range(0, len(twins), 2)]


def test_split_sizes_and_twin_subset(dataset):
    counts = {name: (len(s.videos), len(s.captions)) for name, s in dataset.splits.items()}
    assert counts == {"train": (6, 12), "val": (2, 2), "test": (8, 8)}
    twins = dataset.split("test").subsets["order_twins"]
    assert len(twins.video_indices) == 6 and len(twins.caption_indices) == 6


def test_a_twin_is_the_exact_time_reversal_of_its_partner(dataset):
    for original, reversed_clip in twin_pairs(dataset):
        every_frame = dataclass_replace(dataset.sampling, max_frames=10**6)
        forward = read_sampled_frames(original.source, every_frame).frames
        backward = read_sampled_frames(reversed_clip.source, every_frame).frames
        assert len(forward) == 15
        assert np.array_equal(forward, backward[::-1])
        assert not np.array_equal(forward, backward)  # the clip really changes over time
        # and the sampled frames (what a model sees) are reversed too
        sampled_forward = read_sampled_frames(original.source, dataset.sampling).frames
        sampled_backward = read_sampled_frames(reversed_clip.source, dataset.sampling).frames
        assert np.array_equal(sampled_forward, sampled_backward[::-1])


def test_twin_captions_describe_opposite_orders(dataset):
    test = dataset.split("test")
    caption_of = {test.videos[c.video_index].video_id: c.text for c in test.captions}
    opposites = [("left", "right"), ("up", "down"), ("grows", "shrinks")]
    for original, reversed_clip in twin_pairs(dataset):
        a, b = caption_of[original.video_id], caption_of[reversed_clip.video_id]
        assert a != b
        if "then" in a:  # "turns red then blue" / "turns blue then red"
            first, second = a.split("turns ")[1].split(" on ")[0].split(" then ")
            assert f"turns {second} then {first}" in b
        else:
            assert any((x in a and y in b) or (y in a and x in b) for x, y in opposites)


def test_mean_pooling_cannot_tell_twins_apart(dataset):
    from c2vbench_builtins.temporal.meanp import build_meanp

    meanp = build_meanp(None, None)
    for original, reversed_clip in twin_pairs(dataset):
        frames = torch.from_numpy(read_sampled_frames(original.source, dataset.sampling).frames).float()
        reversed_frames = torch.from_numpy(read_sampled_frames(reversed_clip.source, dataset.sampling).frames).float()
        flat = frames.reshape(1, len(frames), -1)
        flat_reversed = reversed_frames.reshape(1, len(frames), -1)
        mask = torch.ones(1, len(frames), dtype=torch.long)
        assert torch.allclose(meanp(flat, mask).pooled, meanp(flat_reversed, mask).pooled, atol=1e-6)


def test_generation_is_deterministic_per_seed(tmp_path):
    spec = load_registry().get("dataset", "synthetic-motion").spec
    a = spec.factory(build_options(spec, SMALL), tmp_path / "a")
    b = spec.factory(build_options(spec, SMALL), tmp_path / "b")
    c = spec.factory(build_options(spec, {**SMALL, "seed": "1"}), tmp_path / "c")
    assert a.protocol["annotations_sha256"] == b.protocol["annotations_sha256"]
    assert a.protocol["annotations_sha256"] != c.protocol["annotations_sha256"]
    # Container bytes carry a random segment id; the decoded pixels are what must be identical.
    for video_a, video_b in zip(a.split("test").videos, b.split("test").videos, strict=True):
        pixels_a = read_sampled_frames(video_a.source, a.sampling).frames
        assert np.array_equal(pixels_a, read_sampled_frames(video_b.source, b.sampling).frames)


def test_cached_copy_is_reused_and_incomplete_one_regenerated(tmp_path):
    spec = load_registry().get("dataset", "synthetic-motion").spec
    root = tmp_path / "data"
    spec.factory(build_options(spec, SMALL), root)
    marker = root / "videos" / "extra-file"
    marker.write_text("kept while the copy is complete")
    spec.factory(build_options(spec, SMALL), root)
    assert marker.exists()
    (root / "COMPLETE").unlink()  # as if generation had been interrupted
    spec.factory(build_options(spec, SMALL), root)
    assert not marker.exists() and (root / "COMPLETE").exists()


def dataclass_replace(sampling, **changes):
    import dataclasses

    return dataclasses.replace(sampling, **changes)
