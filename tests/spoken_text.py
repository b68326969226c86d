"""Frame log-posteriors of a recording whose words and pauses are known: texts spelled frame by frame (as
ctc_logits.emissions spells them) between pauses of blank frames, with the frames where each text's speech lies."""

from __future__ import annotations

import numpy as np
from ctc_logits import VOCABULARY, emissions


def blanks(frames: int) -> np.ndarray:
    row = np.full(len(VOCABULARY), np.log(0.1 / (len(VOCABULARY) - 1)), np.float32)
    row[VOCABULARY["[PAD]"]] = np.log(0.9)
    return np.tile(row, (frames, 1))


def spoken(parts) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Log-probs of `parts` (a text spelled frame by frame, the log-probs of one as `emissions` makes them, or a
    pause of N blank frames) and the frames [first, last emission + 1) of each text's speech."""
    pieces, truth, position = [], [], 0
    for part in parts:
        piece = blanks(part) if isinstance(part, int) else part if isinstance(part, np.ndarray) else emissions(part)
        if not isinstance(part, int):
            truth.append((position, position + len(piece) - 2))  # ends with a character's 2 frames and a blank
        pieces.append(piece)
        position += len(piece)
    return np.concatenate(pieces), truth


def ids(text: str) -> np.ndarray:
    return np.array([VOCABULARY["|" if char == " " else char] for char in text])
