"""What a model folder records of the text it learned from, so that `robust-speech check-submission` can check
it later without the data: `training_text.json.gz`.

For each text set (`training`: the transcripts the model was trained on, written by training; `lm`: the
n-gram's text, written by build_ngram.py):
- `sentences`: how many were read;
- `words`: every written word (split at whitespace, as written) with its count: the collision audit runs the
  folder's `normalize_text` over them (it's/its);
- `fingerprints`: the 8-byte BLAKE2b digest of each distinct normalized sentence, sorted, base64: enough to tell
  whether a given sentence (one of Common Voice's test split) was among them, without storing the text;
- `normalizer`: the rules the fingerprints were taken with (text_normalizer.json's);
- `language`: the set's own ISO 639 code when it has one (an LM built for one language of a multilingual model).
and `languages`: the ISO 639 codes of the text (from --language or the dataset configs). Written gzip-compressed
with a fixed timestamp, so the same text gives the same bytes; its size is measured in docs/submission.md.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.files import atomic_write
from robust_speech.core.model_folder import TRAINING_TEXT_FILE
from robust_speech.text.normalizer import TextNormalizer, normalizer_settings

TRAINING_SET = "training"
LM_SET = "lm"
FORMAT = 1
# 8 bytes: the chance that some test sentence matches a training fingerprint by accident is about
# (test sentences x training sentences) / 2**64, negligible at any corpus size.
FINGERPRINT_BYTES = 8


def sentence_fingerprint(normalized: str) -> bytes:
    return hashlib.blake2b(normalized.encode("utf-8"), digest_size=FINGERPRINT_BYTES).digest()


@dataclass
class TextRecord:
    """One text set: its sentence count, written words with counts, and fingerprints of its normalized sentences."""

    normalizer: TextNormalizer
    sentences: int = 0
    words: Counter = field(default_factory=Counter)
    fingerprints: set[bytes] = field(default_factory=set)
    language: str | None = None  # the set's own language, when it has one (an LM built for one language)

    def add(self, sentence: str | None) -> None:
        if not sentence:
            return
        self.sentences += 1
        self.words.update(sentence.split())
        normalized = self.normalizer(sentence)
        if normalized:
            self.fingerprints.add(sentence_fingerprint(normalized))

    def watch(self, sentences: Iterable[str | None]) -> Iterator[str | None]:
        """`sentences` unchanged, each one recorded as it passes."""
        for sentence in sentences:
            self.add(sentence)
            yield sentence

    def contains(self, sentence: str) -> bool:
        """Whether `sentence`, normalized by this record's rules, was among the recorded ones."""
        normalized = self.normalizer(sentence)
        return bool(normalized) and sentence_fingerprint(normalized) in self.fingerprints

    def to_json(self) -> dict:
        return {"sentences": self.sentences, "language": self.language, "normalizer": normalizer_settings(self.normalizer),
                "words": dict(sorted(self.words.items(), key=lambda item: (-item[1], item[0]))),
                "fingerprints": base64.b64encode(b"".join(sorted(self.fingerprints))).decode("ascii")}

    @classmethod
    def from_json(cls, data: dict) -> TextRecord:
        packed = base64.b64decode(data["fingerprints"])
        return cls(TextNormalizer(**data["normalizer"]), int(data["sentences"]), Counter(data["words"]),
                   {packed[i:i + FINGERPRINT_BYTES] for i in range(0, len(packed), FINGERPRINT_BYTES)},
                   data.get("language"))


@dataclass
class TrainingText:
    """The folder's record: its languages and its text sets by name (`training`, `lm`)."""

    languages: list[str] = field(default_factory=list)
    sets: dict[str, TextRecord] = field(default_factory=dict)


def read_training_text(model_dir: str | os.PathLike) -> TrainingText | None:
    """The folder's record, None when it has none; a damaged one is a one-line error naming the file."""
    path = Path(model_dir) / TRAINING_TEXT_FILE
    if not path.is_file():
        return None
    try:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            data = json.load(file)
        return TrainingText(list(data.get("languages") or []),
                            {name: TextRecord.from_json(value) for name, value in data["sets"].items()})
    except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(f"{path} is damaged ({type(error).__name__}: {error}); it is only read by "
                                 "check-submission: delete it, or train again to write it") from None


def record_text(model_dir: str | os.PathLike, name: str, record: TextRecord,
                languages: Iterable[str] | None = None) -> Path:
    """Write (or replace) the set `name` in the folder's record, keeping the other set; `languages`, when given,
    replace the recorded ones."""
    path = Path(model_dir) / TRAINING_TEXT_FILE
    try:
        known = read_training_text(model_dir) or TrainingText()
    except ConfigurationError:
        known = TrainingText()  # a damaged record is rewritten whole
    known.sets[name] = record
    if languages is not None:
        known.languages = [code for code in languages if code]
    data = {"format": FORMAT, "languages": known.languages,
            "sets": {key: value.to_json() for key, value in sorted(known.sets.items())}}
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with atomic_write(path, "wb") as file:
        file.write(gzip.compress(payload, mtime=0))
    return path
