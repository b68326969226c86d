"""One recording and its text segmented: text to tokens, log-posteriors while the audio is read, alignment,
the decision on each utterance, and the clips (see segment.py for the whole flow)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robust_speech.audio.decode import audio_info, stream_audio
from robust_speech.core.logs import LOGGER
from robust_speech.found.alignment import AlignmentVocabulary, Placement, align
from robust_speech.found.clips import Cut, cut_clips
from robust_speech.found.dataset_folder import DatasetWriter
from robust_speech.found.segment_options import AlignmentRefused, SegmentOptions
from robust_speech.found.transcripts import Utterance, read_transcript
from robust_speech.inference.loading import load_for_inference
from robust_speech.inference.options import TranscriberOptions
from robust_speech.inference.transcribe import AudioProgress, Transcriber
from robust_speech.reports.metrics import char_error_rate
from robust_speech.text.normalizer import TextNormalizer, model_normalizer

LOW_SCORE = "low alignment score"
NOT_IN_AUDIO = "text not found in the audio"
AUDIO_ENDED = "the recording ends before this text"
TOO_LONG = "longer than --max_duration_in_seconds"
OUT_OF_VOCABULARY = "characters outside the model's vocabulary"
NO_TEXT = "no text after normalization"
UNCOVERED = "audio not in the text"
# Stretches between clips at least this long, where the model hears at least this many characters, are audio
# the text does not cover (shorter ones are pauses, breaths, a cough).
UNCOVERED_MIN_S = 2.0
UNCOVERED_MIN_TOKENS = 10
# Text whose placed audio the model hears this differently (character error rate) is text the audio does not
# hold: a weak model hears a sentence it was given with far fewer errors (benchmarks/results/segment_accuracy.md).
ABSENT_ERROR_RATE = 0.75
# Refused outright (a counted skip of the recording with a table): the model hears fewer characters than this
# share of the text's, or fewer than this share of the utterances align.
MIN_HEARD_SHARE = 0.1
MIN_ALIGNED_SHARE = 0.1


@dataclass
class SegmentModel:
    """The acoustic model (chunked, streaming), its normalizer and its CTC vocabulary."""

    transcriber: Transcriber
    normalizer: TextNormalizer
    vocabulary: AlignmentVocabulary
    language: str

    @classmethod
    def load(cls, options: SegmentOptions) -> "SegmentModel":
        loaded = load_for_inference(options.model_id, options.load, decoding=None,
                                    transcription=TranscriberOptions(options.chunk_length_s, batch_size=options.batch_size))
        tokenizer = loaded.acoustic.processor.tokenizer
        by_id = {index: token for token, index in tokenizer.get_vocab().items()}
        tokens = tuple(by_id.get(index, "") for index in range(max(by_id) + 1))
        delimiter = getattr(tokenizer, "word_delimiter_token", None)
        vocabulary = AlignmentVocabulary(tokens, int(tokenizer.pad_token_id or 0),
                                         tokens.index(delimiter) if delimiter in tokens else None)
        normalizer = model_normalizer(loaded.model_dir)
        return cls(loaded.transcriber, normalizer, vocabulary, options.language or normalizer.language or "en")

    @property
    def seconds_per_frame(self) -> float:
        return self.transcriber.seconds_per_frame

    def spell(self, text: str) -> tuple[np.ndarray, str]:
        """The normalized text as token ids (a space is the word delimiter), and the characters left out because
        the vocabulary lacks them."""
        ids, missing = [], []
        index = {token: number for number, token in enumerate(self.vocabulary.tokens) if token}
        for char in self.normalizer(text):
            if char == " " and self.vocabulary.delimiter is not None:
                ids.append(self.vocabulary.delimiter)
            elif char in index and char != " ":
                ids.append(index[char])
            elif char != " ":
                missing.append(char)
        return np.array(ids, np.int64), "".join(dict.fromkeys(missing))


def segment_recording(model: SegmentModel, audio: str, text: str, writer: DatasetWriter,
                      options: SegmentOptions) -> int:
    """Clips and skips of one recording added to `writer`; the number of utterances in its text."""
    utterances = read_transcript(text, options.text_format, model.language)
    spelled = [model.spell(utterance.text) for utterance in utterances]
    alignable = [index for index, (ids, _missing) in enumerate(spelled) if len(ids)]
    tokens = [spelled[index][0] for index in alignable]
    _check_length(audio, sum(len(ids) + 1 for ids in tokens), model)
    log_probs = _log_probs(model, audio)
    heard = _heard_tokens(log_probs, model.vocabulary.blank)
    if heard < MIN_HEARD_SHARE * sum(len(ids) for ids in tokens):
        raise AlignmentRefused(f"{audio}: the model hears almost no speech in it ({heard} characters for a text of "
                               f"{sum(len(ids) for ids in tokens)}): is it the recording of {text}?")
    if len(log_probs) < sum(len(ids) + 1 for ids in tokens) + 1:
        raise _too_long(audio, text, len(log_probs) * model.seconds_per_frame)
    placements, absent = _place(model, log_probs, tokens, options.min_score)
    _check_share(audio, text, placements, absent, options.min_score)
    by_utterance = dict(zip(alignable, zip(placements, absent)))
    cuts = _decide(model, audio, utterances, spelled, by_utterance, writer, options)
    _report_uncovered(model, audio, log_probs, placements, absent, writer)
    cut_clips(audio, [cut for cut, _row in cuts], writer.clips_folder, model.transcriber.acoustic.sampling_rate)
    for _cut, row in cuts:
        writer.add_clip(*row)
    return len(utterances)


def _decide(model: SegmentModel, audio: str, utterances: list[Utterance], spelled, by_utterance, writer,
            options: SegmentOptions) -> list[tuple[Cut, tuple]]:
    """The cut of each utterance that becomes a clip (with its metadata row); the others are skipped."""
    seconds, samples = model.seconds_per_frame, model.transcriber.acoustic.samples_per_frame
    stem = writer.clip_stem(audio)
    cuts = []
    for index, utterance in enumerate(utterances):
        ids, missing = spelled[index]
        placement, absent = by_utterance.get(index, (None, ""))
        times = {} if placement is None else {"start_s": placement.start * seconds, "end_s": placement.end * seconds,
                                              "score": placement.score}
        reason, detail = _problem(utterance, ids, missing, placement, absent, seconds, options)
        LOGGER.debug(f"{audio}: {utterance.where}: {reason or 'clip'}", extra={"segment_utterance": {
            "source": audio, "sentence": utterance.text, "reason": reason, "absent": absent, **times,
            "token_score": None if placement is None else placement.token_score}})
        if reason:
            writer.skip(audio, utterance.where, reason, detail, **times, sentence=utterance.text)
            continue
        name = f"{stem}_{index + 1:05d}.wav"
        cuts.append((Cut(placement.start * samples, placement.end * samples, name),
                     (name, utterance.text, audio, times["start_s"], times["end_s"], placement.score)))
    return cuts


def _problem(utterance: Utterance, ids: np.ndarray, missing: str, placement: Placement | None, absent: str,
             seconds: float, options: SegmentOptions) -> tuple[str, str]:
    """Why an utterance does not become a clip (reason, detail), or ("", "")."""
    if not len(ids):
        return NO_TEXT, ""
    if missing:
        return OUT_OF_VOCABULARY, " ".join(repr(char) for char in missing)
    if utterance.problem:
        return utterance.problem, ""
    if placement is None:
        return AUDIO_ENDED, ""
    if absent:
        return NOT_IN_AUDIO, absent
    if placement.score < options.min_score:
        return LOW_SCORE, ""
    if (placement.end - placement.start) * seconds > options.max_duration_in_seconds:
        return TOO_LONG, f"{(placement.end - placement.start) * seconds:.1f} s"
    return "", ""


def _log_probs(model: SegmentModel, audio: str) -> np.ndarray:
    rate = model.transcriber.acoustic.sampling_rate
    info = audio_info(audio)
    expected = None if info.duration is None else int(info.duration * rate)
    progress = AudioProgress(info.duration or 0.0, f"log-posteriors of {Path(audio).name}")
    try:
        log_probs, _samples = model.transcriber.log_probs_stream(stream_audio(audio, rate), expected, progress)
    finally:
        progress.close()
    return log_probs


def _check_length(audio: str, needed_frames: int, model: SegmentModel) -> None:
    """Text that cannot fit the recording even at one token per frame is refused before the model runs."""
    duration = audio_info(audio).duration
    if duration is not None and needed_frames > duration / model.seconds_per_frame:
        raise _too_long(audio, None, duration)


def _too_long(audio: str, text: str | None, duration: float) -> AlignmentRefused:
    return AlignmentRefused(f"{audio}: its text{' ' + text if text else ''} is longer than {duration:.1f} s of audio "
                            "can hold, even spoken at one character per frame: is it the text of this recording?")


def _heard_tokens(log_probs: np.ndarray, blank: int) -> int:
    """Characters a greedy reading of the log-posteriors gives."""
    best = log_probs.argmax(axis=-1)
    return int(np.count_nonzero((best != blank) & np.concatenate([[True], best[1:] != best[:-1]])))


def _place(model: SegmentModel, log_probs: np.ndarray, tokens: list[np.ndarray],
           min_score: float) -> tuple[list[Placement | None], list[str]]:
    """Each utterance's placement, and why it is text the audio does not hold ("" when it is not). Such text
    takes at least a frame a token from its neighbours, so once it is found the others are aligned again
    without it."""
    placements = align(log_probs, tokens, model.vocabulary, model.seconds_per_frame, min_score)
    absent = [_absent(model, log_probs, placement, ids) for placement, ids in zip(placements, tokens)]
    kept = [index for index, why in enumerate(absent) if not why]
    if kept and len(kept) < len(tokens):
        again = align(log_probs, [tokens[index] for index in kept], model.vocabulary, model.seconds_per_frame, min_score)
        for index, placement in zip(kept, again):
            placements[index] = placement
            absent[index] = _absent(model, log_probs, placement, tokens[index])
    return placements, absent


def _absent(model: SegmentModel, log_probs: np.ndarray, placement: Placement | None, ids: np.ndarray) -> str:
    """Why the audio does not hold this text (alignment.py's test, or the model hearing something else where it
    is placed), or ""."""
    if placement is None:
        return ""
    heard = _greedy_text(log_probs[placement.speech_start : placement.speech_end], model.vocabulary)
    said = _greedy_text(None, model.vocabulary, ids)
    rate = char_error_rate([said], [heard])
    if placement.absent(len(ids), model.seconds_per_frame) or rate > ABSENT_ERROR_RATE:
        return f"where it is placed the model hears {heard[:120]!r} (character error rate {rate:.2f})"
    return ""


def _check_share(audio: str, text: str, placements: list[Placement | None], absent: list[str], min_score: float) -> None:
    """Refuse a text of which almost nothing aligns: it is not this recording's, or not in the model's language."""
    found = [(placement, why) for placement, why in zip(placements, absent) if placement is not None]
    good = sum(placement.score >= min_score and not why for placement, why in found)
    if placements and good < max(1.0, MIN_ALIGNED_SHARE * len(placements)):
        median = statistics.median([p.score for p, _why in found]) if found else float("nan")
        raise AlignmentRefused(
            f"{audio}: only {good} of {len(placements)} utterances of {text} align with --min_score {min_score:g} "
            f"(median score {median:.2f}): is it the text of this recording, in the model's language?")


def _report_uncovered(model: SegmentModel, audio: str, log_probs: np.ndarray, placements, absent, writer) -> None:
    """Stretches between the clips of the text the audio holds where the model hears speech: audio not in the
    text."""
    seconds = model.seconds_per_frame
    spans = sorted((p.start, p.end) for p, why in zip(placements, absent) if p is not None and not why)
    edges = [0, *[edge for span in spans for edge in span], len(log_probs)]
    for gap_start, gap_end in zip(edges[0::2], edges[1::2]):
        if (gap_end - gap_start) * seconds < UNCOVERED_MIN_S:
            continue
        heard = _greedy_text(log_probs[gap_start:gap_end], model.vocabulary)
        if len(heard.replace(" ", "")) >= UNCOVERED_MIN_TOKENS:
            writer.skip(audio, f"{gap_start * seconds:.1f}-{gap_end * seconds:.1f} s", UNCOVERED,
                        f"the model hears: {heard[:200]}", gap_start * seconds, gap_end * seconds)


def _greedy_text(log_probs: np.ndarray | None, vocabulary: AlignmentVocabulary, ids: np.ndarray | None = None) -> str:
    """The greedy reading of `log_probs` (or the text of token `ids`), words separated by spaces."""
    if ids is None:
        best = log_probs.argmax(axis=-1)
        ids = best[(best != vocabulary.blank) & np.concatenate([[True], best[1:] != best[:-1]])]
    text = "".join(" " if token == vocabulary.delimiter else vocabulary.tokens[token] for token in ids)
    return " ".join(text.split())
