"""Encoding a split once (every caption, every video) and scoring all pairs in blocks."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from typing import Any

import numpy as np
import torch

from c2vbench.data.loader import ImageFormat, VideoClipDataset, make_video_loader
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import RetrievalSplit
from c2vbench.evaluation.features import EncodedSplit, FrameBank
from c2vbench.evaluation.plan import EvaluationPlan
from c2vbench.platform.interfaces import TextFeatures, VideoFeatures
from c2vbench.runtime.progress import Reporter


def image_format_of(backbone) -> ImageFormat:
    return ImageFormat(int(backbone.image_size), tuple(backbone.image_mean), tuple(backbone.image_std))


@dataclasses.dataclass
class BackboneFeatureCache:
    """The embedding cache (:mod:`c2vbench.evaluation.embedding_cache`) as one run uses it: a backbone that does not
    change (``zeroshot``, ``frozen``) has its frame and text embeddings read from disk when present, written when not.

    ``log`` records ``{"<split> frames" | "<split> texts": "hit" | "miss"}`` for the result's cost block.
    """

    cache: Any
    fingerprint: str
    dataset_protocol: dict[str, Any]
    preprocess: str
    precision: str
    device_type: str
    log: dict[str, str] = dataclasses.field(default_factory=dict)
    recorded_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    reporter: Reporter | None = None

    def _put(self, what: str, put, *args) -> None:
        """Write an entry; the cache is optional, so a failed write (a full disk, a read-only cache) is a warning
        and the run goes on."""
        from c2vbench.platform.errors import C2VBenchError

        try:
            put(*args)
        except (OSError, C2VBenchError) as error:
            self.log[what] = "miss (not written)"
            message = f"the embedding cache could not keep {what} ({getattr(error, 'problem', error)}); the run goes on"
            if self.reporter is not None:
                self.reporter.note(message)

    @classmethod
    def for_run(cls, model, dataset, plan: EvaluationPlan, device: torch.device,
                enabled: bool = True, reporter: Reporter | None = None) -> BackboneFeatureCache | None:
        """The run's cache, or None when it is off (``enabled`` is False when the protocol trains the backbone or
        the cache is switched off). A failed write is a note to ``reporter`` and the run goes on."""
        if not enabled:
            return None
        from c2vbench.evaluation.embedding_cache import EmbeddingCache, weights_fingerprint

        return cls(EmbeddingCache(), weights_fingerprint(model.backbone), dict(dataset.protocol),
                   plan.preprocess, plan.precision, device.type, reporter=reporter)

    def frames(self, model, split: RetrievalSplit, sampling: FrameSampling, compute) -> FrameBank:
        from c2vbench.evaluation.embedding_cache import frames_key

        key = frames_key(self.fingerprint, image_format_of(model.backbone), self.preprocess, sampling, split,
                         self.dataset_protocol, self.precision, self.device_type)
        bank = self.cache.get_frames(key)
        self.log[f"{split.name} frames"] = "miss" if bank is None else "hit"
        if bank is None:
            bank = compute()
            self._put(f"{split.name} frames", self.cache.put_frames, key, bank, {
                "split": split.name, "videos": len(split.videos), "dataset": self.dataset_protocol.get("dataset", ""),
                "seconds": bank.seconds})
        return bank

    def texts(self, model, split_name: str, captions: list[str], compute) -> TextFeatures:
        from c2vbench.evaluation.embedding_cache import texts_key

        key = texts_key(self.fingerprint, captions, int(model.backbone.context_length), self.precision,
                        self.device_type)
        text = self.cache.get_texts(key)
        self.log[f"{split_name} texts"] = "miss" if text is None else "hit"
        if text is not None:
            self.recorded_seconds[f"{split_name} texts"] = float(self.cache.describe(key).get("seconds", 0.0))
        else:
            start = time.perf_counter()
            text = compute()
            self._put(f"{split_name} texts", self.cache.put_texts, key, text, {
                "split": split_name, "captions": len(captions), "seconds": time.perf_counter() - start})
        return text


TEXT_BATCH_SIZE = 1024  # captions are short: the text tower runs on large batches


@functools.lru_cache(maxsize=8)
def _tokenized(backbone, captions: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    return backbone.tokenize(list(captions))


def tokenize_once(backbone, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of a split's captions, tokenised once and reused (e.g. every epoch's
    selection scoring)."""
    return _tokenized(backbone, tuple(captions))


