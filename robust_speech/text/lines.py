"""Reading UTF-8 text files line by line: a line that is not UTF-8 is an error naming the line and byte."""

from __future__ import annotations

import os
from typing import Iterator

from robust_speech.core.errors import TextError


def read_text_lines(path: str | os.PathLike) -> Iterator[str]:
    """Non-empty lines of a UTF-8 text file; a line that is not UTF-8 is an error naming the line."""
    try:
        file = open(path, "rb")
    except OSError as error:
        raise TextError(f"{path}: cannot open ({error.strerror})") from None
    with file:
        for number, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TextError(
                    f"{path}: line {number} is not UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1}); "
                    "convert the file to UTF-8"
                ) from None
            line = line.strip()
            if line:
                yield line
