"""Data-parallel runs under ``torchrun``: the process group, sharding, and the collectives the core needs.

A run is distributed when ``torchrun`` (``python -m torch.distributed.run``) started it with more than one process:
torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` and its own rendezvous (single node or several) provides
``MASTER_ADDR``/``MASTER_PORT``. :func:`distributed_session` then joins the process group — gloo on CPU, nccl on
CUDA, chosen from the device — and leaves it at the end. Everything else here is a no-op for one process, and a
single-process run never initialises :mod:`torch.distributed`.

Sharding is always by contiguous blocks (:func:`shard_bounds`): rank r takes rows ``[start_r, stop_r)`` of a global
batch or a split, and gathering concatenates the blocks in rank order, which restores the original order.

Plug-ins never see any of this: the core gathers the features of the whole global batch before it calls the align
head's ``loss`` (:func:`gather_global_batch`), so every head computes its loss on exactly the batch a single process
would have, and DDP averages the gradients.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import inspect
import os
from collections.abc import Iterator
from typing import Any

import torch

from c2vbench.platform.errors import C2VBenchError

FAILURE_KEY = "c2vbench/failed-rank"
ENV_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclasses.dataclass(frozen=True)
class World:
    """Where this process stands: its rank among ``size`` processes, its node-local rank, the backend."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes results, checkpoints and training state."""
        return self.rank == 0

    def describe(self) -> dict[str, Any]:
        return {"world_size": self.size, "backend": self.backend}


SINGLE_PROCESS = World()


def current_world() -> World:
    """The process group this process belongs to, or :data:`SINGLE_PROCESS` when none was initialised."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return SINGLE_PROCESS
    return World(torch.distributed.get_rank(), torch.distributed.get_world_size(),
                 int(os.environ.get("LOCAL_RANK", "0")), str(torch.distributed.get_backend()))


def launched_world_size() -> int:
    """The number of processes torchrun started (1 outside torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise C2VBenchError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number",
                            "launch with torchrun, which sets it") from None


