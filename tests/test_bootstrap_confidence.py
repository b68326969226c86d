"""The bootstrap interval of the WER is taken at the confidence it reports.

Checked against an independent resampling of the same utterances (its own random draws, many more of them):
a 95 % interval computed at the 5th/95th percentiles is a 90 % interval, narrower than the report says."""

import numpy as np
import pytest

from robust_speech.reports.metrics import bootstrap_interval

# 60 utterances of 3 to 30 words with 0 to 40 % of them wrong: a smooth, skewed distribution of resampled WERs.
_RNG = np.random.default_rng(2026)
WORDS = _RNG.integers(3, 31, size=60)
ERRORS = [(int(_RNG.binomial(words, _RNG.uniform(0, 0.4))), int(words)) for words in WORDS]


def independent_rates(errors, resamples: int, seed: int) -> np.ndarray:
    counts = np.array(errors, dtype=np.int64)
    rng = np.random.default_rng(seed)
    rates = np.empty(resamples)
    for start in range(0, resamples, 10_000):
        picks = rng.choice(len(counts), size=(min(10_000, resamples - start), len(counts)), replace=True)
        rates[start : start + len(picks)] = counts[picks, 0].sum(axis=1) / counts[picks, 1].sum(axis=1)
    return rates


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.95, 0.99])
def test_the_interval_bounds_are_the_percentiles_of_the_stated_confidence(confidence):
    rates = independent_rates(ERRORS, 100_000, seed=99)
    spread = rates.std()
    low, high = bootstrap_interval(ERRORS, resamples=20_000, confidence=confidence, seed=3)
    expected_low, expected_high = np.quantile(rates, [(1 - confidence) / 2, (1 + confidence) / 2])
    # Sampling error of a 20 000-draw percentile is about 0.03 standard deviations at 99 %; moving from a
    # 95 % to a 90 % interval moves each bound by 0.3 of them.
    assert low == pytest.approx(expected_low, abs=0.08 * spread)
    assert high == pytest.approx(expected_high, abs=0.08 * spread)
    # and the coverage itself: the share of independent resamples inside the interval
    inside = np.mean((rates >= low) & (rates <= high))
    assert inside == pytest.approx(confidence, abs=0.02)


def test_the_interval_holds_the_corpus_wer_and_widens_with_confidence():
    corpus = sum(e for e, _ in ERRORS) / sum(n for _, n in ERRORS)
    intervals = [bootstrap_interval(ERRORS, resamples=4000, confidence=c) for c in (0.5, 0.9, 0.99)]
    assert all(low < corpus < high for low, high in intervals)
    assert intervals[0][0] > intervals[1][0] > intervals[2][0]
    assert intervals[0][1] < intervals[1][1] < intervals[2][1]


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    assert bootstrap_interval(ERRORS, seed=5) == bootstrap_interval(ERRORS, seed=5)
    assert bootstrap_interval(ERRORS, seed=5) != bootstrap_interval(ERRORS, seed=6)
    assert bootstrap_interval([]) == (0.0, 0.0)