@torch.no_grad()
def encode_texts(model, captions: list[str], batch_size: int, device: torch.device,
                 reporter: Reporter, feature_cache: BackboneFeatureCache | None = None,
                 split_name: str = "", precision: str = "fp32") -> TextFeatures:
    """Every caption's :class:`TextFeatures`, in batches of at least :data:`TEXT_BATCH_SIZE` (read from the
    embedding cache when it holds them)."""
    if feature_cache is not None:
        return feature_cache.texts(model, split_name, captions, lambda: encode_texts(
            model, captions, batch_size, device, reporter, precision=precision))
    from c2vbench.runtime.precision import autocast

    input_ids, attention_mask = tokenize_once(model.backbone, captions)
    batch_size = max(batch_size, TEXT_BATCH_SIZE)
    parts = []
    starts = range(0, len(captions), batch_size)
    for start in reporter.track(starts, "encoding texts", total=len(starts)):
        ids = input_ids[start:start + batch_size].to(device, non_blocking=True)
        mask = attention_mask[start:start + batch_size].to(device, non_blocking=True)
        with autocast(precision, device):
            features = model.encode_text(ids, mask)
        parts.append(TextFeatures(features.eot.float(), features.tokens.float(), features.token_mask).to("cpu"))
    return TextFeatures(torch.cat([p.eot for p in parts]), torch.cat([p.tokens for p in parts]),
                        torch.cat([p.token_mask for p in parts]))


def frame_feed(model, sampling: FrameSampling, device: torch.device):
    """The :class:`~c2vbench.data.feed.FrameFeed` that prepares loader batches for ``model`` on ``device``."""
    from c2vbench.data.feed import FrameFeed, default_resize

    image = image_format_of(model.backbone)
    return FrameFeed(image.size, image.mean, image.std, sampling.max_frames, device, default_resize(device))


def video_dataset_for(model, split: RetrievalSplit, sampling: FrameSampling, device: torch.device,
                      preprocess: str, train: bool = False, seed: int = 0, num_workers: int = 0) -> VideoClipDataset:
    """The split's clips for ``model``; on CUDA, JPEG frames travel encoded and are decoded on the GPU, unless
    there are enough workers to decode them faster on their CPUs
    (:func:`~c2vbench.data.feed.default_worker_decoded_share`), and with TorchCodec video files are decoded on the
    GPU (:func:`~c2vbench.data.feed.decodes_videos_on_device`)."""
    from c2vbench.data.feed import decodes_videos_on_device, default_worker_decoded_share

    on_cuda = device.type == "cuda"
    return VideoClipDataset(split.videos, sampling, image_format_of(model.backbone), train=train, seed=seed,
                            preprocess=preprocess, jpegs_to_device=on_cuda,
                            worker_decoded_share=default_worker_decoded_share(device, num_workers) if on_cuda else 0.0,
                            videos_to_device=decodes_videos_on_device(sampling.decoder, device, preprocess))


@torch.no_grad()
def compute_frame_bank(model, split: RetrievalSplit, sampling: FrameSampling, batch_size: int,
                       device: torch.device, reporter: Reporter, num_workers: int = 0,
                       description: str = "encoding frames",
                       feature_cache: BackboneFeatureCache | None = None, preprocess: str = "tensor",
                       precision: str = "fp32") -> FrameBank:
    """Backbone embeddings of the sampled frames of every video (no jitter), in split order (read from the
    embedding cache when it holds them), in eval mode (the ``frozen`` protocol caches these before training:
    dropout and the like must not enter the cached features)."""
    if feature_cache is not None:
        return feature_cache.frames(model, split, sampling, lambda: compute_frame_bank(
            model, split, sampling, batch_size, device, reporter, num_workers, description,
            preprocess=preprocess, precision=precision))
    was_training = model.training
    model.eval()
    try:
        return _frame_bank(model, split, sampling, batch_size, device, reporter, num_workers, description,
                           preprocess, precision)
    finally:
        model.train(was_training)


