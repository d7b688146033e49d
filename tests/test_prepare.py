"""``c2vbench prepare``: frame extraction, manifests, bad-video reporting and resuming after an interruption."""

from __future__ import annotations

import hashlib
import json

import pytest
from _decoders import needs_torchcodec
from _video_fixtures import encode_video, frame_code, make_msrvtt_tree, truncate_file, zero_byte_file
from click.testing import CliRunner

from c2vbench.cli.prepare import prepare_command
from c2vbench.data.decoding import list_frame_files, read_sampled_frames
from c2vbench.data.extraction import PARTIAL_DIR, manifest_path, prepare_videos
from c2vbench.data.sampling import FrameSampling, grid_size


@pytest.fixture()
def video_folder(tmp_path):
    folder = tmp_path / "videos"
    for number in range(3):
        encode_video(folder / f"clip{number}.mp4", n_frames=30, fps=10, seed=number)
    encode_video(folder / "slow.avi", n_frames=20, fps=4)
    truncate_file(encode_video(folder / "cut.mp4", n_frames=30, fps=10), 0.6)
    truncate_file(encode_video(folder / "half.mp4", n_frames=30, fps=10, faststart=True), 0.7)
    zero_byte_file(folder / "zero.mp4")
    return folder


def test_extraction_writes_the_grid_frames_and_a_manifest(video_folder, tmp_path):
    out = tmp_path / "frames"
    report = prepare_videos(video_folder, out, workers=2, expected_ids=["clip0", "clip1", "clip2", "slow", "cut",
                                                                      "half", "zero", "absent"])
    status = {outcome.video_id: outcome.status for outcome in report.outcomes}
    assert status == {"clip0": "extracted", "clip1": "extracted", "clip2": "extracted", "slow": "extracted",
                      "cut": "failed", "half": "partial", "zero": "failed"}
    assert report.missing == ["absent"]
    assert {item["video_id"]: item["status"] for item in report.offenders()} == \
        {"cut": "failed", "half": "partial", "zero": "failed", "absent": "missing"}
    manifest = json.loads(manifest_path(out, "clip1").read_text())
    assert manifest["sha256"] == hashlib.sha256((video_folder / "clip1.mp4").read_bytes()).hexdigest()
    assert (manifest["native_frames"], manifest["fps"], manifest["duration"], manifest["width"],
            manifest["height"]) == (30, 10.0, 3.0, 64, 48)
    assert manifest["frames_written"] == grid_size(30, 10.0, 5.0) == len(list_frame_files(out / "clip1"))
    assert list_frame_files(out / "clip1")[0] == "00000001.jpg"
    # Upsampling a 4 fps clip to the 5 fps grid repeats frames, as ffmpeg -r 5 does.
    assert json.loads(manifest_path(out, "slow").read_text())["frames_written"] > 20
    assert not (out / "cut").exists() and not (out / PARTIAL_DIR).exists()


@pytest.mark.parametrize("feature_framerate", [1, 2])
def test_frames_read_back_are_the_frames_direct_decoding_samples(video_folder, tmp_path, feature_framerate):
    out = tmp_path / "frames"
    prepare_videos(video_folder, out, workers=1, expected_ids=["clip2", "slow"])
    sampling = FrameSampling(feature_framerate=feature_framerate)
    for video_id, suffix in (("clip2", ".mp4"), ("slow", ".avi")):
        from_frames = read_sampled_frames(out / video_id, sampling)
        from_video = read_sampled_frames(video_folder / f"{video_id}{suffix}", sampling)
        assert [frame_code(f) for f in from_frames.frames] == [frame_code(f) for f in from_video.frames]


def test_a_rerun_resumes_after_an_interruption(video_folder, tmp_path):
    out = tmp_path / "frames"
    wanted = ["clip0", "clip1", "clip2"]

    def interrupt_after_first(outcome, done, total):
        if outcome.status == "extracted":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_videos(video_folder, out, workers=1, expected_ids=wanted, on_done=interrupt_after_first)
    assert manifest_path(out, "clip0").exists() and not manifest_path(out, "clip1").exists()
    # A crash in the middle of a video leaves a staging folder behind: it must be redone, not trusted.
    stale = out / PARTIAL_DIR / "clip1"
    stale.mkdir(parents=True)
    (stale / "00000001.jpg").write_bytes(b"half a jpeg")
    first_manifest = manifest_path(out, "clip0").stat().st_mtime_ns

    report = prepare_videos(video_folder, out, workers=1, expected_ids=wanted)
    assert {o.video_id: o.status for o in report.outcomes} == {"clip0": "skipped", "clip1": "extracted",
                                                               "clip2": "extracted"}
    assert manifest_path(out, "clip0").stat().st_mtime_ns == first_manifest
    assert not (out / PARTIAL_DIR).exists()
    assert len(list_frame_files(out / "clip1")) == grid_size(30, 10.0, 5.0)

    # A changed source file or a damaged frame folder is extracted again.
    encode_video(video_folder / "clip2.mp4", n_frames=20, fps=10, seed=9)
    (out / "clip0" / "00000003.jpg").unlink()
    again = prepare_videos(video_folder, out, workers=1, expected_ids=wanted)
    assert {o.video_id: o.status for o in again.outcomes} == {"clip0": "extracted", "clip1": "skipped",
                                                              "clip2": "extracted"}
    assert json.loads(manifest_path(out, "clip2").read_text())["native_frames"] == 20


def test_cli_lists_offenders_and_reads_expected_ids_from_the_annotations(tmp_path):
    root = make_msrvtt_tree(tmp_path / "msrvtt", n_frames=10)
    result = CliRunner().invoke(prepare_command, ["msrvtt", "--videos", str(root / "videos"), "--out",
                                                  str(root / "frames"), "--data-root", str(root), "--workers", "2",
                                                  "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.output)
    assert summary["counts"] == {"extracted": 11, "partial": 0, "skipped": 0, "failed": 2, "missing": 1}
    assert [(o["video_id"], o["status"]) for o in summary["offenders"]] == \
        [("video11", "failed"), ("video12", "failed"), ("video13", "missing")]
    assert "empty file" in summary["offenders"][1]["reason"]


FORKED_TORCHCODEC_EXTRACTION = """
import sys
import torch
sys.path.insert(0, sys.argv[3])
from c2vbench.data.extraction import prepare_videos
from c2vbench.pipeline import seed_everything

seed_everything(0)  # deterministic algorithms: torch.empty fills new tensors, in parallel
torch.set_num_threads(2)
torch.ones(1 << 22).add_(1)  # the parent's OpenMP threads are up when the workers are forked
report = prepare_videos(sys.argv[1], sys.argv[2], workers=2, decoder="torchcodec")
print(sorted(outcome.status for outcome in report.outcomes))
"""


@needs_torchcodec
def test_forked_extraction_workers_decode_with_torchcodec_after_the_parent_used_openmp(tmp_path):
    """A forked worker that enters an OpenMP region its parent had used waits forever; TorchCodec's frame allocation
    enters one. Workers start with one torch thread, so they never do (the extraction finishes)."""
    import subprocess
    import sys
    from pathlib import Path

    videos = tmp_path / "videos"
    for index in range(2):
        encode_video(videos / f"clip{index}.mp4", n_frames=40, fps=10, width=160, height=120, seed=index)
    tests = str(Path(__file__).resolve().parent)
    done = subprocess.run([sys.executable, "-c", FORKED_TORCHCODEC_EXTRACTION, str(videos), str(tmp_path / "out"),
                           tests], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "['extracted', 'extracted']"
