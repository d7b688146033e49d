"""MSR-VTT, MSVD and VATEX plug-ins on tiny trees written in the original distribution formats."""

from __future__ import annotations

import hashlib
import os
import pickle

import pytest
from _decoders import AUTO_DECODER
from _video_fixtures import (
    MSVD_IDS,
    VATEX_IDS,
    make_msrvtt_tree,
    make_msvd_tree,
    make_vatex_tree,
    msrvtt_caption,
)

from c2vbench.data.integrity import screen_split
from c2vbench.platform.errors import C2VBenchError, DataError
from c2vbench.platform.registry import load_registry
from c2vbench.platform.specs import build_options


@pytest.fixture(scope="module")
def registry():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")  # the built-ins alone
        return load_registry()


def build(registry, name, root, **overrides):
    spec = registry.get("dataset", name).spec
    return spec.factory(build_options(spec, {key: str(value) for key, value in overrides.items()}), root)


@pytest.fixture(scope="module")
def msrvtt_root(tmp_path_factory):
    return make_msrvtt_tree(tmp_path_factory.mktemp("msrvtt"))


@pytest.fixture(scope="module")
def msvd_root(tmp_path_factory):
    return make_msvd_tree(tmp_path_factory.mktemp("msvd"))


@pytest.fixture(scope="module")
def vatex_root(tmp_path_factory):
    return make_vatex_tree(tmp_path_factory.mktemp("vatex"))


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# MSR-VTT


def test_msrvtt_9k_with_1k_a(registry, msrvtt_root):
    dataset = build(registry, "msrvtt", msrvtt_root)
    train, val, test = (dataset.split(name) for name in ("train", "val", "test"))
    # 1k-A: csv rows in file order, one caption each, the csv's sentence (not the json captions).
    assert test.video_ids() == ["video13", "video9", "video10", "video11", "video12"]
    assert [c.text for c in test.captions] == [f"a person in clip {n}" for n in (13, 9, 10, 11, 12)]
    assert test.text_to_video == list(range(5)) and not test.is_multi_caption
    # val: carved from the 9k list (capped at a tenth: 1 video), one caption (its first in the json), not in train.
    assert len(val.videos) == 1 and len(val.captions) == 1
    assert any("val_size 500 was capped to 1 video(s)" in note for note in dataset.notes)  # said, not silent
    (val_id,) = val.video_ids()
    assert val.captions[0].text == msrvtt_caption(int(val_id[5:]), 0)
    assert sorted(train.video_ids() + [val_id]) == sorted(f"video{i}" for i in range(9))
    # train: every caption (3 per video), grouped per video in json order.
    assert len(train.captions) == 3 * len(train.videos)
    for index, video_id in enumerate(train.video_ids()):
        texts = [c.text for c in train.captions if c.video_index == index]
        assert texts == [msrvtt_caption(int(video_id[5:]), k) for k in range(3)]
    card = dataset.protocol
    assert card["variant"] == "9k" and card["test"] == "1k-A" and card["selection_split"] == "val"
    assert card["annotation_sha256"] == {name: sha256(msrvtt_root / name) for name in
                                         ("MSRVTT_data.json", "MSRVTT_train.9k.csv", "MSRVTT_JSFUSION_test.csv")}
    assert card["video_source"]["kind"] == "videos" and card["decoder"]["name"] == AUTO_DECODER
    assert dataset.sampling.feature_framerate == 2 and dataset.sampling.max_frames == 12
    assert dataset.selection_split == "val"


def test_msrvtt_full_is_multi_caption_in_first_appearance_order(registry, msrvtt_root):
    dataset = build(registry, "msrvtt", msrvtt_root, variant="full")
    test = dataset.split("test")
    # The json lists test videos first in reverse id order: that is the official video order.
    assert test.video_ids() == [f"video{n}" for n in (13, 12, 11, 10, 9, 8)]
    assert test.is_multi_caption and len(test.captions) == 18
    grouped = [(c.video_index, c.text) for c in test.captions]
    expected = [(index, msrvtt_caption(n, k)) for index, n in enumerate((13, 12, 11, 10, 9, 8)) for k in range(3)]
    assert grouped == expected
    assert dataset.split("val").video_ids() == ["video6", "video7"]
    assert len(dataset.split("val").captions) == 6
    assert len(dataset.split("train").videos) == 6
    assert "MSRVTT_val.full.csv" in dataset.protocol["annotation_sha256"]


