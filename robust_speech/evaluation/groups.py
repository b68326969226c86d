"""A dataset split as bounded groups of decoded audio (for eval.py, robustness and tune-lm), and its log-probs.

For eval.py, a recording longer than `STREAM_OVER_S` is not decoded here: it comes as a `LongRecording`, alone
in its group, for the transcriber to read block by block (inference/streaming.py), so memory stays bounded on
a file of any length."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator, Union

import numpy as np

from robust_speech.audio.decode import AudioSource, audio_info, stream_audio
from robust_speech.core.errors import AudioError
from robust_speech.data.preprocess import decode_audio
from robust_speech.data.sources import AUDIO_COLUMN, EVAL_FLAGS, TEXT_COLUMN, load_speech_split, parse_sources
from robust_speech.evaluation.options import EvalSplit


def load_split(split: EvalSplit, token: str | bool | None = None, notes: list[str] | None = None):
    # eval.py's spelling: the verbs that read a split this way (tune-lm, robustness) accept it too.
    sources = parse_sources(split.dataset, split.config, split.text_column_name, flags=EVAL_FLAGS)
    return load_speech_split(sources, split.split,
                             token=token, notes=notes)


# Inference runs over groups of this much audio at a time, so memory stays bounded on any dataset size.
GROUP_SECONDS = 600.0
# Chunked eval reads a recording longer than this (by its header) while transcribing it: decoded whole, five
# minutes are 19 MB, three hours 691 MB.
STREAM_OVER_S = 300.0
# A smaller file is decoded without looking at its header first (a 1 MiB file of 8 kbit/s mp3 is 17 minutes; a
# Common Voice clip is about 50 kB).
_HEADER_CHECK_BYTES = 1 << 20


@dataclass(frozen=True)
class LongRecording:
    """A recording to read block by block at `sampling_rate` rather than decode whole."""

    source: AudioSource
    name: str | None
    seconds: float
    sampling_rate: int

    @property
    def expected_samples(self) -> int:
        return math.ceil(self.seconds * self.sampling_rate)

    def blocks(self) -> Iterator[np.ndarray]:
        return stream_audio(self.source, self.sampling_rate, name=self.name)


Item = tuple[int, Union[np.ndarray, LongRecording], str]


def long_recording(audio, sampling_rate: int, over_s: float) -> LongRecording | None:
    """`audio` (a dataset's undecoded value) as a LongRecording when its header says it lasts over `over_s`."""
    if not isinstance(audio, (dict, str, os.PathLike)) or (isinstance(audio, dict) and audio.get("array") is not None):
        return None
    path = (audio.get("path") if isinstance(audio, dict) else audio) or None
    source = (audio.get("bytes") if isinstance(audio, dict) else None) or path
    if not source:
        return None
    size = len(source) if isinstance(source, (bytes, bytearray)) else (os.path.getsize(source) if os.path.isfile(source) else 0)
    if size < _HEADER_CHECK_BYTES:
        return None
    try:
        info = audio_info(source, name=path)
    except AudioError:
        return None  # decoded whole, where the same error is reported with the example's index
    if info.duration is None or info.duration <= over_s:
        return None
    return LongRecording(source, path, info.duration, sampling_rate)


def iter_groups(dataset, sampling_rate: int, text_column: str, limit: int | None,
                stream_over_s: float | None = None) -> Iterator[list[Item]]:
    """Groups of about GROUP_SECONDS of decoded audio, in dataset order. With `stream_over_s`, a recording longer
    than that is yielded undecoded, as a LongRecording alone in its group."""
    group: list[Item] = []
    seconds = 0.0
    for index, example in enumerate(dataset):
        if limit is not None and index >= limit:
            break
        audio = example[AUDIO_COLUMN]
        recording = long_recording(audio, sampling_rate, stream_over_s) if stream_over_s is not None else None
        if recording is not None:
            if group:
                yield group
                group, seconds = [], 0.0
            yield [(index, recording, example[text_column] or "")]
            continue
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
