"""Pseudo-labelling: untranscribed audio → speech segments (silero VAD) → transcribed by a model folder with its
LM → the segments whose utterance confidence is at least `min_confidence` written as a dataset folder.

    result = pseudo_label(PseudoLabelOptions(model_id="my-model", inputs="radio/", output_dir="radio_labelled"))

The output is an audio folder the data layer reads (`--dataset_name radio_labelled`, `+`-joined with other
data): `clips/*.wav` (16 kHz mono) and `metadata.csv` with `file_name`, `sentence`, `source`, `start`, `end`,
`confidence`. Every segment not kept, and every input that could not be read or held no speech, is a row of
`skipped.tsv` (the data layer's skip columns, then start, end, confidence and an empty sentence), counted in the
result.

Confidence is the decoder's utterance confidence (inference/confidence.py): the same definition whichever
engine decodes. What the threshold buys (WER of the kept segments against all, and the share kept):
benchmarks/pseudo_label_quality.py, results in benchmarks/results/.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile

from robust_speech.audio.decode import TARGET_SAMPLING_RATE, load_audio
from robust_speech.core.errors import AudioError, ConfigurationError
from robust_speech.core.logs import LOGGER, progress_bar
from robust_speech.data.local_datasets import detect_layout, read_local_split
from robust_speech.found.dataset_folder import DatasetWriter
from robust_speech.found.pseudo_label_options import PseudoLabelOptions

STAGE = "pseudo-label"  # the `split` column of skipped.tsv: the stage that rejected the row
# Segments transcribed per call: bounds the decoded audio held at once on long recordings.
SEGMENTS_PER_CALL = 64

__all__ = ["PseudoLabelOptions", "PseudoLabelResult", "pseudo_label"]


@dataclass
class PseudoLabelResult:
    output_dir: Path
    inputs: int = 0  # files or dataset rows read
    kept: int = 0
    kept_seconds: float = 0.0
    speech_seconds: float = 0.0  # of every speech segment found
    skipped: Counter = field(default_factory=Counter)  # reason -> rows of skipped.tsv

    def summary(self) -> str:
        segments = self.kept + sum(count for reason, count in self.skipped.items() if reason not in INPUT_REASONS)
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.skipped.most_common()) or "nothing skipped"
        return (f"pseudo-label: {self.inputs} inputs, {segments} speech segments; kept {self.kept} "
                f"({self.kept_seconds / 60:.1f} of {self.speech_seconds / 60:.1f} min of speech) in "
                f"{self.output_dir}; skipped: {reasons}")


UNREADABLE, NO_SPEECH, TOO_SHORT, EMPTY, LOW_CONFIDENCE = (
    "unreadable", "no speech", "segment too short", "empty transcript", "low confidence")
INPUT_REASONS = (UNREADABLE, NO_SPEECH)  # whole inputs, not segments


def check_options(options: PseudoLabelOptions) -> None:
    if not 0.0 <= options.min_confidence <= 1.0:
        raise ConfigurationError(f"--min_confidence {options.min_confidence}: give a number from 0 to 1")
    if not 0 < options.min_segment_s < options.max_segment_s:
        raise ConfigurationError(f"--min_segment_s {options.min_segment_s} and --max_segment_s {options.max_segment_s}:"
                                 " need 0 < min < max")
    if not os.path.exists(options.inputs):
        raise ConfigurationError(f"{options.inputs}: no such folder or dataset (give a folder of audio files or a "
                                 "local dataset)")
    output = Path(options.output_dir)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConfigurationError(f"{output} exists and is not an empty folder: choose another --output_dir")


def iter_inputs(options: PseudoLabelOptions) -> Iterator[tuple[str, object]]:
    """(name, audio source) of every input: each file of a folder of audio (recursively, in name order; any file
    that is not audio is reported unreadable when it is read), or each row of a local dataset's split."""
    path = Path(options.inputs)
    layout = detect_layout(path, options.config)
    if layout is not None and layout.kind in ("common_voice", "audio_folder", "table"):
        dataset, note = read_local_split(layout, options.split)
        if note:
            LOGGER.info(f"note: {note}")
        for row in dataset:
            audio_path = row["audio"]["path"]
            yield audio_path, audio_path
        return
    if path.is_file():
        yield str(path), str(path)
        return
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        yield str(file), str(file)