def test_msrvtt_7k_and_selection_on_test(registry, msrvtt_root):
    dataset = build(registry, "msrvtt", msrvtt_root, variant="7k", selection="test")
    assert len(dataset.split("train").videos) == 6  # nothing carved when selecting on test
    assert dataset.split("val") is dataset.split("test")
    assert dataset.selection_split == "test"
    assert "test split" in dataset.protocol["selection_warning"]


def test_msrvtt_refuses_leaky_or_unknown_protocols(registry, msrvtt_root):
    with pytest.raises(DataError, match="both train and test"):
        build(registry, "msrvtt", msrvtt_root, variant="9k", test="full").split("train")  # 9k ∩ test.full
    with pytest.raises(C2VBenchError, match="variant='8k' of dataset 'msrvtt' is not allowed.*9k, 7k, full"):
        build(registry, "msrvtt", msrvtt_root, variant="8k")


def test_missing_root_or_annotation_names_the_exact_file(registry, tmp_path):
    with pytest.raises(DataError, match="no --data-root"):
        build(registry, "msrvtt", None)
    (tmp_path / "videos").mkdir()
    with pytest.raises(DataError, match=r"MSRVTT_data\.json not found.*msrvtt_data\.zip"):
        build(registry, "msrvtt", tmp_path)


def test_msrvtt_bad_videos_stop_the_run_or_are_recorded(registry, msrvtt_root):
    dataset = build(registry, "msrvtt", msrvtt_root)
    with pytest.raises(DataError) as caught:
        screen_split(dataset.split("test"), sampling=dataset.sampling)
    message = str(caught.value)
    assert "3 of 5" in message
    for offender in ("video11 (undecodable", "video12 (empty file", "video13 (missing"):
        assert offender in message
    screened = screen_split(dataset.split("test"), allow_missing=True, sampling=dataset.sampling)
    assert [s["video_id"] for s in screened.skipped] == ["video13", "video11", "video12"]
    assert screened.split.video_ids() == ["video9", "video10"]
    assert [c.text for c in screened.split.captions] == [f"a person in clip {n}" for n in (9, 10)]


def test_changing_an_annotation_file_changes_the_card(registry, tmp_path):
    root = make_msrvtt_tree(tmp_path / "tree", bad_videos=False, n_frames=10)
    before = build(registry, "msrvtt", root).protocol
    csv_path = root / "MSRVTT_JSFUSION_test.csv"
    csv_path.write_text(csv_path.read_text().replace("a person in clip 9", "a person in clip nine"))
    after = build(registry, "msrvtt", root).protocol
    assert before["annotation_sha256"]["MSRVTT_JSFUSION_test.csv"] != \
        after["annotation_sha256"]["MSRVTT_JSFUSION_test.csv"]
    assert before["annotation_sha256"]["MSRVTT_data.json"] == after["annotation_sha256"]["MSRVTT_data.json"]


# ---------------------------------------------------------------------------------------------------------------
# MSVD


def test_msvd_splits_order_and_token_joining(registry, msvd_root):
    dataset = build(registry, "msvd", msvd_root)
    counts = {name: (len(split.videos), len(split.captions)) for name, split in dataset.splits.items()}
    assert counts == {"train": (6, 24), "val": (1, 4), "test": (3, 12)}
    test = dataset.split("test")
    assert test.video_ids() == [MSVD_IDS[9], MSVD_IDS[7], MSVD_IDS[8]]  # list-file order
    assert [c.text for c in test.captions[:4]] == [f"clip 9 says {k}" for k in range(4)]
    assert test.text_to_video == [0] * 4 + [1] * 4 + [2] * 4
    assert test.videos[0].source.name == f"{MSVD_IDS[9]}.avi"
    assert dataset.sampling.feature_framerate == 1
    assert set(dataset.protocol["annotation_sha256"]) == {"raw-captions.pkl", "train_list.txt", "val_list.txt",
                                                          "test_list.txt"}


def test_msvd_zero_byte_video_is_reported(registry, msvd_root):
    dataset = build(registry, "msvd", msvd_root)
    with pytest.raises(DataError, match=rf"{MSVD_IDS[8]} \(empty file"):
        screen_split(dataset.split("test"), sampling=dataset.sampling)


