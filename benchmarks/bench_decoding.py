"""Sampled-frame decoding throughput: decord, TorchCodec and PyAV on the same files, and seeking against decoding
everything.

Generates 10-second clips with PyAV (no ffmpeg binary), then measures, on the same files in one run:

* ``decord seek``: :func:`c2vbench.data.decoding.read_sampled_frames` with decord (``get_batch`` of the 12 frames
  the MSR-VTT protocol samples: 5 fps grid, feature_framerate 2, 12 frames);
* ``torchcodec seek``: the same call with TorchCodec on the CPU (``get_frames_at`` in exact mode);
* ``pyav stop-early``: the same call with PyAV, decoding sequentially up to the last sampled frame;
* ``decord all`` / ``torchcodec all`` / ``pyav all``: each library decoding every frame of the clip (the raw-video
  rate), then picking the same 12;
* on a CUDA machine, ``torchcodec nvdec``: the 12 frames decoded by NVDEC into GPU memory
  (:func:`c2vbench.data.decoding.decode_frames_on`, what the feed runs with ``--decoder torchcodec`` on CUDA).

Each line gives videos/s, sampled frames/s (12 per video) and, for the ``all`` lines, decoded frames/s. The ratio
lines compare the decoders (the ``--decoder`` choice) measured in this one run. decord and TorchCodec are optional:
the lines of a library that is not installed are left out. One decoding thread each, in one process. Two keyframe
intervals are measured: 1 s (typical of web video, so seeking can skip whole GOPs) and 250 frames (libx264's
default; seeking then still decodes from the only keyframe). Run:

    .venv/bin/python benchmarks/bench_decoding.py [--videos 6] [--size 320x240] [--fps 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _video_fixtures import encode_video  # noqa: E402

from c2vbench.data.decoders import decoder_available, import_decord, import_torchcodec  # noqa: E402
from c2vbench.data.decoding import decode_frames_on, read_sampled_frames  # noqa: E402
from c2vbench.data.sampling import FrameSampling  # noqa: E402

SAMPLED_PER_VIDEO = 12


def decode_all_decord(path: Path, indices: np.ndarray) -> np.ndarray:
    decord = import_decord()
    reader = decord.VideoReader(str(path), num_threads=1)
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    return frames[indices]


def decode_all_torchcodec(path: Path, indices: np.ndarray) -> np.ndarray:
    decoder = import_torchcodec().decoders.VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=1)
    return decoder.get_frames_in_range(0, len(decoder)).data.numpy()[indices]


def decode_all_pyav(path: Path, indices: np.ndarray) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return np.stack(frames)[indices]


def throughput(function, paths: list[Path], repeats: int) -> float:
    function(paths[0])  # warm-up (library loading, page cache)
    start = time.perf_counter()
    for _ in range(repeats):
        for path in paths:
            function(path)
    return repeats * len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    here = {name: decoder_available(name) for name in ("decord", "torchcodec")}
    nvdec = here["torchcodec"] and cuda_available()
    samplings = {decoder: FrameSampling(max_frames=SAMPLED_PER_VIDEO, grid_fps=5.0, feature_framerate=2,
                                        decoder=decoder) for decoder in ("decord", "pyav", "torchcodec")}
    n_native = args.fps * args.seconds
    missing = [name for name, present in here.items() if not present]
    print(f"{args.videos} clips of {args.seconds} s, {width}x{height} at {args.fps} fps, libx264; "
          f"{SAMPLED_PER_VIDEO} frames each (MSR-VTT sampling)"
          + (f"; not installed: {', '.join(missing)}" if missing else "") + ("; NVDEC on CUDA" if nvdec else ""))
    with tempfile.TemporaryDirectory() as folder:
        for gop_label, gop in (("keyframe every 1 s", args.fps), ("keyframe every 250 frames", 250)):
            paths = [encode_video(Path(folder) / f"gop{gop}_{i}.mp4", n_frames=n_native,
                                  fps=args.fps, width=width, height=height, codec="libx264", seed=i, gop=gop)
                     for i in range(args.videos)]
            indices = read_sampled_frames(paths[0], samplings["pyav"]).indices
            runs = {}
            if here["decord"]:
                runs["decord seek"] = lambda p: read_sampled_frames(p, samplings["decord"])
            if here["torchcodec"]:
                runs["torchcodec seek"] = lambda p: read_sampled_frames(p, samplings["torchcodec"])
            if nvdec:
                runs["torchcodec nvdec"] = lambda p, indices=indices: nvdec_frames(p, indices)
            runs["pyav stop-early"] = lambda p: read_sampled_frames(p, samplings["pyav"])
            if here["decord"]:
                runs["decord all"] = lambda p, indices=indices: decode_all_decord(p, indices)
            if here["torchcodec"]:
                runs["torchcodec all"] = lambda p, indices=indices: decode_all_torchcodec(p, indices)
            runs["pyav all"] = lambda p, indices=indices: decode_all_pyav(p, indices)
            rates = {name: throughput(run, paths, args.repeats) for name, run in runs.items()}
            print(f"\n{gop_label}")
            for name, rate in rates.items():
                decoded = f"  {rate * n_native:8.0f} decoded frames/s" if name.endswith(" all") else ""
                print(f"  {name:16s} {rate:8.2f} videos/s  {rate * SAMPLED_PER_VIDEO:8.1f} sampled frames/s{decoded}")
            for library in ("decord", "torchcodec"):
                if here[library]:
                    print(f"  sampled frames/s, {library} seek / pyav stop-early = "
                          f"{rates[f'{library} seek'] / rates['pyav stop-early']:.2f}x")
                    print(f"  decoded frames/s, {library} all / pyav all = "
                          f"{rates[f'{library} all'] / rates['pyav all']:.2f}x")
            if nvdec:
                print(f"  sampled frames/s, torchcodec nvdec / torchcodec seek = "
                      f"{rates['torchcodec nvdec'] / rates['torchcodec seek']:.2f}x")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def nvdec_frames(path: Path, indices: np.ndarray):
    import torch

    frames = decode_frames_on(path, indices.tolist(), torch.device("cuda"))
    torch.cuda.synchronize()
    return frames

if __name__ == "__main__":
    main()
