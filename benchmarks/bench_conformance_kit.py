"""Run time of the conformance kit per built-in component (what ``c2vbench check-plugin NAME`` costs).

Each component is checked ``--repeats`` times in this process (the first check of a kind also pays torch's
first-call costs, so the median is reported beside the first); datasets that read downloaded files are checked on
the same tiny trees the test suite writes. The heavy ``clip`` backbone (a full-size ViT-B/32) is left out unless
``--heavy`` is given, as in the test suite.

Run:  .venv/bin/python benchmarks/bench_conformance_kit.py [--repeats 3] [--heavy] [--threads N] [--json]

``--threads 1`` fixes torch's thread count for the whole process, so that a kit that does not set it (before issue
21) and one that does are timed alike.
This is a measurement, not a test: it prints seconds per component and the rule count, and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def data_root(name: str, root: Path) -> Path | None:
    from _video_fixtures import make_msrvtt_tree, make_msvd_tree, make_vatex_tree, write_videos

    def folder() -> Path:
        write_videos(root / "videos", ["t0", "t1", "q0", "q1"], ".mp4", n_frames=8, fps=10)
        rows = [f"{video},a clip called {video},{'train' if video.startswith('t') else 'test'}"
                for video in ("t0", "t1", "q0", "q1")]
        (root / "captions.csv").write_text("video_id,caption,split\n" + "\n".join(rows) + "\n")
        return root

    makers = {"msrvtt": lambda: make_msrvtt_tree(root, bad_videos=False, n_frames=8),
              "msvd": lambda: make_msvd_tree(root, bad_videos=False), "vatex": lambda: make_vatex_tree(root),
              "folder": folder}
    return makers[name]() if name in makers else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--heavy", action="store_true", help="also the full-size clip backbone")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for the whole process (0: torch's default)")
    args = parser.parse_args()
    import os

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    os.environ.setdefault("C2VBENCH_LOAD_PLUGINS", "c2vbench")
    from c2vbench.testing import check_plugin, registered_components

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for kind, name in registered_components("c2vbench"):
            if kind == "checkpoint_format" or (kind, name) == ("backbone", "clip") and not args.heavy:
                continue
            root = data_root(name, Path(folder) / name) if kind == "dataset" else None
            seconds = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                report = check_plugin(name, kind, data_root=root)
                seconds.append(time.perf_counter() - start)
            rows.append({"kind": kind, "name": name, "first_s": round(seconds[0], 3),
                         "median_s": round(statistics.median(seconds), 3), "rules": len(report.outcomes),
                         "ok": report.ok})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'kind':10} {'name':18} {'first s':>8} {'median s':>9} {'rules':>6}  ok")
    for row in rows:
        print(f"{row['kind']:10} {row['name']:18} {row['first_s']:8.2f} {row['median_s']:9.2f} {row['rules']:6d}  "
              f"{row['ok']}")


if __name__ == "__main__":
    main()
