"""The record of every example that was dropped, and why: `skipped.tsv` plus a printed count per reason."""

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
