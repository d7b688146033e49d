"""Tiny videos and frame folders for tests, encoded with PyAV (no ffmpeg binary needed).

Every frame carries its own index as the grey level of its top-left block (``frame_code``), so a test can tell
which native frame a decoder returned. Other test modules may import these helpers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

CODE_STEP = 8  # grey level of frame i's marker block is i * CODE_STEP (mod 256): exact codes for i < 32


def frame_image(index: int, width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """An RGB frame whose top-left 16x16 block encodes ``index``; the rest is mild noise (so files have size)."""
    rng = np.random.default_rng([seed, index])
    image = rng.integers(60, 120, size=(height, width, 3), dtype=np.uint8)
    image[:16, :16, :] = (index * CODE_STEP) % 256
    return image


def frame_code(frame: np.ndarray) -> int:
    """The index encoded by :func:`frame_image` (read from the block centre, robust to compression)."""
    return int(round(float(frame[4:12, 4:12, :].mean()) / CODE_STEP))


def encode_video(path: Path, n_frames: int = 30, fps: int = 10, width: int = 64, height: int = 48,
                 codec: str = "mpeg4", faststart: bool = False, seed: int = 0, gop: int | None = None) -> Path:
    """Write an ``n_frames`` video at ``fps`` with PyAV; ``faststart`` puts the mp4 index first (truncation then
    leaves a partly decodable file)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart and path.suffix == ".mp4" else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "mpeg4":
            stream.codec_context.bit_rate = 4_000_000  # near-lossless, so frame codes survive
        if gop is not None:
            stream.codec_context.gop_size = gop
        for index in range(n_frames):
            frame = av.VideoFrame.from_ndarray(frame_image(index, width, height, seed), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def truncate_file(path: Path, fraction: float = 0.6) -> Path:
    """Cut a file to ``fraction`` of its bytes (a download that stopped half-way)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def zero_byte_file(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write_frame_folder(folder: Path, n_frames: int, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    """The official extracted-frames layout: ``folder/00000001.jpg ...`` (1-based, 8 digits)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(n_frames):
        Image.fromarray(frame_image(index, width, height, seed)).save(folder / f"{index + 1:08d}.jpg", quality=95)
    return folder


def write_videos(folder: Path, video_ids: Iterable[str], suffix: str = ".mp4", n_frames: int = 30,
                 fps: int = 10) -> dict[str, Path]:
    """One small video per id, ``folder/<id><suffix>``; each id gets its own noise seed."""
    return {video_id: encode_video(Path(folder) / f"{video_id}{suffix}", n_frames=n_frames, fps=fps, seed=number)
            for number, video_id in enumerate(video_ids)}


# ----------------------------------------------------------------------------------------------------------------
# Tiny dataset trees in the real distribution formats


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def msrvtt_caption(video_number: int, k: int) -> str:
    return f"video {video_number} caption {k}"


def make_msrvtt_tree(root: Path, n_videos: int = 14, captions_per_video: int = 3, bad_videos: bool = True,
                     n_frames: int = 30, fps: int = 10) -> Path:
    """An MSR-VTT tree: ``MSRVTT_data.json`` (sentences interleaved across videos, as in the original), the
    ``MSRVTT_*.csv`` split files, and ``videos/videoN.mp4``.

    Split layout (with the default 14 videos), shaped like the real one: 1k-A = video9-13 (csv order 13, 9, 10,
    11, 12 so that file order differs from id order), train.9k = every other video (video0-8), train.7k = video0-5,
    train.full = video0-5, val.full = video6-7, test.full = video8-13 (so 1k-A is inside test.full and 9k overlaps
    test.full). With ``bad_videos``: video11 truncated, video12 zero bytes, video13 missing.
    """
    import json

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    ids = [f"video{i}" for i in range(n_videos)]
    sentences, sen_id = [], 0
    # Round-robin over videos, but test videos first in reverse, so first appearance != id order.
    order = list(reversed(range(8, n_videos))) + list(range(8))
    for k in range(captions_per_video):
        for number in order:
            sentences.append({"caption": msrvtt_caption(number, k), "video_id": f"video{number}", "sen_id": sen_id})
            sen_id += 1
    videos_meta = [{"category": 0, "url": f"https://www.youtube.com/watch?v=x{i}", "video_id": video_id,
                    "start time": 1.0, "end time": 4.0, "split": "train" if i < 8 else "test", "id": i}
                   for i, video_id in enumerate(ids)]
    data = {"info": {"contributor": "tests", "version": "1.0"}, "videos": videos_meta, "sentences": sentences}
    (root / "MSRVTT_data.json").write_text(json.dumps(data), encoding="utf-8")
    _write_csv(root / "MSRVTT_train.9k.csv", ["video_id"], [[v] for v in ids[:9]])
    _write_csv(root / "MSRVTT_train.7k.csv", ["video_id"], [[v] for v in ids[:6]])
    _write_csv(root / "MSRVTT_train.full.csv", ["video_id"], [[v] for v in ids[:6]])
    _write_csv(root / "MSRVTT_val.full.csv", ["video_id"], [[v] for v in ids[6:8]])
    _write_csv(root / "MSRVTT_test.full.csv", ["video_id"], [[v] for v in ids[8:]])
    test_numbers = [n_videos - 1] + list(range(9, n_videos - 1))
    _write_csv(root / "MSRVTT_JSFUSION_test.csv", ["key", "vid_key", "video_id", "sentence"],
               [[f"ret{row}", f"msr{number}", f"video{number}", f"a person in clip {number}"]
                for row, number in enumerate(test_numbers)])
    write_videos(root / "videos", ids, ".mp4", n_frames=n_frames, fps=fps)
    if bad_videos:
        truncate_file(root / "videos" / "video11.mp4", 0.6)
        zero_byte_file(root / "videos" / "video12.mp4")
        (root / "videos" / "video13.mp4").unlink()
    return root


MSVD_IDS = ["-4wsuPCjDBc_5_15", "-7KMZQEsJW4_205_208", "-8y1Q0rA3n8_108_115", "0bSz70pYAP0_5_15",
            "1dfR0A_BXjw_590_600", "2PC4YnXBnAo_24_32", "3chKYj3n3qQ_0_10", "4PcL6-mjRNk_11_18",
            "5HAf_INrFy0_3_25", "6lO3l-Va5Dc_0_8"]


def make_msvd_tree(root: Path, captions_per_video: int = 4, bad_videos: bool = True,
                   video_source: str = "videos") -> Path:
    """An MSVD tree: ``raw-captions.pkl`` (dict id -> list of token lists), the three list files, and
    ``videos/<id>.avi`` (or ``frames/<id>/%08d.jpg``). train = ids 0-5, val = 6, test = 7-9 (listed 9, 7, 8).
    With ``bad_videos`` (videos only): test id 8 is a zero-byte file."""
    import pickle

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    captions = {video_id: [f"clip {i} says {k}".split() for k in range(captions_per_video)]
                for i, video_id in enumerate(MSVD_IDS)}
    with open(root / "raw-captions.pkl", "wb") as handle:
        pickle.dump(captions, handle)
    (root / "train_list.txt").write_text("\n".join(MSVD_IDS[:6]) + "\n")
    (root / "val_list.txt").write_text(MSVD_IDS[6] + "\n")
    (root / "test_list.txt").write_text("\n".join([MSVD_IDS[9], MSVD_IDS[7], MSVD_IDS[8]]) + "\n")
    if video_source == "frames":
        for number, video_id in enumerate(MSVD_IDS):
            write_frame_folder(root / "frames" / video_id, 15, seed=number)
    else:
        write_videos(root / "videos", MSVD_IDS, ".avi")
        if bad_videos:
            zero_byte_file(root / "videos" / f"{MSVD_IDS[8]}.avi")
    return root


VATEX_IDS = [f"Yt{i:02d}_-abc_{i:06d}_{i + 10:06d}" for i in range(14)]


def make_vatex_tree(root: Path, captions_per_video: int = 10) -> Path:
    """A VATEX tree: ``vatex_data.json`` (id -> enCap/chCap), train/val/test lists, ``test1k5_sec_list.txt`` and
    ``videos/<id>.mp4``. train = 0-5, HGR val = 6-9, HGR test = 10-13, random 1k5 = 7, 9, 10, 12."""
    import json

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data = {video_id: {"enCap": [f"english {i} number {k}" for k in range(captions_per_video)],
                       "chCap": [f"中文 {i} {k}" for k in range(captions_per_video)]}
            for i, video_id in enumerate(VATEX_IDS)}
    (root / "vatex_data.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (root / "train_list.txt").write_text("\n".join(VATEX_IDS[:6]) + "\n")
    (root / "val_list.txt").write_text("\n".join(VATEX_IDS[6:10]) + "\n")
    (root / "test_list.txt").write_text("\n".join(VATEX_IDS[10:]) + "\n")
    (root / "test1k5_sec_list.txt").write_text("\n".join(VATEX_IDS[i] for i in (7, 9, 10, 12)) + "\n")
    write_videos(root / "videos", VATEX_IDS, ".mp4", n_frames=20)
    return root
