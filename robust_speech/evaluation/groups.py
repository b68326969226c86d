"""A dataset split as bounded groups of decoded audio (for eval.py, robustness and tune-lm), and its log-probs."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from robust_speech.core.errors import AudioError
from robust_speech.data.preprocess import decode_audio
from robust_speech.data.sources import AUDIO_COLUMN, TEXT_COLUMN, load_speech_split, parse_sources
from robust_speech.evaluation.options import EvalSplit


def load_split(split: EvalSplit, token: str | bool | None = None, notes: list[str] | None = None):
    return load_speech_split(parse_sources(split.dataset, split.config, split.text_column_name), split.split,
                             token=token, notes=notes)


# Inference runs over groups of this much audio at a time, so memory stays bounded on any dataset size.
GROUP_SECONDS = 600.0


def iter_groups(dataset, sampling_rate: int, text_column: str, limit: int | None) -> Iterator[list[tuple[int, np.ndarray, str]]]:
    group: list[tuple[int, np.ndarray, str]] = []
    seconds = 0.0
    for index, example in enumerate(dataset):
        if limit is not None and index >= limit:
            break
        audio = example[AUDIO_COLUMN]
        try:
            array = decode_audio(audio, sampling_rate)
        except AudioError as error:
            # Skipping it would change the score: every example of an evaluation split counts.
            raise AudioError(f"example {index} of the evaluation split: {error} (eval.py scores every example, "
                             "it never skips one)") from None
        group.append((index, array, example[text_column] or ""))
        seconds += array.size / sampling_rate
        if seconds >= GROUP_SECONDS:
            yield group
            group, seconds = [], 0.0
    if group:
        yield group


def split_log_probs(transcriber, dataset, limit: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Log-probs of every example (model run once, in bounded groups) and its raw transcript, in order."""
    log_probs, texts = [], []
    for group in iter_groups(dataset, transcriber.acoustic.sampling_rate, TEXT_COLUMN, limit):
        log_probs.extend(transcriber.log_probs([array for _index, array, _text in group]))
        texts.extend(text for _index, _array, text in group)
    return log_probs, texts
