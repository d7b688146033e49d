"""Fixture plug-ins that each break one rule of the conformance kit (and of the run-time checks), and correct ones
that an earlier kit refused.

Temporal modules: ``leaky`` averages padded frames too; ``wrong-type`` returns a tensor instead of VideoFeatures;
``wrong-width`` pools to half the embedding width; ``nan`` returns NaN; ``no-gradient`` holds a parameter its output
never uses; ``detaches`` cuts the gradient to the input frames; ``order-liar`` declares itself order-insensitive but
weights frames by position; ``explodes`` raises in its factory; ``train-batchnorm`` normalises the pooled vectors
with batch statistics in train mode; ``padded-alignment-tokens`` offers alignment tokens over padded slots
(``alignment_mask`` all ones); ``declares-every-slot`` declares ``reads_padded_slots`` as large as the slots and
leaks; ``reads-real-padding`` reads padded slots whose values look like real embeddings; ``nan-on-static`` divides
by the difference of two consecutive frames; ``float64-pooled`` pools in float64. Align heads: ``square-logits``
scores only the diagonal; ``float-loss`` returns a plain float; ``transposes-square`` transposes its logits when
the matrix is square; ``float64-logits`` scores in float64; ``stateful-loss`` adds the previous batch's logits to
its loss. Backbones: ``batch-mean-frames`` subtracts the batch mean from frame embeddings in train mode;
``pads-to-longest`` pads captions to the longest of the batch and averages every position. Datasets:
``overlapping`` shares a video between train and test; ``not-a-dataset`` returns a dict; ``holds-test-file``
trains on a test video's file under another id (option ``copy``: on a byte copy of it); ``no-selection-split``
names a ``val`` split it does not have; ``missing-test-source`` lists a second test video whose file is missing.

Correct components: ``scores-tokens`` (an align head that scores the caption's masked token mean, not ``eot``),
``zero-residual`` (a residual temporal convolution whose output layer starts at zero, declared order-sensitive) and
``conv-pool`` (a masked temporal convolution, order-sensitive exactly when its ``kernel`` option is above 1).
"""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import AlignSpec, BackboneSpec, DatasetSpec, TemporalSpec, hookimpl, option


def _module(forward, parameter: bool = False):
    import torch
    from torch import nn

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            if parameter:
                self.unused = nn.Parameter(torch.zeros(3))
                self.scale = nn.Parameter(torch.ones(1))

        def forward(self, frames, frame_mask, want_alignment_tokens=False):
            return forward(self, frames, frame_mask)

    return Broken()


