"""Model input one batch ahead: the next batch is turned into model input while the model works on this one.

Without it the main process does everything in turn: take a batch from the loader, decode its JPEGs and resize
(:class:`~c2vbench.data.feed.FrameFeed`), run the model, and only then take the next batch, so the GPU waits
through every feed step (nvjpeg's batched decode also waits for the work already queued on its stream).
:func:`prefetched` moves the loader and the feed into a background thread; on CUDA that thread queues its work on
a stream of its own, and the model's stream waits for an event recorded after each batch's input, so decoding and
resizing batch ``k + 1`` overlap the model on batch ``k``. The order of the batches and the values handed over are
exactly those of the plain loop.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetched(loader: Iterable[tuple[Any, torch.Tensor, torch.Tensor]], feed: Callable[[Any], torch.Tensor],
               device: torch.device, depth: int = 2) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(model_input, frame_mask, indices)`` for every loader batch, prepared up to ``depth`` batches ahead.

    An error in the loader or the feed is raised here, in the caller's thread, at the batch where it happened; when
    the caller stops early (or fails) the background thread is stopped and joined before this generator returns.
    """
    device = torch.device(device)
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    side_stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            with torch.cuda.stream(side_stream) if side_stream is not None else contextlib.nullcontext():
                for frames, frame_mask, indices in loader:
                    model_input = feed(frames)
                    event = None
                    if side_stream is not None:
                        event = torch.cuda.Event()
                        event.record(side_stream)
                    if not hand_over((model_input, frame_mask, indices, event)):
                        return
            hand_over(_END)
        except BaseException as error:  # handed to the caller's thread, raised there
            hand_over(_Failure(error))

    worker = threading.Thread(target=work, name="c2vbench-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            model_input, frame_mask, indices, event = item
            if event is not None:
                consumer = torch.cuda.current_stream(device)
                consumer.wait_event(event)
                # the tensor was allocated on the side stream: keep its memory until this stream is done with it
                model_input.record_stream(consumer)
            yield model_input, frame_mask, indices
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                ready.get_nowait()
        worker.join()
