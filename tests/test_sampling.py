"""Frame sampling: the official CLIP2Video rule, its training jitter, CLIP4Clip's variants and the 5 fps grid."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from c2vbench.data.sampling import (
    FrameSampling,
    clip2video_indices,
    clip4clip_indices,
    constant_rate_timestamps,
    ffmpeg_cfr_frame_map,
    grid_size,
    grid_to_native,
    sample_grid_indices,
)


@pytest.mark.parametrize(
    ("n_grid", "feature_framerate", "expected"),
    [
        (100, 2, [0, 8, 16, 26, 34, 44, 52, 62, 70, 80, 88, 99]),
        (57, 1, [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 56]),
        (30, 2, [0, 2, 4, 6, 10, 12, 14, 16, 20, 22, 24, 29]),
    ],
)
def test_worked_examples_of_reference_section_1_2(n_grid, feature_framerate, expected):
    assert clip2video_indices(n_grid, feature_framerate, 12).tolist() == expected


def _official_rule_with_fractions(n_grid: int, feature_framerate: int, max_frames: int) -> list[int]:
    """The same rule computed with exact rational arithmetic and explicit loops (an independent implementation)."""
    count = n_grid // feature_framerate
    if count == 0:
        return []

    def spread(last: int, num: int) -> list[int]:
        if num == 1:
            return [0]
        return [int(Fraction(i * last, num - 1)) for i in range(num)]

    kept = spread(n_grid - 1, count)
    selected = list(range(count)) if count <= max_frames else spread(count - 1, max_frames)
    return [kept[i] for i in selected]


@pytest.mark.parametrize("feature_framerate", [1, 2, 3])
def test_rule_matches_an_exact_rational_implementation(feature_framerate):
    for n_grid in range(0, 400):
        assert clip2video_indices(n_grid, feature_framerate, 12).tolist() == \
            _official_rule_with_fractions(n_grid, feature_framerate, 12), n_grid


def test_short_video_keeps_every_thinned_position_and_too_short_gives_none():
    assert clip2video_indices(7, 1, 12).tolist() == list(range(7))
    assert clip2video_indices(10, 2, 12).tolist() == [0, 2, 4, 6, 9]
    assert clip2video_indices(1, 2, 12).tolist() == []


@pytest.mark.parametrize(("n_grid", "feature_framerate"), [(100, 1), (300, 1), (250, 2), (57, 1)])
def test_jitter_stays_within_half_stride_and_never_moves_the_ends(n_grid, feature_framerate):
    count = n_grid // feature_framerate
    kept = np.linspace(0, n_grid - 1, num=count).astype(np.int64)
    selected = np.linspace(0, count - 1, num=12).astype(np.int64)
    step = int(selected[1] - selected[0]) // 2
    seen_offsets = set()
    for seed in range(300):
        jittered = clip2video_indices(n_grid, feature_framerate, 12, np.random.default_rng(seed))
        assert jittered[0] == kept[0] and jittered[-1] == kept[-1]
        positions = np.searchsorted(kept, jittered)
        assert np.array_equal(kept[positions], jittered)  # always a kept grid position
        offsets = positions[1:-1] - selected[1:-1]
        if step > 2:
            assert offsets.min() >= -step and offsets.max() < step
            seen_offsets.update(offsets.tolist())
        else:
            assert not offsets.any()
    if step > 2:
        # Every offset of [-step, step) occurs: the jitter really is uniform over that range.
        assert seen_offsets == set(range(-step, step))


def test_jitter_only_in_clip2video_mode_and_only_when_enabled():
    rng = np.random.default_rng(0)
    plain = clip2video_indices(300, 1, 12)
    assert np.array_equal(sample_grid_indices(300, FrameSampling(train_jitter=False), rng), plain)
    assert not np.array_equal(sample_grid_indices(300, FrameSampling(), np.random.default_rng(1)), plain)
    head = FrameSampling(mode="head")
    assert np.array_equal(sample_grid_indices(300, head, rng), np.arange(12))


def test_clip4clip_variants():
    assert clip4clip_indices(40, 2, 12, "head").tolist() == list(range(0, 24, 2))
    assert clip4clip_indices(40, 2, 12, "tail").tolist() == list(range(16, 40, 2))
    assert clip4clip_indices(40, 1, 12, "uniform").tolist() == \
        [int(i * 39 / 11) for i in range(12)]
    assert clip4clip_indices(10, 2, 12, "head").tolist() == [0, 2, 4, 6, 8]


def _downsampling_closed_form(n_native: int, in_fps: float, out_fps: float) -> list[int]:
    """ffmpeg's CFR thresholds worked out by hand for a constant-rate downsample: output slot k takes the first
    input frame i whose end lies at most 1.1 ticks before k, i.e. ``i*r + r >= k - 1.1`` with r = out/in (frame 0
    always fills slot 0, the first frame overlapping slot 0 is clipped into it)."""
    ratio = out_fps / in_fps
    outputs, slot = [], 0
    for index in range(n_native):
        start = index * ratio
        if index == 0 or start + ratio - slot >= -1.1:
            outputs.append(index)
            slot += 1
    return outputs


@pytest.mark.parametrize("in_fps", [24.0, 25.0, 29.97, 30.0, 60.0])
def test_ffmpeg_cfr_emulation_matches_the_hand_derived_downsampling_rule(in_fps):
    n_native = int(in_fps * 10)
    frame_map = ffmpeg_cfr_frame_map(constant_rate_timestamps(n_native, in_fps), 5.0)
    assert frame_map.tolist() == _downsampling_closed_form(n_native, in_fps, 5.0)
    assert np.all(np.diff(frame_map) > 0)


def test_ffmpeg_cfr_emulation_identity_and_upsampling():
    assert ffmpeg_cfr_frame_map(constant_rate_timestamps(40, 5.0), 5.0).tolist() == list(range(40))
    upsampled = ffmpeg_cfr_frame_map(constant_rate_timestamps(10, 2.0), 5.0)
    # Every input frame appears, in order, about 2.5 times each.
    assert sorted(set(upsampled.tolist())) == list(range(10))
    assert np.all(np.diff(upsampled) >= 0)
    assert 23 <= len(upsampled) <= 26


def test_grid_helpers_agree_with_the_frame_map():
    frame_map = ffmpeg_cfr_frame_map(constant_rate_timestamps(300, 30.0), 5.0)
    assert grid_size(300, 30.0, 5.0) == len(frame_map) == 52
    grid = clip2video_indices(len(frame_map), 2, 12)
    assert np.array_equal(grid_to_native(grid, 300, 30.0, 5.0), frame_map[grid])
    assert grid_size(300, 30.0, None) == 300


def test_sampling_validates_and_describes_itself():
    with pytest.raises(ValueError, match="mode"):
        FrameSampling(mode="random")
    with pytest.raises(ValueError, match="decoder"):
        FrameSampling(decoder="opencv")
    description = FrameSampling(feature_framerate=2).describe()
    assert description["feature_framerate"] == 2 and description["grid_rule"] == "ffmpeg-cfr-emulation"
