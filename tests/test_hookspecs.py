"""Hook docstrings are the plug-in API reference: every hook must document arguments, yields and an example."""

from __future__ import annotations

import inspect

import pytest

from c2vbench.platform import hookspecs
from c2vbench.platform.specs import KIND_FOR_HOOK, SPEC_TYPES

HOOKS = [name for name, value in vars(hookspecs).items() if name.startswith("c2vbench_") and callable(value)]


def test_every_kind_has_a_hook_and_every_hook_a_kind():
    assert sorted(HOOKS) == sorted(KIND_FOR_HOOK)
    assert sorted(spec_type.hook for spec_type in SPEC_TYPES.values()) == sorted(
        hook for hook in HOOKS if "deprecated" not in (inspect.getdoc(getattr(hookspecs, hook)) or "").lower())


def test_the_deprecated_similarity_spellings_still_register_an_align_head():
    import warnings

    from c2vbench.platform.registry import Provider, load_registry
    from c2vbench.plugin import AlignSpec, SimilaritySpec, hookimpl

    class OldStylePlugin:
        @hookimpl
        def c2vbench_register_similarities(self):
            yield SimilaritySpec(name="old-dot", summary="registered through the old hook", factory=lambda o, c: None)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = load_registry([(OldStylePlugin(), Provider("old-style"))])
    assert SimilaritySpec is AlignSpec
    assert registry.get("similarity", "old-dot").kind == "align"
    assert "old-dot" in registry.names("align")
    assert any(issubclass(w.category, DeprecationWarning) and "c2vbench_register_align_heads" in str(w.message)
               for w in caught)


@pytest.mark.parametrize("hook_name", HOOKS)
def test_hook_docstring_has_arguments_yields_and_example(hook_name):
    doc = inspect.getdoc(getattr(hookspecs, hook_name)) or ""
    for section in ("Arguments:", "Yields:", "Example::"):
        assert section in doc, f"{hook_name} docstring lacks '{section}'"
    example = doc.split("Example::", 1)[1]
    assert "@c2vbench.hookimpl" in example and f"def {hook_name}" in example
