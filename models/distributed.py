"""Data-parallel training under torchrun (DistributedDataParallel), and nothing when alone.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK for each process it starts; without them (or
with a world of one) every helper here is the identity, so a plain `nerd train` runs exactly
as before. The process group is made on first use: gloo on CPU, nccl with CUDA, each rank on
cuda:LOCAL_RANK.
"""

from __future__ import annotations

import atexit
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int


def world() -> World:
    """This process's place among torchrun's; the process group is initialised once."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(0, 1, 0)
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        atexit.register(dist.destroy_process_group)
    return World(dist.get_rank(), dist.get_world_size(), local_rank)


def is_main() -> bool:
    """Rank 0, the one process that writes the store, checkpoints and output."""
    return world().rank == 0


def barrier() -> None:
    if world().size > 1:
        import torch.distributed as dist

        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (it may write: create a run, upgrade the database), the
    other ranks after it, when there is only something to read."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def broadcast(value: T) -> T:
    """Rank 0's `value` on every rank (picklable; the others pass anything, e.g. None)."""
    if world().size == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sums over the ranks."""
    if world().size == 1:
        return values
    import torch
    import torch.distributed as dist

    total = torch.tensor(values, dtype=torch.float64,
                         device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(total)
    return total.tolist()


def shard(items: list[T]) -> list[T]:
    """This rank's share of `items`: every size-th one, from its rank on.

    DDP synchronises every step, so every rank must take the same number of steps or the job
    hangs. The list is padded by wrapping round to its start (as torch's DistributedSampler
    does) rather than dropping the remainder: every item is still seen each epoch, a few twice.
    """
    here = world()
    if here.size == 1:
        return items
    per_rank = math.ceil(len(items) / here.size)
    padded = [items[i % len(items)] for i in range(per_rank * here.size)]
    return padded[here.rank :: here.size]


def steps(count: int) -> int:
    """Optimizer steps for an epoch of `count` batches: each step takes one batch a rank."""
    return math.ceil(count / world().size)


def local_device(default: Any) -> Any:
    """cuda:LOCAL_RANK for a rank of a CUDA job, else `default` (the single-process choice)."""
    here = world()
    if here.size == 1 or getattr(default, "type", str(default)) != "cuda":
        return default
    import torch

    return torch.device("cuda", here.local_rank)


def wrap(model: Any) -> Any:
    """The model to train with: DDP's wrapper (gradients averaged over ranks) or the model."""
    here = world()
    if here.size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    on_cuda = next(model.parameters()).device.type == "cuda"
    return DistributedDataParallel(model, device_ids=[here.local_rank] if on_cuda else None)
