"""Hand-made CTC emissions for decoder tests: a text spelled frame by frame, with chosen confusions."""

from __future__ import annotations

import numpy as np

LETTERS = "abcdefghijklmnopqrstuvwxyz'"
VOCABULARY = {"[PAD]": 0, "[UNK]": 1, "|": 2, **{char: 3 + index for index, char in enumerate(LETTERS)}}


def emissions(text: str, vocabulary: dict[str, int] = VOCABULARY, confusions: dict[int, tuple[str, float]] | None = None,
              peak: float = 0.9, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(frames, vocab) log-probs spelling `text`: two frames per character then one blank frame; spaces
    become the word delimiter. `confusions[i] = (char, p)` gives character i's frames to `char` with
    probability p (the right character keeps `peak - p`)."""
    rng = np.random.default_rng(seed)
    confusions = confusions or {}
    rows = []
    size = max(vocabulary.values()) + 1
    for position, char in enumerate(text):
        token = vocabulary["|"] if char == " " else vocabulary[char]
        for _ in range(2):
            row = np.full(size, (1.0 - peak) / (size - 1))
            row[token] = peak
            if position in confusions:
                wrong, probability = confusions[position]
                row[token] = peak - probability
                row[vocabulary[wrong]] = probability
            rows.append(row)
        blank = np.full(size, (1.0 - peak) / (size - 1))
        blank[vocabulary["[PAD]"]] = peak
        rows.append(blank)
    probabilities = np.array(rows)
    if noise:
        probabilities = probabilities + rng.uniform(0, noise, probabilities.shape)
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return np.log(probabilities).astype(np.float32)
