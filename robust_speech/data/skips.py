"""The record of every example that was dropped, and why: `skipped.tsv` plus a printed count per reason.

A prepared (decoded) split writes the whole log at once (`SkipLog.write`). A stream meets its skips while
training reads it: `SkipAppender` appends each one to `skipped.tsv` when it is met, once per example even when
the stream is read again (the next epoch, the next evaluation), and `read_counts` counts them from the file.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from robust_speech.core.files import atomic_write

SKIPPED_FILE = "skipped.tsv"
SKIPPED_COLUMNS = ("split", "source", "example", "reason", "detail")


@dataclass
class SkipLog:
    """Collects skipped examples; `write` puts them in `<output_dir>/skipped.tsv` (one file per run)."""

    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def add(self, split: str, source: str, example: str, reason: str, detail: str = "") -> None:
        self.rows.append((split, source, example, reason, _one_line(detail)))

    def counts(self, split: str | None = None) -> Counter:
        return Counter(row[3] for row in self.rows if split is None or row[0] == split)

    def summary(self, split: str, total: int | None = None) -> str:
        """`train: skipped 3 of 50 examples: 2 too long, 1 empty transcript`."""
        counts = self.counts(split)
        skipped = sum(counts.values())
        of = f" of {total}" if total is not None else ""
        if not skipped:
            return f"{split}: skipped 0{of} examples"
        reasons = ", ".join(f"{count} {reason}" for reason, count in counts.most_common())
        return f"{split}: skipped {skipped}{of} examples: {reasons}"

    def write(self, output_dir: str | os.PathLike) -> Path:
        """Write the log (also when empty, so "nothing was skipped" is on record)."""
        path = Path(output_dir) / SKIPPED_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, newline="") as file:  # a killed run never leaves half a log
            writer = csv.writer(file, delimiter="\t", lineterminator="\n")
            writer.writerow(SKIPPED_COLUMNS)
            writer.writerows(self.rows)
        return path


def read_skip_log(path: str | os.PathLike) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file, delimiter="\t"))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class SkipAppender:
    """A filter for streams: `True` keeps the example; a reason appends one row to `skipped.tsv` and drops it.

    Each example is written once, however often the stream is read: the rows already in the file are loaded
    the first time a process appends (so DataLoader workers and later epochs do not repeat them). It holds
    only the skipped examples' names, never the stream.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._written: set[tuple[str, str, str]] | None = None

    def __getstate__(self) -> dict:
        return {"path": self.path, "_written": None}  # each process reads the file itself

    def start(self) -> Path:
        """A fresh file with its header (a run's skips, not the previous run's)."""
        SkipLog().write(os.path.dirname(self.path) or ".")
        self._written = set()
        return Path(self.path)

    def __call__(self, split: str, source: str, example: str, reason: str, detail: str = "") -> bool:
        if not reason:
            return True
        if self._written is None:
            self._written = {(row["split"], row["source"], row["example"]) for row in _rows_if_any(self.path)}
        key = (split, source, example)
        if key not in self._written:
            self._written.add(key)
            new = not os.path.exists(self.path)
            with open(self.path, "a", encoding="utf-8", newline="") as file:
                writer = csv.writer(file, delimiter="\t", lineterminator="\n")
                if new:
                    writer.writerow(SKIPPED_COLUMNS)
                writer.writerow((split, source, example, reason, _one_line(detail)))
        return False


def read_counts(path: str | os.PathLike) -> SkipLog:
    """The skips recorded in `path` (a stream's `skipped.tsv`), for `SkipLog.summary`."""
    log = SkipLog()
    for row in _rows_if_any(path):
        log.add(row["split"], row["source"], row["example"], row["reason"], row.get("detail") or "")
    return log


def _rows_if_any(path: str | os.PathLike) -> list[dict[str, str]]:
    return read_skip_log(path) if os.path.exists(path) else []
