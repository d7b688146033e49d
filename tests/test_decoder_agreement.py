"""decord, TorchCodec and PyAV sample the same frames: identical indices from every file, identical pixels from
lossless ones, and TorchCodec's pixels within :data:`TORCHCODEC_VS_PYAV_BOUND` of PyAV's from lossy ones.

The files are written here with PyAV: lossless H.264 (RGB, crf 0) and ordinary H.264 (yuv420p, crf 23, B-frames)
with several GOP sizes, variable-frame-rate clips in Matroska and MP4, and H.264-in-AVI clips whose header frame count
lies (AVI packets carry no timestamps: decord's seeks land on wrong frames there unless it reads forward). Every frame
shows its own index (``frame_code``), so a test sees *which* frame each decoder returned, and the expected indices
come from the timestamps the files were written with, not from any decoder. Each library is compared with PyAV
(always installed) where it is installed.
"""

from __future__ import annotations

import dataclasses
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from _decoders import SEEKING_DECODERS_HERE
from _video_fixtures import frame_code, frame_image

from c2vbench.data.decoding import read_sampled_frames
from c2vbench.data.sampling import FrameSampling, clip2video_indices, ffmpeg_cfr_frame_map
from c2vbench.data.video_readers import TORCHCODEC_VS_PYAV_BOUND

N_FRAMES = 30  # frame codes are exact below 32
FPS = 10
LOSSLESS = {"codec": "libx264rgb", "pix_fmt": "rgb24", "options": {"crf": "0", "preset": "ultrafast"}}
ORDINARY = {"codec": "libx264", "pix_fmt": "yuv420p", "options": {"crf": "23", "preset": "medium"}}  # B-frames
# Irregular gaps (ms) between frames: 4 to 15 frames per second.
VFR_GAPS = np.random.default_rng(7).choice([67, 100, 150, 250], size=N_FRAMES - 1)
VFR_TIMES = np.concatenate([[0], np.cumsum(VFR_GAPS)]) / 1000.0

SAMPLINGS = {
    "5 fps grid (real datasets)": FrameSampling(max_frames=12, grid_fps=5.0, feature_framerate=1),
    "native frames (synthetic-motion)": FrameSampling(max_frames=8, grid_fps=None, feature_framerate=1),
    "5 fps grid, every frame": FrameSampling(max_frames=64, grid_fps=5.0, feature_framerate=1, mode="head"),
}


