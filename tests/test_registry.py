"""Plug-in discovery through the real importlib.metadata route, hook semantics, names and clashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli_runner import run_cli

from c2vbench import hookimpl
from c2vbench.platform.errors import DuplicateComponentError, UnknownComponentError
from c2vbench.platform.registry import Provider, load_registry
from c2vbench.platform.specs import BackboneSpec, TemporalSpec

FAKE_SITE = Path(__file__).parent / "plugin_fixtures" / "site"


@pytest.fixture
def fake_site(monkeypatch):
    """Put the committed fake distributions (``*.dist-info`` folders) on the path and load every distribution."""
    monkeypatch.syspath_prepend(str(FAKE_SITE))
    monkeypatch.delenv("C2VBENCH_LOAD_PLUGINS")
    return FAKE_SITE


def test_third_party_entry_point_is_discovered_with_its_distribution(fake_site):
    registry = load_registry()
    maxp = registry.get("temporal", "maxp")
    assert maxp.provider.distribution == "c2vbench-fake-plugins"
    assert maxp.provider.version == "1.0"
    assert maxp.provider.entry_point == "maxp"


def test_broken_plugin_is_recorded_and_does_not_stop_the_others(fake_site):
    registry = load_registry()
    broken = [f for f in registry.failures if f.provider.entry_point == "broken"]
    assert len(broken) == 1
    assert "c2vbench_dependency_that_does_not_exist" in broken[0].error
    # built-ins and the healthy sibling entry point are all still there
    assert {"tiny-clip", "clip"} <= set(registry.names("backbone"))
    assert "maxp" in registry.names("temporal")


def test_duplicate_names_are_refused_naming_every_provider(fake_site):
    registry = load_registry()
    assert "meanp" not in registry.names("temporal")
    with pytest.raises(DuplicateComponentError) as caught:
        registry.get("temporal", "meanp")
    message = str(caught.value)
    assert "c2vbench-clashing-plugin" in message and "distribution 'c2vbench'" in message


def test_load_plugins_variable_restricts_to_named_distributions(fake_site, monkeypatch):
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
    registry = load_registry()
    assert "maxp" not in registry.names("temporal")
    assert registry.get("temporal", "meanp").provider.distribution == "c2vbench"
    assert not [f for f in registry.failures if f.provider.distribution != "c2vbench"]


def test_load_plugins_empty_loads_nothing(monkeypatch):
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "")
    assert load_registry().all() == []


def test_unknown_name_lists_known_names_and_suggests_a_close_match():
    registry = load_registry()
    with pytest.raises(UnknownComponentError) as caught:
        registry.get("temporal", "meanpp")
    message = str(caught.value)
    assert "did you mean 'meanp'" in message
    assert "known:" in message and "meanp" in message


class InlinePlugin:
    @hookimpl
    def c2vbench_register_backbones(self):
        yield BackboneSpec(name="inline-net", summary="inline", factory=lambda options: None)
        yield BackboneSpec(name="Bad Name", summary="invalid", factory=lambda options: None)
        yield TemporalSpec(name="wrong-kind", summary="a temporal spec from the backbone hook",
                           factory=lambda options, context: None)


class RaisingPlugin:
    @hookimpl
    def c2vbench_register_datasets(self):
        raise RuntimeError("annotation index unavailable")


class MisspeltPlugin:
    @hookimpl
    def c2vbench_register_temporal_module(self):  # missing the final "s"
        return []


def test_inline_plugins_validate_names_kinds_and_isolate_failures(monkeypatch):
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "")
    registry = load_registry(extra_plugins=[
        (InlinePlugin(), Provider("inline")),
        (RaisingPlugin(), Provider("raising")),
        (MisspeltPlugin(), Provider("misspelt")),
    ])
    assert registry.names("backbone") == ["inline-net"]
    errors = {f.provider.plugin_name: [] for f in registry.failures}
    for failure in registry.failures:
        errors[failure.provider.plugin_name].append(failure.error)
    assert any("invalid name 'Bad Name'" in e for e in errors["inline"])
    assert any("TemporalSpec, not a BackboneSpec" in e for e in errors["inline"])
    assert any("annotation index unavailable" in e for e in errors["raising"])
    assert any("c2vbench_register_temporal_module" in e for e in errors["misspelt"])


def test_plugins_command_exits_non_zero_when_a_plugin_failed_to_load(fake_site, capsys):
    code, out, err = run_cli(["plugins"], capsys)
    assert code == 1
    assert "tiny-clip" in out and "failed:" in out and "c2vbench_fake_broken" in out
    code, out, err = run_cli(["plugins", "--json"], capsys)
    assert code == 1 and "failed: " in err
    assert {row["name"] for row in json.loads(out)} >= {"tiny-clip", "maxp"}


def test_plugins_command_exits_zero_when_everything_loaded(capsys):
    code, out, _ = run_cli(["plugins"], capsys)
    assert code == 0 and "tiny-clip" in out
