"""Word and character error rates (jiwer), as the challenge computes them.

`evaluate.load("wer")` needs the Hub (it fetches a metric script), so jiwer is called directly; it is what
that script wraps. Every figure here is jiwer's corpus computation (`jiwer.process_words` /
`process_characters` over all utterances at once), so `word_error_rate` equals `jiwer.wer` exactly.

Empty references (after jiwer's own strip) are scored like any other utterance: every word hypothesized for
one is an insertion. jiwer 4 defines the one case a rate cannot: when no reference has a word at all, the
"rate" is the number of insertions (0.0 when nothing was hypothesized either), i.e. errors over a denominator
of 1. That rule is kept here, in the corpus figure, the error counts and every bootstrap resample alike, and
reports say how many references were empty. jiwer 3 refused any empty reference, hence `jiwer>=4`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import jiwer
import numpy as np

METRICS = ("wer", "cer")


@dataclass(frozen=True)
class Alignment:
    """jiwer's corpus alignment reduced to counts: the corpus total and one (errors, reference units) per utterance."""

    hits: int
    substitutions: int
    insertions: int
    deletions: int
    per_utterance: tuple[tuple[int, int], ...]
    rate: float  # jiwer's own figure: errors / reference units; with no reference unit at all, the insertion count

    @property
    def reference_units(self) -> int:
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.insertions + self.deletions


def align(references: Sequence[str], predictions: Sequence[str], unit: str = "word") -> Alignment:
    """One jiwer corpus pass over all pairs, words (`unit="word"`) or characters (`"char"`)."""
    if unit not in ("word", "char"):
        raise ValueError(f"unit {unit!r}: word or char")
    _check(references, predictions)
    process = jiwer.process_words if unit == "word" else jiwer.process_characters
    output = process(list(references), list(predictions))
    per_utterance = []
    for chunks in output.alignments:
        errors = units = 0
        for chunk in chunks:
            reference_span = chunk.ref_end_idx - chunk.ref_start_idx
            if chunk.type == "insert":
                errors += chunk.hyp_end_idx - chunk.hyp_start_idx
            elif chunk.type != "equal":
                errors += reference_span
            units += reference_span
        per_utterance.append((errors, units))
    rate = output.wer if unit == "word" else output.cer
    return Alignment(output.hits, output.substitutions, output.insertions, output.deletions, tuple(per_utterance),
                     float(rate))


def word_error_rate(references: Sequence[str], predictions: Sequence[str]) -> float:
    return align(references, predictions, "word").rate


def char_error_rate(references: Sequence[str], predictions: Sequence[str]) -> float:
    return align(references, predictions, "char").rate


def error_rates(references: Sequence[str], predictions: Sequence[str], names: Sequence[str] = METRICS) -> dict[str, float]:
    functions = {"wer": word_error_rate, "cer": char_error_rate}
    unknown = [name for name in names if name not in functions]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}: choose from {list(functions)}")
    return {name: functions[name](references, predictions) for name in names}


def empty_references(references: Sequence[str]) -> int:
    """References without a word, as jiwer sees them (whitespace only counts as empty)."""
    return sum(1 for reference in references if not reference.strip())


def word_error_counts(references: Sequence[str], predictions: Sequence[str]) -> dict[str, int]:
    """Hits, substitutions, insertions and deletions over the corpus (jiwer's alignment), empty references included."""
    return word_counts(align(references, predictions, "word"))


def word_counts(alignment: Alignment) -> dict[str, int]:
    return {"hits": alignment.hits, "substitutions": alignment.substitutions, "insertions": alignment.insertions,
            "deletions": alignment.deletions, "reference_words": alignment.reference_units}


def utterance_errors(references: Sequence[str], predictions: Sequence[str]) -> list[tuple[int, int]]:
    """(word errors, reference words) per utterance, in order; an empty reference is (its insertions, 0)."""
    return list(align(references, predictions, "word").per_utterance)


def _check(references: Sequence[str], predictions: Sequence[str]) -> None:
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    for name, texts in (("reference", references), ("prediction", predictions)):
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"{name} {index} is {type(text).__name__}, not text")


def bootstrap_interval(errors: Sequence[tuple[int, int]], *, resamples: int = 1000, confidence: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the corpus WER, resampling utterances (with their word counts).

    Each resample is scored by jiwer's rule (errors / reference words; errors alone when it drew no word)."""
    counts = np.array(errors, dtype=np.float64).reshape(-1, 2)
    if counts.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(counts), size=(resamples, len(counts)))
    rates = counts[picks, 0].sum(axis=1) / np.maximum(counts[picks, 1].sum(axis=1), 1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(rates, [tail, 100 - tail])
    return float(low), float(high)
