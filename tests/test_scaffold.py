"""``c2vbench new-plugin``: the scaffold installs as a real distribution, is found through its entry point, passes
the conformance kit, its own tests (a tiny real run among them) and its CI workflow's kit step; every kind's example
passes the kit, says what it is and imports only the public API; nothing is overwritten."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from _cli_runner import run_cli

from c2vbench.authoring.scaffold import SCAFFOLD_KINDS, WHAT, module_name, scaffold
from c2vbench.testing import check_spec

PUBLIC_MODULES = {"src": {"c2vbench.plugin"}, "tests": {"c2vbench.testing"}}


def c2vbench_imports(path: Path) -> set[str]:
    """Every ``c2vbench`` module a file imports (``import x`` and ``from x import y``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] == "c2vbench"}


def workflow_steps(target: Path) -> dict[str, str]:
    """The scaffold's GitHub Actions workflow: step name -> its ``run`` command."""
    workflow = yaml.safe_load((target / ".github" / "workflows" / "test.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    return {step["name"]: step["run"] for step in steps if "run" in step}


def hooked_specs(source: Path, module: str) -> list:
    """The specs the scaffolded module's hook implementations yield (imported from its file, not installed)."""
    spec = importlib.util.spec_from_file_location(module, source)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module] = loaded  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(loaded)
    finally:
        del sys.modules[module]
    return [item for name, hook in vars(loaded).items() if name.startswith("c2vbench_register_")
            for item in hook()]


def test_new_plugin_command_writes_the_distribution_and_refuses_to_overwrite(tmp_path, capsys):
    code, out, err = run_cli(["new-plugin", "attn-pool", "--kind", "temporal", "--dir", str(tmp_path)], capsys)
    target = tmp_path / "c2vbench-attn-pool"
    assert code == 0, err
    assert f"created {target}" in out
    pyproject = (target / "pyproject.toml").read_text()
    assert 'name = "c2vbench-attn-pool"' in pyproject
    assert '[project.entry-points.c2vbench]\nattn-pool = "c2vbench_attn_pool"' in pyproject
    before = {path: path.read_bytes() for path in target.rglob("*") if path.is_file()}
    code, _, err = run_cli(["new-plugin", "attn-pool", "--kind", "temporal", "--dir", str(tmp_path)], capsys)
    assert code == 2 and "already exists" in err and "Traceback" not in err
    assert {path: path.read_bytes() for path in target.rglob("*") if path.is_file()} == before
    code, _, err = run_cli(["new-plugin", "Bad Name", "--kind", "temporal", "--dir", str(tmp_path)], capsys)
    assert code == 2 and "not a valid component name" in err
    code, _, err = run_cli(["new-plugin", "x", "--kind", "checkpoint_format", "--dir", str(tmp_path)], capsys)
    assert code == 2 and "--kind is one of backbone, temporal, align, dataset" in err


@pytest.mark.parametrize("kind", SCAFFOLD_KINDS)
def test_every_scaffold_imports_only_the_public_api_says_what_it_is_and_has_a_workflow(tmp_path, kind):
    name = f"my-{kind}"
    target = scaffold(name, kind, tmp_path)
    source = target / "src" / module_name(name) / "__init__.py"
    assert c2vbench_imports(source) == PUBLIC_MODULES["src"]
    assert c2vbench_imports(target / "tests" / "test_plugin.py") == PUBLIC_MODULES["tests"]
    (spec,) = hooked_specs(source, module_name(name))
    assert WHAT[kind].lower() in spec.summary.lower() and "new-plugin example" in spec.summary
    assert WHAT[kind] in (target / "pyproject.toml").read_text() and WHAT[kind] in (target / "README.md").read_text()
    steps = workflow_steps(target)
    assert list(steps) == ["install", "conformance kit", "tests"]
    assert "pip install" in steps["install"] and "-e '.[test]'" in steps["install"]
    assert steps["conformance kit"] == f"c2vbench check-plugin {name} --kind {kind}"
    assert steps["tests"] == "pytest -q tests"


@pytest.mark.parametrize("kind", [kind for kind in SCAFFOLD_KINDS if kind != "dataset"])
def test_every_scaffolded_example_passes_the_kit(tmp_path, kind):
    name = f"my-{kind}"
    target = scaffold(name, kind, tmp_path)
    source = target / "src" / module_name(name) / "__init__.py"
    (spec,) = hooked_specs(source, module_name(name))
    report = check_spec(spec)
    assert report.ok, report.failure_lines()
    assert not [o for o in report.skipped if o.rule != "alignment-tokens"]


def test_the_scaffolded_dataset_reads_real_videos_and_passes_the_kit(tmp_path):
    target = scaffold("lab-clips", "dataset", tmp_path)
    source = target / "src" / "c2vbench_lab_clips" / "__init__.py"
    (spec,) = hooked_specs(source, "c2vbench_lab_clips")
    assert check_spec(spec).skipped  # no data root: skipped with the reason
    # Real videos, written by the helper the scaffolded test module carries, in the layout the dataset reads.
    namespace: dict = {}
    exec(compile((target / "tests" / "test_plugin.py").read_text(), "test_plugin.py", "exec"), namespace)
    root = tmp_path / "data"
    (root / "videos").mkdir(parents=True)
    rows = ["video_id,caption,split"]
    for index, split in enumerate(["train", "train", "val", "test", "test"]):
        frames = np.full((8, 64, 64, 3), 40 * index, dtype=np.uint8)
        namespace["write_video"](root / "videos" / f"clip{index}.mkv", frames)
        rows.append(f"clip{index},clip number {index},{split}")
    (root / "captions.csv").write_text("\n".join(rows) + "\n")
    report = check_spec(spec, data_root=root)
    assert report.ok and not report.skipped, report.outcomes


def test_scaffold_installs_is_found_through_its_entry_point_passes_its_tests_and_runs(tmp_path, c2vbench_cache):
    """The whole author's path, with a real install: pip builds the wheel (hatchling) into a target folder that a
    fresh interpreter gets on its path; nothing is installed into the environment running this test. The
    scaffolded tests include a tiny real training and evaluation (``run_tiny_benchmark``); the CI workflow's kit
    step runs as GitHub Actions would run it."""
    target = scaffold("attn-pool", "temporal", tmp_path / "src")
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--target", str(site), str(target)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    assert (site / "c2vbench_attn_pool" / "__init__.py").is_file()
    assert list(site.glob("c2vbench_attn_pool-0.1.0.dist-info/entry_points.txt"))
    found_test = tmp_path / "test_found.py"
    found_test.write_text(textwrap.dedent(f"""
        import shlex

        from c2vbench.cli.main import main
        from c2vbench.testing import find_component


        def test_found_through_its_entry_point():
            component = find_component("attn-pool", "temporal")
            assert component.provider.distribution == "c2vbench-attn-pool"
            assert component.provider.entry_point == "attn-pool"


        def test_the_workflow_kit_step_passes(capsys):
            command = shlex.split({workflow_steps(target)["conformance kit"]!r})
            assert command[0] == "c2vbench"
            try:
                main(command[1:])
            except SystemExit as exit_:
                assert exit_.code in (0, None)
            assert "temporal 'attn-pool' (c2vbench-attn-pool 0.1.0) conforms" in capsys.readouterr().out
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "C2VBENCH_CACHE": str(c2vbench_cache)}
    env.pop("C2VBENCH_LOAD_PLUGINS", None)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                            str(tmp_path), str(target / "tests"), str(found_test)],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "5 passed" in tests.stdout
