"""The one exception family users see.

Anything a user can cause (a bad file, a wrong flag, a missing system tool) raises a subclass of
`RobustSpeechError`. Its message is a single line saying what is wrong and how to fix it; the CLI prints it
and exits with status 2, without a traceback. Programming errors are not wrapped: they raise normally.
"""

from __future__ import annotations


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
