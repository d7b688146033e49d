"""The entry-point table and the plug-in folders stay in step; plug-ins import nothing from the core but its public
API; the core never imports a built-in by name."""

from __future__ import annotations

import ast
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGE = ROOT / "plugins" / "c2vbench_builtins"
KIND_FOLDERS = ("backbones", "temporal", "align", "datasets", "checkpoint_formats")
PLUGIN_SOURCES = [*PLUGIN_PACKAGE.rglob("*.py"), *(ROOT / "examples").rglob("src/**/*.py")]


def declared_entry_points() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return project["project"]["entry-points"]["c2vbench"]


def module_name(path: Path) -> str:
    relative = path.relative_to(PLUGIN_PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts)


def implements_a_hook(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name.startswith("c2vbench_register_")
               for node in ast.walk(tree))


def test_every_entry_point_module_is_declared_and_every_declaration_exists():
    declared = set(declared_entry_points().values())
    implemented = {module_name(path) for path in PLUGIN_PACKAGE.rglob("*.py") if implements_a_hook(path)}
    assert implemented - declared == set(), "plug-in modules missing from [project.entry-points.c2vbench]"
    for module in declared:
        assert (PLUGIN_PACKAGE.parent / (module.replace(".", "/") + ".py")).is_file(), f"{module} does not exist"


def test_builtins_are_grouped_by_kind_and_helpers_are_marked_private():
    for path in PLUGIN_PACKAGE.rglob("*.py"):
        relative = path.relative_to(PLUGIN_PACKAGE)
        if relative.name == "__init__.py":
            continue
        assert relative.parts[0] in (*KIND_FOLDERS, "_layers"), f"{relative} is outside the kind folders"
        private = any(part.startswith("_") for part in relative.parts)
        assert implements_a_hook(path) != private, (
            f"{relative}: entry-point modules have public names, helpers a leading underscore")


def test_plugins_import_nothing_from_the_core_but_its_public_api():
    for path in PLUGIN_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "c2vbench":
                assert node.module == "c2vbench.plugin", f"{path.relative_to(ROOT)} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] != "c2vbench", f"{path.relative_to(ROOT)} imports {alias.name}"


def test_the_public_api_exports_every_name_it_lists():
    import c2vbench.plugin as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_every_declared_entry_point_loads_without_error():
    from c2vbench.platform.registry import load_registry

    registry = load_registry()
    builtin_failures = [f.describe() for f in registry.failures if f.provider.distribution == "c2vbench"]
    assert builtin_failures == []
    assert registry.names("align") == registry.names("similarity") == ["cosine", "drl", "tab", "tmass", "xpool"]


def test_core_never_imports_the_builtin_plugins():
    for path in (ROOT / "c2vbench").rglob("*.py"):
        assert "c2vbench_builtins" not in path.read_text(), f"{path} names the built-in plug-in package"
