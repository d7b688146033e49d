"""Encoding a split once (every caption, every video) and scoring all pairs in blocks."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from .data.loader import ImageFormat, VideoClipDataset, make_video_loader
from .data.sampling import FrameSampling
from .data.types import RetrievalSplit
from .interfaces import TextFeatures, VideoFeatures
from .progress import Reporter


def image_format_of(backbone) -> ImageFormat:
    return ImageFormat(int(backbone.image_size), tuple(backbone.image_mean), tuple(backbone.image_std))


@dataclasses.dataclass
class FrameBank:
    """Per-frame backbone embeddings of every video of a split, computed once."""

    features: torch.Tensor  # [n_videos, T, D]
    frame_mask: torch.Tensor  # [n_videos, T]
    seconds: float


@dataclasses.dataclass
class EncodedSplit:
    """Every caption's and every video's features, and how fast they were computed."""

    text: TextFeatures
    video: VideoFeatures
    texts_per_second: float
    videos_per_second: float
    frames: FrameBank | None = None  # the per-frame embeddings the videos were pooled from (order probes reuse them)


@torch.no_grad()
def encode_texts(model, captions: list[str], batch_size: int, device: torch.device,
                 reporter: Reporter) -> TextFeatures:
    input_ids, attention_mask = model.backbone.tokenize(captions)
    parts = []
    starts = range(0, len(captions), batch_size)
    for start in reporter.track(starts, "encoding texts", total=len(starts)):
        ids = input_ids[start:start + batch_size].to(device)
        mask = attention_mask[start:start + batch_size].to(device)
        parts.append(model.encode_text(ids, mask).to("cpu"))
    return TextFeatures(torch.cat([p.eot for p in parts]), torch.cat([p.tokens for p in parts]),
                        torch.cat([p.token_mask for p in parts]))


@torch.no_grad()
def compute_frame_bank(model, split: RetrievalSplit, sampling: FrameSampling, batch_size: int,
                       device: torch.device, reporter: Reporter, num_workers: int = 0,
                       description: str = "encoding frames") -> FrameBank:
    """Backbone embeddings of the sampled frames of every video (no jitter), in split order."""
    start_time = time.perf_counter()
    dataset = VideoClipDataset(split.videos, sampling, image_format_of(model.backbone), train=False)
    loader = make_video_loader(dataset, batch_size, num_workers=num_workers, pin_memory=device.type == "cuda")
    features, masks = [], []
    for frames, frame_mask, _ in reporter.track(loader, description, total=len(loader)):
        features.append(model.encode_frames(frames.to(device, non_blocking=True)).to("cpu"))
        masks.append(frame_mask)
    return FrameBank(torch.cat(features), torch.cat(masks), time.perf_counter() - start_time)


@torch.no_grad()
def encode_videos_from_bank(model, bank: FrameBank, batch_size: int, device: torch.device) -> VideoFeatures:
    parts = []
    for start in range(0, len(bank.features), batch_size):
        frames = bank.features[start:start + batch_size].to(device)
        mask = bank.frame_mask[start:start + batch_size].to(device)
        parts.append(model.encode_video_from_frame_features(frames, mask).to("cpu"))
    return concat_video_features(parts)


def concat_video_features(parts: list[VideoFeatures]) -> VideoFeatures:
    def cat(name):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values)

    return VideoFeatures(cat("pooled"), cat("frames"), cat("frame_mask"), cat("alignment_tokens"),
                         cat("alignment_mask"))


@torch.no_grad()
def encode_split(model, split: RetrievalSplit, sampling: FrameSampling, batch_size: int, device: torch.device,
                 reporter: Reporter, num_workers: int = 0, bank: FrameBank | None = None) -> EncodedSplit:
    """Encode all captions and videos of ``split``; a precomputed frame bank skips decoding and the image tower."""
    model.eval()
    start = time.perf_counter()
    text = encode_texts(model, [c.text for c in split.captions], batch_size, device, reporter)
    text_seconds = time.perf_counter() - start
    start = time.perf_counter()
    if bank is None:
        bank = compute_frame_bank(model, split, sampling, batch_size, device, reporter, num_workers,
                                  "encoding videos")
    video = encode_videos_from_bank(model, bank, batch_size, device)
    video_seconds = bank.seconds + (time.perf_counter() - start)
    return EncodedSplit(text, video, len(split.captions) / max(text_seconds, 1e-9),
                        len(split.videos) / max(video_seconds, 1e-9), frames=bank)


@torch.no_grad()
def score_all(model, text: TextFeatures, video: VideoFeatures, device: torch.device,
              text_block: int = 256) -> np.ndarray:
    """The ``[n_text, n_video]`` logits, computed block by block of texts against every video."""
    model.eval()
    video_on_device = video.to(device)
    rows = []
    for start in range(0, len(text), text_block):
        block = text.index(slice(start, start + text_block)).to(device)
        rows.append(model.similarity(block, video_on_device).float().cpu().numpy())
    return np.concatenate(rows, axis=0)


def can_stream(config) -> bool:
    """Whether the test split can be ranked streamed: every post-processing track and the legacy video→text mode
    need the whole score matrix (dual softmax normalises over it; group-max compares videos with videos)."""
    return config.postprocess == "none" and config.v2t_mode == "all-captions"


@torch.no_grad()
def streamed_scores(model, text: TextFeatures, video: VideoFeatures, device: torch.device):
    """The split's scores as a :class:`~c2vbench.streamed_ranking.StreamedScores`: one matrix product per tile when
    the align head offers ``text_factors`` and ``video_factors``, else the head itself called tile by tile."""
    from .streamed_ranking import DotProductScores, HeadScores, StreamedScores

    model.eval()
    head = model.align_head
    if not (hasattr(head, "text_factors") and hasattr(head, "video_factors")):
        return StreamedScores(HeadScores(model, text, video), device)
    chunk = 1024
    text_side = [head.text_factors(text.index(slice(start, start + chunk)).to(device)).float()
                 for start in range(0, len(text), chunk)]
    video_side = [head.video_factors(video.index(slice(start, start + chunk)).to(device)).float()
                  for start in range(0, len(video), chunk)]
    return StreamedScores(DotProductScores(torch.cat(text_side), torch.cat(video_side), dtype=torch.float32), device)
