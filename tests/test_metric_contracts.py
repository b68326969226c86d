"""The edges of reports/metrics.py that mutation testing found unchecked: the metric names training asks for,
the default unit of an alignment, and the bootstrap's defaults and degenerate corpora."""

import jiwer
import pytest

from robust_speech.reports.metrics import align, bootstrap_interval, error_rates

REFERENCES = ["the cat sat", "on a mat", ""]
PREDICTIONS = ["the bat sat", "on mat", "uh"]
ERRORS = [(0, 3), (2, 5), (1, 4), (3, 3), (0, 6), (1, 2), (4, 7), (0, 1)]


def test_error_rates_computes_the_metrics_named_and_only_those():
    wer, cer = jiwer.wer(REFERENCES, PREDICTIONS), jiwer.cer(REFERENCES, PREDICTIONS)
    assert wer != cer
    assert error_rates(REFERENCES, PREDICTIONS) == {"wer": wer, "cer": cer}
    assert error_rates(REFERENCES, PREDICTIONS, ["cer"]) == {"cer": cer}
    assert error_rates(REFERENCES, PREDICTIONS, ("wer",)) == {"wer": wer}


def test_an_unknown_metric_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"^unknown metrics \['bleu'\]: choose from \['wer', 'cer'\]$"):
        error_rates(REFERENCES, PREDICTIONS, ["wer", "bleu"])


def test_an_alignment_counts_words_unless_asked_for_characters():
    assert align(REFERENCES, PREDICTIONS) == align(REFERENCES, PREDICTIONS, "word")
    assert align(REFERENCES, PREDICTIONS).rate == jiwer.wer(REFERENCES, PREDICTIONS)
    assert align(REFERENCES, PREDICTIONS, "char").rate == jiwer.cer(REFERENCES, PREDICTIONS)
    with pytest.raises(ValueError, match=r"^unit 'words': word or char$"):
        align(REFERENCES, PREDICTIONS, "words")


def test_the_bootstrap_defaults_are_1000_resamples_at_95_percent_with_seed_0():
    # Reports print the interval without its settings: the defaults are part of what the numbers mean.
    assert bootstrap_interval(ERRORS) == bootstrap_interval(ERRORS, resamples=1000, confidence=0.95, seed=0)
    assert bootstrap_interval(ERRORS) != bootstrap_interval(ERRORS, resamples=1001)


def test_a_zero_confidence_interval_is_one_point_and_every_interval_is_ordered():
    low, high = bootstrap_interval(ERRORS, confidence=0.0)
    assert low == high
    for confidence in (0.1, 0.5, 0.9, 1.0):
        low, high = bootstrap_interval(ERRORS, confidence=confidence)
        assert low <= high


def test_a_resample_of_one_reference_word_is_scored_over_that_word():
    # jiwer's rule divides by the reference words, and by 1 only when a resample drew none.
    assert bootstrap_interval([(1, 1)]) == (1.0, 1.0)
    assert bootstrap_interval([(3, 1)]) == (3.0, 3.0)
    assert bootstrap_interval([(2, 0)]) == (2.0, 2.0)
    assert bootstrap_interval([]) == (0.0, 0.0)
