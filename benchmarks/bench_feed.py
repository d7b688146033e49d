"""The feed on CPU: frames per second delivered as model input (decode + preprocess, no model), old path vs new.

* ``pil`` (the old path, still ``--preprocess pil``): workers decode and preprocess every frame with PIL into
  float32 ``[T, 3, S, S]`` and the batches are copied to the consumer;
* ``tensor`` (the new default): workers only decode and hand over uint8 frames (JPEG folders: ``decode_jpeg``);
  the consumer resizes, crops and normalises each batch with torch on the model's device (here the CPU).

Both read the same generated sources: video files (MPEG-4, 320x240, 30 fps, 10 s, a keyframe a second) and
frame folders (JPEG, 320x240), 12 frames per video at 224 px. For each number of workers it prints frames/s,
frames/s per worker (one process counts for 0 workers) and the ratio new/old, all measured in this one run. Run:

    .venv/bin/python benchmarks/bench_feed.py [--videos 24] [--workers 0 1 2] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _video_fixtures import encode_video, write_frame_folder  # noqa: E402

from c2vbench.data.feed import FrameFeed  # noqa: E402
from c2vbench.data.loader import ImageFormat, VideoClipDataset, make_video_loader  # noqa: E402
from c2vbench.data.preprocess import CLIP_MEAN, CLIP_STD  # noqa: E402
from c2vbench.data.sampling import FrameSampling  # noqa: E402
from c2vbench.data.types import VideoRecord  # noqa: E402

SIZE = 224


def frames_per_second(records: list[VideoRecord], sampling: FrameSampling, preprocess: str, workers: int,
                      batch_size: int) -> float:
    image = ImageFormat(SIZE, CLIP_MEAN, CLIP_STD)
    dataset = VideoClipDataset(records, sampling, image, preprocess=preprocess)
    loader = make_video_loader(dataset, batch_size, num_workers=workers)
    feed = FrameFeed(SIZE, CLIP_MEAN, CLIP_STD, sampling.max_frames, torch.device("cpu"))
    start = time.perf_counter()
    delivered = 0
    for frames, mask, _ in loader:
        batch = feed(frames)
        delivered += int(mask.sum())
        assert batch.shape[-1] == SIZE
    return delivered / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24, help="videos per source kind")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        kinds = {
            "video files": [VideoRecord(f"v{i}", encode_video(root / f"v{i}.mp4", n_frames=300, fps=30, width=320,
                                                              height=240, seed=i, gop=30))
                            for i in range(args.videos)],
            "frame folders": [VideoRecord(f"f{i}", write_frame_folder(root / f"f{i}", 12, width=320, height=240,
                                                                      seed=i)) for i in range(args.videos)],
        }
        samplings = {"video files": FrameSampling(max_frames=12, feature_framerate=1),
                     "frame folders": FrameSampling(max_frames=12, feature_framerate=1)}
        for kind, records in kinds.items():
            frames_per_second(records[:2], samplings[kind], "tensor", 0, 2)  # warm-up (libraries, page cache)
            for workers in args.workers:
                old = frames_per_second(records, samplings[kind], "pil", workers, args.batch_size)
                new = frames_per_second(records, samplings[kind], "tensor", workers, args.batch_size)
                per = max(1, workers)
                rows.append({"source": kind, "workers": workers, "old_frames_per_s": round(old, 1),
                             "new_frames_per_s": round(new, 1), "old_per_worker": round(old / per, 1),
                             "new_per_worker": round(new / per, 1), "ratio_new_over_old": round(new / old, 2)})
    print(f"{'source':<14} {'workers':>7} {'old f/s':>9} {'new f/s':>9} {'old/worker':>10} {'new/worker':>10} "
          f"{'new/old':>7}")
    for row in rows:
        print(f"{row['source']:<14} {row['workers']:>7} {row['old_frames_per_s']:>9} {row['new_frames_per_s']:>9} "
              f"{row['old_per_worker']:>10} {row['new_per_worker']:>10} {row['ratio_new_over_old']:>7}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"benchmark": "feed", "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
