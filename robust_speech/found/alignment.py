"""Where each utterance of a text is spoken in a recording: CTC segmentation (Kürzinger et al. 2020) over the
model's frame log-posteriors, in sections, so that memory stays bounded however long the recording is.

The `ctc-segmentation` package does the alignment itself (its dynamic programme, backtracking and confidence
score). Its table holds one float per (frame of the window, token of the whole text): for a two-hour recording
and its text that is gigabytes, whatever the window. So the text is aligned a section at a time: a group of
utterances (about `SECTION_TOKENS` tokens) against the frames from a cursor on, long enough for that text read
slowly plus `MARGIN_S`; a group's utterances are kept up to its last one that aligned well before its last
(what follows is aligned again, with the next group), and the cursor moves to the end of that one, so text the
audio does not hold never drags the cursor away from where the next text is spoken. An utterance longer than
half a section is aligned as pieces cut at word boundaries and joined again.

A placement whose text is squeezed into too few frames, or whose tokens are emitted where the model gives them
about no chance, is text the audio does not hold (`Placement.absent`). Times are in frames. An utterance's
speech runs from its first token's emission to its last's (but not across a pause inside its first or last
word: `_speech_span`); its clip boundaries extend that by `PAD_S` on each side but never past the middle of the
pause to a neighbour (the package's own boundaries put the end at the last token's spike, which cuts the tail
of the last word).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

# Tokens of text aligned in one section: the table is this many tokens times the window's frames (float32).
SECTION_TOKENS = 800
# The window gives each token this many seconds (a slow reading rate) plus MARGIN_S for pauses and audio
# the text does not cover.
SLOW_SECONDS_PER_TOKEN = 1 / 6
MARGIN_S = 60.0
# Seconds of pause kept around an utterance's speech in its clip (at most up to the middle of the pause).
PAD_S = 0.5
# Speech is never faster than this many seconds per token (about 30 characters a second); text aligned faster
# was squeezed into the audio because the audio does not hold it.
MIN_SECONDS_PER_TOKEN = 0.03
# Tokens of text the audio holds are emitted where the model gives them a fair chance; text it does not hold is
# spread over pauses and other words, each token where it has about no chance (mean log-probability below this).
ABSENT_TOKEN_LOG_PROB = -4.0
# No word is broken by a pause this long: a first (last) token emitted this long before (after) the rest of
# its word was emitted on a neighbour's speech (_speech_span).
WORD_GAP_S = 1.0
# ctc-segmentation's confidence: the minimum over windows of this many frames of the mean log-probability.
SCORE_FRAMES = 30


@dataclass(frozen=True)
class Placement:
    """Where one utterance was found: the frames of its speech [speech_start, speech_end), of its clip
    [start, end), ctc-segmentation's confidence (a mean log-probability; 0 is certain) and the mean
    log-probability of its tokens at the frames where they are emitted."""

    speech_start: int
    speech_end: int
    score: float
    token_score: float = 0.0
    start: int = 0
    end: int = 0
    emitted: tuple[int, int] | None = None  # the frames from its first token's emission to its last's (+1)

    def absent(self, tokens: int, seconds_per_frame: float) -> bool:
        """The audio does not hold this text: it was squeezed into too few frames for its tokens, or its tokens
        are emitted where the model hardly hears them (a pause, other words)."""
        squeezed = (self.speech_end - self.speech_start) * seconds_per_frame < tokens * MIN_SECONDS_PER_TOKEN
        return squeezed or self.token_score < ABSENT_TOKEN_LOG_PROB


@dataclass(frozen=True)
class AlignmentVocabulary:
    """The CTC tokens by id, the blank's id and the word delimiter's (None: words are not delimited)."""

    tokens: tuple[str, ...]
    blank: int
    delimiter: int | None


def align(log_probs: np.ndarray, utterances: Sequence[np.ndarray], vocabulary: AlignmentVocabulary,
          seconds_per_frame: float, min_score: float) -> list[Placement | None]:
    """The placement of each utterance (token ids, none empty), in order; None where the recording ended before
    the utterance could be placed. `min_score` decides which placements the cursor may move to."""
    units, owners = _units(utterances, vocabulary.delimiter)
    placed: list[Placement | None] = [None] * len(units)
    cursor, first = 0, 0
    frames = len(log_probs)
    while first < len(units):
        last = _group_end(units, first)
        window = int((sum(len(units[i]) for i in range(first, last)) * SLOW_SECONDS_PER_TOKEN + MARGIN_S)
                     / seconds_per_frame)
        end = min(frames, cursor + window)
        while last > first and _needed_frames(units[first:last]) > end - cursor:
            last -= 1  # the recording ends before this text: place what fits
        if last == first:
            break
        found = _align_section(log_probs[cursor:end], units[first:last], vocabulary, cursor, seconds_per_frame)
        good = [placement.score >= min_score and not placement.absent(len(unit), seconds_per_frame)
                for placement, unit in zip(found, units[first:last])]
        keep = _kept(good, final=last == len(units))
        placed[first : first + keep] = found[:keep]
        cursor = next((found[i].speech_end for i in reversed(range(keep)) if good[i]), cursor)
        first += keep
    joined = _joined(placed, owners, len(utterances))
    credible = [placement is not None and not placement.absent(len(ids), seconds_per_frame)
                for placement, ids in zip(joined, utterances)]
    return _bounded(joined, credible, frames, seconds_per_frame)


def place_alone(log_probs: np.ndarray, ids: np.ndarray, vocabulary: AlignmentVocabulary, seconds_per_frame: float,
                start: int, end: int) -> Placement | None:
    """Where one utterance is best placed in frames [start, end) (at most a section's window from `start`), its
    clip as wide as its speech; None when it cannot fit there."""
    end = min(end, start + int((len(ids) * SLOW_SECONDS_PER_TOKEN + MARGIN_S) / seconds_per_frame))
    if end - start < _needed_frames([ids]):
        return None
    placement = _align_section(log_probs[start:end], [ids], vocabulary, start, seconds_per_frame)[0]
    return replace(placement, start=placement.speech_start, end=placement.speech_end)


def _kept(good: Sequence[bool], *, final: bool) -> int:
    """How many of a section's placements to keep: all in the last section; else up to the last good one before
    the section's last (what follows is aligned again with the next section), or all but the last when none is
    good (the text is not in this audio: the cursor stays)."""
    if final or len(good) == 1:
        return len(good)
    good_before_last = [index for index in range(len(good) - 1) if good[index]]
    return good_before_last[-1] + 1 if good_before_last else len(good) - 1


def _needed_frames(units: Sequence[np.ndarray]) -> int:
    """Frames the text needs at the least: one per token and per blank between utterances."""
    return sum(len(unit) + 1 for unit in units) + 1


def _group_end(units: Sequence[np.ndarray], first: int) -> int:
    """One past the last unit of the section starting at `first`: at least two units (one is kept), at most
    SECTION_TOKENS tokens otherwise."""
    last, tokens = first, 0
    while last < len(units) and (last - first < 2 or tokens + len(units[last]) <= SECTION_TOKENS):
        tokens += len(units[last])
        last += 1
    return last


def _units(utterances: Sequence[np.ndarray], delimiter: int | None) -> tuple[list[np.ndarray], list[int]]:
    """Utterances longer than half a section cut into pieces at word delimiters, and each piece's utterance."""
    units, owners = [], []
    limit = SECTION_TOKENS // 2
    for index, ids in enumerate(utterances):
        pieces = [ids]
        if len(ids) > limit:
            pieces, start = [], 0
            cuts = [] if delimiter is None else list(np.flatnonzero(ids == delimiter))
            while len(ids) - start > limit:
                inside = [cut for cut in cuts if start < cut <= start + limit]
                cut = inside[-1] if inside else start + limit  # a word longer than the limit: cut inside it
                pieces.append(ids[start:cut])
                start = cut + 1 if inside else cut
            pieces.append(ids[start:])
        for piece in pieces:
            if len(piece):
                units.append(piece)
                owners.append(index)
    return units, owners


def _align_section(log_probs: np.ndarray, units: Sequence[np.ndarray], vocabulary: AlignmentVocabulary,
                   offset: int, seconds_per_frame: float) -> list[Placement]:
    """ctc-segmentation over one section: the whole section is the package's window (one full dynamic
    programme), and times are frames (index duration 1)."""
    from ctc_segmentation import (
        CtcSegmentationParameters,
        ctc_segmentation,
        determine_utterance_segments,
        prepare_token_list,
    )

    config = CtcSegmentationParameters(blank=vocabulary.blank, char_list=list(vocabulary.tokens), index_duration=1.0,
                                       min_window_size=len(log_probs), score_min_mean_over_L=SCORE_FRAMES)
    ground_truth, begins = prepare_token_list(config, list(units))
    timings, char_probs, _states = ctc_segmentation(config, log_probs, ground_truth)
    segments = determine_utterance_segments(config, begins, char_probs, timings, [""] * len(units))
    placements = []
    gap = int(round(WORD_GAP_S / seconds_per_frame))
    for index, (_start, _end, score) in enumerate(segments):
        emitted = timings[begins[index] + 1 : begins[index + 1]].astype(int)
        token_score = float(log_probs[emitted, units[index]].mean())
        first, end = _speech_span(emitted, units[index], vocabulary.delimiter, gap)
        placements.append(Placement(offset + first, offset + end, float(score), token_score,
                                    emitted=(offset + int(emitted[0]), offset + int(emitted[-1]) + 1)))
    return placements


def _speech_span(emitted: np.ndarray, ids: np.ndarray, delimiter: int | None, gap: int) -> tuple[int, int]:
    """The frames [first, end) of an utterance's speech: from its first token's emission to its last's. But
    CTC segmentation may emit the first token early, on a like sound at the end of the previous utterance,
    and stay on it through the pause (staying costs no more than a blank); so a gap of at least `gap` frames
    inside the first word (or from it to the second word's first token) means the speech starts after the
    gap; the same at the end."""
    words = [] if delimiter is None else list(np.flatnonzero(ids == delimiter))
    head = words[0] + 1 if words else len(ids) - 1  # the gaps after tokens 0..head-1 are within the first word
    tail = words[-1] if words else 1  # and those before tokens tail..end within the last
    steps = np.diff(emitted)
    first = next((k + 1 for k in reversed(range(min(head, len(steps)))) if steps[k] >= gap), 0)
    last = next((k - 1 for k in range(max(tail, 1), len(emitted)) if steps[k - 1] >= gap), len(emitted) - 1)
    if first > last:
        first, last = 0, len(emitted) - 1
    return int(emitted[first]), int(emitted[last]) + 1


def _joined(placed: Sequence[Placement | None], owners: Sequence[int], count: int) -> list[Placement | None]:
    """Pieces of one utterance joined: its speech from the first piece's start to the last's end, the lowest
    score; None if any piece could not be placed."""
    joined: list[Placement | None] = [None] * count
    missing = {owner for owner, placement in zip(owners, placed) if placement is None}
    for owner, placement in zip(owners, placed):
        if owner in missing:
            continue
        previous = joined[owner]
        if previous is None:
            joined[owner] = placement
        else:
            emitted = (previous.emitted[0], placement.emitted[1]) if previous.emitted and placement.emitted else None
            joined[owner] = Placement(previous.speech_start, placement.speech_end, min(previous.score, placement.score),
                                      min(previous.token_score, placement.token_score), emitted=emitted)
    return joined


def _bounded(placed: list[Placement | None], credible: Sequence[bool], frames: int,
             seconds_per_frame: float) -> list[Placement | None]:
    """Clip boundaries: PAD_S around the speech, but never past the middle of the pause to a neighbour. The
    neighbours are the credible placements in time order (text squeezed into a pause, or placed before its
    predecessor, is not in the audio and limits no one)."""
    pad = int(round(PAD_S / seconds_per_frame))
    chain, latest = [], 0
    for index, placement in enumerate(placed):
        if credible[index] and placement.speech_start >= latest:
            chain.append(index)
            latest = placement.speech_end
    result = list(placed)
    for index, placement in enumerate(placed):
        if placement is None:
            continue
        start, end = max(0, placement.speech_start - pad), min(frames, placement.speech_end + pad)
        position = bisect.bisect_left(chain, index)
        if position > 0:
            start = max(start, (placed[chain[position - 1]].speech_end + placement.speech_start) // 2)
        position += position < len(chain) and chain[position] == index
        if position < len(chain):
            end = min(end, (placement.speech_end + placed[chain[position]].speech_start + 1) // 2)
        result[index] = replace(placement, start=start, end=max(start, end))
    return result
