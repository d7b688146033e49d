"""`c2vbench eval` on an official-format CLIP2Video file, end to end on the embedded dataset."""

from __future__ import annotations

import hashlib
import json

import torch
from test_clip2video_checkpoint import official_state

from c2vbench.cli.main import main

SMALL_DATASET = ["--dataset-option", "train_videos=4", "--dataset-option", "val_videos=2",
                 "--dataset-option", "test_twin_pairs=3", "--dataset-option", "test_singles=2"]


def test_eval_reads_an_official_file_and_writes_a_result(tmp_path, capsys):
    # the real CLIP vocabulary, so that the built-in tokenizer's ids fit; everything else tiny
    path = tmp_path / "pytorch_model.bin.2"
    torch.save(official_state(vocab=49408, context=32, image=32, embed=64), path)
    try:
        main(["eval", "--checkpoint", str(path), "--legacy-mask", "--checkpoint-option", "variant=TAB_TDB",
              "--dataset", "synthetic-motion", *SMALL_DATASET, "--out", str(tmp_path / "out"), "--json", "--quiet"])
    except SystemExit as exit_:
        assert exit_.code in (0, None), capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert {role: result["plugins"][role]["name"] for role in ("temporal", "align")} == {"temporal": "tdb",
                                                                                         "align": "tab"}
    assert {key: result["checkpoint"][key] for key in ("path", "format", "legacy_mask", "options")} == {
        "path": str(path), "format": "clip2video", "legacy_mask": True, "options": {"variant": "TAB_TDB"}}
    assert result["checkpoint"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result["config"]["temporal"] == "tdb" and result["config"]["align"] == "tab"  # what ran, not defaults
    assert result["protocol"]["sampling"]["max_frames"] == 8  # the dataset's protocol, not the checkpoint's 12
    assert len(result["per_query"]["t2v_rank"]) == 8
    assert result["training"] is None and result["cost"]["trainable_parameters"] == 0
