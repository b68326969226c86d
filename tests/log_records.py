"""What the library said through its logger during a block, whether or not an entry point configured it."""

from __future__ import annotations

import contextlib
import logging

from robust_speech.core.logs import LOGGER


@contextlib.contextmanager
def logged(level: int = logging.INFO):
    """The messages the `robust_speech` logger emits at `level` or above inside the block, as a list of strings.

    A handler on the logger itself: pytest's own capture sits on the root logger, which a configured logger
    (`propagate = False`) no longer reaches."""
    messages: list[str] = []
    handler = logging.Handler(level)
    handler.emit = lambda record: messages.append(record.getMessage())
    saved_level = LOGGER.level
    LOGGER.addHandler(handler)
    if LOGGER.getEffectiveLevel() > level:
        LOGGER.setLevel(level)
    try:
        yield messages
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(saved_level)
