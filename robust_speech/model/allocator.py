"""glibc's malloc tuned for tensor work on the CPU: large blocks served from the heap and kept for reuse.

By default glibc hands every allocation over 128 KiB-32 MiB (its threshold adapts) to mmap and gives it back
with munmap when freed, so every batch's activations are fresh pages, each zeroed by the kernel on its first
touch: the elementwise layers of a small model (layer norm, GELU on the conv encoder's output) spend more time
in page faults than in arithmetic. PyTorch's CPU tuning guides preload jemalloc or tcmalloc for this; a
preload must be set before the process starts, which eval.py cannot ask of its users, so the same effect comes
from glibc's own `mallopt` knobs, set once at run time (benchmarks/eval_speed.py shows the gain; the numbers:
benchmarks/results/code_history.md). The cost: freed memory stays with the process (its peak RSS is what it holds until it exits).
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
# glibc's ceiling for the mmap threshold on 64-bit (larger values are refused): 32 MiB.
_MMAP_THRESHOLD = 32 << 20
_TRIM_THRESHOLD = (1 << 31) - 1
_TOP_PAD = 64 << 20

_tuned: bool | None = None


def keep_freed_memory() -> bool:
    """Tune glibc malloc as above, once per process; False where the C library is not glibc."""
    global _tuned
    if _tuned is None:
        _tuned = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL("libc.so.6")
                mallopt = libc.mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            _tuned = all(mallopt(option, value) == 1 for option, value in (
                (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD), (_M_TOP_PAD, _TOP_PAD)))
    return _tuned
