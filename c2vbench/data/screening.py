"""The screening of every split a run needs, before anything trains: one error for all unusable videos.

:class:`SplitScreener` decides per split whether to screen in this process
(:func:`c2vbench.data.integrity.screen_split`) or shared across the processes of a torchrun job
(:func:`c2vbench.data.sharded_screening.screen_split_sharded`, which falls back to the plain screen with one process),
and keeps what was skipped and what is only partly readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from c2vbench.data.integrity import ScreenedSplit, first_offenders
from c2vbench.data.sharded_screening import screen_split_sharded
from c2vbench.data.types import RetrievalSplit
from c2vbench.platform.errors import DataError

if TYPE_CHECKING:
    from c2vbench.runtime.progress import Reporter


class SplitScreener:
    """Screens splits before use and keeps, per split, the skipped and the partially readable videos.

    :meth:`screen_all` looks at every split a run needs before anything trains, and reports every unusable video of
    all of them in one error (count per split, the first ids, and the full list in a file it names), so that one
    round of fixes is enough.
    """

    def __init__(self, dataset, sampling, allow_missing: bool, reporter: Reporter,
                 report_dir: str | Path | None = None):
        self.dataset, self.sampling, self.allow_missing, self.reporter = dataset, sampling, allow_missing, reporter
        self.report_dir = Path(report_dir) if report_dir is not None else None
        self.skipped: dict[str, list] = {}
        self.partial: dict[str, list] = {}
        self._screened: dict[str, RetrievalSplit] = {}

    def __call__(self, name: str) -> RetrievalSplit:
        """The usable part of split ``name`` (screened once; see :meth:`screen_all` for several at a time)."""
        if name not in self._screened:
            self.screen_all([name])
        return self._screened[name]

    def screen_all(self, names: list[str]) -> dict[str, RetrievalSplit]:
        """Screen every split in ``names``; without ``allow_missing`` one DataError lists the problems of all."""
        found: dict[str, ScreenedSplit] = {}
        for name in dict.fromkeys(names):
            if name in self._screened:
                continue
            with self.reporter.counter(f"checking the {name} videos") as progress:
                # under torchrun each process probes its share of the videos (one process: screen_split)
                found[name] = screen_split_sharded(self.dataset.split(name), self.sampling, progress,
                                                   allow_missing=True)
        problems = {name: screened.skipped for name, screened in found.items() if screened.skipped}
        if problems and not self.allow_missing:
            raise self._unusable_error(problems)
        for name, screened in found.items():
            self._refuse_empty(name, screened)
        for name, screened in found.items():
            self._screened[name] = screened.split
            if screened.skipped:
                self.skipped[name] = screened.skipped
                self.reporter.note(f"skipped {len(screened.skipped)} unusable video(s) of split '{name}' "
                                   "(--allow-missing); they are listed in the result's protocol card")
            if screened.partial:
                self.partial[name] = screened.partial
                self.reporter.note(f"{len(screened.partial)} video(s) of split '{name}' are only partly readable")
        return {name: self._screened[name] for name in names}

    def _refuse_empty(self, name: str, screened: ScreenedSplit) -> None:
        """A split with nothing left to score (or, for training, fewer than the two videos a contrastive batch
        needs) stops the run here, in one line, instead of deep inside encoding."""
        needed = 2 if name == "train" else 1
        videos, captions = len(screened.split.videos), len(screened.split.captions)
        if videos >= needed and captions >= 1:
            return
        skipped = len(screened.skipped)
        why = f" after skipping {skipped} unusable video(s) (--allow-missing)" if skipped else ""
        what = f"{videos} video(s) and {captions} caption(s)"
        raise DataError(f"split '{name}' of dataset '{self.dataset.name}' has {what}{why}: "
                        + ("training needs at least 2 videos" if name == "train" else "there is nothing to score"),
                        "fix or re-download its videos, or check the dataset's split files (c2vbench never scores "
                        "an empty split)")

    def _unusable_error(self, problems: dict[str, list[dict[str, str]]]) -> DataError:
        total = sum(len(found) for found in problems.values())
        per_split = "; ".join(f"{name}: {len(found)} ({first_offenders(found)})" for name, found in problems.items())
        listing = self._write_listing(problems)
        where = f"; every one is listed in {listing}" if listing else ""
        return DataError(f"{total} video(s) of dataset '{self.dataset.name}' cannot be used — {per_split}{where}",
                         "fix or re-download them, or pass --allow-missing to skip them (recorded in the result "
                         "and its protocol hash)")

    def _write_listing(self, problems: dict[str, list[dict[str, str]]]) -> Path | None:
        """``split<TAB>video_id<TAB>reason<TAB>source`` for every unusable video, in ``report_dir``."""
        if self.report_dir is None:
            return None
        from c2vbench.runtime.atomic_files import write_bytes_atomic

        sources = {name: {video.video_id: video.source for video in self.dataset.split(name).videos}
                   for name in problems}
        lines = ["split\tvideo_id\treason\tsource"]
        for name, found in problems.items():
            lines += [f"{name}\t{p['video_id']}\t{p['reason']}\t{sources[name].get(p['video_id'], '')}"
                      for p in found]
        path = self.report_dir / f"unusable-videos-{self.dataset.name}.tsv"
        try:
            return write_bytes_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))
        except OSError:
            return None
