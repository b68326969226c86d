"""Several training processes (torchrun, accelerate launch) on machines without a GPU: made data-parallel, and
checked to have trained one model.

accelerate picks its distributed mode from the machine: where no GPU (or other accelerator) is visible and
`--use_cpu` is not given, it chooses `DistributedType.NO` even under torchrun. The Trainer then neither wraps
the model in DistributedDataParallel nor waits at its barriers, yet still shards the batches over the
processes: each process trained its own model on its own half of the data, rank 0 saved its own, and a
checkpoint's barriers did not hold (a rank wrote into a checkpoint folder rank 0 had already moved).
"""

from __future__ import annotations

import os
from typing import Sequence

import torch
from accelerate.utils import get_int_from_env

from robust_speech.core.errors import RobustSpeechError
from robust_speech.core.logs import LOGGER

# Where torchrun, accelerate launch and the MPI launchers put the number of processes they started.
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def accelerator_visible() -> bool:
    """A GPU or another device accelerate would run data-parallel on (CUDA, XPU, ...)."""
    current = getattr(getattr(torch, "accelerator", None), "current_accelerator", None)
    if current is not None:
        return current() is not None
    return torch.cuda.is_available()


def cpu_data_parallel_flags(argv: Sequence[str], say=LOGGER.info) -> list[str]:
    """`argv` plus `--use_cpu` for a multi-process launch on a machine without an accelerator, so that the
    processes train one model data-parallel over gloo (see the module's docstring)."""
    argv = list(argv)
    processes = get_int_from_env(WORLD_SIZE_VARIABLES, 1)  # accelerate's own reading of the launchers' variables
    if processes <= 1 or accelerator_visible() or any(arg.split("=")[0] == "--use_cpu" for arg in argv):
        return argv
    if os.environ.get("RANK", "0") == "0":  # one line for the run, not one per process
        say(f"note: {processes} processes and no GPU: training data-parallel on the CPU over gloo (--use_cpu)")
    return [*argv, "--use_cpu"]


def weights_checksum(model: torch.nn.Module) -> torch.Tensor:
    """Two float64 numbers that equal processes' models share: the sum of every weight and of every weight times
    its position (a permutation or a sign flip changes the second). On the weights' device: NCCL reduces CUDA
    tensors only."""
    device = next(model.parameters()).device
    total = torch.zeros(2, dtype=torch.float64, device=device)
    for parameter in model.parameters():
        values = parameter.detach().reshape(-1).to(device, torch.float64)
        positions = torch.arange(1, values.numel() + 1, dtype=torch.float64, device=device)
        total[0] += values.sum()
        total[1] += (values * positions).sum() / values.numel()
    return total


def holds_whole_replicas(trainer) -> bool:
    """Whether every process holds the whole model (data-parallel), rather than a shard of it (FSDP, DeepSpeed,
    tensor or context parallelism), so that equal weights can be asked of them."""
    sharded = getattr(trainer, "is_fsdp_enabled", False) or getattr(trainer, "is_deepspeed_enabled", False)
    return not sharded and getattr(trainer.args, "parallelism_config", None) is None


def check_processes_agree(trainer) -> None:
    """Raise when the processes of a data-parallel run hold different weights (no gradients were exchanged):
    DistributedDataParallel keeps them bit for bit equal. A no-op in one process and where the model is sharded."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2 or not holds_whole_replicas(trainer):
        return
    mine = weights_checksum(trainer.model)
    extremes = torch.cat([mine, -mine])  # one reduction gives the highest and (negated) the lowest
    dist.all_reduce(extremes, op=dist.ReduceOp.MAX)
    if not torch.equal(extremes[:2], -extremes[2:]):
        raise RobustSpeechError(
            f"the {dist.get_world_size()} training processes ended with different weights: they trained apart instead "
            "of data-parallel (no gradients were exchanged), and the saved model is only the first process's"
        )


def leave_process_group() -> None:
    """Destroys the default process group when this process started one: the documented end of a distributed
    run. Left to interpreter shutdown, a gloo group's teardown aborted one rank (SIGABRT) once in the two-node
    test on a loaded machine, and the other rank then waited out torchrun's 300 s exit barrier."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
