"""Segmentation's clips: cut from a recording read block by block (the folder around them is
found/dataset_folder.py's)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile

from robust_speech.audio.decode import TARGET_SAMPLING_RATE, stream_audio


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
