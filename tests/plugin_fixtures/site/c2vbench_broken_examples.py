"""Fixture plug-ins that each break one rule of the conformance kit (and of the run-time checks).

Temporal modules: ``leaky`` averages padded frames too; ``wrong-type`` returns a tensor instead of VideoFeatures;
``wrong-width`` pools to half the embedding width; ``nan`` returns NaN; ``no-gradient`` holds a parameter its output
never uses; ``detaches`` cuts the gradient to the input frames; ``order-liar`` declares itself order-insensitive but
weights frames by position; ``explodes`` raises in its factory. Align heads: ``square-logits`` scores only the
diagonal; ``float-loss`` returns a plain float. Datasets: ``overlapping`` shares a video between train and test;
``not-a-dataset`` returns a dict.
"""

from __future__ import annotations

from c2vbench.plugin import AlignSpec, DatasetSpec, TemporalSpec, hookimpl


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
    ):
        yield TemporalSpec(name=name, summary=summary, factory=factory, order_sensitive=False)
    yield TemporalSpec(name="order-liar", summary="declares order-insensitive, weights frames by position",
                       factory=build_order_liar, order_sensitive=False)


@hookimpl
def c2vbench_register_align_heads():
    yield AlignSpec(name="square-logits", summary="scores only the diagonal", factory=build_square_logits)
    yield AlignSpec(name="float-loss", summary="returns the loss as a float", factory=build_float_loss)


def build_not_a_dataset(options, data_root):
    return {"train": [], "test": []}


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(name="overlapping", summary="shares a video between train and test", factory=build_overlapping,
                      needs_data_root=False)
    yield DatasetSpec(name="not-a-dataset", summary="returns a dict", factory=build_not_a_dataset,
                      needs_data_root=False)
