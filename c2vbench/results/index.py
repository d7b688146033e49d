"""Finding past runs: one summary row per result file, filters, and lookup by run id or file.

``c2vbench results ls`` and ``c2vbench results show`` are built on this; everything is read with
:func:`c2vbench.results.result_file.iter_result_files`, so a malformed file is reported, never half-shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from c2vbench.platform.errors import ResultFileError
from c2vbench.results.integrity import integrity_notes
from c2vbench.results.result_file import iter_result_files, load_result_file


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """One row of ``results ls``."""

    path: Path
    run_id: str
    created: str
    backbone: str
    temporal: str
    align: str
    dataset: str
    protocol_hash: str
    seed: Any
    postprocess: str
    metrics: dict[str, float]
    notes: tuple[str, ...] = ()  # what reading the file found (an edit, metrics that disagree with the ranks)

    @classmethod
    def of(cls, path: Path, result: dict[str, Any]) -> RunSummary:
        plugins = result.get("plugins", {})

        def name(role: str) -> str:
            entry = plugins.get(role)
            return str(entry.get("name", "?")) if isinstance(entry, dict) else "?"

        metrics = result["metrics"]
        headline = {f"t2v {key}": float(metrics["t2v"][key]) for key in ("R@1", "R@5", "R@10", "MnR")}
        headline["v2t R@1"] = float(metrics["v2t"]["R@1"])
        postprocess = result.get("postprocess")
        return cls(path=path, run_id=str(result.get("run_id", path.stem)), created=str(result.get("created", "")),
                   backbone=name("backbone"), temporal=name("temporal"), align=name("align"),
                   dataset=name("dataset"), protocol_hash=str(result["protocol"]["hash"]),
                   seed=result.get("config", {}).get("seed"),
                   postprocess=str(postprocess.get("name", "none")) if isinstance(postprocess, dict) else "none",
                   metrics=headline, notes=tuple(integrity_notes([result])))

    def matches(self, plugin: str | None, dataset: str | None, protocol: str | None) -> bool:
        """Filters: a plug-in name in any role, a dataset name, a protocol hash prefix (all case-insensitive)."""
        if plugin and plugin.lower() not in {n.lower() for n in (self.backbone, self.temporal, self.align,
                                                                   self.dataset)}:
            return False
        if dataset and dataset.lower() != self.dataset.lower():
            return False
        return not protocol or self.protocol_hash.lower().startswith(protocol.lower())

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "created": self.created, "file": str(self.path),
                "plugins": {"backbone": self.backbone, "temporal": self.temporal, "align": self.align,
                            "dataset": self.dataset},
                "protocol_hash": self.protocol_hash, "seed": self.seed, "postprocess": self.postprocess,
                "metrics": self.metrics}


def scan_runs(folders: Iterable[str | Path]) -> tuple[list[RunSummary], list[ResultFileError]]:
    """Every readable result under ``folders`` (oldest first) and the problems of the unreadable ones."""
    runs, problems = [], []
    for folder in folders:
        if not Path(folder).is_dir():
            raise ResultFileError(f"{folder} is not a folder", "give the folder holding result files (--out of "
                                  "`c2vbench run`, results/ by default)")
    loaded_runs = []
    for path, loaded in iter_result_files(folders):
        if isinstance(loaded, ResultFileError):
            problems.append(loaded)
        else:
            loaded_runs.append((path, loaded))
    drifts = rerun_drifts(loaded_runs)
    for path, loaded in loaded_runs:
        summary = RunSummary.of(path, loaded)
        if path in drifts:
            summary = dataclasses.replace(summary, notes=(*summary.notes, drifts[path]))
        runs.append(summary)
    runs.sort(key=lambda run: (run.created, run.run_id))
    return runs, problems


def rerun_drifts(runs: list[tuple[Path, dict[str, Any]]]) -> dict[Path, str]:
    """``{path: note}`` for every re-run of a configuration and seed whose per-query ranks differ from the first
    run's (see :func:`c2vbench.results.comparison.rank_drift`)."""
    from c2vbench.results.comparison import group_runs

    return {item.path: f"{item.path} re-runs {item.kept} (same configuration and seed {item.seed}), but {item.drift}"
            for item in group_runs(runs)[1] if item.drift}


def find_run(reference: str, folders: Iterable[str | Path]) -> tuple[Path, dict[str, Any]]:
    """A result by file path, or by run id (or a unique prefix of one, or of its file name) under ``folders``."""
    candidate = Path(reference).expanduser()
    if candidate.is_file():
        return candidate, load_result_file(candidate)
    folders = [Path(folder) for folder in folders]
    found = []
    for path, loaded in iter_result_files([folder for folder in folders if folder.is_dir()]):
        if isinstance(loaded, ResultFileError):
            continue
        if str(loaded.get("run_id", "")).startswith(reference) or path.name.startswith(reference):
            found.append((path, loaded))
    where = ", ".join(str(folder) for folder in folders)
    if not found:
        raise ResultFileError(f"no result file or run id '{reference}' in {where}",
                              "list the runs with `c2vbench results ls DIR`, or give the result file's path")
    exact = [(path, result) for path, result in found if result.get("run_id") == reference]
    if len(exact) == 1:
        return exact[0]
    if len({result.get("run_id") for _, result in found}) > 1:
        ids = sorted({str(result.get("run_id")) for _, result in found})
        raise ResultFileError(f"'{reference}' matches {len(ids)} runs ({', '.join(ids[:5])}"
                              f"{', …' if len(ids) > 5 else ''})", "give more of the run id")
    return found[0]
