"""One native thread per worker process, when the work is already split across processes.

numpy's OpenBLAS and PyTorch's OpenMP each start one thread per core in every process. When N worker
processes share N cores (the feature cache's warm-up, the rendered degraded copies), each worker's small
matrix products then run N threads on cores the other workers are using, and the threads spin waiting for
each other, slower together than one worker alone (benchmarks/results/code_history.md). threadpoolctl
sets the limit in every native library it finds loaded, at run time, which an environment variable set after
numpy is imported cannot.
"""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits


def one_native_thread() -> threadpool_limits:
    """This process's BLAS and OpenMP run one thread each: for its whole life when called (a Pool
    initializer), or inside a `with` block only, which puts the previous limits back on leaving."""
    return threadpool_limits(limits=1)


def native_threads() -> int:
    """The most threads any loaded BLAS or OpenMP library of this process would use (1 when none is loaded)."""
    return max((library["num_threads"] for library in threadpool_info()), default=1)
