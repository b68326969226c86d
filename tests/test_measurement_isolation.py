"""Memory measured for a command is the command's own, whatever the test process holds at that moment.

A process's ru_maxrss keeps the high-water mark of the address space it was forked from, so a child forked
from a pytest process that earlier tests had grown reported that size: the three-hour-file test failed after
test_preprocess.py and test_data.py in the same session, and passed alone."""

import sys

import numpy as np
from entry_points import run_measured


def test_a_command_is_not_charged_for_the_memory_of_the_test_process():
    held = np.ones(400 * 2**20 // 8)  # 400 MiB, resident (written) in this process while the command runs
    result, peak = run_measured([sys.executable, "-c", "import sys; print('ran'); print('err', file=sys.stderr)"])
    assert held.sum() > 0
    assert (result.returncode, result.stdout, result.stderr) == (0, "ran\n", "err\n")
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_the_commands_own_peak_and_exit_status_are_reported():
    allocate = "import sys; import numpy as np; a = np.ones(300 * 2**20 // 8); sys.exit(3)"
    result, peak = run_measured([sys.executable, "-c", allocate])
    assert result.returncode == 3
    assert 300 * 2**20 < peak < 450 * 2**20, f"peak {peak / 2**20:.0f} MiB"
