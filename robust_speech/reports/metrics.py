"""Word and character error rates (jiwer), as the challenge computes them.

`evaluate.load("wer")` needs the Hub (it fetches a metric script), so jiwer is called directly; it is what
that script wraps.
"""

from __future__ import annotations

from typing import Sequence

import jiwer
import numpy as np

METRICS = ("wer", "cer")


def word_error_rate(references: Sequence[str], predictions: Sequence[str]) -> float:
    return _rate(jiwer.wer, references, predictions)


def char_error_rate(references: Sequence[str], predictions: Sequence[str]) -> float:
    return _rate(jiwer.cer, references, predictions)


def error_rates(references: Sequence[str], predictions: Sequence[str], names: Sequence[str] = METRICS) -> dict[str, float]:
    functions = {"wer": word_error_rate, "cer": char_error_rate}
    unknown = [name for name in names if name not in functions]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}: choose from {list(functions)}")
    return {name: functions[name](references, predictions) for name in names}


def _rate(function, references: Sequence[str], predictions: Sequence[str]) -> float:
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    # jiwer rejects empty references; an utterance without words has nothing to get wrong.
    pairs = [(reference, prediction) for reference, prediction in zip(references, predictions) if reference.strip()]
    if not pairs:
        return 0.0
    return float(function([r for r, _ in pairs], [p for _, p in pairs]))


def _scored_pairs(references: Sequence[str], predictions: Sequence[str]) -> list[tuple[int, str, str]]:
    return [(i, r, p) for i, (r, p) in enumerate(zip(references, predictions)) if r.strip()]


def word_error_counts(references: Sequence[str], predictions: Sequence[str]) -> dict[str, int]:
    """Hits, substitutions, insertions and deletions over the corpus (jiwer's alignment)."""
    pairs = _scored_pairs(references, predictions)
    if not pairs:
        return {"hits": 0, "substitutions": 0, "insertions": 0, "deletions": 0, "reference_words": 0}
    output = jiwer.process_words([r for _, r, _ in pairs], [p for _, _, p in pairs])
    return {"hits": output.hits, "substitutions": output.substitutions, "insertions": output.insertions,
            "deletions": output.deletions, "reference_words": output.hits + output.substitutions + output.deletions}


def utterance_errors(references: Sequence[str], predictions: Sequence[str]) -> list[tuple[int, int]]:
    """(word errors, reference words) per utterance, in order; empty references count (0, 0)."""
    result = []
    for reference, prediction in zip(references, predictions):
        if not reference.strip():
            result.append((0, 0))
            continue
        output = jiwer.process_words(reference, prediction)
        result.append((output.substitutions + output.insertions + output.deletions,
                       output.hits + output.substitutions + output.deletions))
    return result


def bootstrap_interval(errors: Sequence[tuple[int, int]], *, resamples: int = 1000, confidence: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the corpus WER, resampling utterances (with their word counts)."""
    counts = np.array(errors, dtype=np.float64).reshape(-1, 2)
    if counts.size == 0 or counts[:, 1].sum() == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(counts), size=(resamples, len(counts)))
    rates = counts[picks, 0].sum(axis=1) / np.maximum(counts[picks, 1].sum(axis=1), 1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(rates, [tail, 100 - tail])
    return float(low), float(high)
