"""Word and utterance confidence from a CTC model's frame posteriors, the same for every decoding engine.

Every engine (greedy, pyctcdecode, flashlight) gives each word of its transcript a frame span, the frames
from its first character's to its last character's. A word's confidence is computed from the posteriors around
that span only (up to the neighbouring words' spans), and only from the word as written:

- the word's characters are aligned to those frames (the best CTC path spelling exactly this word: Viterbi,
  blanks between characters allowed, a blank required between a doubled letter, pauses before and after);
- each character's confidence is the highest posterior, of any token, on the frames the alignment gives it (CTC
  emits a character in one or two sharp frames: how sure the model was of what it heard at that moment);
- the word's confidence is the mean of its characters'.

Of the definitions tried on a demo model's held-out speech (the least sure character, the posterior of the
character written, the mean entropy of the span), this one separated right from wrong words best once a language
model decodes: there the LM often writes a character the acoustics gave little weight, rightly or not, while
a character heard clearly is rarely part of a wrong word (benchmarks/confidence_quality.py; its results in
benchmarks/results/confidence_quality_cpu.md). Greedy transcripts write each frame's best token, so there the
highest posterior is the written character's.

Why from the posteriors and not from the engines' beam scores: beam scores hold LM and word-insertion terms
and are scaled differently by each engine, so they mean nothing across engines or LM weights, while a span and
a spelling are what all three produce.

The utterance's confidence is the mean of its words' (each word weighs the same, as in WER); a transcript with
no word gets the model's confidence that nothing was said: its least confident frame's probability of writing
no character. What each confidence is worth, measured: benchmarks/confidence_quality.py and its results in
benchmarks/results/.

Computed only when a decoder is asked for it (`confidence=True`): the default decoding path does none of it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def align_word(emissions: np.ndarray, tokens: Sequence[int], blank: int,
               pause: np.ndarray | None = None) -> list[tuple[int, int]] | None:
    """For each token of one word, the [first, last] frames the best CTC path over `emissions` ((frames, vocab)
    log-probs) gives it; None when the frames are too few to spell the word.

    Without `pause` the path starts on the first token and ends on the last (the emissions are the word's span).
    With it (per frame, the log-prob of writing nothing: a blank or the word delimiter) the emissions are a
    window around the word, and the path may pause before the word and after it."""
    frames, count = len(emissions), len(tokens)
    if count == 0 or frames == 0:
        return None
    # States: token 0, blank, token 1, blank, ..., token n-1; with `pause`, a pause state at either end.
    inner = np.full(2 * count - 1, blank, dtype=np.int64)
    inner[0::2] = tokens
    emitted = emissions[:, inner]
    skip = np.zeros(len(inner), dtype=bool)  # a token state reachable from the token two states back
    skip[2::2] = np.asarray(tokens[1:]) != np.asarray(tokens[:-1])
    edge = 0 if pause is None else 1
    if edge:
        emitted = np.column_stack((pause, emitted, pause))
        skip = np.concatenate(([False], skip, [False]))
    states = emitted.shape[1]
    score = np.full(states, -np.inf)
    score[: 1 + edge] = emitted[0, : 1 + edge]
    back = np.zeros((frames, states), dtype=np.int8)  # 0: stay, 1: from the state before, 2: from two before
    for frame in range(1, frames):
        shifted = np.concatenate(([-np.inf, -np.inf], score))
        candidates = np.stack((score, shifted[1:-1], np.where(skip, shifted[:-2], -np.inf)))
        choice = candidates.argmax(axis=0)
        back[frame] = choice
        score = candidates[choice, np.arange(states)] + emitted[frame]
    state = states - 1 - int(np.argmax(score[::-1][: 1 + edge]))  # the last token, or the pause after it
    if not np.isfinite(score[state]):
        return None
    spans: list[list[int]] = [[frames, -1] for _ in range(count)]
    for frame in range(frames - 1, -1, -1):
        position = state - edge
        if 0 <= position < len(inner) and position % 2 == 0:
            span = spans[position // 2]
            span[0], span[1] = frame, max(span[1], frame)
        state -= int(back[frame, state])
    return [(first, last) for first, last in spans]


def word_confidence(emissions: np.ndarray, tokens: Sequence[int], blank: int, pause: np.ndarray | None = None) -> float:
    """The mean over the word's characters of the highest posterior on the frames aligned to each (see
    `align_word` and the module docstring); 0 when the frames cannot hold the word."""
    spans = align_word(emissions, tokens, blank, pause)
    if spans is None:
        return 0.0
    peaks = [emissions[first : last + 1].max() for first, last in spans]
    return float(np.mean(np.exp(peaks)))


def no_speech_confidence(emissions: np.ndarray, silent: Sequence[int]) -> float:
    """The least confident frame's probability of writing no character (`silent`: the blank, the word
    delimiter and the specials); 1 for no frames."""
    if len(emissions) == 0:
        return 1.0
    quiet = np.exp(emissions[:, list(silent)]).sum(axis=-1)
    return float(min(1.0, quiet.min()))


def utterance_confidence(word_confidences: Sequence[float], no_speech: float | None = None) -> float:
    """The mean of the words' confidences; without words, `no_speech` (see no_speech_confidence)."""
    if not word_confidences:
        return 1.0 if no_speech is None else no_speech
    return float(np.mean(word_confidences))
