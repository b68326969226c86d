"""A recording's text as a list of utterances, in the order they are spoken: plain text, paragraphs or subtitles.

- `lines`: one utterance per non-empty line, as written.
- `paragraphs`: paragraphs (blocks between blank lines; a line break inside one is a space), each cut into
  sentences by pysbd (rule-based sentence boundaries for two dozen languages; abbreviations such as "Dr." and
  numbers such as "3.5" stay whole, which a regular expression gets wrong).
- `srt`, `vtt`: one utterance per subtitle cue, read by pysubs2 (tags such as `<v Roger>` or `<i>` dropped).
  Cues are taken in the order of their start times; cues that overlap (two people talking at once) are still
  aligned, so that their neighbours are, but are never cut into clips: each is marked with the reason.
- `auto`: subtitles by suffix or content; else paragraphs when blank lines separate blocks of text, else every
  line cut into its sentences (a line of one sentence stays one utterance).

The text must be UTF-8: another encoding is an error naming the line, because it would garble every accented
word the alignment has to find.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from robust_speech.core.errors import ConfigurationError, TextError

TEXT_FORMATS = ("auto", "lines", "paragraphs", "srt", "vtt")
SUBTITLE_SUFFIXES = {".srt": "srt", ".vtt": "vtt"}
# pysbd's languages; text in any other language is cut with its English rules (sentence-final punctuation).
SENTENCE_LANGUAGES = ("en", "hi", "mr", "zh", "es", "am", "ar", "hy", "bg", "ur", "ru", "pl", "fa", "nl", "da", "fr",
                      "my", "el", "it", "ja", "de", "kk", "sk")
# Two cues overlap when one starts this long before the previous one ends; subtitle tools often leave a few
# milliseconds of overlap between consecutive cues of one speaker, which is not two people talking.
OVERLAP_TOLERANCE_S = 0.2
OVERLAPPING = "overlapping subtitle cues"
_SRT_TIMING = re.compile(r"^\s*\d+\s*\r?\n\s*\d+:\d\d:\d\d[,.]\d+\s*-->", re.MULTILINE)


@dataclass(frozen=True)
class Utterance:
    """One utterance of the text: as written (on one line), where it is in the file, and a reason it must not
    become a clip even when it aligns ("" when it may)."""

    text: str
    where: str
    problem: str = ""


def read_transcript(path: str | os.PathLike, text_format: str = "auto", language: str = "en") -> list[Utterance]:
    """The utterances of a text file (see the module's docstring for the formats)."""
    if text_format not in TEXT_FORMATS:
        raise ConfigurationError(f"--text_format {text_format}: choose one of {', '.join(TEXT_FORMATS)}")
    path = Path(path)
    text = read_utf8(path)
    if text_format == "auto":
        text_format = detect_format(path, text)
    if text_format in ("srt", "vtt"):
        utterances = subtitle_utterances(text, text_format, path)
    elif text_format == "lines":
        utterances = [Utterance(" ".join(line.split()), f"line {number}")
                      for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    else:
        utterances = paragraph_utterances(text, language, every_line=not _has_blank_line_between_text(text))
    if not utterances:
        raise TextError(f"{path}: holds no text to align")
    return utterances


def read_utf8(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise TextError(f"{path}: cannot read the text ({error.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise TextError(f"{path}: line {line} is not UTF-8 (byte {raw[error.start]:#04x}); convert the file to "
                        "UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def detect_format(path: Path, text: str) -> str:
    if path.suffix.lower() in SUBTITLE_SUFFIXES:
        return SUBTITLE_SUFFIXES[path.suffix.lower()]
    if text.lstrip().startswith("WEBVTT"):
        return "vtt"
    if _SRT_TIMING.match(text.lstrip()):
        return "srt"
    return "paragraphs"


def _has_blank_line_between_text(text: str) -> bool:
    return re.search(r"\S[^\S\n]*\n[^\S\n]*\n\s*\S", text) is not None


def paragraph_utterances(text: str, language: str, *, every_line: bool = False) -> list[Utterance]:
    """Sentences of each paragraph (`every_line`: each line is a paragraph), located as "paragraph P, sentence S
    (line L)"."""
    import pysbd

    segmenter = pysbd.Segmenter(language=language if language in SENTENCE_LANGUAGES else "en", clean=False)
    utterances = []
    for paragraph, (first_line, lines) in enumerate(_paragraphs(text, every_line), start=1):
        sentences = [" ".join(sentence.split()) for sentence in segmenter.segment(" ".join(lines))]
        where = f"line {first_line}, sentence {{}}" if every_line else f"paragraph {paragraph}, sentence {{}} (line {first_line})"
        utterances += [Utterance(sentence, where.format(index))
                       for index, sentence in enumerate((s for s in sentences if s), start=1)]
    return utterances


def _paragraphs(text: str, every_line: bool) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each paragraph: blocks between blank lines, or (`every_line`) each line."""
    paragraphs: list[tuple[int, list[str]]] = []
    in_paragraph = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            in_paragraph = False
        elif in_paragraph and not every_line:
            paragraphs[-1][1].append(line.strip())
        else:
            paragraphs.append((number, [line.strip()]))
            in_paragraph = True
    return paragraphs


def subtitle_utterances(text: str, text_format: str, path: Path) -> list[Utterance]:
    import pysubs2

    try:
        events = pysubs2.SSAFile.from_string(text, format_=text_format).events
    except (pysubs2.exceptions.Pysubs2Error, ValueError) as error:
        raise TextError(f"{path}: not a readable {text_format.upper()} file ({error})") from None
    cues = sorted(((event.start, event.end, number, " ".join(event.plaintext.split()))
                   for number, event in enumerate(events, start=1)), key=lambda cue: (cue[0], cue[2]))
    cues = [cue for cue in cues if cue[3]]
    overlapping = set()
    latest_end, latest = None, None
    for index, (start, end, _number, _text) in enumerate(cues):
        if latest_end is not None and start < latest_end - OVERLAP_TOLERANCE_S * 1000:
            overlapping.update((index, latest))
        if latest_end is None or end > latest_end:
            latest_end, latest = end, index
    if cues and len(overlapping) > len(cues) / 2:
        raise TextError(f"{path}: {len(overlapping)} of its {len(cues)} cues overlap another (rolling captions?): "
                        "give the text as plain text instead")
    return [Utterance(text, f"cue {number} ({_clock(start)})", OVERLAPPING if index in overlapping else "")
            for index, (start, _end, number, text) in enumerate(cues)]


def _clock(milliseconds: int) -> str:
    seconds, milliseconds = divmod(int(milliseconds), 1000)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{milliseconds:03d}"
