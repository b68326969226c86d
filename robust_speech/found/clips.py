"""The dataset folder segmentation writes: clips cut from a recording read block by block, `metadata.csv` in the
columns the data layer's audio-folder reader takes (`file_name`, `sentence`, and `source`, `start`, `end`,
`score`), and `skipped.tsv`: the data layer's skip columns plus the start, end and score of what was rejected
and, for an utterance, its text.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile

from robust_speech.audio.decode import TARGET_SAMPLING_RATE, stream_audio
from robust_speech.core.files import atomic_write, safe_filename
from robust_speech.data.local_datasets import METADATA_NAMES
from robust_speech.data.skips import SKIPPED_COLUMNS, SKIPPED_FILE

METADATA_FILE = next(name for name in METADATA_NAMES if name.endswith(".csv"))
METADATA_COLUMNS = ("file_name", "sentence", "source", "start", "end", "score")
SKIP_COLUMNS = (*SKIPPED_COLUMNS, "start", "end", "score", "sentence")
CLIPS_DIRECTORY = "clips"
# The `split` column of skipped.tsv: the stage that rejected the row.
STAGE = "segment"


@dataclass(frozen=True)
class Cut:
    """Samples [start, end) of a recording written as `name` (a wav file in `clips/`)."""

    start: int
    end: int
    name: str


def cut_clips(source: str | os.PathLike, cuts: Sequence[Cut], folder: Path,
              sampling_rate: int = TARGET_SAMPLING_RATE) -> None:
    """Write each cut as 16-bit mono wav, reading `source` once, block by block: only the samples from the
    next cut's start on are held."""
    order = sorted(cuts, key=lambda cut: (cut.start, cut.end))
    buffer, offset, next_cut = np.zeros(0, np.float32), 0, 0
    for block in stream_audio(source, sampling_rate):
        buffer = np.concatenate([buffer, block]) if buffer.size else block
        while next_cut < len(order) and order[next_cut].end <= offset + buffer.size:
            _write(folder, order[next_cut], buffer, offset, sampling_rate)
            next_cut += 1
        keep_from = order[next_cut].start if next_cut < len(order) else offset + buffer.size
        if keep_from > offset:
            buffer, offset = buffer[keep_from - offset :], keep_from
    for cut in order[next_cut:]:  # a cut rounded past the last sample ends with the recording
        _write(folder, cut, buffer, offset, sampling_rate)


def _write(folder: Path, cut: Cut, buffer: np.ndarray, offset: int, sampling_rate: int) -> None:
    soundfile.write(folder / cut.name, buffer[max(0, cut.start - offset) : max(0, cut.end - offset)], sampling_rate,
                    subtype="PCM_16")


@dataclass
class DatasetWriter:
    """Rows of `metadata.csv` and `skipped.tsv` for a dataset folder, counted as they are added."""

    folder: Path
    rows: list[tuple] = field(default_factory=list)
    skips: list[tuple] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    _stems: Counter = field(default_factory=Counter)

    @property
    def clips_folder(self) -> Path:
        return self.folder / CLIPS_DIRECTORY

    def clip_stem(self, source: str) -> str:
        """A file-name stem for `source`'s clips, distinct from every other recording's."""
        stem = safe_filename(Path(source).stem) or "recording"
        self._stems[stem] += 1
        return stem if self._stems[stem] == 1 else f"{stem}-{self._stems[stem]}"

    def add_clip(self, name: str, sentence: str, source: str, start_s: float, end_s: float, score: float) -> None:
        self.rows.append((f"{CLIPS_DIRECTORY}/{name}", sentence, source, f"{start_s:.3f}", f"{end_s:.3f}", f"{score:.3f}"))
        self.seconds += end_s - start_s

    def skip(self, source: str, example: str, reason: str, detail: str = "", start_s: float | None = None,
             end_s: float | None = None, score: float | None = None, sentence: str = "") -> None:
        self.skips.append((STAGE, source, example, reason, " ".join(str(detail).split()), _number(start_s),
                           _number(end_s), _number(score), sentence))
        self.reasons[reason] += 1

    def write(self) -> None:
        with atomic_write(self.folder / METADATA_FILE, newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(METADATA_COLUMNS)
            writer.writerows(self.rows)
        with atomic_write(self.folder / SKIPPED_FILE, newline="") as file:
            writer = csv.writer(file, delimiter="\t", lineterminator="\n")
            writer.writerow(SKIP_COLUMNS)
            writer.writerows(self.skips)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
