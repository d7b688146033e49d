"""Make this checkout importable as the ``c2vbench`` distribution without building it (a bare GPU machine has no
hatchling): write ``c2vbench-<version>.dist-info`` (METADATA, entry_points.txt from pyproject.toml) into SITE, so
that ``importlib.metadata`` finds the built-in plug-ins' entry points. Does nothing when c2vbench is installed."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import tomllib


def main() -> None:
    site = Path(sys.argv[1])
    try:
        metadata.distribution("c2vbench")
        print("c2vbench is installed: nothing to register")
        return
    except metadata.PackageNotFoundError:
        pass
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    info = site / f"c2vbench-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: c2vbench\nVersion: {project['version']}\n")
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    text = "".join(f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in entries.items()) + "\n"
                   for group, entries in groups.items())
    (info / "entry_points.txt").write_text(text)
    print(f"registered this checkout as c2vbench {project['version']} in {info}")


if __name__ == "__main__":
    main()
