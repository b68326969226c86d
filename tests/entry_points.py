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


def run_measured(command, cwd=None) -> tuple[subprocess.CompletedProcess, int]:
    """`command` and the peak resident memory (bytes) of that process alone, from its own rusage."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen([str(part) for part in command], cwd=cwd, stdout=stdout, stderr=stderr,
                                   stdin=subprocess.DEVNULL, env=_environment())
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        result = subprocess.CompletedProcess(process.args, process.returncode, stdout.read(), stderr.read())
    return result, usage.ru_maxrss * 1024  # Linux reports KiB


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
