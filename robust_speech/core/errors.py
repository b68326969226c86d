"""The one exception family users see.

Anything a user can cause (a bad file, a wrong flag, a missing system tool) raises a subclass of
`RobustSpeechError`. Its message is a single line saying what is wrong and how to fix it; the CLI prints it
and exits with status 2, without a traceback. Programming errors are not wrapped: they raise normally.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager


class RobustSpeechError(Exception):
    """An error the user can fix. `str(error)` is always one line."""

    exit_code = 2

    def __init__(self, message: str):
        # Messages often embed library errors or file contents: fold them so the "one line" promise holds.
        super().__init__(" ".join(str(message).split()))


class AudioError(RobustSpeechError):
    """An audio file or buffer that cannot be used: unreadable, empty, corrupt, non-finite."""


class TextError(RobustSpeechError):
    """Text input that cannot be used: undecodable bytes, an empty corpus, a bad character set."""


class ConfigurationError(RobustSpeechError):
    """Arguments that contradict each other or name something that does not exist."""


class MissingDependencyError(RobustSpeechError):
    """A system program or optional package the requested feature needs is not installed."""


class OutputError(RobustSpeechError):
    """An output that cannot be written: the disk is full, over quota, read-only, or not writable by the user."""


# Write failures the user fixes (free space, fix permissions, choose another folder), not programming errors.
_OUTPUT_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "part of the path is a file, not a folder",
}
# Writers outside Python's io (safetensors' Rust, torch.save's zip writer) raise other types; their text says it.
_OUTPUT_MESSAGES = {
    "no space left on device": "no space left on the device", "storagefull": "no space left on the device",
    "os error 28": "no space left on the device", "disk quota exceeded": "disk quota exceeded",
    "file write failed": "the write failed (is the disk full?)",
}


def output_failure(error: BaseException) -> str | None:
    """Why `error` is a write failure the user can fix (disk full, quota, read-only, permissions), else None."""
    if isinstance(error, OSError) and error.errno in _OUTPUT_ERRNOS:
        return _OUTPUT_ERRNOS[error.errno]
    if isinstance(error, OSError):
        return None
    text = str(error).lower()
    return next((reason for marker, reason in _OUTPUT_MESSAGES.items() if marker in text), None)


def output_error(error: BaseException, path=None) -> OutputError | None:
    """`error` as a one-line OutputError naming the file and the fix, or None when it is not a write failure."""
    reason = output_failure(error)
    if reason is None:
        return None
    where = os.fspath(getattr(error, "filename", None) or path or "the output")
    if reason in ("permission denied", "operation not permitted"):  # also raised by reads: say "access"
        return OutputError(f"cannot access {where}: {reason}; fix its permissions or use another folder")
    if error.errno == errno.ENOTDIR if isinstance(error, OSError) else False:
        return OutputError(f"cannot use {where}: {reason}; choose another folder")
    fix = "make it writable" if reason == "read-only file system" else "free some space"
    return OutputError(f"cannot write {where}: {reason}; {fix} or write elsewhere (e.g. another --output_dir)")


@contextmanager
def output_errors(path=None):
    """Turn write failures (ENOSPC, EDQUOT, EROFS, EACCES, EPERM) inside the block into one-line OutputErrors."""
    try:
        yield
    except RobustSpeechError:
        raise
    except Exception as error:  # noqa: BLE001 - re-raised unchanged unless it is a write failure
        mapped = output_error(error, path)
        if mapped is None:
            raise
        raise mapped from None
