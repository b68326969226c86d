"""Writing output files safely: whole or not at all, and only inside the folder they belong to.

A run killed mid-write (SIGKILL, power loss, a full disk) must never leave a result file that looks valid but
is cut short: `atomic_write` writes a temporary file beside the target, flushes it to disk, then renames it
over the target (`os.replace` is atomic on POSIX), so readers see the old file or the complete new one.
Write failures the user can fix (disk full, quota, read-only, permissions) become one-line `OutputError`s.

Names derived from arguments or data (eval.py's dataset ids) go through `safe_filename`, so a `../../x`
cannot place a file outside the output folder.
"""

from __future__ import annotations

import os
import re
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from robust_speech.core.errors import output_errors


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None) -> Iterator[IO]:
    """`open(path, mode)` for writing, except the file appears under its name only once complete."""
    path = Path(path)
    binary = "b" in mode
    options = {} if binary else {"encoding": encoding, "newline": newline}
    with output_errors(path):
        if path.exists() and not stat.S_ISREG(path.stat().st_mode):
            # A device or pipe (/dev/null, /dev/stdout) cannot be replaced by renaming: write it in place.
            with open(path, mode, **options) as file:
                yield file
            return
        # A fixed name: a re-run after a kill overwrites (and so removes) the leftover of the killed run. Each
        # process of a distributed run (torchrun/accelerate set RANK) has its own, so that processes writing the
        # same file at once (skipped.tsv) never rename each other's temporary away.
        rank = os.environ.get("RANK", "0")
        temporary = path.with_name(f".{path.name}.tmp" if rank == "0" else f".{path.name}.rank{rank}.tmp")
        try:
            with open(temporary, mode, **options) as file:
                yield file
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    with atomic_write(path, encoding=encoding) as file:
        file.write(text)
    return Path(path)


_UNSAFE = re.compile("[" + re.escape("/\0" + os.sep + (os.altsep or "")) + "]")


def safe_filename(name: str) -> str:
    """`name` usable as one file name: path separators and NUL replaced by `_`, never `.`, `..` or empty."""
    name = _UNSAFE.sub("_", name)
    return name if name not in ("", ".", "..") else name.replace(".", "_") or "_"

