"""Decoding worker processes: how many by default (one per CPU core this process may run on), and how each starts."""

from __future__ import annotations

import os


def default_num_workers() -> int:
    """Worker processes that keep every available CPU core decoding (2 on the reference machine)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


def one_torch_thread(*_) -> None:
    """Start a decoding worker process with one torch thread.

    Workers, not threads inside one worker, share the cores. It also keeps a forked worker out of OpenMP: GNU
    OpenMP's thread pool does not survive ``fork``, and a worker that enters a parallel region the parent had used
    waits forever (TorchCodec allocates its frames with ``torch.empty``, which fills them in parallel under
    ``torch.use_deterministic_algorithms``); with one thread torch never enters one.
    """
    import torch

    torch.set_num_threads(1)
