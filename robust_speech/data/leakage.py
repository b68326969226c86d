"""The challenge's first rule, enforced: no Common Voice test data in training, no train/eval overlap.

Two checks:
- `refuse_common_voice_test`: training on the `test` split of any Common Voice version (Hub ids such as
  `mozilla-foundation/common_voice_11_0`, or a local release folder's `test.tsv`) is an error before anything
  loads. A local folder's `validated.tsv` is refused too: it holds every test clip.
- `find_overlaps`: training examples whose normalized sentence, or whose decoded audio (hash of the
  16-bit samples, see preprocess.audio_fingerprint), also occurs in an evaluation set.

A stream cannot be compared before training without reading all of it, so with `--streaming` the check is
`StreamingOverlapGuard`: the evaluation set's normalized sentences are read once (text only) and held in
memory, and each training example is checked as training reads it. One whose sentence is in the evaluation
set is skipped (unless `--allow_overlap`) and listed in `leakage.tsv`; audio is not compared.
"""

from __future__ import annotations

import csv
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from robust_speech.core.errors import ConfigurationError
from robust_speech.data.local_datasets import detect_layout
from robust_speech.data.skips import SkipAppender
from robust_speech.data.sources import COMMON_VOICE_NAME, SourceSpec, split_plus
from robust_speech.text.normalizer import TextNormalizer

LEAKAGE_FILE = "leakage.tsv"
LEAKAGE_COLUMNS = ("kind", "train_example", "train_source", "eval_example", "eval_source", "shared")
REASON_IN_EVALUATION = "sentence in the evaluation set"
# Splits that contain Common Voice's test clips: `test` itself and, in a release folder, `validated`.
FORBIDDEN_HUB_SPLITS = ("test",)
FORBIDDEN_LOCAL_SPLITS = ("test", "validated")


class LeakageError(ConfigurationError):
    """Training data overlaps evaluation data, or is Common Voice test data."""


def split_names(split: str) -> list[str]:
    """`train+test[:10%]` -> ["train", "test"]."""
    return [re.sub(r"\[.*\]$", "", part).strip().lower() for part in split_plus(split) if part]


def refuse_common_voice_test(sources: Sequence[SourceSpec], split: str) -> None:
    """Raise `LeakageError` when `split` of any source is (or contains) Common Voice test data."""
    for source in sources:
        layout = detect_layout(source.name, source.config)
        if layout is None:
            forbidden = FORBIDDEN_HUB_SPLITS if COMMON_VOICE_NAME.search(source.name) else ()
            used = [name for name in split_names(split) if name in forbidden]
        elif layout.is_common_voice:
            used = [name for name in split_names(split) if name in FORBIDDEN_LOCAL_SPLITS]
        elif layout.kind == "table" and _is_common_voice_table(layout.root):
            used = [layout.root.stem]
        else:
            used = []
        if used:
            raise LeakageError(
                f"refusing to train on Common Voice {used[0]!r} data ({source.label(split)}): "
                + ("validated.tsv contains every test clip; " if used[0] == "validated" else "")
                + "the challenge scores on the test split, so it must never be trained on; "
                "train on train+validation (train.tsv + dev.tsv) instead"
            )


def _is_common_voice_table(path: Path) -> bool:
    parent = path.parent
    return path.stem.lower() in FORBIDDEN_LOCAL_SPLITS and (parent / "clips").is_dir()


@dataclass(frozen=True)
class Overlap:
    kind: str  # "sentence" or "audio"
    train_example: str
    train_source: str
    eval_example: str
    eval_source: str
    value: str  # the normalized sentence, or the audio hash


@dataclass
class OverlapReport:
    overlaps: list[Overlap] = field(default_factory=list)
    train_examples: int = 0
    eval_examples: int = 0

    def __bool__(self) -> bool:
        return bool(self.overlaps)

    def by_kind(self, kind: str) -> list[Overlap]:
        return [overlap for overlap in self.overlaps if overlap.kind == kind]

    def leaking_train_examples(self) -> set[str]:
        return {overlap.train_example for overlap in self.overlaps}

    def summary(self) -> str:
        if not self.overlaps:
            return (
                f"no overlap: none of {self.train_examples} training examples shares a sentence or audio with the "
                f"{self.eval_examples} evaluation examples"
            )
        return (
            f"{len(self.leaking_train_examples())} of {self.train_examples} training examples overlap the evaluation "
            f"set: {len(self.by_kind('sentence'))} same sentence, {len(self.by_kind('audio'))} same audio"
        )

    def format(self, limit: int = 20) -> str:
        lines = [self.summary()]
        for overlap in self.overlaps[:limit]:
            shared = repr(overlap.value) if overlap.kind == "sentence" else f"audio {overlap.value[:12]}"
            lines.append(f"  {overlap.kind:8s} {overlap.train_example}  ==  {overlap.eval_example}  ({shared})")
        if len(self.overlaps) > limit:
            lines.append(f"  ... {len(self.overlaps) - limit} more")
        return "\n".join(lines)

    def write(self, output_dir: str | os.PathLike) -> Path:
        path = Path(output_dir) / LEAKAGE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, delimiter="\t", lineterminator="\n")
            writer.writerow(LEAKAGE_COLUMNS)
            for overlap in self.overlaps:
                writer.writerow((overlap.kind, overlap.train_example, overlap.train_source,
                                 overlap.eval_example, overlap.eval_source, overlap.value))
        return path


