"""The conformance kit: the rules every component of a kind must follow, checked on tiny CPU inputs.

For plug-in authors, one line in a test file::

    from c2vbench.testing import assert_plugin_conforms

    def test_conforms():
        assert_plugin_conforms("maxpool")          # found through its entry point, like any run finds it

and on the command line ``c2vbench check-plugin maxpool`` (exit 0 when it conforms, one line per failed rule
otherwise). The checks depend only on the component's kind:

* every kind: ``builds`` (the factory builds it from its ``check_options``), ``deterministic`` (the same seed builds
  the same component and the same input gives the same output), ``cpu``;
* backbones: ``tokenize``, ``output-type``/``dtype``/``output-shape``/``output-width``/``finite`` of
  ``encode_frames`` and ``encode_text``, ``batch-independent``, ``gradients`` (every trainable parameter);
* temporal modules: the output rules, ``padding-ignored`` (the output is unchanged when padded frame slots hold
  garbage; a module may declare ``TemporalSpec.reads_padded_slots``), ``order-declared`` (the output changes under
  frame reversal or shuffling exactly when ``TemporalSpec.order_sensitive`` says so, using
  :mod:`c2vbench.probes.frame_order`, the code behind the order probes), ``batch-independent``, ``alignment-tokens``,
  ``gradients`` (every trainable parameter, and the input frames, so that a fine-tuned backbone learns);
* align heads: logits ``[n_text, n_video]``, ``padding-ignored`` (padded frames and padded text tokens),
  ``batch-independent`` (a pair's score does not depend on the rest of the gallery), ``loss`` (a finite scalar),
  ``gradients`` (every trainable parameter and the text and video features);
* datasets: ``records`` (splits, videos, captions, subsets well-formed; train and test disjoint), ``sampling``,
  ``protocol-stable`` (JSON data, identical on a second build), ``decodable`` (a test video decodes into frame slots
  with a left-aligned mask). A dataset that reads downloaded files needs ``data_root``; without it every rule is
  skipped with that reason;
* checkpoint formats need a checkpoint file and are skipped.

Temporal modules and align heads are built against the kit's own small reference backbone
(:class:`ReferenceBackbone`, ``embed_dim`` 32), so their checks never depend on another plug-in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from c2vbench.model.contracts import RULES, SUBRULES
from c2vbench.platform.errors import C2VBenchError, PluginError
from c2vbench.testing.align import ALIGN_RULES, ALIGN_SUBRULES, run_align_rules
from c2vbench.testing.backbones import BACKBONE_RULES, BACKBONE_SUBRULES, run_backbone_rules
from c2vbench.testing.datasets import DATASET_RULES, run_dataset_rules
from c2vbench.testing.machinery import (
    ConformanceReport,
    RuleOutcome,
    _Recorder,
    _skip_rest,
    reference_backbone,
)
from c2vbench.testing.runs import TinyRun, run_tiny_benchmark
from c2vbench.testing.temporal import TEMPORAL_RULES, TEMPORAL_SUBRULES, run_temporal_rules

KIND_RULES = {
    "backbone": BACKBONE_RULES,
    "temporal": TEMPORAL_RULES,
    "align": ALIGN_RULES,
    "dataset": DATASET_RULES,
    "checkpoint_format": ("builds",),
}
KIND_SUBRULES = {"backbone": BACKBONE_SUBRULES, "temporal": TEMPORAL_SUBRULES, "align": ALIGN_SUBRULES,
                 "dataset": (), "checkpoint_format": ()}
"""The sub-rules (see :data:`c2vbench.model.contracts.SUBRULES`) the kit checks for each kind."""


def check_spec(spec: Any, options: dict[str, Any] | None = None, data_root: str | Path | None = None,
               seed: int = 0, provider: str = "(local)") -> ConformanceReport:
    """Check one spec object (registered or not) and return the report; never raises for a broken plug-in.

    ``options`` override the spec's ``check_options`` (which override its defaults). ``data_root`` is passed to a
    dataset's factory; a dataset with ``needs_data_root`` and no ``data_root`` is skipped with that reason.
    """
    import torch

    from c2vbench.platform.specs import build_options, canonical_kind, options_as_dict

    kind = canonical_kind(spec.kind)
    report = ConformanceReport(kind, spec.name, provider)
    recorder = _Recorder(report)
    overrides = {**dict(getattr(spec, "check_options", {}) or {}), **dict(options or {})}
    try:
        resolved = build_options(spec, overrides)
    except C2VBenchError as error:
        recorder.fail("builds", f"options: {error}")
        _skip_rest(recorder, KIND_RULES[kind][1:], "the options do not resolve")
        return report
    report.options = options_as_dict(resolved)
    factory = spec.factory
    with _torch_state():
        torch.set_grad_enabled(True)
        if kind == "backbone":
            run_backbone_rules(recorder, lambda: factory(resolved), seed)
        elif kind == "temporal":
            run_temporal_rules(recorder, lambda context: factory(resolved, context), spec, seed, resolved)
        elif kind == "align":
            run_align_rules(recorder, lambda context: factory(resolved, context), seed)
        elif kind == "dataset":
            root = None if data_root is None else Path(data_root).expanduser()
            if root is None and getattr(spec, "needs_data_root", True):
                _skip_rest(recorder, KIND_RULES[kind], "needs downloaded data: pass a data root "
                                                       f"(c2vbench check-plugin {spec.name} --data-root DIR)")
            else:
                run_dataset_rules(recorder, lambda: factory(resolved, root), seed)
        else:
            _skip_rest(recorder, KIND_RULES[kind], "needs a checkpoint file: try it with "
                                                   f"`c2vbench eval --checkpoint FILE --format {spec.name}`")
    return report


@contextlib.contextmanager
def _torch_state() -> Iterator[None]:
    """Leave torch's global random state, grad mode and thread count as they were (the kit seeds its own builds).

    The kit computes on one thread: its inputs are a few vectors, where more threads only wait for each other
    (on a shared 2-core machine a check took 30 times longer with two threads than with one).
    """
    import torch

    state = torch.random.get_rng_state()
    grad_enabled = torch.is_grad_enabled()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)
        torch.set_grad_enabled(grad_enabled)
        torch.set_num_threads(threads)


def find_component(name: str, kind: str | None = None, registry: Any = None):
    """The registered component called ``name`` (of ``kind`` when given; a name used by two kinds needs it)."""
    from c2vbench.platform.registry import get_registry
    from c2vbench.platform.specs import KINDS, kind_label

    registry = registry or get_registry()
    if kind is not None:
        return registry.get(kind, name)
    kinds = [k for k in KINDS if name.lower() in registry.names(k) or (k, name.lower()) in registry.clashes]
    if not kinds:
        raise registry.missing(name)
    if len(kinds) > 1:
        raise PluginError(f"'{name}' names a {' and a '.join(kind_label(k) for k in kinds)}",
                          f"say which with --kind ({', '.join(kinds)})")
    return registry.get(kinds[0], name)


def check_plugin(name: str, kind: str | None = None, options: dict[str, Any] | None = None,
                 data_root: str | Path | None = None, seed: int = 0, registry: Any = None) -> ConformanceReport:
    """Run every rule of its kind on the registered component ``name``; see the module documentation."""
    component = find_component(name, kind, registry)
    version = f" {component.provider.version}" if component.provider.version else ""
    return check_spec(component.spec, options, data_root, seed, f"{component.provider.distribution}{version}")


def assert_plugin_conforms(name: str, kind: str | None = None, options: dict[str, Any] | None = None,
                           data_root: str | Path | None = None, seed: int = 0) -> ConformanceReport:
    """The pytest helper: fail with one line per broken rule; skip when every rule had to be skipped."""
    report = check_plugin(name, kind, options, data_root, seed)
    return _assert_report(report)


def assert_spec_conforms(spec: Any, options: dict[str, Any] | None = None, data_root: str | Path | None = None,
                         seed: int = 0) -> ConformanceReport:
    """:func:`assert_plugin_conforms` for a spec object that is not registered (e.g. one defined in a test)."""
    return _assert_report(check_spec(spec, options, data_root, seed))


def _assert_report(report: ConformanceReport) -> ConformanceReport:
    if report.failures:
        raise AssertionError("\n".join([report.summary(), *report.failure_lines()]))
    if report.outcomes and len(report.skipped) == len(report.outcomes):
        import pytest

        pytest.skip(f"{report.kind} '{report.name}': {report.skipped[0].detail}")
    return report


def listed_components(registry: Any = None) -> list[dict[str, str]]:
    """What ``c2vbench plugins --json`` lists: one row per registered component, with the keys ``kind``, ``name``,
    ``distribution``, ``version`` and ``description`` (from a fresh load of the installed plug-ins)."""
    from c2vbench.platform.registry import load_registry

    return (registry or load_registry()).listing()


def registered_components(distribution: str | None = None, kinds: tuple[str, ...] | None = None,
                          registry: Any = None) -> list[tuple[str, str]]:
    """``(kind, name)`` of every registered component (of one distribution, of some kinds): for parametrising."""
    from c2vbench.platform.registry import load_registry

    registry = registry or load_registry()
    return [(c.kind, c.name) for c in registry.all()
            if (distribution is None or c.provider.distribution.lower() == distribution.lower())
            and (kinds is None or c.kind in kinds)]


__all__ = [
    "ConformanceReport", "RuleOutcome", "RULES", "SUBRULES", "KIND_RULES", "KIND_SUBRULES", "check_plugin",
    "check_spec", "assert_plugin_conforms", "assert_spec_conforms", "registered_components", "reference_backbone",
    "find_component", "run_tiny_benchmark", "TinyRun", "listed_components",
]
