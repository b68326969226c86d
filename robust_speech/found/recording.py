"""One recording and its text segmented: text to tokens, log-posteriors while the audio is read, alignment,
the decision on each utterance, and the clips (see segment.py for the whole flow)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robust_speech.audio.decode import audio_info, stream_audio
from robust_speech.core.logs import LOGGER
from robust_speech.found.alignment import AlignmentVocabulary, Placement, align, place_alone
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
# A run of text found absent is searched again utterance by utterance between its neighbours, where the
# utterances compete for the audio: there an error rate up to this one is accepted (a spoken sentence heard
# badly; absent text finds only audio that a spoken one's text matches better): segment_accuracy.md.
SEARCH_ERROR_RATE = 0.85
# Alignments of the text at the most: the first, then again after each change of what is found absent (a long
# run of absent text is found again a search window at a time).
MAX_PASSES = 10
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
    without it. Absent text also pushes the utterances after it onto later speech, where they too are found
    absent: each run of absent utterances is searched again, one utterance at a time, in the audio between its
    neighbours (_found_again); what is found there is aligned again with the rest, until nothing changes."""
    placements = align(log_probs, tokens, model.vocabulary, model.seconds_per_frame, min_score)
    absent = [_absent(model, log_probs, placement, ids) for placement, ids in zip(placements, tokens)]
    searched: set[tuple[int, int, int]] = set()
    aligned = list(range(len(tokens)))
    for _attempt in range(MAX_PASSES):
        kept = [index for index, why in enumerate(absent) if not why]
        if kept and kept != aligned:
            again = align(log_probs, [tokens[index] for index in kept], model.vocabulary, model.seconds_per_frame,
                          min_score)
            for index, placement in zip(kept, again):
                placements[index] = placement
                absent[index] = _absent(model, log_probs, placement, tokens[index])
            aligned = kept
        if _attempt == MAX_PASSES - 1:
            break  # what the last alignment found absent stays so
        found = _found_again(model, log_probs, placements, absent, tokens, searched)
        for index, placement in found.items():
            placements[index], absent[index] = placement, ""
        if not found and [index for index, why in enumerate(absent) if not why] == aligned:
            break
    return placements, absent


def _found_again(model: SegmentModel, log_probs: np.ndarray, placements: list[Placement | None], absent: list[str],
                 tokens: list[np.ndarray], searched: set[tuple[int, int, int]]) -> dict[int, Placement]:
    """The absent utterances found when each one of a run of them is searched alone in the audio between the
    run's neighbours: those whose placement there passes _absent's test, best heard first, each kept unless
    it overlaps or is out of text order with one kept before (absent text searched alone finds the speech of
    a spoken utterance of the run, which that utterance's own text matches better). An utterance kept between
    two absent ones joins their run and competes as it is placed; when it loses, it is marked absent here.
    `searched` holds the (utterance, first frame, end frame) searches made before, which are not made again."""
    found: dict[int, Placement] = {}
    isolated = {index for index in range(1, len(tokens) - 1)
                if not absent[index] and absent[index - 1] and absent[index + 1] and placements[index] is not None}
    open_ = [bool(why) or index in isolated for index, why in enumerate(absent)]
    for first, last in _absent_runs(placements, open_):
        before = next((placements[i] for i in reversed(range(first)) if not open_[i] and placements[i]), None)
        after = next((placements[i] for i in range(last + 1, len(tokens)) if not open_[i] and placements[i]), None)
        if before is None and after is None:
            continue  # nothing of the text is in this audio: no stretch of it is where the run belongs
        start, end = before.speech_end if before else 0, after.speech_start if after else len(log_probs)
        candidates = []
        for member in range(first, last + 1):
            placement = None if (member, start, end) in searched else place_alone(
                log_probs, tokens[member], model.vocabulary, model.seconds_per_frame, start, end)
            searched.add((member, start, end))
            if member in isolated:
                placement = placements[member]
            if placement is not None and not _absent(model, log_probs, placement, tokens[member], SEARCH_ERROR_RATE):
                candidates.append((_heard_rate(model, log_probs, placement, tokens[member])[0], member, placement))
        kept: dict[int, Placement] = {}
        for _rate, member, placement in sorted(candidates, key=lambda candidate: candidate[:2]):
            if all(_in_order(member, placement, index, other) for index, other in kept.items()):
                kept[member] = placement
        found.update(kept)
        for member in isolated & set(range(first, last + 1)) - set(kept):
            absent[member] = "the text around it in a run found absent is heard better where it is placed"
    return found


def _in_order(index: int, placement: Placement, other_index: int, other: Placement) -> bool:
    """Two utterances' speech does not overlap and is in their text order."""
    if index < other_index:
        return placement.speech_end <= other.speech_start
    return placement.speech_start >= other.speech_end


def _absent_runs(placements: list[Placement | None], absent: list) -> list[tuple[int, int]]:
    """The first and last index of each run of consecutive placed utterances found absent."""
    runs: list[tuple[int, int]] = []
    for index, (placement, why) in enumerate(zip(placements, absent)):
        if why and placement is not None:
            if runs and runs[-1][1] == index - 1:
                runs[-1] = (runs[-1][0], index)
            else:
                runs.append((index, index))
    return runs


def _heard_rate(model: SegmentModel, log_probs: np.ndarray, placement: Placement, ids: np.ndarray) -> tuple[float, str]:
    """The character error rate of what the model hears from the text's first token's emission to its last's,
    and what it hears."""
    first, end = placement.emitted or (placement.speech_start, placement.speech_end)
    heard = _greedy_text(log_probs[first:end], model.vocabulary)
    return char_error_rate([_greedy_text(None, model.vocabulary, ids)], [heard]), heard


def _absent(model: SegmentModel, log_probs: np.ndarray, placement: Placement | None, ids: np.ndarray,
            error_rate: float = ABSENT_ERROR_RATE) -> str:
    """Why the audio does not hold this text (alignment.py's test, or the model hearing something else from its
    first token's emission to its last's: a character error rate over `error_rate`), or ""."""
    if placement is None:
        return ""
    rate, heard = _heard_rate(model, log_probs, placement, ids)
    if placement.absent(len(ids), model.seconds_per_frame) or rate > error_rate:
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
