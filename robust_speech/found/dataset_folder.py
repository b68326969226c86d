"""The dataset folder that segmentation and pseudo-labelling write: `clips/`, `metadata.csv` in the columns the
data layer's audio-folder reader takes (`file_name`, `sentence`, then `source`, `start`, `end` and the stage's
score column), and `skipped.tsv`: the data layer's skip columns plus the start, end and score of what was
rejected and, where there is one, its text.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from robust_speech.core.files import atomic_write, safe_filename
from robust_speech.data.local_datasets import METADATA_NAMES
from robust_speech.data.skips import SKIPPED_COLUMNS, SKIPPED_FILE

METADATA_FILE = next(name for name in METADATA_NAMES if name.endswith(".csv"))
CLIPS_DIRECTORY = "clips"


@dataclass
class DatasetWriter:
    """Rows of `metadata.csv` and `skipped.tsv` for a dataset folder, counted as they are added. `stage` fills
    skipped.tsv's `split` column (the stage that rejected the row); `score_column` names the score."""

    folder: Path
    stage: str
    score_column: str = "score"
    score_digits: int = 3
    rows: list[tuple] = field(default_factory=list)
    skips: list[tuple] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    _stems: Counter = field(default_factory=Counter)

    @property
    def clips_folder(self) -> Path:
        return self.folder / CLIPS_DIRECTORY

    @property
    def metadata_columns(self) -> tuple[str, ...]:
        return ("file_name", "sentence", "source", "start", "end", self.score_column)

    @property
    def skip_columns(self) -> tuple[str, ...]:
        return (*SKIPPED_COLUMNS, "start", "end", self.score_column, "sentence")

    def clip_stem(self, source: str) -> str:
        """A file-name stem for `source`'s clips, distinct from every other source's."""
        stem = safe_filename(Path(source).stem) or "audio"
        self._stems[stem] += 1
        return stem if self._stems[stem] == 1 else f"{stem}-{self._stems[stem]}"

    def add_clip(self, name: str, sentence: str, source: str, start_s: float, end_s: float, score: float) -> None:
        self.rows.append((f"{CLIPS_DIRECTORY}/{name}", sentence, source, f"{start_s:.3f}", f"{end_s:.3f}",
                          self._number(score)))
        self.seconds += end_s - start_s

    def skip(self, source: str, example: str, reason: str, detail: str = "", start_s: float | None = None,
             end_s: float | None = None, score: float | None = None, sentence: str = "") -> None:
        self.skips.append((self.stage, source, example, reason, " ".join(str(detail).split()), _seconds(start_s),
                           _seconds(end_s), self._number(score), sentence))
        self.reasons[reason] += 1

    def write(self) -> None:
        with atomic_write(self.folder / METADATA_FILE, newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(self.metadata_columns)
            writer.writerows(self.rows)
        with atomic_write(self.folder / SKIPPED_FILE, newline="") as file:
            writer = csv.writer(file, delimiter="\t", lineterminator="\n")
            writer.writerow(self.skip_columns)
            writer.writerows(self.skips)

    def _number(self, value: float | None) -> str:
        return "" if value is None else f"{value:.{self.score_digits}f}"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
