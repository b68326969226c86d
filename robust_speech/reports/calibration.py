"""What a confidence is worth on labelled data: which hypothesis words are right (jiwer's alignment), how well
word confidence separates right from wrong words (ROC AUC), how close it is to the accuracy it claims
(reliability table), and the eval report's per-utterance summary.

A hypothesis word is right when jiwer's word alignment (the one WER is computed from) puts it in an `equal`
chunk; substituted and inserted words are wrong. Deleted words have no hypothesis word, so no confidence.
"""

from __future__ import annotations

from typing import Sequence

import jiwer
import numpy as np

from robust_speech.reports.metrics import word_error_rate

RELIABILITY_BINS = 10  # equal-width confidence bins of the reliability table
SUMMARY_QUANTILES = 4  # the eval report's WER per confidence quarter


def hypothesis_words_correct(references: Sequence[str], hypotheses: Sequence[str]) -> list[list[bool]]:
    """Per utterance, per hypothesis word (`hypothesis.split()`): whether jiwer aligns it to an equal
    reference word."""
    output = jiwer.process_words(list(references), list(hypotheses))
    result = []
    for hypothesis, chunks in zip(hypotheses, output.alignments):
        correct = [False] * len(hypothesis.split())
        for chunk in chunks:
            if chunk.type == "equal":
                correct[chunk.hyp_start_idx : chunk.hyp_end_idx] = [True] * (chunk.hyp_end_idx - chunk.hyp_start_idx)
        result.append(correct)
    return result


def roc_auc(scores: Sequence[float], correct: Sequence[bool]) -> float | None:
    """The probability that a right word has a higher confidence than a wrong one (ties count half): the
    Mann-Whitney U statistic over the product of the class sizes. None when one class is empty."""
    from scipy.stats import mannwhitneyu

    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    right, wrong = scores[correct], scores[~correct]
    if not len(right) or not len(wrong):
        return None
    return float(mannwhitneyu(right, wrong).statistic / (len(right) * len(wrong)))


def reliability_table(scores: Sequence[float], correct: Sequence[bool], bins: int = RELIABILITY_BINS) -> list[dict]:
    """Per equal-width confidence bin holding words: its range, word count, mean confidence and the share of
    its words that are right (a calibrated confidence has both equal)."""
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    index = np.minimum((scores * bins).astype(int), bins - 1)
    rows = []
    for bin_index in range(bins):
        chosen = index == bin_index
        if chosen.any():
            rows.append({"from": bin_index / bins, "to": (bin_index + 1) / bins, "words": int(chosen.sum()),
                         "mean_confidence": round(float(scores[chosen].mean()), 4),
                         "accuracy": round(float(correct[chosen].mean()), 4)})
    return rows


def expected_calibration_error(table: Sequence[dict]) -> float:
    """The word-weighted mean gap between confidence and accuracy over the reliability table's bins."""
    total = sum(row["words"] for row in table)
    if not total:
        return 0.0
    return sum(row["words"] * abs(row["mean_confidence"] - row["accuracy"]) for row in table) / total


def confidence_summary(confidences: Sequence[float], references: Sequence[str], predictions: Sequence[str]) -> dict:
    """The eval report's `confidence`: each utterance's (in input order), their mean, and the WER of the
    utterances in each confidence quarter, least confident first (where confidence means something, WER falls
    from quarter to quarter)."""
    order = np.argsort(np.asarray(confidences, dtype=float), kind="stable")
    quarters = []
    for part in np.array_split(order, SUMMARY_QUANTILES):
        if len(part):
            chosen = [int(i) for i in part]
            quarters.append({"utterances": len(chosen), "min_confidence": round(float(confidences[chosen[0]]), 4),
                             "max_confidence": round(float(confidences[chosen[-1]]), 4),
                             "wer": word_error_rate([references[i] for i in chosen], [predictions[i] for i in chosen])})
    return {"mean": round(float(np.mean(confidences)), 4) if len(confidences) else None,
            "wer_by_quarter": quarters, "per_utterance": [round(float(value), 4) for value in confidences]}
