"""``c2vbench new-plugin``: the scaffold installs as a real distribution, is found through its entry point, passes
the conformance kit and its own tests, and runs; every kind's example passes the kit; nothing is overwritten."""

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
from _cli_runner import run_cli
from _small_runs import SMALL_BACKBONE, SMALL_DATASET

from c2vbench.authoring.scaffold import SCAFFOLD_KINDS, module_name, scaffold
from c2vbench.testing import check_spec


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


@pytest.mark.parametrize("kind", [kind for kind in SCAFFOLD_KINDS if kind != "dataset"])
def test_every_scaffolded_example_passes_the_kit_and_imports_only_the_public_api(tmp_path, kind):
    name = f"my-{kind}"
    target = scaffold(name, kind, tmp_path)
    source = target / "src" / module_name(name) / "__init__.py"
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("c2vbench"):
            assert node.module == "c2vbench.plugin"
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
    fresh interpreter gets on its path; nothing is installed into the environment running this test."""
    target = scaffold("attn-pool", "temporal", tmp_path / "src")
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--target", str(site), str(target)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    assert (site / "c2vbench_attn_pool" / "__init__.py").is_file()
    assert list(site.glob("c2vbench_attn_pool-0.1.0.dist-info/entry_points.txt"))
    options = [f"--backbone-option={k}={v}" for k, v in SMALL_BACKBONE.items()]
    options += [f"--dataset-option={k}={v}" for k, v in SMALL_DATASET.items()]
    run_test = tmp_path / "test_run_it.py"
    run_test.write_text(textwrap.dedent(f"""
        import json
        from pathlib import Path

        from c2vbench.cli.main import main
        from c2vbench.platform.registry import load_registry


        def test_found_through_its_entry_point():
            component = load_registry().get("temporal", "attn-pool")
            assert component.provider.distribution == "c2vbench-attn-pool"
            assert component.provider.entry_point == "attn-pool"


        def test_c2vbench_run_uses_it(tmp_path):
            try:
                main(["run", "--temporal", "attn-pool", "--dataset", "synthetic-motion", "--epochs", "1",
                      "--batch-size", "8", "--out", str(tmp_path), "--no-checkpoint", "--quiet",
                      *{options!r}])
            except SystemExit as exit_:
                assert exit_.code in (0, None)
            (result_file,) = Path(tmp_path).glob("*.json")
            result = json.loads(result_file.read_text())
            assert result["plugins"]["temporal"] == {{"name": "attn-pool", "distribution": "c2vbench-attn-pool",
                                                     "version": "0.1.0"}}
            assert len(result["per_query"]["t2v_rank"]) > 0
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "C2VBENCH_CACHE": str(c2vbench_cache)}
    env.pop("C2VBENCH_LOAD_PLUGINS", None)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                            str(tmp_path), str(target / "tests"), str(run_test)],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "4 passed" in tests.stdout
