"""Records cut from a video by time (``VideoRecord.start`` / ``end``): the decoding path against a brute-force
decode of every frame, for both video libraries, on the native and the 5 fps grid, and from extracted frames."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _decoders import VIDEO_DECODERS_HERE
from _video_fixtures import encode_video, frame_code

from c2vbench.data.decoding import read_sampled_frames
from c2vbench.data.extraction import extract_video
from c2vbench.data.integrity import screen_split
from c2vbench.data.loader import ImageFormat, VideoClipDataset
from c2vbench.data.sampling import FrameSampling, ffmpeg_cfr_frame_map, sample_grid_indices
from c2vbench.data.types import CaptionRecord, RetrievalSplit, VideoRecord

N_FRAMES, FPS = 30, 10  # 3 s; frame i shows code i (exact below 32)
WINDOWS = [(0.6, 2.2), (1.0, None), (0.0, 0.8), (2.45, 2.95), (1.25, 1.75)]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return encode_video(tmp_path_factory.mktemp("window") / "clip.mp4", n_frames=N_FRAMES, fps=FPS, gop=7)


def decode_everything(path):
    """Every frame in presentation order with its time, decoded sequentially by PyAV, no seeking."""
    import av

    with av.open(str(path)) as container:
        frames = [(float(frame.time), frame_code(frame.to_ndarray(format="rgb24")))
                  for frame in container.decode(video=0)]
    times, codes = zip(*sorted(frames), strict=True)
    return np.asarray(times), list(codes)


def in_window(times, window):
    start, end = window
    return [index for index, time in enumerate(times) if time >= start and (end is None or time < end)]


@pytest.mark.parametrize("decoder", VIDEO_DECODERS_HERE)
@pytest.mark.parametrize("window", WINDOWS)
def test_native_grid_window_matches_a_full_decode(video, decoder, window):
    times, codes = decode_everything(video)
    sampling = FrameSampling(max_frames=4, grid_fps=None, feature_framerate=1, decoder=decoder)
    kept = in_window(times - times[0], window)
    expected = [codes[kept[position]] for position in sample_grid_indices(len(kept), sampling)]
    decoded = read_sampled_frames(video, sampling, window=window)
    assert [frame_code(frame) for frame in decoded.frames] == expected
    assert decoded.n_grid == len(kept)


@pytest.mark.parametrize("decoder", VIDEO_DECODERS_HERE)
@pytest.mark.parametrize("window", WINDOWS)
def test_five_fps_grid_window_matches_a_full_decode_and_extracted_frames(video, decoder, window, tmp_path):
    times, codes = decode_everything(video)
    grid = [codes[native] for native in ffmpeg_cfr_frame_map(times, 5.0)]  # what `ffmpeg -r 5` writes
    positions = [k for k in range(len(grid)) if k / 5.0 >= window[0] and (window[1] is None or k / 5.0 < window[1])]
    sampling = FrameSampling(max_frames=3, grid_fps=5.0, feature_framerate=1, decoder=decoder)
    expected = [grid[positions[p]] for p in sample_grid_indices(len(positions), sampling)]
    decoded = read_sampled_frames(video, sampling, window=window)
    assert [frame_code(frame) for frame in decoded.frames] == expected
    extract_video(video, tmp_path, decoder=decoder)
    from_frames = read_sampled_frames(tmp_path / "clip", dataclasses.replace(sampling, decoder="frames"),
                                      window=window)
    assert [frame_code(frame) for frame in from_frames.frames] == expected


@pytest.mark.parametrize("window", [(0.6, 2.2), (1.3, None)])
def test_a_window_reads_what_the_clip_cut_out_of_the_video_reads(video, window, tmp_path):
    """Cutting the clip out for real (re-encoding the frames of the window) and reading it whole gives the frames
    the window gives."""
    import av

    times, _ = decode_everything(video)
    kept = in_window(times - times[0], window)
    cut = tmp_path / "cut.mp4"
    with av.open(str(video)) as source, av.open(str(cut), "w") as target:
        stream = target.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.bit_rate = 4_000_000
        for index, frame in enumerate(source.decode(video=0)):
            if index in kept:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"),
                                                                       format="rgb24")):
                    target.mux(packet)
        for packet in stream.encode():
            target.mux(packet)
    sampling = FrameSampling(max_frames=5, grid_fps=None, feature_framerate=1, decoder="pyav")
    whole_cut = read_sampled_frames(cut, sampling)
    windowed = read_sampled_frames(video, sampling, window=window)
    assert [frame_code(f) for f in windowed.frames] == [frame_code(f) for f in whole_cut.frames]


def test_the_loader_and_screening_honour_windows(video, tmp_path):
    sampling = FrameSampling(max_frames=12, grid_fps=5.0, feature_framerate=1, decoder="pyav")
    records = [VideoRecord("whole", video), VideoRecord("first_second", video, start=0.0, end=1.0, source_key="clip"),
               VideoRecord("past_the_end", video, start=10.0, end=12.0, source_key="clip")]
    dataset = VideoClipDataset(records[:2], sampling, ImageFormat(32, (0.5,) * 3, (0.5,) * 3))
    assert int(dataset[0][1].sum()) == 12 and int(dataset[1][1].sum()) == 5  # 5 grid positions in [0, 1) s
    split = RetrievalSplit("test", records, [CaptionRecord(f"caption {i}", i) for i in range(3)])
    with pytest.raises(Exception, match=r"past_the_end \(no frames: 0 grid frame\(s\) inside the window 10 s to 12 s"):
        screen_split(split, sampling=sampling)
    screened = screen_split(split, allow_missing=True, sampling=sampling)
    assert screened.split.video_ids() == ["whole", "first_second"]
    assert screened.split.videos[1].window == (0.0, 1.0)  # the records survive screening whole


def test_a_window_must_be_well_formed(tmp_path):
    with pytest.raises(ValueError, match="not after its start"):
        VideoRecord("v", tmp_path / "v.mp4", start=3.0, end=3.0)
    with pytest.raises(ValueError, match="negative"):
        VideoRecord("v", tmp_path / "v.mp4", start=-1.0)
