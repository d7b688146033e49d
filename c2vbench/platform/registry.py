"""Plug-in discovery and the component registry.

``load_registry()`` does the whole job: it makes a plug-in manager, loads the ``c2vbench`` entry points one at a
time (a broken one is recorded, never fatal to the others), asks every plug-in for its specs kind by kind, and
returns a :class:`ComponentRegistry` mapping ``(kind, name)`` to the spec and the distribution that provided it.

Set ``C2VBENCH_LOAD_PLUGINS`` to a comma-separated list of distribution names to load only those (for example
``C2VBENCH_LOAD_PLUGINS=c2vbench`` sees the built-ins alone); set it to an empty string to load none.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.metadata
import os
from collections.abc import Iterable
from typing import Any

import pluggy

from c2vbench.platform import hookspecs
from c2vbench.platform.errors import C2VBenchError, DuplicateComponentError, PluginFailedError, UnknownComponentError
from c2vbench.platform.specs import (
    KIND_FOR_HOOK,
    KINDS,
    NAME_PATTERN,
    SPEC_TYPES,
    ComponentSpec,
    canonical_kind,
    declarations,
    kind_label,
)

ENTRY_POINT_GROUP = "c2vbench"
LOAD_PLUGINS_ENV = "C2VBENCH_LOAD_PLUGINS"
LOCAL_DISTRIBUTION = "(local)"

# Derived from the spec types (see :class:`c2vbench.platform.specs.ComponentSpec`): each kind's current hook, and every
# hook (current or deprecated) that the registry calls.
HOOK_FOR_KIND = {kind: spec_type.hook for kind, spec_type in SPEC_TYPES.items()}
KIND_LABEL = {kind: spec_type.label for kind, spec_type in SPEC_TYPES.items()}


@dataclasses.dataclass(frozen=True)
class Provider:
    """Where a plug-in came from."""

    plugin_name: str
    distribution: str = LOCAL_DISTRIBUTION
    version: str = ""
    entry_point: str = ""

    def describe(self) -> str:
        where = f"entry point '{self.entry_point}' of " if self.entry_point else ""
        version = f" {self.version}" if self.version else ""
        return f"{where}distribution '{self.distribution}'{version}"


@dataclasses.dataclass(frozen=True)
class RegisteredComponent:
    """One component spec and its provider."""

    spec: ComponentSpec
    provider: Provider

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def name(self) -> str:
        return self.spec.name

    def provenance(self) -> dict[str, Any]:
        """``{name, distribution, version}`` as the result file records it, plus what the spec declares about
        reading padding (``reads_padded_slots``, only when it reads any)."""
        return {"name": self.name, "distribution": self.provider.distribution, "version": self.provider.version,
                **declarations(self.spec)}

    def describe(self) -> str:
        """How messages name it: ``temporal module 'maxpool' (c2vbench-maxpool 0.1.0)``."""
        version = f" {self.provider.version}" if self.provider.version else ""
        return f"{self.spec.label} '{self.name}' ({self.provider.distribution}{version})"

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """Call the spec's factory; an exception from the plug-in's own code becomes one line naming it.

        A :class:`C2VBenchError` raised by the factory is the plug-in's message for the user and passes through
        unchanged; anything else is a bug in the plug-in and becomes a :class:`PluginFailedError`.
        """
        try:
            return self.spec.factory(*args, **kwargs)
        except (C2VBenchError, KeyboardInterrupt):
            raise
        except BaseException as error:  # SystemExit from a plug-in's factory is a plug-in failure too
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise PluginFailedError(
                f"{self.describe()} failed while building: {type(error).__name__}"
                + (f": {detail}" if detail else ""),
                f"this is a bug in the plug-in (report it to the authors of {self.provider.distribution}), "
                f"or choose another {self.spec.label}; `c2vbench check-plugin {self.name}` runs every plug-in rule",
            ) from error


@dataclasses.dataclass(frozen=True)
class PluginFailure:
    """A plug-in (or one of its specs) that could not be used, and why.

    ``component``: the name of the component that was refused, when the failure is about one spec (a spec with an
    invalid name or options type), so that asking for that name explains the failure.
    """

    provider: Provider
    error: str
    component: str = ""

    def describe(self) -> str:
        """The one line ``c2vbench plugins`` prints for it (and every command that cannot find a component)."""
        return f"{self.provider.describe()}: {self.error}"

    def concerns(self, name: str) -> bool:
        """Whether this failure may be why a component called ``name`` is missing: it names the component, or
        the entry point (or the distribution ``c2vbench-NAME``) that would have provided it."""
        candidates = (self.component, self.provider.entry_point,
                      _normalise_distribution(self.provider.distribution).removeprefix("c2vbench-"))
        wanted = _normalise_distribution(name)
        return bool(wanted) and wanted in {_normalise_distribution(c) for c in candidates if c}


@dataclasses.dataclass
class ComponentRegistry:
    """Name → spec map for every kind, with provenance, clashes and load failures."""

    components: dict[tuple[str, str], RegisteredComponent] = dataclasses.field(default_factory=dict)
    clashes: dict[tuple[str, str], list[RegisteredComponent]] = dataclasses.field(default_factory=dict)
    failures: list[PluginFailure] = dataclasses.field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        kind = canonical_kind(kind)
        return sorted(name for (component_kind, name) in self.components if component_kind == kind)

    def all(self) -> list[RegisteredComponent]:
        order = {kind: index for index, kind in enumerate(KINDS)}
        return sorted(self.components.values(), key=lambda c: (order[c.kind], c.name))

    def listing(self) -> list[dict[str, str]]:
        """One row per component, as ``c2vbench plugins --json`` prints it: kind, name, distribution, version,
        description."""
        return [{"kind": c.kind, "name": c.name, "distribution": c.provider.distribution,
                 "version": c.provider.version, "description": c.spec.summary} for c in self.all()]

    def get(self, kind: str, name: str) -> RegisteredComponent:
        """The component of this kind and name, or an error listing what exists (and any broken plug-ins)."""
        kind = canonical_kind(kind)
        key = (kind, name.lower())
        if key in self.clashes:
            providers = "; ".join(c.provider.describe() for c in self.clashes[key])
            raise DuplicateComponentError(
                f"{KIND_LABEL[kind]} '{name}' is registered by more than one plug-in: {providers}",
                "uninstall one of them, or restrict loading with C2VBENCH_LOAD_PLUGINS=<distribution,...>",
            )
        if key in self.components:
            return self.components[key]
        raise self.missing(name, kind)

    def missing(self, name: str, kind: str | None = None) -> UnknownComponentError:
        """The error for a component name nobody registers, naming the cause when a plug-in failed to load.

        One function for every command (``run``, ``check-plugin``, ``plugins --options``): a load failure that
        concerns the name (see :meth:`PluginFailure.concerns`) is the message itself, described exactly as
        ``c2vbench plugins`` lists it; otherwise the known names and every load failure are listed.
        """
        label = KIND_LABEL[canonical_kind(kind)] if kind else "component"
        related = [failure for failure in self.failures if failure.concerns(name)]
        if related:
            return UnknownComponentError(
                f"{label} '{name}' is not available: " + "; ".join(f.describe() for f in related),
                "fix or reinstall that plug-in (`c2vbench plugins` lists every load failure)")
        known = self.names(kind) if kind else sorted({c.name for c in self.components.values()})
        message = (f"unknown {label} '{name}'" if kind else f"no plug-in registers a component called '{name}'")
        close = difflib.get_close_matches(name.lower(), known, n=1)
        if close:
            message += f" (did you mean '{close[0]}'?)"
        fix = f"known: {', '.join(known) or '(none)'}"
        if self.failures:
            fix += "; plug-ins that failed to load: " + "; ".join(f.describe() for f in self.failures)
        return UnknownComponentError(message, fix)


def create_plugin_manager() -> pluggy.PluginManager:
    """A fresh plug-in manager with the c2vbench hook specifications and no plug-ins."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def allowed_distributions() -> set[str] | None:
    """The distributions ``C2VBENCH_LOAD_PLUGINS`` allows, or None when it is unset (all allowed)."""
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {_normalise_distribution(part) for part in value.split(",") if part.strip()}


