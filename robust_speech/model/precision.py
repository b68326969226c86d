"""bf16 inference: whether the device computes bf16 natively (detected, not assumed), and the CPU route.

On a CPU, bf16 runs as `torch.autocast` (the layer norms and softmax stay float32) and pays off only where the
cores have bf16 instructions: AMX tiles (Intel Sapphire Rapids and later) or AVX512-BF16 (AMD Zen 4 and later,
Intel Cooper Lake), where it is several times faster than float32 (benchmarks/results/code_history.md).
Elsewhere oneDNN emulates bf16 by conversion, so `--bf16` is then said to be slow rather than silently made fast
or slow.

Autocast casts every Linear weight to bf16 on every forward pass (their cached copies live only while one
autocast region is open). Stored in bf16 once, they give bit-identical outputs without that copy, which matters
most for small batches.
"""

from __future__ import annotations

import torch
from torch import nn

from robust_speech.core.cpu import cpu_model_and_flags


def native_bf16(device: torch.device) -> bool:
    """Whether `device` has bf16 arithmetic units (CUDA: compute capability 8.0 and up, as torch reports it)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    return cpu_has_bf16_units()


def cpu_has_bf16_units() -> bool:
    """AMX or AVX512-BF16, as torch's own CPU probe sees them; the kernel's flags where torch lacks the probe."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if all(callable(probe) for probe in probes):
        return any(probe() for probe in probes)
    _model, flags = cpu_model_and_flags()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def emulated_bf16_note(device: torch.device) -> str | None:
    """The one line `--bf16` earns where the device would only emulate bf16 (None where it computes it)."""
    if native_bf16(device):
        return None
    what = "this GPU" if device.type == "cuda" else "this CPU"
    units = "compute capability 8.0+" if device.type == "cuda" else "AMX or AVX512-BF16"
    return (f"--bf16: {what} has no bf16 units ({units}), so bf16 is emulated and likely slower than float32 "
            "here; drop --bf16 for speed (results would also be float32's)")


def store_linear_weights_in_bf16(model: nn.Module) -> int:
    """Cast each nn.Linear's parameters to bf16 in place, as CPU autocast would on every forward pass; returns how
    many. Only for a model that runs under bf16 autocast: outside it, float32 inputs would meet bf16 weights."""
    count = 0
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.weight.dtype == torch.float32:
            module.to(torch.bfloat16)
            count += 1
    return count
