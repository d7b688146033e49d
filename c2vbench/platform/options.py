"""Component options: declared as dataclass fields, described for people, validated before anything is built.

A component's options type is a frozen dataclass whose fields all have defaults. A field may carry a declaration
made with :func:`option` (help text, allowed choices, a numeric range); ``c2vbench plugins --options NAME`` shows
it and :func:`resolve_options` enforces it, so ``--temporal-option layers=-1`` is refused with one line naming the
option, the value and what is allowed, instead of building a broken module. Plain fields (no :func:`option`) are
still type-checked against their default's type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

METADATA_KEY = "c2vbench"
_SCALARS = (bool, int, float, str)


@dataclasses.dataclass(frozen=True)
class OptionInfo:
    """What :func:`option` declares about one field."""

    help: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None

    def allowed(self) -> str:
        """The allowed values in words (empty when anything of the right type goes)."""
        if self.choices is not None:
            return "one of " + ", ".join(str(choice) for choice in self.choices)
        if self.min is not None and self.max is not None:
            return f"{self.min} to {self.max}"
        if self.min is not None:
            return f"≥ {self.min}"
        if self.max is not None:
            return f"≤ {self.max}"
        return ""


def option(default: Any, *, help: str = "", choices: Sequence[Any] | None = None,  # noqa: A002 (reads well)
           min: float | None = None, max: float | None = None) -> Any:  # noqa: A002
    """A dataclass field with a default, a help line and the values it allows (a range or a list of choices).

    Example::

        @dataclasses.dataclass(frozen=True)
        class LstmOptions:
            layers: int = option(1, min=1, max=8, help="stacked LSTM layers")
            direction: str = option("forward", choices=("forward", "bidirectional"), help="...")
    """
    info = OptionInfo(help=help, choices=None if choices is None else tuple(choices), min=min, max=max)
    return dataclasses.field(default=default, metadata={METADATA_KEY: info})


def option_info(field: dataclasses.Field) -> OptionInfo:
    return field.metadata.get(METADATA_KEY) or OptionInfo()


@dataclasses.dataclass(frozen=True)
class OptionDescription:
    """One row of ``c2vbench plugins --options NAME``."""

    name: str
    type: str
    default: Any
    allowed: str
    help: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def options_type_problem(options_type: Any) -> str | None:
    """Why ``options_type`` cannot be a component's options type, in words, or None when it can.

    A dataclass must give every field a default (the core builds it with no arguments); anything else must be a
    class. Checked without building it, when the plug-in registers.
    """
    if dataclasses.is_dataclass(options_type) and isinstance(options_type, type):
        missing = [field.name for field in dataclasses.fields(options_type) if field.init
                   and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
        if missing:
            return (f"{options_type.__name__} has field(s) without a default: {', '.join(missing)} (give each "
                    "one, e.g. option(DEFAULT, help=...))")
        return None
    if not isinstance(options_type, type):
        return f"{options_type!r} is not a class (use a frozen dataclass, or NoOptions)"
    return None


def default_options(options_type: type, owner: str) -> Any:
    """``options_type()``: the defaults, or one error line naming the component and what is wrong with its type.

    ``owner`` names the component in messages (``temporal module 'tdb'``).
    """
    from c2vbench.platform.errors import PluginError

    problem = options_type_problem(options_type)
    if problem is None:
        try:
            return options_type()
        except Exception as error:  # a plug-in's options class: its own code, any failure
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            problem = (f"{getattr(options_type, '__name__', options_type)} cannot be built with no arguments: "
                       f"{type(error).__name__}" + (f": {detail}" if detail else ""))
    raise PluginError(f"the options type of {owner} is broken: {problem}",
                      "this is a bug in the plug-in: its options type must be a dataclass whose fields all have "
                      "defaults")


def describe_options(options_type: type, owner: str = "the component") -> list[OptionDescription]:
    """Every option of a component: name, type, default, allowed values, help (in declaration order)."""
    if not dataclasses.is_dataclass(options_type):
        return []
    defaults = default_options(options_type, owner)
    rows = []
    for field in dataclasses.fields(options_type):
        info = option_info(field)
        default = getattr(defaults, field.name)
        allowed = info.allowed() or ("true or false" if isinstance(default, bool) else "")
        rows.append(OptionDescription(field.name, type(default).__name__, default, allowed, info.help))
    return rows


def resolve_options(options_type: type, overrides: dict[str, Any], label: str, name: str) -> Any:
    """``options_type`` with its defaults and ``overrides`` applied, each converted and checked.

    ``label`` and ``name`` name the component in messages (``temporal module 'tdb'``). Raises
    :class:`c2vbench.platform.errors.C2VBenchError` for an unknown option, a value of the wrong type, or a value outside
    what the field allows; the values of the defaults themselves are checked too (a plug-in author's mistake shows
    up at once).
    """
    from c2vbench.platform.errors import C2VBenchError

    owner = f"{label} '{name}'"
    overrides = dict(overrides or {})
    if not dataclasses.is_dataclass(options_type):
        if overrides:
            raise C2VBenchError(f"{owner} takes no options (got {', '.join(sorted(overrides))})",
                                "remove the option flags for it")
        return default_options(options_type, owner)
    fields = {field.name: field for field in dataclasses.fields(options_type)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise C2VBenchError(f"{owner} has no option {', '.join(unknown)}",
                            f"its options are: {', '.join(fields) or '(none)'} "
                            f"(see `c2vbench plugins --options {name}`)")
    defaults = default_options(options_type, owner)
    converted = {}
    for key, value in overrides.items():
        converted[key] = _convert(value, getattr(defaults, key), key, owner)
    resolved = dataclasses.replace(defaults, **converted)
    for key, field in fields.items():
        _check_allowed(getattr(resolved, key), option_info(field), key, owner)
    return resolved


def _convert(value: Any, default: Any, name: str, owner: str) -> Any:
    from c2vbench.platform.errors import C2VBenchError

    target = type(default)
    if target not in _SCALARS or isinstance(value, target) and not (target is int and isinstance(value, bool)):
        return value
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        if target is bool:
            lowered = text.lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if target is int:
            return int(text)
        return target(text)
    except ValueError:
        words = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}[target]
        raise C2VBenchError(f"option {name}={value!r} of {owner} is not valid: it must be {words}",
                            f"give {name}=<{words}> (default {default!r})") from None


def _check_allowed(value: Any, info: OptionInfo, name: str, owner: str) -> None:
    from c2vbench.platform.errors import C2VBenchError

    if info.choices is not None and value not in info.choices:
        raise C2VBenchError(f"option {name}={value!r} of {owner} is not allowed",
                            f"{name} must be {info.allowed()}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (info.min is not None and value < info.min) or (info.max is not None and value > info.max):
            raise C2VBenchError(f"option {name}={value!r} of {owner} is out of range",
                                f"{name} must be {info.allowed()}")
