"""Hook docstrings are the plug-in API reference: every hook must document arguments, yields and an example."""

from __future__ import annotations

import inspect

import pytest

from c2vbench import hookspecs
from c2vbench.registry import HOOK_FOR_KIND

HOOKS = [name for name, value in vars(hookspecs).items() if name.startswith("c2vbench_") and callable(value)]


def test_every_kind_has_a_hook_and_every_hook_a_kind():
    assert sorted(HOOKS) == sorted(HOOK_FOR_KIND.values())


@pytest.mark.parametrize("hook_name", HOOKS)
def test_hook_docstring_has_arguments_yields_and_example(hook_name):
    doc = inspect.getdoc(getattr(hookspecs, hook_name)) or ""
    for section in ("Arguments:", "Yields:", "Example::"):
        assert section in doc, f"{hook_name} docstring lacks '{section}'"
    example = doc.split("Example::", 1)[1]
    assert "@c2vbench.hookimpl" in example and f"def {hook_name}" in example