@dataclass(frozen=True)
class ExampleKeys:
    """What identifies an example for the overlap check: parallel lists, one entry per example."""

    examples: Sequence[str]
    sources: Sequence[str]
    sentences: Sequence[str]
    audio_hashes: Sequence[str] | None = None  # None when the audio was not decoded (text-only check)


def find_overlaps(train: ExampleKeys, evaluation: ExampleKeys, normalizer: TextNormalizer | None = None) -> OverlapReport:
    """Every (training, evaluation) pair sharing a normalized sentence or identical decoded audio."""
    normalize = normalizer or TextNormalizer()
    report = OverlapReport(train_examples=len(train.examples), eval_examples=len(evaluation.examples))
    eval_by_sentence = defaultdict(list)
    for index, sentence in enumerate(evaluation.sentences):
        if sentence and normalize(sentence):
            eval_by_sentence[normalize(sentence)].append(index)
    eval_by_audio = defaultdict(list)
    for index, digest in enumerate(evaluation.audio_hashes or ()):
        if digest:
            eval_by_audio[digest].append(index)

    for index, sentence in enumerate(train.sentences):
        key = normalize(sentence) if sentence else ""
        for match in eval_by_sentence.get(key, ()) if key else ():
            report.overlaps.append(_overlap("sentence", train, index, evaluation, match, key))
    for index, digest in enumerate(train.audio_hashes or ()):
        for match in eval_by_audio.get(digest, ()) if digest else ():
            report.overlaps.append(_overlap("audio", train, index, evaluation, match, digest))
    return report


def _overlap(kind: str, train: ExampleKeys, i: int, evaluation: ExampleKeys, j: int, value: str) -> Overlap:
    return Overlap(kind, train.examples[i], train.sources[i], evaluation.examples[j], evaluation.sources[j], value)


def guard_against_overlap(report: OverlapReport, output_dir: str | os.PathLike, *, allow_overlap: bool) -> str:
    """Write `leakage.tsv` when there is overlap; raise unless `allow_overlap`. Returns the line to print."""
    if not report:
        return report.summary()
    path = report.write(output_dir)
    if not allow_overlap:
        raise LeakageError(
            f"{report.summary()}; see {path}. Remove them from the training data, or pass --allow_overlap "
            "if the evaluation set is not a test set"
        )
    return f"{report.summary()} (allowed by --allow_overlap; listed in {path})"


class StreamingOverlapGuard:
    """A filter for a training stream: drops (and lists) examples whose sentence is in the evaluation set.

    `eval_sentences`: normalized evaluation sentence -> (eval example, eval source), the first one seen. Each
    overlapping training example gets one row in `leakage.tsv` and, when it is dropped, one in `skipped.tsv`,
    however often the stream is read. With `allow_overlap` it is kept and only listed.
    """

    def __init__(self, eval_sentences: dict[str, tuple[str, str]], normalizer: TextNormalizer | None,
                 output_dir: str | os.PathLike, skips: SkipAppender, *, allow_overlap: bool):
        self.eval_sentences = eval_sentences
        self.normalizer = normalizer or TextNormalizer()
        self.path = os.fspath(Path(output_dir) / LEAKAGE_FILE)
        self.skips = skips
        self.allow_overlap = allow_overlap
        self._written: set[str] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_written": None}  # each process reads the file itself

    def start(self) -> None:
        """A fresh `leakage.tsv` with its header."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", encoding="utf-8", newline="") as file:
            csv.writer(file, delimiter="\t", lineterminator="\n").writerow(LEAKAGE_COLUMNS)
        self._written = set()

    def __call__(self, audio, sentence, source, index) -> bool:
        key = self.normalizer(sentence) if sentence else ""
        match = self.eval_sentences.get(key) if key else None
        if match is None:
            return True
        path = (audio.get("path") if isinstance(audio, dict) else audio) or ""
        example = path or f"#{index}"
        self._list(Overlap("sentence", example, source, match[0], match[1], key))
        if self.allow_overlap:
            return True
        return self.skips("train", source, example, REASON_IN_EVALUATION, f"also {match[0]} ({match[1]})")

    def _list(self, overlap: Overlap) -> None:
        if self._written is None:
            self._written = set()
            if os.path.exists(self.path):
                with open(self.path, encoding="utf-8", newline="") as file:
                    self._written = {row["train_source"] + "\0" + row["train_example"]
                                     for row in csv.DictReader(file, delimiter="\t")}
        key = overlap.train_source + "\0" + overlap.train_example
        if key in self._written:
            return
        self._written.add(key)
        new = not os.path.exists(self.path)  # a guard never started: the file gets its header first
        with open(self.path, "a", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, delimiter="\t", lineterminator="\n")
            if new:
                writer.writerow(LEAKAGE_COLUMNS)
            writer.writerow(
                (overlap.kind, overlap.train_example, overlap.train_source, overlap.eval_example, overlap.eval_source,
                 overlap.value))

    def count(self) -> int:
        """Training examples listed in `leakage.tsv` so far."""
        if not os.path.exists(self.path):
            return 0
        with open(self.path, encoding="utf-8", newline="") as file:
            return sum(1 for _row in csv.DictReader(file, delimiter="\t"))
