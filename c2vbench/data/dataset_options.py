"""Options shared by the real-dataset plug-ins (kept free of heavy imports: plug-in listing reads them)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RealDatasetOptions:
    """Options every real dataset has; each dataset's options extend these.

    Attributes:
        selection: ``val`` (default) or ``test`` (select on the test split; recorded in the result).
        video_source: ``frames``, ``videos`` or ``auto``.
        frames_dir, videos_dir: folders of frames / video files (default ``frames``, ``videos`` under the root).
        decoder: ``decord`` or ``pyav`` (video files only).
        max_frames, feature_framerate, sampling, train_jitter: frame sampling (official: 12, 1 — 2 for MSR-VTT —,
            clip2video, on).
    """

    selection: str = "val"
    video_source: str = "auto"
    frames_dir: str = ""
    videos_dir: str = ""
    decoder: str = "decord"
    max_frames: int = 12
    feature_framerate: int = 1
    sampling: str = "clip2video"
    train_jitter: bool = True
