"""Sampled-frame decoding throughput: decord against PyAV on the same files, and seeking against decoding everything.

Generates 10-second clips with PyAV (no ffmpeg binary), then measures, on the same files in one run:

* ``decord seek``: :func:`c2vbench.data.decoding.read_sampled_frames` with decord (``get_batch`` of the 12 frames
  the MSR-VTT protocol samples: 5 fps grid, feature_framerate 2, 12 frames);
* ``pyav stop-early``: the same call with PyAV, decoding sequentially up to the last sampled frame;
* ``decord all`` / ``pyav all``: each library decoding every frame of the clip, then picking the same 12.

Each line gives videos/s, sampled frames/s (12 per video) and, for the ``all`` lines, decoded frames/s. The ratio
lines compare the two decoders (the ``--decoder`` choice) measured in this one run. decord is optional: without it
only the PyAV lines are printed. Two keyframe intervals are measured: 1 s (typical of web video, so seeking can skip
whole GOPs) and 250 frames (libx264's default; seeking then still decodes from the only keyframe). Run:

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

from c2vbench.data.decoders import decoder_available, import_decord  # noqa: E402
from c2vbench.data.decoding import read_sampled_frames  # noqa: E402
from c2vbench.data.sampling import FrameSampling  # noqa: E402

SAMPLED_PER_VIDEO = 12


def decode_all_decord(path: Path, indices: np.ndarray) -> np.ndarray:
    decord = import_decord()
    reader = decord.VideoReader(str(path), num_threads=1)
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    return frames[indices]


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
    with_decord = decoder_available("decord")
    samplings = {decoder: FrameSampling(max_frames=SAMPLED_PER_VIDEO, grid_fps=5.0, feature_framerate=2,
                                        decoder=decoder) for decoder in ("decord", "pyav")}
    n_native = args.fps * args.seconds
    print(f"{args.videos} clips of {args.seconds} s, {width}x{height} at {args.fps} fps, libx264; "
          f"{SAMPLED_PER_VIDEO} frames each (MSR-VTT sampling)" + ("" if with_decord else "; decord not installed"))
    with tempfile.TemporaryDirectory() as folder:
        for gop_label, gop in (("keyframe every 1 s", args.fps), ("keyframe every 250 frames", 250)):
            paths = [encode_video(Path(folder) / f"gop{gop}_{i}.mp4", n_frames=n_native,
                                  fps=args.fps, width=width, height=height, codec="libx264", seed=i, gop=gop)
                     for i in range(args.videos)]
            indices = read_sampled_frames(paths[0], samplings["pyav"]).indices
            runs = {"pyav stop-early": lambda p: read_sampled_frames(p, samplings["pyav"]),
                    "pyav all": lambda p, indices=indices: decode_all_pyav(p, indices)}
            if with_decord:
                runs = {"decord seek": lambda p: read_sampled_frames(p, samplings["decord"]),
                        "decord all": lambda p, indices=indices: decode_all_decord(p, indices), **runs}
            rates = {name: throughput(run, paths, args.repeats) for name, run in runs.items()}
            print(f"\n{gop_label}")
            for name, rate in rates.items():
                decoded = f"  {rate * n_native:8.0f} decoded frames/s" if name.endswith(" all") else ""
                print(f"  {name:16s} {rate:8.2f} videos/s  {rate * SAMPLED_PER_VIDEO:8.1f} sampled frames/s{decoded}")
            if with_decord:
                print(f"  sampled frames/s, decord seek / pyav stop-early = "
                      f"{rates['decord seek'] / rates['pyav stop-early']:.2f}x")
                print(f"  decoded frames/s, decord all / pyav all = {rates['decord all'] / rates['pyav all']:.2f}x")
                print(f"  decord seek / decord all = {rates['decord seek'] / rates['decord all']:.2f}x")


if __name__ == "__main__":
    main()