def pseudo_label(options: PseudoLabelOptions) -> PseudoLabelResult:
    """Label `options.inputs` with the model (see the module docstring); the written folder and the counts."""
    from robust_speech.inference.loading import load_for_inference
    from robust_speech.inference.options import TranscriberOptions

    check_options(options)
    loaded = load_for_inference(options.model_id, options.load, replace(options.decoding, confidence=True),
                                TranscriberOptions(batch_size=options.batch_size))
    writer = DatasetWriter(Path(options.output_dir), STAGE, score_column="confidence", score_digits=4)
    writer.clips_folder.mkdir(parents=True, exist_ok=True)
    result = PseudoLabelResult(writer.folder)
    for name, source in progress_bar(list(iter_inputs(options)), desc="pseudo-label", unit="file"):
        result.inputs += 1
        _label_input(loaded.transcriber, name, source, options, writer, result)
    writer.write()
    if result.inputs == 0:
        raise ConfigurationError(f"{options.inputs}: holds no files to label")
    LOGGER.info(result.summary())
    return result


def _label_input(transcriber, name: str, source, options: PseudoLabelOptions, writer: DatasetWriter,
                 result: PseudoLabelResult) -> None:
    from robust_speech.audio.vad import speech_segments

    rate = TARGET_SAMPLING_RATE
    try:
        audio = load_audio(source, rate, name=name)
    except AudioError as error:
        _skip(writer, name, name, UNREADABLE, result, str(error))
        return
    spans = speech_segments(audio, rate, max_segment_s=options.max_segment_s)
    if not spans:
        _skip(writer, name, name, NO_SPEECH, result, f"{audio.size / rate:.1f} s without speech found by the VAD")
        return
    stem = writer.clip_stem(name)
    long_enough = []
    for index, (start, end) in enumerate(spans):
        result.speech_seconds += (end - start) / rate
        if (end - start) / rate < options.min_segment_s:
            _skip(writer, name, f"{stem}_{index:04d}", TOO_SHORT, result, start_s=start / rate, end_s=end / rate)
        else:
            long_enough.append((index, start, end))
    for first in range(0, len(long_enough), SEGMENTS_PER_CALL):
        batch = long_enough[first : first + SEGMENTS_PER_CALL]
        transcripts = transcriber.transcribe([audio[start:end] for _index, start, end in batch])
        for (index, start, end), transcript in zip(batch, transcripts):
            clip = f"{stem}_{index:04d}"
            times = {"start_s": start / rate, "end_s": end / rate, "confidence": transcript.confidence}
            if not transcript.text:
                _skip(writer, name, clip, EMPTY, result, **times)
            elif transcript.confidence < options.min_confidence:
                _skip(writer, name, clip, LOW_CONFIDENCE, result, transcript.text, **times)
            else:
                _keep(writer, f"{clip}.wav", audio[start:end], transcript.text, name, result, **times)


def _keep(writer: DatasetWriter, name: str, audio: np.ndarray, sentence: str, source: str,
          result: PseudoLabelResult, *, start_s: float, end_s: float, confidence: float) -> None:
    soundfile.write(writer.clips_folder / name, audio, TARGET_SAMPLING_RATE, subtype="PCM_16")
    writer.add_clip(name, sentence, source, start_s, end_s, confidence)
    result.kept += 1
    result.kept_seconds += end_s - start_s


def _skip(writer: DatasetWriter, source: str, example: str, reason: str, result: PseudoLabelResult, detail: str = "",
          *, start_s: float | None = None, end_s: float | None = None, confidence: float | None = None) -> None:
    writer.skip(source, example, reason, detail, start_s, end_s, confidence)
    result.skipped[reason] += 1
