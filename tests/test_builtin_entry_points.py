"""The project's entry-point table and the plug-in modules stay in step, and the core never imports them by name."""

from __future__ import annotations

import ast
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGE = ROOT / "plugins" / "c2vbench_builtins"


def declared_entry_points() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return project["project"]["entry-points"]["c2vbench"]


def modules_with_hook_implementations() -> set[str]:
    found = set()
    for path in PLUGIN_PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("c2vbench_register_"):
                found.add(f"c2vbench_builtins.{path.stem}")
    return found


def test_every_hook_module_is_declared_and_every_declaration_exists():
    declared = set(declared_entry_points().values())
    implemented = modules_with_hook_implementations()
    assert implemented - declared == set(), "plug-in modules missing from [project.entry-points.c2vbench]"
    missing_modules = {m for m in declared if not (PLUGIN_PACKAGE / f"{m.split('.')[-1]}.py").exists()}
    assert missing_modules == set(), "entry points naming modules that do not exist"


def test_every_declared_entry_point_loads_without_error():
    from c2vbench.registry import load_registry

    registry = load_registry()
    builtin_failures = [f.describe() for f in registry.failures if f.provider.distribution == "c2vbench"]
    assert builtin_failures == []


def test_core_never_imports_the_builtin_plugins():
    for path in (ROOT / "c2vbench").rglob("*.py"):
        assert "c2vbench_builtins" not in path.read_text(), f"{path} names the built-in plug-in package"
