"""c2vbench never deletes, rewrites or re-permissions a folder it did not create (the --data-root data-loss bug)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from _cli_runner import run_cli

from c2vbench.platform.errors import DataError
from c2vbench.platform.registry import load_registry
from c2vbench.platform.specs import build_options

TINY = {"train_videos": "4", "val_videos": "2", "test_twin_pairs": "1", "test_singles": "1",
        "frames_per_video": "5", "max_frames": "3"}


def user_folder(root: Path) -> Path:
    """A folder as a user keeps it: annotation files, notes, a sub-folder; private mode and old timestamps."""
    root.mkdir()
    (root / "MSRVTT_data.json").write_text(json.dumps({"sentences": []}))
    (root / "notes.txt").write_text("my notes, do not lose\n")
    (root / "videos").mkdir()
    (root / "videos" / "video1.mp4").write_bytes(b"\x00\x01 not really a video")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (1_000_000_000, 1_000_000_000))
    root.chmod(0o750)
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    """Contents, mode and mtime of the folder and everything in it."""
    state = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.stat()
        content = path.read_bytes() if path.is_file() else None
        state[str(path.relative_to(root))] = (content, stat.S_IMODE(info.st_mode), info.st_mtime_ns)
    return state


@pytest.mark.parametrize("command", [
    ["run", "--protocol", "zeroshot"],
    ["eval", "--checkpoint", "."],
])
def test_a_data_root_the_dataset_does_not_read_is_refused_and_left_untouched(tmp_path, capsys, command):
    root = user_folder(tmp_path / "msrvtt")
    before = snapshot(root)
    code, _, err = run_cli([*command, "--data-root", str(root), "--out", str(tmp_path / "out")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "synthetic-motion' reads no --data-root" in lines[0] and "drop --data-root" in lines[0]
    assert snapshot(root) == before


def test_the_generator_refuses_an_existing_folder_it_did_not_create(tmp_path):
    root = user_folder(tmp_path / "data")
    before = snapshot(root)
    spec = load_registry().get("dataset", "synthetic-motion").spec
    with pytest.raises(DataError, match="not created by c2vbench"):
        spec.factory(build_options(spec, TINY), root)
    assert snapshot(root) == before
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no staging folder left behind either


def test_the_generator_writes_a_marked_folder_of_its_own_with_ordinary_permissions(tmp_path):
    spec = load_registry().get("dataset", "synthetic-motion").spec
    root = tmp_path / "fresh"
    dataset = spec.factory(build_options(spec, TINY), root)
    assert len(dataset.split("test").videos) == 3
    assert (root / ".c2vbench-generated").is_file() and (root / "COMPLETE").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(root.stat().st_mode) == 0o777 & ~umask
    # an unfinished folder of its own (marker, no COMPLETE) is c2vbench's to replace
    (root / "COMPLETE").unlink()
    (root / "videos" / "stray.tmp").write_bytes(b"half-written")
    spec.factory(build_options(spec, TINY), root)
    assert (root / "COMPLETE").is_file() and not (root / "videos" / "stray.tmp").exists()