def _frame_bank(model, split: RetrievalSplit, sampling: FrameSampling, batch_size: int, device: torch.device,
                reporter: Reporter, num_workers: int, description: str, preprocess: str,
                precision: str) -> FrameBank:
    from c2vbench.data.prefetch import prefetched
    from c2vbench.runtime.precision import autocast

    start_time = time.perf_counter()
    dataset = video_dataset_for(model, split, sampling, device, preprocess, num_workers=num_workers)
    loader = make_video_loader(dataset, batch_size, num_workers=num_workers, pin_memory=device.type == "cuda")
    feed = frame_feed(model, sampling, device)
    features, masks = [], []
    # the next batch decoded and resized while the model runs on this one
    with contextlib.closing(prefetched(loader, feed, device)) as batches:
        for model_input, frame_mask, _ in reporter.track(batches, description, total=len(loader)):
            with autocast(precision, device):
                embedded = model.encode_frames(model_input)
            features.append(_queued_to_host(embedded.float()))
            masks.append(frame_mask)
    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()  # the queued copies have landed
    return FrameBank(torch.cat(features), torch.cat(masks), time.perf_counter() - start_time)


def _queued_to_host(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU copy of ``tensor``; from CUDA, queued into page-locked memory without waiting for it (the caller
    synchronises the stream before reading), so the next batch's work is queued while this one runs."""
    if tensor.device.type != "cuda":
        return tensor.cpu()
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    return host


def official_video_batches(split: RetrievalSplit, caption_batch: int) -> list[list[int]]:
    """CLIP2Video's evaluation batching (reference/clip2video.md §6.1): captions go in batches of
    ``caption_batch`` rows in split order, and a video is encoded with the batch holding its *last* caption.

    With one caption per video this is plain contiguous batching; on multi-caption sets (MSVD, VATEX, MSR-VTT full)
    a video batch typically holds 1-3 videos. It matters only under the legacy (tiled) attention mask, where a
    video's features depend on its batch-mates. Returns the video indices of each non-empty batch.
    """
    last_caption: dict[int, int] = {}
    for row, caption in enumerate(split.captions):
        last_caption[caption.video_index] = row
    batches: dict[int, list[int]] = {}
    for video_index in sorted(last_caption, key=last_caption.__getitem__):
        batches.setdefault(last_caption[video_index] // caption_batch, []).append(video_index)
    return [batches[key] for key in sorted(batches)]


@torch.no_grad()
def encode_videos_from_bank(model, bank: FrameBank, batch_size: int, device: torch.device,
                            precision: str = "fp32", video_batches: list[list[int]] | None = None) -> VideoFeatures:
    """The temporal module over the cached frame features, ``batch_size`` videos at a time, or in the given
    ``video_batches`` (lists of video indices; the result is in split order either way)."""
    from c2vbench.runtime.precision import autocast

    if video_batches is None:
        video_batches = [list(range(start, min(start + batch_size, len(bank.features))))
                         for start in range(0, len(bank.features), batch_size)]
    parts = []
    for batch in video_batches:
        rows = torch.as_tensor(batch, dtype=torch.long)
        frames = bank.features[rows].to(device)
        mask = bank.frame_mask[rows].to(device)
        with autocast(precision, device):
            video = model.encode_video_from_frame_features(frames, mask)
        parts.append(_float_video(video).to("cpu"))
    features = concat_video_features(parts)
    order = torch.as_tensor([index for batch in video_batches for index in batch], dtype=torch.long)
    if torch.equal(order, torch.arange(len(order))):
        return features
    return features.index(torch.argsort(order))


def _float_video(video: VideoFeatures) -> VideoFeatures:
    def as_float(tensor):
        return tensor.float() if tensor is not None and tensor.is_floating_point() else tensor

    return VideoFeatures(video.pooled.float(), video.frames.float(), video.frame_mask, as_float(video.alignment_tokens),
                         as_float(video.alignment_mask))


def concat_video_features(parts: list[VideoFeatures]) -> VideoFeatures:
    def cat(name):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values)

    return VideoFeatures(cat("pooled"), cat("frames"), cat("frame_mask"), cat("alignment_tokens"),
                         cat("alignment_mask"))


@torch.no_grad()
def encode_split(model, split: RetrievalSplit, sampling: FrameSampling, batch_size: int, device: torch.device,
                 reporter: Reporter, num_workers: int = 0, bank: FrameBank | None = None,
                 feature_cache: BackboneFeatureCache | None = None, preprocess: str = "tensor",
                 precision: str = "fp32", video_batches: list[list[int]] | None = None) -> EncodedSplit:
    """Encode all captions and videos of ``split``; a precomputed frame bank (or the embedding cache) skips
    decoding and the image tower. ``video_batches`` fixes which videos share a temporal-module batch (see
    :func:`official_video_batches`)."""
    model.eval()
    start = time.perf_counter()
    text = encode_texts(model, [c.text for c in split.captions], batch_size, device, reporter, feature_cache,
                        split.name, precision)
    text_seconds = time.perf_counter() - start
    if feature_cache is not None and f"{split.name} texts" in feature_cache.recorded_seconds:
        # a cache hit reports the seconds the backbone took when the entry was written (the model's cost)
        text_seconds = feature_cache.recorded_seconds[f"{split.name} texts"]
    start = time.perf_counter()
    if bank is None:
        bank = compute_frame_bank(model, split, sampling, batch_size, device, reporter, num_workers,
                                  "encoding videos", feature_cache, preprocess, precision)
    video = encode_videos_from_bank(model, bank, batch_size, device, precision, video_batches)
    video_seconds = bank.seconds + (time.perf_counter() - start)
    return EncodedSplit(text, video, len(split.captions) / max(text_seconds, 1e-9),
                        len(split.videos) / max(video_seconds, 1e-9), frames=bank)


@torch.no_grad()
def score_all(model, text: TextFeatures, video: VideoFeatures, device: torch.device,
              text_block: int = 256, video_batches: list[list[int]] | None = None) -> np.ndarray:
    """The ``[n_text, n_video]`` logits, computed block by block of texts against every video, or against each of
    ``video_batches`` separately (an align head that runs attention over its video batch, as TAB's plain stream
    does, then sees the same batch-mates as the official evaluation)."""
    model.eval()
    if video_batches is not None:
        sim = np.empty((len(text), len(video)), dtype=np.float32)
        for batch in video_batches:
            columns = torch.as_tensor(batch, dtype=torch.long)
            sim[:, batch] = score_all(model, text, video.index(columns), device, text_block)
        return sim
    video_on_device = video.to(device)
    rows = []
    for start in range(0, len(text), text_block):
        block = text.index(slice(start, start + text_block)).to(device)
        rows.append(model.similarity(block, video_on_device).float().cpu().numpy())
    return np.concatenate(rows, axis=0)


@torch.no_grad()
def streamed_scores(model, text: TextFeatures, video: VideoFeatures, device: torch.device):
    """The split's scores as a :class:`~c2vbench.evaluation.streamed_ranking.StreamedScores`: one matrix product per
    tile when the align head offers ``text_factors`` and ``video_factors``, else the head itself called tile by tile."""
    from c2vbench.evaluation.streamed_ranking import DotProductScores, HeadScores, StreamedScores, dot_product_blocks

    model.eval()
    head = model.align_head
    if not (hasattr(head, "text_factors") and hasattr(head, "video_factors")):
        return StreamedScores(HeadScores(model, text, video), device)
    chunk = 1024
    text_side = [head.text_factors(text.index(slice(start, start + chunk)).to(device)).float()
                 for start in range(0, len(text), chunk)]
    video_side = [head.video_factors(video.index(slice(start, start + chunk)).to(device)).float()
                  for start in range(0, len(video), chunk)]
    text_block, video_block = dot_product_blocks(device)
    return StreamedScores(DotProductScores(torch.cat(text_side), torch.cat(video_side), dtype=torch.float32), device,
                          text_block, video_block)