def test_msvd_from_frame_folders(registry, tmp_path):
    root = make_msvd_tree(tmp_path / "msvd", video_source="frames")
    dataset = build(registry, "msvd", root)
    names = sorted(entry.name for entry in (root / "frames").iterdir())
    assert dataset.protocol["video_source"] == {
        "kind": "frames", "entries": len(names),
        "video_list_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest()}  # location-free
    assert dataset.split("test").videos[0].source == root / "frames" / MSVD_IDS[9]
    screened = screen_split(dataset.split("test"), sampling=dataset.sampling)
    assert screened.skipped == [] and screened.partial == []


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_a_malicious_caption_pickle(registry, tmp_path):
    root = make_msvd_tree(tmp_path / "msvd", video_source="frames")
    marker = tmp_path / "pwned"
    with open(root / "raw-captions.pkl", "wb") as handle:
        pickle.dump({MSVD_IDS[0]: [["a", "b"]], "payload": _Exploit(marker)}, handle)
    with pytest.raises(DataError, match=r"refusing to load (posix|os|nt)\.system"):
        build(registry, "msvd", root)
    assert not marker.exists()
    # The same payload really does run with the standard unpickler (so the test above is meaningful).
    pickle.loads(pickle.dumps(_Exploit(marker)))
    assert marker.exists()


# ---------------------------------------------------------------------------------------------------------------
# VATEX


def test_vatex_hgr(registry, vatex_root):
    dataset = build(registry, "vatex", vatex_root)
    assert dataset.split("test").video_ids() == VATEX_IDS[10:]
    assert dataset.split("val").video_ids() == VATEX_IDS[6:10]
    assert len(dataset.split("test").captions) == 40
    assert [c.text for c in dataset.split("test").captions[:2]] == ["english 10 number 0", "english 10 number 1"]
    assert dataset.protocol["test"] == "hgr"
    assert "test1k5_sec_list.txt" not in dataset.protocol["annotation_sha256"]


def test_vatex_random1k5_reads_the_paper_list_and_keeps_val_disjoint(registry, vatex_root):
    dataset = build(registry, "vatex", vatex_root, test="random1k5")
    assert dataset.split("test").video_ids() == [VATEX_IDS[i] for i in (7, 9, 10, 12)]
    assert dataset.split("val").video_ids() == [VATEX_IDS[i] for i in (6, 8, 11, 13)]
    assert dataset.split("train").video_ids() == VATEX_IDS[:6]
    assert dataset.protocol["annotation_sha256"]["test1k5_sec_list.txt"] == sha256(vatex_root / "test1k5_sec_list.txt")
    assert dataset.sampling.feature_framerate == 1


# ---------------------------------------------------------------------------------------------------------------
# End to end through `c2vbench run`


@pytest.mark.slow
def test_run_end_to_end_on_generated_msrvtt_trees(tmp_path):
    import json

    from click.testing import CliRunner

    from c2vbench.cli.main import cli

    complete = make_msrvtt_tree(tmp_path / "complete", bad_videos=False, n_frames=20)
    broken = make_msrvtt_tree(tmp_path / "broken", bad_videos=True, n_frames=20)
    common = ["run", "--dataset", "msrvtt", "--epochs", "1", "--batch-size", "4", "--quiet", "--no-checkpoint",
              "--json", "--backbone-option", "image_size=32"]
    runner = CliRunner()
    outcome = runner.invoke(cli, [*common, "--data-root", str(complete), "--out", str(tmp_path / "a")])
    assert outcome.exit_code == 0, outcome.output
    full = json.loads(outcome.output)
    refused = runner.invoke(cli, [*common, "--data-root", str(broken), "--out", str(tmp_path / "b")])
    assert refused.exit_code != 0 and "video13 (missing)" in str(refused.exception)
    outcome = runner.invoke(cli, [*common, "--data-root", str(broken), "--out", str(tmp_path / "b"),
                                  "--allow-missing"])
    assert outcome.exit_code == 0, outcome.output
    partial = json.loads(outcome.output)
    assert [s["video_id"] for s in partial["protocol"]["skipped_videos"]["test"]] == ["video13", "video11", "video12"]
    assert len(partial["per_query"]["t2v_rank"]) == 2 and len(full["per_query"]["t2v_rank"]) == 5
    assert partial["protocol"]["hash"] != full["protocol"]["hash"]
    assert full["protocol"]["annotation_sha256"]["MSRVTT_JSFUSION_test.csv"]
