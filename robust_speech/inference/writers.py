"""Transcripts to files: plain text, SubRip (.srt), WebVTT (.vtt) and JSON with word timestamps (and, when the
decoder computed them, confidences and n-best alternatives)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from robust_speech.core.files import write_text_atomic
from robust_speech.inference.decoding import Transcript

FORMATS = ("txt", "srt", "vtt", "json")
CUE_MAX_SECONDS = 6.0
CUE_MAX_CHARS = 42


@dataclass(frozen=True)
class TimedWord:
    word: str
    start: float
    end: float
    confidence: float | None = None


def timed_words(transcript: Transcript, seconds_per_frame: float) -> list[TimedWord]:
    return [TimedWord(w.word, round(w.start_frame * seconds_per_frame, 3), round(w.end_frame * seconds_per_frame, 3),
                      w.confidence)
            for w in transcript.words]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def transcript_json(transcript: Transcript, words: Sequence[TimedWord], source: str, duration_s: float) -> dict:
    """The JSON transcript: text and timed words; the confidences (of each word and of the utterance) when the
    decoder computed them, and the n best alternatives when asked for."""
    data = {"source": source, "duration_s": round(duration_s, 3), "text": transcript.text}
    if transcript.confidence is not None:
        data["confidence"] = _rounded(transcript.confidence)
    data["words"] = [{"word": w.word, "start": w.start, "end": w.end,
                      **({"confidence": _rounded(w.confidence)} if w.confidence is not None else {})} for w in words]
    if transcript.alternatives:
        data["alternatives"] = [{"text": a.text, "score": a.score,
                                 **({"confidence": _rounded(a.confidence)} if a.confidence is not None else {})}
                                for a in transcript.alternatives]
    return data


def cues(words: Sequence[TimedWord]) -> list[tuple[float, float, str]]:
    """Subtitle cues: consecutive words up to CUE_MAX_SECONDS long and CUE_MAX_CHARS wide."""
    result, current = [], []
    for word in words:
        if current:
            text = " ".join(w.word for w in current + [word])
            if word.end - current[0].start > CUE_MAX_SECONDS or len(text) > CUE_MAX_CHARS:
                result.append((current[0].start, current[-1].end, " ".join(w.word for w in current)))
                current = []
        current.append(word)
    if current:
        result.append((current[0].start, current[-1].end, " ".join(w.word for w in current)))
    return result


def _clock(seconds: float, separator: str) -> str:
    milliseconds = int(round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(words: Sequence[TimedWord]) -> str:
    blocks = [f"{index}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n"
              for index, (start, end, text) in enumerate(cues(words), start=1)]
    return "\n".join(blocks)


def to_vtt(words: Sequence[TimedWord]) -> str:
    blocks = [f"{_clock(start, '.')} --> {_clock(end, '.')}\n{text}\n" for start, end, text in cues(words)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def write_transcript(output_stem: Path, transcript: Transcript, seconds_per_frame: float, formats: Sequence[str],
                     source: str, duration_s: float) -> list[Path]:
    words = timed_words(transcript, seconds_per_frame)
    contents = {
        "txt": transcript.text + "\n",
        "srt": to_srt(words),
        "vtt": to_vtt(words),
        "json": json.dumps(transcript_json(transcript, words, source, duration_s), ensure_ascii=False, indent=2) + "\n",
    }
    written = []
    for name in formats:
        path = output_stem.with_name(f"{output_stem.name}.{name}")
        write_text_atomic(path, contents[name])
        written.append(path)
    return written