def encode(path: Path, codec: str, pix_fmt: str, options: dict[str, str], gop: int,
           times: np.ndarray | None = None) -> Path:
    """``N_FRAMES`` coded frames; at ``FPS`` or, with ``times`` (s), at those presentation times (VFR)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=None if times is not None else FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        stream.options = dict(options)
        stream.codec_context.gop_size = gop
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for index in range(N_FRAMES):
            frame = av.VideoFrame.from_ndarray(frame_image(index), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = int(round(times[index] * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def claim_frame_count(path: Path, claimed: int) -> Path:
    """Overwrite an AVI's frame counts (main header ``dwTotalFrames``, stream header ``dwLength``) with ``claimed``."""
    data = bytearray(path.read_bytes())
    main_header, stream_header = data.find(b"avih"), data.find(b"strh")
    struct.pack_into("<I", data, main_header + 8 + 16, claimed)
    struct.pack_into("<I", data, stream_header + 8 + 32, claimed)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, tuple[Path, bool, np.ndarray]]:
    """name -> (file, lossless, true presentation times)."""
    root = tmp_path_factory.mktemp("agreement")
    cfr = np.arange(N_FRAMES) / FPS
    made = {}
    for gop in (1, 5, 250):
        made[f"lossless gop {gop}"] = (encode(root / f"lossless{gop}.mkv", **LOSSLESS, gop=gop), True, cfr)
        made[f"h264 gop {gop}"] = (encode(root / f"h264_{gop}.mp4", **ORDINARY, gop=gop), False, cfr)
    made["lossless vfr mkv"] = (encode(root / "vfr_lossless.mkv", **LOSSLESS, gop=12, times=VFR_TIMES), True,
                                VFR_TIMES)
    made["h264 vfr mp4"] = (encode(root / "vfr.mp4", **ORDINARY, gop=12, times=VFR_TIMES), False, VFR_TIMES)
    for claimed in (2 * N_FRAMES, N_FRAMES // 3):
        path = claim_frame_count(encode(root / f"claims{claimed}.avi", **ORDINARY, gop=8), claimed)
        made[f"avi header claims {claimed}"] = (path, False, cfr)
    return made


def test_the_lying_headers_really_lie(clips):
    import av

    for claimed in (2 * N_FRAMES, N_FRAMES // 3):
        with av.open(str(clips[f"avi header claims {claimed}"][0])) as container:
            assert container.streams.video[0].frames == claimed
    with av.open(str(clips["h264 vfr mp4"][0])) as container:  # and the VFR file keeps its irregular times
        stream = container.streams.video[0]
        times = sorted(float(packet.pts * stream.time_base) for packet in container.demux(stream) if packet.size)
    assert np.allclose(times, VFR_TIMES, atol=1e-3)


def expected_indices(times: np.ndarray, sampling: FrameSampling) -> list[int]:
    """The frames the protocol asks for, from the times the file was written with (no decoder involved)."""
    frame_map = ffmpeg_cfr_frame_map(times, sampling.grid_fps) if sampling.grid_fps else np.arange(len(times))
    if sampling.mode == "head":
        return frame_map[: sampling.max_frames].tolist()
    return frame_map[clip2video_indices(len(frame_map), sampling.feature_framerate, sampling.max_frames)].tolist()


def is_avi(name: str) -> bool:
    return name.startswith("avi ")


@pytest.mark.parametrize("decoder", SEEKING_DECODERS_HERE)
@pytest.mark.parametrize("sampling_name", SAMPLINGS)
def test_a_seeking_decoder_and_pyav_return_the_same_frames(clips, sampling_name, decoder):
    sampling = SAMPLINGS[sampling_name]
    for name, (path, lossless, times) in clips.items():
        decoded = {library: read_sampled_frames(path, dataclasses.replace(sampling, decoder=library))
                   for library in (decoder, "pyav")}
        wanted = expected_indices(times, sampling)
        for library, frames in decoded.items():
            # TorchCodec cannot seek where the packets carry no presentation times (AVI): PyAV decodes those files
            ran = "pyav" if library == "torchcodec" and is_avi(name) else library
            assert frames.decoder == ran, (name, library, frames.partial)
            assert frames.indices.tolist() == wanted, (name, library)
            # each decoder returned the frames it names, not neighbours (decord seeking in AVI did not)
            assert [frame_code(frame) for frame in frames.frames] == wanted, (name, library)
        assert decoded[decoder].n_grid == decoded["pyav"].n_grid, name
        if lossless:
            assert np.array_equal(decoded[decoder].frames, decoded["pyav"].frames), name
            assert np.array_equal(decoded["pyav"].frames, np.stack([frame_image(i) for i in wanted])), name
        elif decoder == "torchcodec":
            difference = np.abs(decoded[decoder].frames.astype(np.int16) - decoded["pyav"].frames.astype(np.int16))
            assert difference.mean() <= TORCHCODEC_VS_PYAV_BOUND["mean_levels"], name
            assert difference.max() <= TORCHCODEC_VS_PYAV_BOUND["max_levels"], name


@pytest.mark.skipif("torchcodec" not in SEEKING_DECODERS_HERE, reason="TorchCodec is not installed here")
def test_torchcodec_refuses_to_seek_where_the_container_has_no_presentation_times(clips):
    """Why AVI goes to PyAV: TorchCodec's own frames there are neighbours (or missing), and the reader notices."""
    from c2vbench.data.video_readers import TimelineMismatch, TorchCodecReader

    path, _, _ = clips[f"avi header claims {2 * N_FRAMES}"]
    reader = TorchCodecReader(path)
    with pytest.raises(TimelineMismatch):
        reader.frames(list(range(N_FRAMES)))
    good, _, times = clips["h264 vfr mp4"]
    assert [frame_code(frame) for frame in TorchCodecReader(good).frames([0, 7, 29])] == [0, 7, 29]
