"""The project's entry points run as a user runs them: subprocesses, real files, this environment's python."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSOLE_SCRIPT = Path(sys.executable).with_name("robust-speech")


def _environment() -> dict[str, str]:
    """This virtual environment's python first on PATH (eval.py's shebang finds it), nothing from the Hub."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}


def run_command(command, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, env=_environment())


# Runs the measured command as its child and writes the child's rusage peak: a process's ru_maxrss includes the
# address space it was forked from (Linux keeps the high-water mark across exec), so a command forked straight
# from pytest would be charged for everything the test session holds.
_MEASURING_LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_pid, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def run_measured(command, cwd=None) -> tuple[subprocess.CompletedProcess, int]:
    """`command` and the peak resident memory (bytes) of that process alone, from its own rusage.

    The figure is the same whatever the calling process holds (a launcher of a few MiB starts it)."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr, \
            tempfile.TemporaryDirectory() as scratch:
        measured = Path(scratch) / "rusage"
        args = [str(part) for part in command]
        launcher = subprocess.run([sys.executable, "-I", "-c", _MEASURING_LAUNCHER, measured, *args], cwd=cwd,
                                  stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=_environment())
        stdout.seek(0)
        stderr.seek(0)
        if launcher.returncode != 0 or not measured.is_file():
            raise RuntimeError(f"the measuring launcher failed ({launcher.returncode}): {stderr.read()}")
        returncode, maxrss = map(int, measured.read_text().split())
        result = subprocess.CompletedProcess(args, returncode, stdout.read(), stderr.read())
    return result, maxrss * 1024  # Linux reports KiB


def run_eval(cwd: Path, *args) -> subprocess.CompletedProcess:
    """`./eval.py ...` as a participant runs it."""
    return run_command([ROOT / "eval.py", *args], cwd=cwd)


def run_build_ngram(*args, cwd=None) -> subprocess.CompletedProcess:
    return run_command([sys.executable, ROOT / "build_ngram.py", *args], cwd=cwd)


def run_training(*args, cwd=None) -> subprocess.CompletedProcess:
    return run_command([sys.executable, ROOT / "run_speech_recognition_ctc.py", *args], cwd=cwd)


def robust_speech_command(*args) -> list:
    """The `robust-speech` console script (`python -m robust_speech` where it is not installed)."""
    return [*([CONSOLE_SCRIPT] if CONSOLE_SCRIPT.exists() else [sys.executable, "-m", "robust_speech"]), *args]


def run_robust_speech(*args, cwd=None) -> subprocess.CompletedProcess:
    return run_command(robust_speech_command(*args), cwd=cwd)
