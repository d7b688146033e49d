"""Component options: declared types and ranges are enforced before anything is built, and can be listed."""

from __future__ import annotations

import dataclasses

import pytest

from c2vbench.platform.errors import C2VBenchError
from c2vbench.platform.options import describe_options, option, resolve_options
from c2vbench.platform.registry import load_registry
from c2vbench.platform.specs import build_options


@dataclasses.dataclass(frozen=True)
class ExampleOptions:
    layers: int = option(2, min=1, max=8, help="stacked layers")
    mode: str = option("a", choices=("a", "b"), help="which mode")
    weight: float = 0.5
    flag: bool = False


@pytest.mark.parametrize("overrides, words", [
    ({"layers": "-1"}, ["layers=", "-1", "out of range", "1 to 8"]),
    ({"layers": "9"}, ["out of range", "1 to 8"]),
    ({"layers": "two"}, ["layers=", "two", "whole number"]),
    ({"mode": "c"}, ["mode=", "'c'", "one of a, b"]),
    ({"weight": "heavy"}, ["weight=", "a number"]),
    ({"flag": "maybe"}, ["flag=", "true or false"]),
    ({"depth": "3"}, ["no option depth", "layers, mode, weight, flag"]),
])
def test_bad_values_are_refused_naming_option_value_and_what_is_allowed(overrides, words):
    with pytest.raises(C2VBenchError) as caught:
        resolve_options(ExampleOptions, overrides, "temporal module", "example")
    message = str(caught.value)
    assert "\n" not in message and "temporal module 'example'" in message
    for word in words:
        assert word in message


def test_good_values_are_converted_to_the_declared_types():
    resolved = resolve_options(ExampleOptions, {"layers": "8", "mode": "b", "weight": "1", "flag": "yes"},
                               "temporal module", "example")
    assert resolved == ExampleOptions(layers=8, mode="b", weight=1.0, flag=True)
    assert isinstance(resolved.weight, float)


def test_description_lists_defaults_types_ranges_and_help_in_declaration_order():
    rows = describe_options(ExampleOptions)
    assert [row.name for row in rows] == ["layers", "mode", "weight", "flag"]
    assert rows[0].to_dict() == {"name": "layers", "type": "int", "default": 2, "allowed": "1 to 8",
                                 "help": "stacked layers"}
    assert rows[1].allowed == "one of a, b" and rows[2].allowed == "" and rows[3].allowed == "true or false"


def test_builtin_tdb_refuses_zero_or_negative_layers():
    spec = load_registry().get("temporal", "tdb").spec
    for bad in ("-1", "0"):
        with pytest.raises(C2VBenchError, match="layers"):
            build_options(spec, {"layers": bad})
    assert build_options(spec, {"layers": "2"}).layers == 2


def test_every_builtin_default_satisfies_its_own_declaration():
    registry = load_registry()
    for component in registry.all():
        if component.provider.distribution == "c2vbench":
            build_options(component.spec, {})  # raises if a default breaks its declared range or choices
