"""The conformance kit: every built-in component passes it; deliberately broken plug-ins fail it, each naming the
rule (and sub-rule) it breaks, while correct ones an earlier kit refused conform; ``c2vbench check-plugin`` reports
the same on the command line, and names the cause of a plug-in that failed to load in one line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from _cli_runner import run_cli

from c2vbench.testing import assert_plugin_conforms, check_plugin, registered_components

BROKEN_SITE = Path(__file__).parent / "plugin_fixtures" / "site"
BROKEN_DISTRIBUTION = "c2vbench-broken-examples"
LOADING_DISTRIBUTION = "c2vbench-broken-loading"
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
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", f"c2vbench,{BROKEN_DISTRIBUTION},{LOADING_DISTRIBUTION}")
    get_registry.cache_clear()
    yield
    get_registry.cache_clear()


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    """Real encoded videos for the fixture datasets: train t0, t1; test q0, q1; and a byte copy of q0."""
    from _video_fixtures import write_videos

    root = tmp_path_factory.mktemp("video-folder")
    write_videos(root / "videos", ["t0", "t1", "q0", "q1"], ".mp4", n_frames=8, fps=10)
    shutil.copy(root / "videos" / "q0.mp4", root / "videos" / "copy_of_q0.mp4")
    return root


# One row per broken plug-in: (kind, name, options, rule, sub-rule, words of the message). Below the first block,
# every row is a class of fault an earlier kit let through (issue 21's table).
BROKEN = [
    ("temporal", "leaky", {}, "padding-ignored", "", "padded frame slots hold noise"),
    ("temporal", "wrong-type", {}, "output-type", "", "not VideoFeatures"),
    ("temporal", "wrong-width", {}, "output-type", "output-width", "expected [4, 32]"),
    ("temporal", "nan", {}, "finite", "", "NaN"),
    ("temporal", "no-gradient", {}, "gradients", "", "unused"),
    ("temporal", "detaches", {}, "gradients", "", "the input frames"),
    ("temporal", "order-liar", {}, "order-declared", "", "declared order-insensitive"),
    ("temporal", "explodes", {}, "builds", "", "boom in the factory"),
    ("align", "square-logits", {}, "output-type", "output-shape", "[3, 4]"),
    ("align", "float-loss", {}, "loss", "", "not a torch.Tensor"),
    ("dataset", "overlapping", {}, "disjoint", "", "in both train and test"),
    ("dataset", "not-a-dataset", {}, "builds", "", "not a RetrievalDataset"),
    # issue 21
    ("align", "transposes-square", {}, "orientation", "", "are transposed"),
    ("temporal", "train-batchnorm", {}, "batch-independent", "train-mode", "in train mode"),
    ("backbone", "batch-mean-frames", {}, "batch-independent", "train-mode", "embedding of image 0 changes"),
    ("backbone", "pads-to-longest", {}, "batch-independent", "tokenised-alone", "tokenised alone"),
    ("temporal", "padded-alignment-tokens", {}, "padding-ignored", "padded-alignment-tokens", "alignment_mask 1"),
    ("temporal", "declares-every-slot", {}, "padding-ignored", "reads-padded-slots", "reads_padded_slots=4"),
    ("temporal", "reads-real-padding", {}, "padding-ignored", "realistic-padding", "other videos' frames"),
    ("temporal", "nan-on-static", {}, "finite", "static-clip", "two identical consecutive valid frames"),
    ("temporal", "float64-pooled", {}, "output-type", "dtype", "float64, expected float32"),
    ("align", "float64-logits", {}, "output-type", "dtype", "float64, expected float32"),
    ("align", "stateful-loss", {}, "loss", "loss-stateless", "after a loss on another batch"),
    ("dataset", "holds-test-file", {}, "disjoint", "", "are the same source"),
    ("dataset", "holds-test-file", {"copy": True}, "disjoint", "", "are the same file (same size and first"),
    ("dataset", "no-selection-split", {}, "selection-split", "", "selection_split is 'val'"),
    ("dataset", "missing-test-source", {}, "sources-present", "", "q9"),
]
CORRECT = [("temporal", "zero-residual", {}), ("align", "scores-tokens", {}),
           ("temporal", "conv-pool", {"kernel": 1}), ("temporal", "conv-pool", {"kernel": 3}),
           ("backbone", "small-backbone", {}), ("dataset", "video-folder", {})]


@pytest.mark.parametrize(("kind", "name", "options", "rule", "subrule", "words"), BROKEN,
                         ids=[f"{row[1]}{'-' + '-'.join(row[2]) if row[2] else ''}" for row in BROKEN])
def test_a_broken_plugin_fails_the_kit_naming_the_rule(broken_plugins, video_folder, kind, name, options, rule,
                                                        subrule, words):
    data_root = video_folder if kind == "dataset" else None
    report = check_plugin(name, kind, options=options, data_root=data_root)
    failed = {outcome.rule: outcome for outcome in report.failures}
    assert rule in failed, report.outcomes
    assert failed[rule].subrule == subrule and words in failed[rule].detail, failed[rule]
    assert failed[rule].detail.startswith(f"[{subrule}] ") == bool(subrule)
    with pytest.raises(AssertionError) as raised:
        assert_plugin_conforms(name, kind, options=options, data_root=data_root)
    assert f"{kind} '{name}': {rule}: " in str(raised.value)


@pytest.mark.parametrize(("kind", "name", "options"), CORRECT, ids=[f"{row[1]}{row[2] or ''}" for row in CORRECT])
def test_correct_plugins_an_earlier_kit_refused_conform(broken_plugins, video_folder, kind, name, options):
    report = assert_plugin_conforms(name, kind, options=options,
                                    data_root=video_folder if kind == "dataset" else None)
    assert not [o for o in report.skipped if o.rule != "alignment-tokens"], report.skipped
    assert report.options == {**report.options, **options}


def test_order_is_judged_on_perturbed_weights_and_per_option_set(broken_plugins):
    # zero-residual is mean pooling at initialisation: its declared order sensitivity shows on perturbed weights
    assert "(seen on perturbed weights)" in check_plugin("zero-residual", "temporal").outcome("order-declared").detail
    declared = {kernel: check_plugin("conv-pool", "temporal", options={"kernel": kernel}).outcome("order-declared")
                for kernel in (1, 3)}
    assert declared[1].detail == "order_sensitive=False holds" and declared[3].detail == "order_sensitive=True holds"


def test_the_broken_fixtures_fail_only_their_own_rule(broken_plugins, video_folder):
    """Each new broken fixture breaks exactly one rule, so the rule is what the kit blames (not a side effect)."""
    for kind, name, options, rule, _, _ in BROKEN[12:]:
        report = check_plugin(name, kind, options=options, data_root=video_folder if kind == "dataset" else None)
        assert [outcome.rule for outcome in report.failures] == [rule], (name, report.failures)


@pytest.mark.parametrize(("name", "cause"), [
    ("import-error", "failed to import c2vbench_broken_loading.import_error: ModuleNotFoundError"),
    ("misspelt-hook", "c2vbench_register_temporal_module (did you mean c2vbench_register_temporal_modules?)"),
    ("non-spec", "yielded a dict, not a TemporalSpec"),
    ("bad-name", "the invalid name 'Bad Name'"),
    ("no-default", "NoDefaultOptions has field(s) without a default: layers"),
])
def test_check_plugin_names_why_a_plugin_failed_to_load(broken_plugins, capsys, name, cause):
    from c2vbench.platform.registry import get_registry

    failure = next(f for f in get_registry().failures if f.provider.entry_point == name)
    code, out, err = run_cli(["check-plugin", name], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in out + err, err
    assert cause in lines[0] and failure.describe() in lines[0]  # the very line `c2vbench plugins` prints
    code, out, _ = run_cli(["plugins"], capsys)
    assert code == 1 and failure.describe() in " ".join(out.split())


def test_an_options_type_without_defaults_is_one_line_for_every_command(broken_plugins, capsys, tmp_path):
    for args in (["plugins", "--options", "no-default"], ["run", "--temporal", "no-default", "--out", str(tmp_path)],
                 ["check-plugin", "no-default", "--kind", "temporal"]):
        code, out, err = run_cli(args, capsys)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and "Traceback" not in out + err, (args, err)
        assert "without a default: layers" in lines[0], (args, lines)


def test_an_unregistered_spec_with_a_broken_options_type_fails_builds():
    import dataclasses

    from c2vbench.plugin import TemporalSpec
    from c2vbench.testing import check_spec

    @dataclasses.dataclass(frozen=True)
    class Broken:
        layers: int

    report = check_spec(TemporalSpec(name="x", summary="x", factory=lambda o, c: None, options_type=Broken))
    builds = report.outcome("builds")
    assert builds.status == "failed" and "without a default: layers" in builds.detail
    assert all(o.status == "skipped" for o in report.outcomes if o.rule != "builds")


def test_every_rule_a_report_names_is_documented(broken_plugins, video_folder):
    from c2vbench.model.contracts import RULES, SUBRULES, rule_of
    from c2vbench.testing import KIND_RULES, KIND_SUBRULES

    text = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    seen = set()
    for kind, name, options, *_ in BROKEN:
        report = check_plugin(name, kind, options=options, data_root=video_folder if kind == "dataset" else None)
        for outcome in report.to_dict()["outcomes"]:
            seen.add(outcome["rule"])
            assert outcome["rule"] in KIND_RULES[kind]
            if outcome["subrule"]:
                seen.add(outcome["subrule"])
                assert outcome["subrule"] in KIND_SUBRULES[kind] and rule_of(outcome["subrule"]) == outcome["rule"]
    for rule in seen:
        assert f"| `{rule}` |" in text or f"| ↳ `{rule}` |" in text, rule
    for kind, subrules in KIND_SUBRULES.items():
        assert all(rule_of(sub) in KIND_RULES[kind] for sub in subrules), kind
    assert set(SUBRULES) == {sub for subrules in KIND_SUBRULES.values() for sub in subrules}
    assert set(RULES) == {rule for rules in KIND_RULES.values() for rule in rules}


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
    assert {o["subrule"] for o in report["outcomes"] if o["rule"] == "output-type"} == {"output-width"}
    code, _, err = run_cli(["check-plugin", "leeky"], capsys)
    assert code == 2 and "no plug-in registers a component called 'leeky' (did you mean 'leaky'?)" in err


def test_a_dataset_that_needs_downloaded_data_is_skipped_with_the_reason():
    report = check_plugin("msrvtt", "dataset")
    assert report.ok and report.skipped and all("--data-root" in o.detail for o in report.skipped)
    with pytest.raises(pytest.skip.Exception, match="needs downloaded data"):
        assert_plugin_conforms("msrvtt", "dataset")



def test_the_order_probes_read_a_declaration_made_per_option_set(broken_plugins):
    from c2vbench.platform.registry import get_registry
    from c2vbench.probes.order_probes import declared_order_sensitivity, frame_probe_refusal

    registry = get_registry()
    components = {"temporal": registry.get("temporal", "conv-pool"), "align": registry.get("align", "cosine")}
    assert "declare themselves order-invariant" in frame_probe_refusal(components, {"temporal": {"kernel": 1}})
    assert frame_probe_refusal(components, {"temporal": {"kernel": 3}}) is None
    assert declared_order_sensitivity(components) == {"temporal": True, "align": False}  # the default kernel, 3
