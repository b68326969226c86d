"""inference/confidence.py through its functions, against an independent reference: the word alignment is
checked against every frame path of a few frames (brute force), the confidences against their definitions in
the module docstring. Written for mutation testing (benchmarks/results/mutation.md): test_confidence.py goes
through decoders, eval.py and transcribe, which cost seconds per mutant."""

import itertools

import numpy as np
import pytest

from robust_speech.inference.confidence import (
    align_word,
    no_speech_confidence,
    utterance_confidence,
    word_confidence,
)

BLANK = 0
VOCAB = 5  # blank, then letters 1..3, then 4 (the word delimiter when there is a pause)


def random_emissions(frames: int, seed: int) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(frames, VOCAB)) * 2.0
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


def brute_force_alignment(emissions, tokens, blank, pause=None):
    """The best frame path spelling exactly `tokens`, by trying every path: a CTC path from the first token to
    the last (blanks between tokens, a blank required between equal neighbours), with any number of pause
    frames before and after it when `pause` is given. Returns each token's [first, last] frames, or None."""
    frames = len(emissions)
    best, best_path = -np.inf, None
    symbols = ["pause", "blank", *range(len(tokens))] if pause is not None else ["blank", *range(len(tokens))]
    for path in itertools.product(symbols, repeat=frames):
        # Pauses only before the first token and after the last.
        core = [i for i, s in enumerate(path) if s != "pause"]
        if not core or any(path[i] == "pause" for i in range(core[0], core[-1] + 1)):
            continue
        inner = [path[i] for i in range(core[0], core[-1] + 1)]
        if inner[0] != 0 or inner[-1] != len(tokens) - 1:
            continue
        # Token positions move forward by one (or stay); a blank sits between positions.
        position, valid, after_blank = 0, True, False
        for step in inner[1:]:
            if step == "blank":
                after_blank = True
                continue
            if step == position and not after_blank:
                continue
            if step == position + 1 and (after_blank or tokens[step] != tokens[position]):
                position, after_blank = step, False
                continue
            valid = False
            break
        if not valid or position != len(tokens) - 1:
            continue
        score = sum(pause[t] if s == "pause" else emissions[t, blank if s == "blank" else tokens[s]]
                    for t, s in enumerate(path))
        if score > best:
            best, best_path = score, path
    if best_path is None:
        return None
    return [(min(t for t, s in enumerate(best_path) if s == k), max(t for t, s in enumerate(best_path) if s == k))
            for k in range(len(tokens))]


WORDS = [[1], [1, 2], [2, 2], [1, 2, 3], [3, 3, 1], [1, 2, 1]]


@pytest.mark.parametrize("tokens", WORDS)
def test_the_alignment_is_the_best_path_spelling_the_word(tokens):
    for seed in range(4):
        for frames in (len(tokens), len(tokens) + 1, 6):
            emissions = random_emissions(frames, seed)
            assert align_word(emissions, tokens, BLANK) == brute_force_alignment(emissions, tokens, BLANK), (seed, frames)


@pytest.mark.parametrize("tokens", WORDS)
def test_the_alignment_with_pauses_around_the_word(tokens):
    for seed in range(4):
        for frames in (len(tokens), 5, 6):
            emissions = random_emissions(frames, 10 + seed)
            pause = np.logaddexp(emissions[:, BLANK], emissions[:, 4])
            assert align_word(emissions, tokens, BLANK, pause) == brute_force_alignment(emissions, tokens, BLANK, pause)


def test_the_blank_is_the_one_given():
    emissions = random_emissions(6, 3)
    assert align_word(emissions, [1, 1], 4) == brute_force_alignment(emissions, [1, 1], 4)
    assert align_word(emissions, [1, 1], 4) != align_word(emissions, [1, 1], 0)


def test_too_few_frames_or_nothing_to_align():
    emissions = random_emissions(3, 0)
    assert align_word(emissions, [1, 1, 1], BLANK) is None  # needs five frames (two blanks between)
    assert align_word(emissions[:2], [1, 2, 3], BLANK) is None
    assert align_word(emissions, [], BLANK) is None
    assert align_word(emissions[:0], [1], BLANK) is None
    assert word_confidence(emissions, [1, 1, 1], BLANK) == 0.0
    pause = np.logaddexp(emissions[:, BLANK], emissions[:, 4])
    assert align_word(emissions[:1], [1], BLANK, pause[:1]) == [(0, 0)]


def test_word_confidence_is_the_mean_of_each_characters_highest_posterior_on_its_frames():
    for seed in range(5):
        emissions = random_emissions(6, 20 + seed)
        pause = np.logaddexp(emissions[:, BLANK], emissions[:, 4])
        for tokens, with_pause in itertools.product(([1, 2], [2, 2, 3]), (None, pause)):
            spans = brute_force_alignment(emissions, tokens, BLANK, with_pause)
            expected = np.mean([np.exp(emissions[first: last + 1]).max() for first, last in spans])
            assert word_confidence(emissions, tokens, BLANK, with_pause) == pytest.approx(expected, rel=1e-6)
            assert isinstance(word_confidence(emissions, tokens, BLANK, with_pause), float)


def test_no_speech_confidence_is_the_least_quiet_frame():
    probabilities = np.array([[0.5, 0.2, 0.1, 0.1, 0.1], [0.1, 0.6, 0.1, 0.1, 0.1], [0.3, 0.1, 0.1, 0.1, 0.4]])
    emissions = np.log(probabilities)
    assert no_speech_confidence(emissions, [0, 4]) == pytest.approx(0.2)  # the second frame: 0.1 + 0.1
    assert no_speech_confidence(emissions, [0]) == pytest.approx(0.1)
    assert no_speech_confidence(emissions[:1], [0, 4]) == pytest.approx(0.6)
    assert no_speech_confidence(emissions[:0], [0]) == 1.0
    # Columns summing above one by rounding still give at most 1.
    assert no_speech_confidence(np.log(np.full((2, 3), 0.5)), [0, 1, 2]) == 1.0
    assert isinstance(no_speech_confidence(emissions, (0,)), float)


def test_utterance_confidence_is_the_mean_of_its_words_or_the_no_speech_one():
    assert utterance_confidence([0.2, 0.4, 0.9]) == pytest.approx(0.5)
    assert isinstance(utterance_confidence([0.5]), float)
    assert utterance_confidence([0.2, 0.4], no_speech=0.01) == pytest.approx(0.3)
    assert utterance_confidence([], no_speech=0.25) == 0.25
    assert utterance_confidence([]) == 1.0
