"""At run time the core checks what plug-ins return: a violation is one line naming the plug-in and the rule, and a
plug-in's own exception in its factory is one line naming the plug-in — never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _cli_runner import run_cli
from _small_runs import SMALL_BACKBONE, SMALL_DATASET

BROKEN_SITE = Path(__file__).parent / "plugin_fixtures" / "site"
PROVIDER = "(c2vbench-broken-examples 1.0)"


@pytest.fixture
def broken_plugins(monkeypatch):
    from c2vbench.platform.registry import get_registry

    monkeypatch.syspath_prepend(str(BROKEN_SITE))
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench,c2vbench-broken-examples")
    get_registry.cache_clear()
    yield
    get_registry.cache_clear()


def small_run_args(tmp_path, *extra: str) -> list[str]:
    args = ["run", "--epochs", "1", "--batch-size", "4", "--out", str(tmp_path), "--no-checkpoint", "--quiet"]
    for key, value in SMALL_BACKBONE.items():
        args += ["--backbone-option", f"{key}={value}"]
    for key, value in SMALL_DATASET.items():
        args += ["--dataset-option", f"{key}={value}"]
    return args + list(extra)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_wrong_width_during_training_is_one_line_naming_the_plugin_and_rule(broken_plugins, tmp_path, capsys):
    code, _, err = run_cli(small_run_args(tmp_path, "--temporal", "wrong-width"), capsys)
    line = one_error_line(err)
    assert code == 2
    assert f"temporal module 'wrong-width' {PROVIDER} broke the plug-in rule 'output-width'" in line
    assert "VideoFeatures.pooled is [4, 32], expected [4, 64]" in line
    assert "c2vbench check-plugin wrong-width" in line
    assert not list(tmp_path.glob("*.json")), "no result file for a run that failed"


def test_nan_at_evaluation_is_one_line_naming_the_rule(broken_plugins, tmp_path, capsys):
    code, _, err = run_cli(small_run_args(tmp_path, "--temporal", "nan", "--protocol", "zeroshot"), capsys)
    assert code == 2
    assert f"temporal module 'nan' {PROVIDER} broke the plug-in rule 'finite'" in one_error_line(err)


@pytest.mark.parametrize(("role", "name", "rule", "words"), [
    ("--temporal", "float64-pooled", "dtype", "VideoFeatures.pooled has dtype float64, expected float32"),
    ("--align", "float64-logits", "dtype", "the align head's logits has dtype float64"),
    ("--temporal", "nan", "finite", "VideoFeatures.pooled holds"),
])
def test_a_broken_plugin_stops_a_training_run_with_the_rule(broken_plugins, tmp_path, capsys, role, name, rule,
                                                            words):
    """The rules the kit checks on tiny inputs stop a real training run with the plug-in's rule: not a traceback
    from the next component (float64 features into the cosine head), not "training diverged" (NaN features)."""
    code, _, err = run_cli(small_run_args(tmp_path, role, name), capsys)
    line = one_error_line(err)
    assert code == 2 and f"'{name}' {PROVIDER} broke the plug-in rule '{rule}'" in line and words in line, line
    assert not list(tmp_path.glob("*.json"))


def test_the_result_records_a_declared_read_of_padded_slots():
    from c2vbench.platform.registry import get_registry

    registry = get_registry()
    assert registry.get("temporal", "tdb").provenance()["reads_padded_slots"] == 1
    assert "reads_padded_slots" not in registry.get("temporal", "meanp").provenance()


def test_an_exception_in_a_factory_is_one_line_naming_the_plugin(broken_plugins, tmp_path, capsys):
    code, _, err = run_cli(small_run_args(tmp_path, "--temporal", "explodes", "--protocol", "zeroshot"), capsys)
    line = one_error_line(err)
    assert code == 2
    assert f"temporal module 'explodes' {PROVIDER} failed while building: RuntimeError: boom in the factory" in line


def test_a_dataset_plugin_returning_the_wrong_type_is_one_line(broken_plugins, tmp_path, capsys):
    code, _, err = run_cli(["run", "--dataset", "not-a-dataset", "--protocol", "zeroshot", "--out", str(tmp_path)],
                           capsys)
    assert code == 2
    assert (f"dataset 'not-a-dataset' {PROVIDER} broke the plug-in rule 'output-type': the factory returned a dict"
            in one_error_line(err))


def build_model_with(temporal: str = "meanp", align: str = "cosine"):
    from c2vbench.model.assembly import build_model
    from c2vbench.platform.registry import get_registry
    from c2vbench.platform.specs import build_options

    registry = get_registry()
    components = {"backbone": registry.get("backbone", "tiny-clip"), "temporal": registry.get("temporal", temporal),
                  "align": registry.get("align", align)}
    options = {role: build_options(c.spec, SMALL_BACKBONE if role == "backbone" else {})
               for role, c in components.items()}
    return build_model(components, options, max_frames=4).eval()


def features(model, videos: int = 3):
    frames = torch.randn(videos, 4, model.embed_dim)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])[:videos]
    ids, attention = model.backbone.tokenize(["a red square", "a blue circle"])
    return frames, mask, ids, attention


def test_a_wrong_output_type_is_caught_before_it_reaches_the_align_head(broken_plugins):
    from c2vbench.platform.errors import PluginContractError

    model = build_model_with(temporal="wrong-type")
    frames, mask, _, _ = features(model)
    with pytest.raises(PluginContractError) as raised:
        model.encode_video_from_frame_features(frames, mask)
    assert raised.value.rule == "output-type"
    assert "temporal module 'wrong-type'" in str(raised.value) and "not VideoFeatures" in str(raised.value)


def test_wrong_logits_and_a_float_loss_are_caught(broken_plugins):
    from c2vbench.platform.errors import PluginContractError

    model = build_model_with(align="square-logits")
    frames, mask, ids, attention = features(model)
    with torch.no_grad():
        text, video = model.encode_text(ids, attention), model.encode_video_from_frame_features(frames, mask)
    with pytest.raises(PluginContractError, match=r"align head 'square-logits' .* rule 'output-shape'.*\[2, 3\]"):
        model.similarity(text, video)
    model = build_model_with(align="float-loss").train()
    with pytest.raises(PluginContractError, match=r"align head 'float-loss' .* rule 'loss'"):
        model.loss(model.encode_text(ids, attention), model.encode_video_from_frame_features(frames[:2], mask[:2]))


def test_the_first_training_loss_also_checks_the_logits(broken_plugins):
    """A head whose loss never calls its forward (float64-logits) is still caught on the first training batch."""
    from c2vbench.platform.errors import PluginContractError

    model = build_model_with(align="float64-logits").train()
    frames, mask, ids, attention = features(model, videos=2)
    with pytest.raises(PluginContractError, match=r"align head 'float64-logits' .* rule 'dtype'"):
        model.loss(model.encode_text(ids, attention), model.encode_video_from_frame_features(frames, mask))


def test_conforming_components_pass_the_run_time_checks():
    model = build_model_with(temporal="tdb", align="tab")
    frames, mask, ids, attention = features(model)
    with torch.no_grad():
        logits = model.similarity(model.encode_text(ids, attention), model.encode_video_from_frame_features(frames,
                                                                                                           mask))
    assert logits.shape == (2, 3) and bool(torch.isfinite(logits).all())
