"""The conformance kit: every built-in component passes it; deliberately broken plug-ins fail it, each naming the
rule it breaks; ``c2vbench check-plugin`` reports the same on the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _cli_runner import run_cli

from c2vbench.testing import assert_plugin_conforms, check_plugin, registered_components

BROKEN_SITE = Path(__file__).parent / "plugin_fixtures" / "site"
BROKEN_DISTRIBUTION = "c2vbench-broken-examples"
# As timm does for its largest models: checked when asked for (C2VBENCH_HEAVY_CHECKS=1), since a full-size
# ViT-B/32 at 224 px costs more than the rest of this file on 2 CPU cores. tiny-clip runs the same backbone class.
HEAVY = {("backbone", "clip")}


def builtin_components():
    params = []
    for kind, name in registered_components("c2vbench"):
        marks = []
        if (kind, name) in HEAVY and not os.environ.get("C2VBENCH_HEAVY_CHECKS"):
            marks.append(pytest.mark.skip(reason="heavy: set C2VBENCH_HEAVY_CHECKS=1"))
        params.append(pytest.param(kind, name, id=f"{kind}-{name}", marks=marks))
    return params


def write_folder_tree(root: Path) -> Path:
    from _video_fixtures import write_videos

    ids = {"train": ["t0", "t1", "t2"], "test": ["q0", "q1"]}
    write_videos(root / "videos", [*ids["train"], *ids["test"]], ".mp4", n_frames=8, fps=10)
    rows = [f"{video_id},a clip called {video_id},{split}" for split, names in ids.items() for video_id in names]
    (root / "captions.csv").write_text("video_id,caption,split\n" + "\n".join(rows) + "\n")
    return root


def data_tree(name: str, root: Path) -> Path | None:
    """Datasets that read downloaded files are checked on tiny trees in their real distribution formats."""
    from _field_datasets import (
        make_activitynet_tree,
        make_didemo_tree,
        make_lsmdc_tree,
        make_rtime_tree,
        make_ssv2_tree,
        make_youcook2_tree,
    )
    from _video_fixtures import make_msrvtt_tree, make_msvd_tree, make_vatex_tree

    makers = {"msrvtt": lambda: make_msrvtt_tree(root, bad_videos=False, n_frames=8),
              "msvd": lambda: make_msvd_tree(root, bad_videos=False), "vatex": lambda: make_vatex_tree(root),
              "folder": lambda: write_folder_tree(root), "didemo": lambda: make_didemo_tree(root),
              "activitynet": lambda: make_activitynet_tree(root), "lsmdc": lambda: make_lsmdc_tree(root),
              "youcook2": lambda: make_youcook2_tree(root), "ssv2": lambda: make_ssv2_tree(root),
              "rtime": lambda: make_rtime_tree(root)}
    return makers[name]() if name in makers else None


@pytest.mark.parametrize(("kind", "name"), builtin_components())
def test_every_builtin_component_conforms(kind, name, tmp_path):
    report = assert_plugin_conforms(name, kind, data_root=data_tree(name, tmp_path) if kind == "dataset" else None)
    if kind != "checkpoint_format":
        assert not [o for o in report.skipped if o.rule != "alignment-tokens"], report.skipped


def test_every_kind_of_builtin_is_covered():
    kinds = {kind for kind, _ in registered_components("c2vbench")}
    assert {"backbone", "temporal", "align", "dataset"} <= kinds


def test_order_declarations_of_the_builtins_are_checked_both_ways():
    for name, declared in (("meanp", False), ("seqtransf", True), ("tdb", True)):
        outcome = check_plugin(name, "temporal").outcome("order-declared")
        assert outcome.status == "passed" and f"order_sensitive={declared}" in outcome.detail


@pytest.fixture
def broken_plugins(monkeypatch):
    from c2vbench.platform.registry import get_registry

    monkeypatch.syspath_prepend(str(BROKEN_SITE))
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", f"c2vbench,{BROKEN_DISTRIBUTION}")
    get_registry.cache_clear()
    yield
    get_registry.cache_clear()


@pytest.mark.parametrize(("kind", "name", "rule", "words"), [
    ("temporal", "leaky", "padding-ignored", "padded frame slots"),
    ("temporal", "wrong-type", "output-type", "not VideoFeatures"),
    ("temporal", "wrong-width", "output-type", "output-width"),
    ("temporal", "nan", "finite", "NaN"),
    ("temporal", "no-gradient", "gradients", "unused"),
    ("temporal", "detaches", "gradients", "the input frames"),
    ("temporal", "order-liar", "order-declared", "declared order-insensitive"),
    ("temporal", "explodes", "builds", "boom in the factory"),
    ("align", "square-logits", "output-type", "[3, 4]"),
    ("align", "float-loss", "loss", "not a torch.Tensor"),
    ("dataset", "overlapping", "records", "in both train and test"),
    ("dataset", "not-a-dataset", "builds", "not a RetrievalDataset"),
])
def test_a_broken_plugin_fails_the_kit_naming_the_rule(broken_plugins, kind, name, rule, words):
    report = check_plugin(name, kind)
    failed = {outcome.rule: outcome.detail for outcome in report.failures}
    assert rule in failed, report.outcomes
    assert words in failed[rule]
    with pytest.raises(AssertionError) as raised:
        assert_plugin_conforms(name, kind)
    assert f"{kind} '{name}': {rule}: " in str(raised.value)


def test_the_rules_a_broken_module_does_not_break_still_pass(broken_plugins):
    report = check_plugin("leaky", "temporal")
    assert [outcome.rule for outcome in report.failures] == ["padding-ignored"]
    assert report.outcome("gradients").status == "passed"


def test_check_plugin_command_exits_0_for_a_conforming_component(capsys):
    code, out, err = run_cli(["check-plugin", "meanp"], capsys)
    assert code == 0, err
    assert "temporal 'meanp' (c2vbench 0.1.0) conforms" in out


def test_check_plugin_command_prints_one_line_per_failed_rule(broken_plugins, capsys):
    code, out, err = run_cli(["check-plugin", "nan"], capsys)
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("FAILED ")]
    assert failed and all(line.startswith("FAILED temporal 'nan': ") for line in failed)
    assert [line.split(": ")[1] for line in failed] == ["finite"]
    assert "Traceback" not in out + err


def test_check_plugin_json_and_unknown_names(broken_plugins, capsys):
    code, out, _ = run_cli(["check-plugin", "wrong-width", "--json"], capsys)
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["name"] == "wrong-width"
    assert any(o["rule"] == "output-type" and o["status"] == "failed" for o in report["outcomes"])
    code, _, err = run_cli(["check-plugin", "leeky"], capsys)
    assert code == 2 and "no plug-in registers a component called 'leeky'" in err


def test_a_dataset_that_needs_downloaded_data_is_skipped_with_the_reason():
    report = check_plugin("msrvtt", "dataset")
    assert report.ok and report.skipped and all("--data-root" in o.detail for o in report.skipped)
    with pytest.raises(pytest.skip.Exception, match="needs downloaded data"):
        assert_plugin_conforms("msrvtt", "dataset")