def _normalise(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _masked_mean(frames, frame_mask):
    weights = frame_mask.to(frames.dtype).unsqueeze(-1)
    return (frames * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def _features(pooled, frames, frame_mask):
    from c2vbench.plugin import VideoFeatures

    return VideoFeatures(pooled=pooled, frames=frames, frame_mask=frame_mask)


def build_leaky(options, context):
    return _module(lambda self, frames, mask: _features(_normalise(frames.mean(dim=1)), frames, mask))


def build_wrong_type(options, context):
    return _module(lambda self, frames, mask: _normalise(_masked_mean(frames, mask)))


def build_wrong_width(options, context):
    half = context.embed_dim // 2
    return _module(lambda self, frames, mask: _features(_normalise(_masked_mean(frames, mask)[:, :half]), frames,
                                                        mask))


def build_nan(options, context):
    return _module(lambda self, frames, mask: _features(_masked_mean(frames, mask) * float("nan"), frames, mask))


def build_no_gradient(options, context):
    return _module(lambda self, frames, mask: _features(_normalise(_masked_mean(frames, mask) * self.scale),
                                                        frames, mask), parameter=True)


def build_detaches(options, context):
    return _module(lambda self, frames, mask: _features(_normalise(_masked_mean(frames.detach(), mask)), frames,
                                                        mask))


def build_order_liar(options, context):
    def forward(self, frames, mask):
        import torch

        position = torch.arange(1, frames.shape[1] + 1, dtype=frames.dtype)[None, :, None]
        return _features(_normalise(_masked_mean(frames * position, mask)), frames, mask)

    return _module(forward)


def build_explodes(options, context):
    raise RuntimeError("boom in the factory")


def _head(score, loss):
    import torch
    from torch import nn

    class Head(nn.Module):
        wants_alignment_tokens = False

        def __init__(self):
            super().__init__()
            self.logit_scale = nn.Parameter(torch.tensor(2.0))

        def forward(self, text, video):
            return score(self, text, video)

        def loss(self, text, video):
            return loss(self, text, video)

    return Head()


def _cosine(self, text, video):
    return self.logit_scale.exp() * _normalise(text.eot) @ _normalise(video.pooled).t()


def _infonce(self, text, video):
    import torch

    logits = _cosine(self, text, video)
    target = torch.arange(len(logits))
    return (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.t(),
                                                                                                    target)) / 2


def build_square_logits(options, context):
    return _head(lambda self, text, video: (_normalise(text.eot) * _normalise(video.pooled[: len(text)])).sum(-1),
                 _infonce)


def build_float_loss(options, context):
    return _head(_cosine, lambda self, text, video: float(_infonce(self, text, video).detach()))


def build_overlapping(options, data_root):
    from pathlib import Path

    from c2vbench.plugin import CaptionRecord, FrameSampling, RetrievalDataset, RetrievalSplit, VideoRecord

    videos = [VideoRecord("v1", Path("v1.mp4")), VideoRecord("v2", Path("v2.mp4"))]
    split = RetrievalSplit("train", videos, [CaptionRecord("one", 0), CaptionRecord("two", 1)])
    test = RetrievalSplit("test", videos[:1], [CaptionRecord("one", 0)])
    return RetrievalDataset("overlapping", {"train": split, "test": test}, FrameSampling(max_frames=4),
                            {"dataset": "overlapping"}, selection_split="test")


def build_train_batchnorm(options, context):
    from torch import nn

    module = _module(lambda self, frames, mask: _features(_normalise(self.norm(_masked_mean(frames, mask))), frames,
                                                          mask))
    module.norm = nn.BatchNorm1d(context.embed_dim)  # batch statistics in train mode: a video depends on the others
    return module


def build_padded_alignment_tokens(options, context):
    import torch

    def forward(self, frames, mask):
        features = _features(_normalise(_masked_mean(frames, mask)), frames, mask)
        features.alignment_tokens = frames
        features.alignment_mask = torch.ones_like(mask)  # padded slots offered as tokens too
        return features

    module = _module(forward)
    module.provides_alignment_tokens = True
    return module


def build_reads_real_padding(options, context):
    def forward(self, frames, mask):
        norms = frames.norm(dim=-1)
        looks_real = (norms > 0.5) & (norms < 50.0)  # blank (zero) and noisy padding are skipped, real frames not
        weights = (mask.bool() | looks_real).to(frames.dtype)
        return _features(_normalise(_masked_mean(frames, weights)), frames, mask)

    return _module(forward)


def build_nan_on_static(options, context):
    def forward(self, frames, mask):
        import torch

        pairs = (mask[:, 1:] * mask[:, :-1]).bool()
        delta = frames[:, 1:] - frames[:, :-1]
        norms = torch.where(pairs, delta.norm(dim=-1), torch.ones_like(pairs, dtype=frames.dtype))
        motion = _masked_mean(delta / norms.unsqueeze(-1), pairs.long())  # 0/0 for two identical valid frames
        return _features(_normalise(_masked_mean(frames, mask) + 0.1 * motion), frames, mask)

    return _module(forward)


def build_float64_pooled(options, context):
    return _module(lambda self, frames, mask: _features(_normalise(_masked_mean(frames.double(), mask)), frames,
                                                        mask))


def build_zero_residual(options, context):
    """Correct: ``pool(x + W·conv(x))`` with W zero at start, so at initialisation it is mean pooling."""
    import torch
    from torch import nn

    class ZeroResidual(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.conv = nn.Conv1d(width, width, kernel_size=3, padding=1)
            self.out = nn.Linear(width, width)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

        def forward(self, frames, frame_mask, want_alignment_tokens=False):
            weights = frame_mask.to(frames.dtype).unsqueeze(-1)
            mixed = self.conv((frames * weights).transpose(1, 2)).transpose(1, 2)
            encoded = frames + self.out(torch.relu(mixed))
            return _features(_normalise(_masked_mean(encoded, frame_mask)), frames, frame_mask)

    return ZeroResidual(context.embed_dim)


@dataclasses.dataclass(frozen=True)
class ConvPoolOptions:
    kernel: int = option(3, choices=(1, 3), help="temporal kernel size (1: per frame, order-insensitive)")


def build_conv_pool(options, context):
    """Correct: a masked temporal convolution, then masked mean pooling."""
    from torch import nn

    class ConvPool(nn.Module):
        def __init__(self, width, kernel):
            super().__init__()
            self.conv = nn.Conv1d(width, width, kernel_size=kernel, padding=kernel // 2)

        def forward(self, frames, frame_mask, want_alignment_tokens=False):
            weights = frame_mask.to(frames.dtype).unsqueeze(-1)
            encoded = self.conv((frames * weights).transpose(1, 2)).transpose(1, 2)
            return _features(_normalise(_masked_mean(encoded, frame_mask)), frames, frame_mask)

    return ConvPool(context.embed_dim, options.kernel)


def _leaky_mean(self, frames, mask):
    return _features(_normalise(frames.mean(dim=1)), frames, mask)


@hookimpl
def c2vbench_register_temporal_modules():
    for name, factory, summary in (
        ("leaky", build_leaky, "averages padded frames too"),
        ("wrong-type", build_wrong_type, "returns a tensor, not VideoFeatures"),
        ("wrong-width", build_wrong_width, "pools to half the embedding width"),
        ("nan", build_nan, "returns NaN"),
        ("no-gradient", build_no_gradient, "holds a parameter its output never uses"),
        ("detaches", build_detaches, "cuts the gradient to its input frames"),
        ("explodes", build_explodes, "raises in its factory"),
        ("train-batchnorm", build_train_batchnorm, "batch statistics in train mode"),
        ("padded-alignment-tokens", build_padded_alignment_tokens, "alignment tokens over padded slots"),
        ("reads-real-padding", build_reads_real_padding, "reads padded slots that look like real embeddings"),
        ("nan-on-static", build_nan_on_static, "NaN when two consecutive valid frames are identical"),
        ("float64-pooled", build_float64_pooled, "pools in float64"),
    ):
        yield TemporalSpec(name=name, summary=summary, factory=factory, order_sensitive=False)
    yield TemporalSpec(name="order-liar", summary="declares order-insensitive, weights frames by position",
                       factory=build_order_liar, order_sensitive=False)
    yield TemporalSpec(name="declares-every-slot", summary="declares reads_padded_slots=4 and averages every slot",
                       factory=lambda options, context: _module(_leaky_mean), order_sensitive=False,
                       reads_padded_slots=4)
    yield TemporalSpec(name="zero-residual", summary="correct: residual convolution, zero-initialised output layer",
                       factory=build_zero_residual, order_sensitive=True)
    yield TemporalSpec(name="conv-pool", summary="correct: masked convolution, order-sensitive when kernel > 1",
                       factory=build_conv_pool, options_type=ConvPoolOptions,
                       order_sensitive=lambda options: options.kernel > 1)


def build_transposes_square(options, context):
    def score(self, text, video):
        logits = _cosine(self, text, video)
        return logits.t() if logits.shape[0] == logits.shape[1] else logits  # wrong: rows must stay texts

    return _head(score, _infonce)


def build_float64_logits(options, context):
    return _head(lambda self, text, video: _cosine(self, text, video).double(), _infonce)


def build_stateful_loss(options, context):
    def loss(self, text, video):
        value = _infonce(self, text, video)
        previous = getattr(self, "previous", None)
        self.previous = value.detach()  # state carried to the next batch: forbidden
        return value if previous is None else value + 0.1 * previous

    return _head(_cosine, loss)


def _token_mean(text):
    weights = text.token_mask.to(text.tokens.dtype).unsqueeze(-1)
    return (text.tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def build_scores_tokens(options, context):
    """Correct: scores the mean of the caption's real tokens (``text.tokens``), never ``text.eot``."""
    def score(self, text, video):
        return self.logit_scale.exp() * _normalise(_token_mean(text)) @ _normalise(video.pooled).t()

    def loss(self, text, video):
        import torch

        logits = score(self, text, video)
        target = torch.arange(len(logits))
        return (torch.nn.functional.cross_entropy(logits, target)
                + torch.nn.functional.cross_entropy(logits.t(), target)) / 2

    return _head(score, loss)


@hookimpl
def c2vbench_register_align_heads():
    yield AlignSpec(name="square-logits", summary="scores only the diagonal", factory=build_square_logits)
    yield AlignSpec(name="float-loss", summary="returns the loss as a float", factory=build_float_loss)
    yield AlignSpec(name="transposes-square", summary="transposes square logits", factory=build_transposes_square)
    yield AlignSpec(name="float64-logits", summary="scores in float64", factory=build_float64_logits)
    yield AlignSpec(name="stateful-loss", summary="adds the previous batch's loss", factory=build_stateful_loss)
    yield AlignSpec(name="scores-tokens", summary="correct: scores the caption's token mean",
                    factory=build_scores_tokens, order_sensitive=False)


@dataclasses.dataclass(frozen=True)
class SmallBackboneOptions:
    batch_mean_in_training: bool = False
    pad_to_longest: bool = False


def build_small_backbone(options: SmallBackboneOptions):
    import math
    import zlib

    import torch
    from torch import nn

    from c2vbench.plugin import TextFeatures

    class SmallBackbone(nn.Module):
        embed_dim, image_size, context_length = 16, 16, 12
        image_mean, image_std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)

        def __init__(self):
            super().__init__()
            self.frames = nn.Linear(3 * 4 * 4, self.embed_dim)
            self.words = nn.Embedding(64, self.embed_dim)

        def encode_frames(self, images):
            embedded = self.frames(nn.functional.adaptive_avg_pool2d(images, 4).flatten(1))
            if options.batch_mean_in_training and self.training:
                embedded = embedded - embedded.mean(dim=0, keepdim=True)  # wrong: depends on the batch
            return embedded

        def encode_text(self, input_ids, attention_mask):
            tokens = self.words(input_ids)
            if options.pad_to_longest:
                sentence = tokens.mean(dim=1)  # wrong: padding counts, and its amount depends on the batch
            else:
                weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
                sentence = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            return TextFeatures(eot=sentence, tokens=tokens, token_mask=attention_mask)

        def tokenize(self, captions):
            rows = [[1] + [3 + zlib.crc32(word.encode()) % 61 for word in caption.split()][: self.context_length - 2]
                    + [2] for caption in captions]
            length = max(map(len, rows)) if options.pad_to_longest else self.context_length
            ids = torch.zeros(len(rows), length, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, words in enumerate(rows):
                ids[row, : len(words)] = torch.tensor(words)
                mask[row, : len(words)] = 1
            return ids, mask

        def temporal_init_state(self):
            return None

        def initial_logit_scale(self):
            return math.log(1 / 0.07)

    return SmallBackbone()


@hookimpl
def c2vbench_register_backbones():
    yield BackboneSpec(name="batch-mean-frames", summary="subtracts the batch mean in train mode",
                       factory=build_small_backbone, options_type=SmallBackboneOptions,
                       check_options={"batch_mean_in_training": True})
    yield BackboneSpec(name="pads-to-longest", summary="pads to the longest caption, averages every position",
                       factory=build_small_backbone, options_type=SmallBackboneOptions,
                       check_options={"pad_to_longest": True})
    yield BackboneSpec(name="small-backbone", summary="correct: the same small backbone without either fault",
                       factory=build_small_backbone, options_type=SmallBackboneOptions)


def build_not_a_dataset(options, data_root):
    return {"train": [], "test": []}


@dataclasses.dataclass(frozen=True)
class VideoFolderOptions:
    fault: str = option("none", choices=("none", "holds-test-file", "no-selection-split", "missing-test-source"))
    copy: bool = option(False, help="holds-test-file: train on a byte copy of the test file, not the same path")


def build_video_folder(options: VideoFolderOptions, data_root):
    """``data_root/videos/{t0,t1,q0,q1}.mp4`` (and ``copy_of_q0.mp4``): train t0, t1; test q0, q1."""
    from c2vbench.plugin import CaptionRecord, FrameSampling, RetrievalDataset, RetrievalSplit, VideoRecord

    def split(name, ids, paths=None):
        paths = paths or {}
        videos = [VideoRecord(video_id, paths.get(video_id, data_root / "videos" / f"{video_id}.mp4"))
                  for video_id in ids]
        return RetrievalSplit(name, videos, [CaptionRecord(f"clip {video_id}", i) for i, video_id in enumerate(ids)])

    train_ids, test_ids, paths = ["t0", "t1"], ["q0", "q1"], {}
    if options.fault == "holds-test-file":
        train_ids.append("t2")
        paths["t2"] = data_root / "videos" / ("copy_of_q0.mp4" if options.copy else "q0.mp4")
    if options.fault == "missing-test-source":
        test_ids.append("q9")
    splits = {"train": split("train", train_ids, paths), "test": split("test", test_ids)}
    selection = "val" if options.fault == "no-selection-split" else "test"
    return RetrievalDataset("video-folder", splits, FrameSampling(max_frames=4), {"dataset": options.fault},
                            selection_split=selection)


@hookimpl
def c2vbench_register_datasets():
    for fault in ("holds-test-file", "no-selection-split", "missing-test-source"):
        yield DatasetSpec(name=fault, summary=f"videos in a folder with the fault {fault}", factory=build_video_folder,
                          options_type=VideoFolderOptions, check_options={"fault": fault})
    yield DatasetSpec(name="video-folder", summary="correct: videos in a folder", factory=build_video_folder,
                      options_type=VideoFolderOptions)
    yield DatasetSpec(name="overlapping", summary="shares a video between train and test", factory=build_overlapping,
                      needs_data_root=False)
    yield DatasetSpec(name="not-a-dataset", summary="returns a dict", factory=build_not_a_dataset,
                      needs_data_root=False)