def launched_nodes(world: World) -> int:
    """How many nodes (torchrun agents, one per machine) the run spans: torchrun's ``GROUP_WORLD_SIZE``; 1 for a
    single process."""
    if not world.distributed:
        return 1
    try:
        return max(1, int(os.environ.get("GROUP_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def select_device(requested: str, local_rank: int = 0, distributed: bool = False) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda:N`` → the N-th GPU. Under torchrun, CUDA means the GPU of
    ``LOCAL_RANK``."""
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise C2VBenchError(f"--device {requested} was requested but no CUDA device is available",
                            "use --device auto or --device cpu")
    kind = ("cuda" if torch.cuda.is_available() else "cpu") if requested == "auto" else requested
    if kind.startswith("cuda:"):
        if distributed:
            raise C2VBenchError(f"--device {kind} names one GPU, but under torchrun each process takes the GPU of "
                                "its LOCAL_RANK", "use --device cuda (or choose GPUs with CUDA_VISIBLE_DEVICES)")
        index, count = torch.device(kind).index, torch.cuda.device_count()
        if index >= count:
            raise C2VBenchError(f"--device {kind} names GPU {index}, but this machine has {count} "
                                f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})",
                                "pick one of them, or use --device cuda for the current one")
        torch.cuda.set_device(index)  # kernels and autocast that use the current device follow the choice
        return torch.device(kind)
    if kind != "cuda" or not distributed:
        return torch.device(kind)
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise C2VBenchError(f"process with LOCAL_RANK {local_rank} has no GPU: this node has {count}",
                            f"start at most {count} processes per node (torchrun --nproc_per_node {count})")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def backend_for(device: torch.device) -> str:
    """nccl for CUDA devices, gloo for the CPU; refuses a backend this torch build lacks."""
    if not torch.distributed.is_available():
        raise C2VBenchError("this torch build has no torch.distributed, so it cannot run under torchrun",
                            "install a torch build with distributed support, or run a single process")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not torch.distributed.is_backend_available(backend):
        fix = "use --device cpu (gloo)" if backend == "nccl" else "install a torch build with gloo support"
        raise C2VBenchError(f"the {backend} backend that --device {device.type} needs is not available in "
                            f"this torch build", fix)
    return backend


@contextlib.contextmanager
def distributed_session(requested_device: str, timeout_minutes: float = 30.0) -> Iterator[tuple[World,
                                                                                                 torch.device]]:
    """Join torchrun's process group for the duration of a run; yields ``(world, device)``.

    Outside torchrun (or with one process), or when the caller already initialised a group, nothing is set up or
    torn down here. A rank that fails records its error in torchrun's store, so that the others, whose next
    collective fails, stop with a message naming it (see :func:`stopped_by_peer`).
    """
    if current_world().distributed:  # the caller owns the group
        world = current_world()
        yield world, select_device(requested_device, world.local_rank, True)
        return
    size = launched_world_size()
    if size <= 1:
        yield SINGLE_PROCESS, select_device(requested_device)
        return
    missing = [name for name in ENV_VARIABLES + ("MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise C2VBenchError(f"WORLD_SIZE={size} but {', '.join(missing)} is not set",
                            "launch with torchrun, which sets them all")
    local_rank = int(os.environ["LOCAL_RANK"])
    device = select_device(requested_device, local_rank, True)
    backend = backend_for(device)
    extra = {}
    if device.type == "cuda" and "device_id" in inspect.signature(torch.distributed.init_process_group).parameters:
        extra["device_id"] = device  # binds the communicator to this process's GPU (torch >= 2.3)
    try:
        torch.distributed.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes), **extra)
    except (RuntimeError, ValueError) as error:
        raise C2VBenchError(f"could not join the process group ({backend}): {error}",
                            "check torchrun's --rdzv-endpoint / --master-addr and that every node can reach it"
                            ) from None
    world = current_world()
    try:
        with report_failures(world):
            yield world, device
    finally:
        with contextlib.suppress(Exception):
            torch.distributed.destroy_process_group()


@contextlib.contextmanager
def report_failures(world: World) -> Iterator[None]:
    """Turn this rank's failure into a message the other ranks can read, and a peer's failure into one line.

    Prefixes a :class:`C2VBenchError` raised here with the rank; a collective that fails because another rank died
    becomes ``C2VBenchError("rank R stopped: rank F failed: ...")``.
    """
    try:
        yield
    except C2VBenchError as error:
        if error.problem.startswith("rank "):  # already names a rank (a peer's failure seen here)
            raise
        record_failure(world, error.problem)
        raise C2VBenchError(f"rank {world.rank} of {world.size}: {error.problem}", error.fix) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:  # noqa: BLE001 - every other failure is reported to the peers, then re-raised
        peer = stopped_by_peer(world, error)
        if peer is not None:
            raise peer from None
        record_failure(world, f"{type(error).__name__}: {error}")
        raise


def _store():
    with contextlib.suppress(Exception):
        return torch.distributed.distributed_c10d._get_default_store()
    return None


def record_failure(world: World, message: str) -> None:
    """Leave ``rank R: message`` in the rendezvous store (first failure wins) for the peers to report."""
    store = _store()
    if store is None:
        return
    with contextlib.suppress(Exception):
        store.compare_set(FAILURE_KEY, "", f"rank {world.rank}: {message.splitlines()[0] if message else ''}")


def stopped_by_peer(world: World, error: BaseException) -> C2VBenchError | None:
    """The error to raise when a collective failed because another rank failed first, or None."""
    store = _store()
    if store is None:
        return None
    try:
        store.set_timeout(datetime.timedelta(seconds=5))
        store.wait([FAILURE_KEY])
        failed = store.get(FAILURE_KEY).decode()
    except Exception:  # noqa: BLE001 - no peer recorded a failure: the error is this rank's own
        return None
    if not failed or failed.startswith(f"rank {world.rank}:"):
        return None
    return C2VBenchError(f"rank {world.rank} stopped because {failed}",
                         "fix the failing rank's problem and start the run again (it resumes)")


def check_global_batch(batch_size: int, world: World) -> None:
    """The global batch is split evenly: refuse a size the processes cannot share."""
    if world.distributed and batch_size % world.size:
        raise C2VBenchError(f"--batch-size {batch_size} (the global batch) is not divisible by the "
                            f"{world.size} processes", f"use a multiple of {world.size}, e.g. "
                            f"--batch-size {max(world.size, batch_size // world.size * world.size)}")


# ---------------------------------------------------------------------------------------------------------------
# sharding


def shard_bounds(n_rows: int, rank: int, world_size: int, block: int = 1) -> tuple[int, int]:
    """Rank ``rank``'s contiguous share ``[start, stop)`` of ``n_rows`` rows, cut at multiples of ``block``.

    The ``ceil(n_rows / block)`` blocks are dealt out contiguously, the first ranks taking one more when they do not
    divide evenly. Cutting at the encoding batch size makes every batch a process encodes the very batch a single
    process would encode, so sharded evaluation reproduces single-process features bit for bit on the same hardware.
    """
    n_blocks = -(-n_rows // block)
    base, extra = divmod(n_blocks, world_size)
    first = rank * base + min(rank, extra)
    last = first + base + (1 if rank < extra else 0)
    return min(first * block, n_rows), min(last * block, n_rows)


def shard_sizes(n_rows: int, world_size: int, block: int = 1) -> list[int]:
    """Every rank's number of rows under :func:`shard_bounds`."""
    bounds = (shard_bounds(n_rows, rank, world_size, block) for rank in range(world_size))
    return [stop - start for start, stop in bounds]


def _communication_device(world: World, tensor: torch.Tensor) -> torch.device:
    if world.backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _padded(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    if tensor.shape[0] == rows:
        return tensor
    padding = tensor.new_zeros((rows - tensor.shape[0], *tensor.shape[1:]))
    return torch.cat([tensor, padding])


def gather_rows(local: torch.Tensor, sizes: list[int], to_all: bool = True) -> torch.Tensor | None:
    """Concatenate every rank's block of rows in rank order (blocks may differ in length, by ``sizes``).

    With ``to_all=False`` only rank 0 receives the result (the others get None). Not differentiable: see
    :func:`gather_global_batch` for training.
    """
    world = current_world()
    if not world.distributed:
        return local
    device = _communication_device(world, local)
    original = local.device
    is_bool = local.dtype == torch.bool
    payload = _padded(local[:sizes[world.rank]], max(sizes)).to(device)
    if is_bool:
        payload = payload.to(torch.uint8)
    payload = payload.contiguous()
    if to_all:
        parts = [torch.empty_like(payload) for _ in sizes]
        torch.distributed.all_gather(parts, payload)
    else:
        parts = [torch.empty_like(payload) for _ in sizes] if world.is_main else None
        torch.distributed.gather(payload, parts, dst=0)
        if not world.is_main:
            return None
    gathered = torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)]).to(original)
    return gathered.to(torch.bool) if is_bool else gathered


class _GatherWithOwnGradient(torch.autograd.Function):
    """All-gather whose backward gives each rank the gradient of its own rows, summed over every rank's loss.

    Every rank computes the same loss on the gathered batch; summing the row gradients over ranks and letting DDP
    average the parameter gradients yields exactly the single-process gradient of that loss.
    """

    @staticmethod
    def forward(ctx, local: torch.Tensor, sizes: tuple[int, ...], rank: int) -> torch.Tensor:
        ctx.sizes, ctx.rank = sizes, rank
        return gather_rows(local, list(sizes), to_all=True)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        world = current_world()
        device = _communication_device(world, grad)
        summed = grad.to(device)
        torch.distributed.all_reduce(summed)
        start = sum(ctx.sizes[:ctx.rank])
        own = summed[start:start + ctx.sizes[ctx.rank]].to(grad.device)
        return own, None, None


def gather_for_loss(local: torch.Tensor | None, sizes: list[int]) -> torch.Tensor | None:
    """Differentiable gather of one feature tensor (integer masks are gathered without gradient)."""
    world = current_world()
    if local is None or not world.distributed:
        return local
    if not local.is_floating_point():
        return gather_rows(local, sizes)
    # a rank with an empty share ran its model on a placeholder row, which the slice drops from the loss
    local = local[:sizes[world.rank]]
    return _GatherWithOwnGradient.apply(local, tuple(sizes), world.rank)


def gather_global_batch(text, video, sizes: list[int]):
    """The text and video features of the whole global batch, from every rank's share (rank order).

    This is what lets any align head compute its contrastive loss over the global batch without knowing that the
    batch was sharded: every tensor field of :class:`TextFeatures` and :class:`VideoFeatures` is gathered.
    """
    if not current_world().distributed:
        return text, video
    return map_features(text, lambda t: gather_for_loss(t, sizes)), map_features(
        video, lambda t: gather_for_loss(t, sizes))


def map_features(features, function):
    """Apply ``function`` to every tensor field of a features dataclass (None fields stay None)."""
    values = {field.name: getattr(features, field.name) for field in dataclasses.fields(features)}
    return type(features)(**{name: None if value is None else function(value) for name, value in values.items()})


def gather_features(features, sizes: list[int], to_all: bool = True):
    """Non-differentiable gather of a features dataclass (evaluation); None on non-main ranks when ``to_all`` is
    False."""
    if not current_world().distributed:
        return features
    gathered = {}
    for field in dataclasses.fields(features):
        value = getattr(features, field.name)
        gathered[field.name] = None if value is None else gather_rows(value, sizes, to_all)
    if not to_all and not current_world().is_main:
        return None
    return type(features)(**gathered)


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (pickled)."""
    world = current_world()
    if not world.distributed:
        return value
    holder = [value if world.is_main else None]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier() -> None:
    if current_world().distributed:
        torch.distributed.barrier()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Each node's first process (``LOCAL_RANK`` 0) runs the body first, then the others: e.g. generating a dataset
    into a node's cache once, which the node's other processes then only read."""
    world = current_world()
    first = world.local_rank == 0
    if world.distributed and not first:
        barrier()
    yield
    if world.distributed and first:
        barrier()
