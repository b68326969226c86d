"""What the library says goes through one logger, `robust_speech`; the entry points decide how much is shown.

Library code calls `LOGGER.info(...)` (never `print`), so a Python user can silence or redirect it with the
standard `logging` module. The command-line entry points call `configure_logging`: information prints as plain
lines on the current standard output (where the scripts have always printed it), warnings on standard error
(where notes have always gone), `-q` keeps warnings only, `-v` adds debug lines. Progress bars stay tqdm's,
through `progress_bar`, which redraws a bar on a terminal and writes a line every `FILE_REFRESH_S` seconds when
the output is a file (a CI log, `nohup`, `make demo > log`), instead of one carriage-return frame per refresh.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager

LOGGER_NAME = "robust_speech"
LOGGER = logging.getLogger(LOGGER_NAME)

# -q / default / -v: the logger's level for each count of -v minus -q.
VERBOSITY_LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}

# Seconds between progress lines when the bar's stream is not a terminal.
FILE_REFRESH_S = 10.0


class _CurrentStream(logging.StreamHandler):
    """A handler that writes to whatever `sys.stdout` (or `sys.stderr`) is at the moment of each message
    (pytest's capture, a redirected stream), not the object it was when the handler was made."""

    def __init__(self, name: str) -> None:
        self.stream_name = name
        super().__init__(getattr(sys, name))

    def emit(self, record: logging.LogRecord) -> None:
        # Assigned, not setStream(): that flushes the previous stream, which a finished capture may have closed.
        self.stream = getattr(sys, self.stream_name)
        super().emit(record)


def configure_logging(verbosity: int = 0) -> logging.Logger:
    """Show the library's messages as plain lines, information on stdout and warnings on stderr, at the level
    `verbosity` picks (negative: warnings only; 0: information; positive: debug). Idempotent: one handler per
    stream, however often called."""
    level = VERBOSITY_LEVELS[max(-1, min(1, verbosity))]
    LOGGER.setLevel(level)
    if not any(isinstance(handler, _CurrentStream) for handler in LOGGER.handlers):
        information = _CurrentStream("stdout")
        information.addFilter(lambda record: record.levelno < logging.WARNING)
        warnings = _CurrentStream("stderr")
        warnings.setLevel(logging.WARNING)
        for handler in (information, warnings):
            handler.setFormatter(logging.Formatter("%(message)s"))
            LOGGER.addHandler(handler)
    LOGGER.propagate = False
    return LOGGER


def progress_bar(iterable=None, **options):
    """`tqdm(iterable, **options)`, drawn on a terminal and written as a line every `FILE_REFRESH_S` seconds
    when its stream (`file`, standard error by default) is a file or a pipe."""
    from tqdm.auto import tqdm

    stream = options.get("file") or sys.stderr
    if not _is_terminal(stream):
        options.setdefault("mininterval", FILE_REFRESH_S)
        options.setdefault("maxinterval", FILE_REFRESH_S * 3)
        options.setdefault("ascii", True)
    return tqdm(iterable, **options)


def is_terminal(stream=None) -> bool:
    """Whether `stream` (standard error by default) redraws a bar in place, rather than keeping every frame."""
    return _is_terminal(stream if stream is not None else sys.stderr)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def datasets_bars_on_terminals_only():
    """datasets' own bar during `map`, where standard error is a terminal; elsewhere (a job log, `nohup`) none.

    Its bar refreshes several times a second and a file keeps every frame; the caller's own summary line (a
    split's speed, the rendered copies') says the same at the end. `HF_DATASETS_DISABLE_PROGRESS_BARS=0` keeps
    the bar wherever it goes.
    """
    import datasets
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    forced_on = datasets.config.HF_DATASETS_DISABLE_PROGRESS_BARS is False
    if is_terminal() or forced_on or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()
