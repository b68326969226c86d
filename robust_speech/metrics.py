"""Word and character error rates (jiwer), as the challenge computes them.

`evaluate.load("wer")` needs the Hub (it fetches a metric script), so jiwer is called directly; it is what
that script wraps.
"""

from __future__ import annotations

from typing import Sequence

import jiwer

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
