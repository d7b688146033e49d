"""The fine-tuning feed: each step's frames prepared ahead, while the model works on the step before.

A ``finetune`` step needs its share of the global batch as model input on the device: decoded in the loader's
workers, then copied, resized, cropped and normalised on the device (:class:`~c2vbench.data.feed.FrameFeed`). Done in
turn, the device waits through all of it at every step. :func:`training_batches` hands the loader and the feed to a
background thread (:func:`c2vbench.data.prefetch.prefetched`, as evaluation does; on CUDA on a stream of its own),
``depth`` steps ahead. The values handed over are exactly those of the plain loop, so a run's numbers do not depend
on it (``tests/test_training_switches.py``).

The feed always runs outside the step's autocast: the resize is float32 arithmetic whatever ``--precision`` the model
runs under, so preparing ahead or in turn gives the same input.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

DEFAULT_PREFETCH_DEPTH = 2  # batches prepared ahead: one in the model's hands, one ready, one being prepared


def training_batches(epoch: int, local_videos: Sequence[Sequence[int]], video_loader, feed,
                     device: torch.device, depth: int = DEFAULT_PREFETCH_DEPTH
                     ) -> Iterator[tuple[torch.Tensor | None, torch.Tensor | None]]:
    """``(model_input, frame_mask)`` for this process's share of every planned batch of ``epoch``, in order.

    Args:
        epoch: the epoch (its sampling jitter reaches the loader's workers with every index).
        local_videos: per step, the indices of the videos this process encodes.
        video_loader: the run's training loader (:func:`c2vbench.data.loader.make_video_loader` with planned
            batches), or None under ``frozen`` (then ``(None, None)`` for every step).
        feed: turns a loader batch into model input on ``device``.
        depth: batches prepared ahead in a background thread; 0 prepares each one when the step asks for it.
    """
    if video_loader is None:
        for _ in local_videos:
            yield None, None
        return
    video_loader.batch_sampler.plan(epoch, [list(videos) for videos in local_videos])
    if depth <= 0:
        for frames, frame_mask, _ in video_loader:
            yield feed(frames), frame_mask
        return
    from c2vbench.data.prefetch import prefetched

    for model_input, frame_mask, _ in prefetched(video_loader, feed, device, depth):
        yield model_input, frame_mask
