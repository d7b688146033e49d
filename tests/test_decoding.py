"""Decoding sampled frames from files and folders, probing bad videos, screening splits, and the clip dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _decoders import VIDEO_DECODERS_HERE
from _video_fixtures import encode_video, frame_code, truncate_file, write_frame_folder, zero_byte_file

from c2vbench.data.decoding import probe_source, read_sampled_frames
from c2vbench.data.integrity import screen_split
from c2vbench.data.loader import ImageFormat, VideoClipDataset, make_video_loader
from c2vbench.data.preprocess import CLIP_MEAN, CLIP_STD
from c2vbench.data.sampling import (
    FrameSampling,
    clip2video_indices,
    constant_rate_timestamps,
    ffmpeg_cfr_frame_map,
)
from c2vbench.data.types import CaptionRecord, RetrievalSplit, VideoRecord
from c2vbench.platform.errors import DataError

SAMPLING = FrameSampling(max_frames=12, grid_fps=5.0, feature_framerate=1)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    made = {
        "good_mp4": encode_video(root / "good.mp4", n_frames=32, fps=10),
        "good_avi": encode_video(root / "good.avi", n_frames=32, fps=10),
        "long": encode_video(root / "long.mp4", n_frames=32, fps=20),
        "truncated": truncate_file(encode_video(root / "truncated.mp4", n_frames=30, fps=10), 0.6),
        "half_readable": truncate_file(encode_video(root / "half.mp4", n_frames=30, fps=10, faststart=True), 0.7),
        "empty": zero_byte_file(root / "empty.mp4"),
        "frames": write_frame_folder(root / "frames" / "clip", 30),
        "no_frames": root / "frames" / "none",
    }
    made["no_frames"].mkdir(parents=True)
    return made


@pytest.mark.parametrize("name", ["good_mp4", "good_avi", "long"])
@pytest.mark.parametrize("decoder", VIDEO_DECODERS_HERE)
def test_video_file_returns_the_frames_ffmpeg_would_have_extracted(videos, name, decoder):
    fps = 20 if name == "long" else 10
    sampling = FrameSampling(max_frames=12, grid_fps=5.0, feature_framerate=1, decoder=decoder)
    decoded = read_sampled_frames(videos[name], sampling)
    frame_map = ffmpeg_cfr_frame_map(constant_rate_timestamps(32, fps), 5.0)
    expected = frame_map[clip2video_indices(len(frame_map), 1, 12)]
    assert decoded.n_grid == len(frame_map)
    assert decoded.indices.tolist() == expected.tolist()
    # The pixels really are those native frames (each frame carries its index).
    assert [frame_code(frame) for frame in decoded.frames] == [int(i) % 32 for i in expected]
    assert decoded.partial is None


def test_frame_folder_uses_the_official_file_order(videos):
    decoded = read_sampled_frames(videos["frames"], FrameSampling(feature_framerate=2))
    expected = [0, 2, 4, 6, 10, 12, 14, 16, 20, 22, 24, 29]  # reference §1.2, N=30, fp=2
    assert decoded.indices.tolist() == expected
    assert [frame_code(frame) for frame in decoded.frames] == expected


def test_bad_files_raise_a_data_error_naming_the_file(videos, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_sampled_frames(tmp_path / "absent.mp4", SAMPLING)
    with pytest.raises(DataError, match="empty"):
        read_sampled_frames(videos["empty"], SAMPLING)
    with pytest.raises(DataError, match="truncated.mp4"):
        read_sampled_frames(videos["truncated"], SAMPLING)


def test_half_readable_video_decodes_what_it_can_and_says_so(videos):
    probe = probe_source(videos["half_readable"])
    assert probe.problem is None
    assert 0 < probe.n_frames < 30 and "readable" in probe.partial
    decoded = read_sampled_frames(videos["half_readable"], SAMPLING)
    assert decoded.partial and len(decoded.frames) > 0
    assert decoded.n_source_frames == probe.n_frames
    assert [frame_code(frame) for frame in decoded.frames] == decoded.indices.tolist()


def test_probe_classifies_every_kind_of_bad_source(videos, tmp_path):
    assert probe_source(tmp_path / "absent.mp4").problem == "missing"
    assert probe_source(videos["empty"]).problem.startswith("empty file")
    assert probe_source(videos["truncated"]).problem.startswith("undecodable")
    assert probe_source(videos["no_frames"]).problem.startswith("empty folder")
    good = probe_source(videos["good_mp4"])
    assert (good.problem, good.partial, good.n_frames, good.fps, good.width, good.height) == \
        (None, None, 32, 10.0, 64, 48)
    assert probe_source(videos["frames"]).n_frames == 30


def _split(sources: dict[str, object]) -> RetrievalSplit:
    videos = [VideoRecord(video_id, source) for video_id, source in sources.items()]
    captions = [CaptionRecord(f"caption {i}.{k}", i) for i in range(len(videos)) for k in range(2)]
    return RetrievalSplit("test", videos, captions)


def test_screening_lists_every_offender_or_drops_them_when_allowed(videos, tmp_path):
    split = _split({"a": videos["good_mp4"], "gone": tmp_path / "gone.mp4", "b": videos["half_readable"],
                    "zero": videos["empty"], "cut": videos["truncated"], "c": videos["frames"]})
    with pytest.raises(DataError) as caught:
        screen_split(split, sampling=SAMPLING)
    message = str(caught.value)
    for offender in ("gone (missing)", "zero (empty file", "cut (undecodable"):
        assert offender in message
    assert "--allow-missing" in message

    screened = screen_split(split, allow_missing=True, sampling=SAMPLING)
    assert [entry["video_id"] for entry in screened.skipped] == ["gone", "zero", "cut"]
    assert screened.split.video_ids() == ["a", "b", "c"]
    assert [caption.video_index for caption in screened.split.captions] == [0, 0, 1, 1, 2, 2]
    assert screened.split.captions[2].text == "caption 2.0"
    assert [entry["video_id"] for entry in screened.partial] == ["b"]


def test_screening_flags_videos_too_short_for_the_rule(tmp_path):
    short = write_frame_folder(tmp_path / "short", 1)
    split = _split({"short": short})
    with pytest.raises(DataError, match="fewer than feature_framerate 2"):
        screen_split(split, sampling=FrameSampling(feature_framerate=2))
    assert screen_split(split, sampling=FrameSampling(feature_framerate=1)).skipped == []


def test_clip_dataset_pads_with_zero_images_and_never_yields_nan(videos):
    image_format = ImageFormat(32, CLIP_MEAN, CLIP_STD)
    dataset = VideoClipDataset([VideoRecord("f", videos["frames"])], FrameSampling(feature_framerate=3,
                                                                                   max_frames=12), image_format)
    frames, mask, index = dataset[0]
    assert frames.shape == (12, 3, 32, 32) and frames.dtype == torch.float32
    assert mask.tolist() == [1] * 10 + [0] * 2  # 30 // 3 = 10 frames
    assert torch.all(frames[10:] == 0) and torch.isfinite(frames).all()
    assert index == 0


def test_training_jitter_is_reproducible_per_seed_and_epoch(videos):
    long_folder = videos["frames"]
    image_format = ImageFormat(16, CLIP_MEAN, CLIP_STD)
    sampling = FrameSampling(max_frames=3, feature_framerate=1)  # stride 14 on 30 frames: jitter of up to 7
    records = [VideoRecord("f", long_folder)]
    first = VideoClipDataset(records, sampling, image_format, train=True, seed=3)
    second = VideoClipDataset(records, sampling, image_format, train=True, seed=3)
    assert torch.equal(first[0][0], second[0][0])
    epochs = []
    for epoch in range(6):
        first.set_epoch(epoch)
        epochs.append(first[0][0])
    assert any(not torch.equal(epochs[0], other) for other in epochs[1:])


def test_zero_frame_video_raises_instead_of_an_all_masked_clip(tmp_path):
    folder = write_frame_folder(tmp_path / "one", 1)
    dataset = VideoClipDataset([VideoRecord("one", folder)], FrameSampling(feature_framerate=2),
                               ImageFormat(16, CLIP_MEAN, CLIP_STD))
    with pytest.raises(DataError, match="yields no frame"):
        dataset[0]


def test_worker_processes_give_the_same_batches(videos):
    records = [VideoRecord(str(i), videos["good_mp4" if i % 2 else "frames"]) for i in range(4)]
    dataset = VideoClipDataset(records, SAMPLING, ImageFormat(16, CLIP_MEAN, CLIP_STD))
    serial = [batch[0] for batch in make_video_loader(dataset, batch_size=2)]
    parallel = [batch[0] for batch in make_video_loader(dataset, batch_size=2, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel, strict=True))
    assert np.isfinite(torch.cat(parallel).numpy()).all()