def _normalise_distribution(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register_plugin(manager: pluggy.PluginManager, plugin: Any, provider: Provider) -> PluginFailure | None:
    """Register one plug-in object; on a misspelt or malformed hook, unregister it and return the failure."""
    try:
        manager.register(plugin, name=provider.plugin_name)
    except Exception as error:  # pluggy raises PluginValidationError, ValueError for duplicates
        return PluginFailure(provider, f"{type(error).__name__}: {error}")
    unknown_hooks = [
        name
        for name in dir(plugin)
        if name.startswith("c2vbench_") and manager.parse_hookimpl_opts(plugin, name) is not None
        and name not in KIND_FOR_HOOK
    ]
    if unknown_hooks:
        manager.unregister(plugin)
        guesses = [f"{hook} (did you mean {close[0]}?)" if close else hook for hook in unknown_hooks
                   for close in [difflib.get_close_matches(hook, list(KIND_FOR_HOOK), n=1)]]
        return PluginFailure(provider, f"implements unknown hook(s) {', '.join(guesses)}")
    return None


def load_entry_points(
    manager: pluggy.PluginManager, group: str = ENTRY_POINT_GROUP
) -> tuple[dict[str, Provider], list[PluginFailure]]:
    """Load every entry point of ``group`` one by one; return providers by plug-in name and the failures."""
    allowed = allowed_distributions()
    providers: dict[str, Provider] = {}
    failures: list[PluginFailure] = []
    seen: set[tuple[str, str]] = set()
    for distribution in importlib.metadata.distributions():
        dist_name = distribution.metadata["Name"] or "(unnamed)"
        if allowed is not None and _normalise_distribution(dist_name) not in allowed:
            continue
        for entry_point in distribution.entry_points:
            if entry_point.group != group:
                continue
            # The same distribution can be visible twice on sys.path (an editable install plus a build tree).
            if (dist_name, entry_point.name) in seen:
                continue
            seen.add((dist_name, entry_point.name))
            provider = Provider(
                plugin_name=f"{dist_name}:{entry_point.name}",
                distribution=dist_name,
                version=distribution.version or "",
                entry_point=entry_point.name,
            )
            try:
                plugin = entry_point.load()
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # any import-time failure of a third-party package, SystemExit included
                failures.append(PluginFailure(provider, f"failed to import {entry_point.value}: "
                                                        f"{type(error).__name__}: {error}"))
                continue
            failure = register_plugin(manager, plugin, provider)
            if failure is not None:
                failures.append(failure)
            else:
                providers[provider.plugin_name] = provider
    return providers, failures


def collect_components(
    manager: pluggy.PluginManager, providers: dict[str, Provider] | None = None
) -> ComponentRegistry:
    """Call each plug-in's registration hooks and build the registry.

    Each hook implementation is called on its own, so a plug-in whose hook raises, or yields something that is not
    a spec of the right kind or has an invalid name, is recorded as a failure without hiding the others.
    """
    providers = dict(providers or {})
    registry = ComponentRegistry()
    found: dict[tuple[str, str], list[RegisteredComponent]] = {}
    for hook_name, kind in KIND_FOR_HOOK.items():
        hook = getattr(manager.hook, hook_name)
        for implementation in hook.get_hookimpls():
            provider = providers.get(implementation.plugin_name) or Provider(plugin_name=implementation.plugin_name)
            try:
                specs = list(implementation.function() or ())
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # SystemExit included: one plug-in never takes the command down
                message = f"{hook_name}() raised {type(error).__name__}: {error}"
                registry.failures.append(PluginFailure(provider, message))
                continue
            for spec in specs:
                problem = _spec_problem(spec, kind)
                if problem:
                    name = getattr(spec, "name", "")
                    registry.failures.append(PluginFailure(provider, f"{hook_name}() yielded {problem}",
                                                           name if isinstance(name, str) else ""))
                    continue
                found.setdefault((kind, spec.name), []).append(RegisteredComponent(spec, provider))
    for key, entries in found.items():
        if len(entries) == 1:
            registry.components[key] = entries[0]
        else:
            registry.clashes[key] = entries
    return registry


def _spec_problem(spec: Any, kind: str) -> str | None:
    expected = SPEC_TYPES[kind]
    if not isinstance(spec, expected):
        return f"a {type(spec).__name__}, not a {expected.__name__}"
    if not isinstance(spec.name, str) or not NAME_PATTERN.match(spec.name):
        return f"the invalid name {spec.name!r} (names are lower-case letters, digits, '-' and '_')"
    if not callable(spec.factory):
        return f"'{spec.name}' with a factory that is not callable"
    from c2vbench.platform.options import options_type_problem

    problem = options_type_problem(spec.options_type)
    if problem:
        return f"{kind_label(kind)} '{spec.name}' whose options type {problem}"
    return None


def load_registry(extra_plugins: Iterable[tuple[Any, Provider]] = ()) -> ComponentRegistry:
    """A fresh registry from the installed entry points plus any ``(plugin, provider)`` pairs given."""
    manager = create_plugin_manager()
    providers, failures = load_entry_points(manager)
    for plugin, provider in extra_plugins:
        failure = register_plugin(manager, plugin, provider)
        if failure is not None:
            failures.append(failure)
        else:
            providers[provider.plugin_name] = provider
    registry = collect_components(manager, providers)
    registry.failures[:0] = failures
    return registry


@functools.lru_cache(maxsize=1)
def get_registry() -> ComponentRegistry:
    """The registry of this process, built on first use (tests call :func:`load_registry` for a fresh one)."""
    return load_registry()
