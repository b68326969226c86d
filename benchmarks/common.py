"""Shared by the benchmarks: the machine, repeated timings with their spread, results as JSON + markdown.

Every benchmark measures ours and the reference in the same run on the same inputs and reports the ratio;
nothing here asserts a time.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(ROOT))

from robust_speech.reports.result_files import machine_info, write_json  # noqa: E402  (after the sys.path entry)


def synchronize() -> None:
    """CUDA kernels run asynchronously: a timer must wait for them (a no-op without a GPU)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(function: Callable[[], object], repeats: int) -> tuple[dict, object]:
    """Run `function` `repeats` times: median/min/max seconds and the last result."""
    seconds, result = [], None
    for _ in range(repeats):
        synchronize()
        started = time.perf_counter()
        result = function()
        synchronize()
        seconds.append(time.perf_counter() - started)
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
            "repeats": repeats}, result


def spread(stats: dict, scale: float = 1.0, unit: str = "s") -> str:
    return (f"{stats['median_s'] * scale:.1f} {unit} (min {stats['min_s'] * scale:.1f}, "
            f"max {stats['max_s'] * scale:.1f}, n={stats['repeats']})")


def device_tag() -> str:
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = write_json(RESULTS / f"{name}_{device_tag()}.json", {"benchmark": name, "machine": machine_info(), **data})
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def peak_memory(result: dict) -> float:
    """The GPU's peak when the run used one (host RSS says little there), else the process's peak RSS."""
    return result["peak_gpu_mb"] if result.get("peak_gpu_mb") is not None else result["peak_rss_mb"]


def print_machine() -> None:
    info = machine_info()
    print(f"machine: {info['cpu']} ({' '.join(info['cpu_vector_units']) or 'no AVX2'}), {info['cores']} cores, "
          f"torch {info['torch']} ({info['torch_threads']} threads), GPU: {info['gpu'] or 'none'}")


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
