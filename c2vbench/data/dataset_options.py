"""Options shared by the real-dataset plug-ins (kept free of heavy imports: plug-in listing reads them)."""

from __future__ import annotations

import dataclasses

from c2vbench.data.decoders import DECODER_CHOICES
from c2vbench.platform.options import option


@dataclasses.dataclass(frozen=True)
class RealDatasetOptions:
    """Options every real dataset has; each dataset's options extend these.

    Attributes:
        selection: ``val`` (default) or ``test`` (select on the test split; recorded in the result).
        video_source: ``frames``, ``videos`` or ``auto``.
        frames_dir, videos_dir: folders of frames / video files (default ``frames``, ``videos`` under the root).
        decoder: ``auto`` (the first of TorchCodec, decord and PyAV installed; frame folders when ``video_source``
            finds them), ``torchcodec``, ``decord``, ``pyav`` (video files) or ``frames`` (extracted frame folders);
            ``--decoder`` sets it.
        max_frames, feature_framerate, sampling, train_jitter: frame sampling (official: 12, 1 — 2 for MSR-VTT —,
            clip2video, on).
    """

    selection: str = option("val", choices=("val", "test"), help="split for model selection")
    video_source: str = option("auto", choices=("auto", "frames", "videos"), help="frame folders or video files")
    frames_dir: str = option("", help="folder of frame folders (default <root>/frames)")
    videos_dir: str = option("", help="folder of video files (default <root>/videos)")
    decoder: str = option("auto", choices=DECODER_CHOICES,
                          help="auto (the first of torchcodec, decord and pyav installed), torchcodec, decord, "
                               "pyav, or frames (frame folders)")
    max_frames: int = option(12, min=1, help="frame slots per video")
    feature_framerate: int = option(1, min=1, help="frames per second kept from the 5 fps grid")
    sampling: str = option("clip2video", choices=("clip2video", "head", "tail", "uniform"),
                           help="frame sampling rule")
    train_jitter: bool = option(True, help="random offsets of the sampled frames while training")
