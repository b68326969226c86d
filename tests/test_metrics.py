"""WER/CER are jiwer's corpus figures, empty references included; the eval report counts those utterances too."""

import jiwer
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_speech.reports.metrics import (
    bootstrap_interval,
    char_error_rate,
    empty_references,
    utterance_errors,
    word_error_counts,
    word_error_rate,
)
from robust_speech.reports.result_files import evaluation_report

# Few distinct words so that hits, substitutions, insertions and deletions all occur; "" and "  " are empty.
WORDS = st.sampled_from(["a", "b", "ab", "the", "cat"])
TEXTS = st.one_of(st.just(""), st.just("  "), st.lists(WORDS, min_size=1, max_size=6).map(" ".join))
PAIRS = st.lists(st.tuples(TEXTS, TEXTS), min_size=1, max_size=8)


def test_words_hypothesized_for_an_empty_reference_count_as_jiwer_counts_them():
    assert word_error_rate(["", "a b"], ["hello", "a b"]) == jiwer.wer(["", "a b"], ["hello", "a b"]) == 0.5


def test_a_hand_counted_corpus():
    references = ["", "the cat sat"]
    predictions = ["uh huh", "the bat sat down"]
    # utterance 0: 2 inserted words; utterance 1: cat->bat (1 substitution), "down" (1 insertion); 3 reference words.
    assert word_error_rate(references, predictions) == 4 / 3
    assert word_error_counts(references, predictions) == {
        "hits": 2, "substitutions": 1, "insertions": 3, "deletions": 0, "reference_words": 3}
    assert utterance_errors(references, predictions) == [(2, 0), (2, 3)]
    # characters: "uh huh" is 6 insertions; "the cat sat" (11) -> "the bat sat down": 1 substitution, 5 insertions.
    assert char_error_rate(references, predictions) == 12 / 11
    assert empty_references(references) == 1


@settings(max_examples=300, deadline=None)
@given(PAIRS)
def test_rates_and_counts_equal_jiwers_corpus_figures(pairs):
    references, predictions = [r for r, _ in pairs], [p for _, p in pairs]
    assert word_error_rate(references, predictions) == float(jiwer.wer(references, predictions))
    assert char_error_rate(references, predictions) == float(jiwer.cer(references, predictions))
    output = jiwer.process_words(references, predictions)
    counts = word_error_counts(references, predictions)
    assert (counts["hits"], counts["substitutions"], counts["insertions"], counts["deletions"]) == (
        output.hits, output.substitutions, output.insertions, output.deletions)
    per_utterance = utterance_errors(references, predictions)
    assert sum(e for e, _ in per_utterance) == output.substitutions + output.insertions + output.deletions
    for (errors, words), reference, prediction in zip(per_utterance, references, predictions):
        single = jiwer.process_words(reference, prediction)
        assert (errors, words) == (single.substitutions + single.insertions + single.deletions,
                                   single.hits + single.substitutions + single.deletions)


def test_all_empty_references_follow_jiwers_rule_the_insertion_count():
    assert word_error_rate(["", " "], ["", ""]) == 0.0
    assert word_error_rate(["", ""], ["a b", "c"]) == 3.0 == jiwer.wer(["", ""], ["a b", "c"])
    assert char_error_rate([""], ["ab"]) == 2.0 == jiwer.cer([""], ["ab"])
    # a bootstrap resample that draws no reference word is scored by the same rule
    assert bootstrap_interval(utterance_errors(["", ""], ["a b", "c"])) [1] > 0


@pytest.mark.parametrize("references, predictions, message", [
    (["a"], ["a", "b"], "1 references but 2 predictions"),
    (["a", None], ["a", "b"], "reference 1 is NoneType, not text"),
    (["a"], [3], "prediction 0 is int, not text"),
])
def test_what_jiwer_refuses_is_one_clear_line(references, predictions, message):
    with pytest.raises(ValueError, match=message):
        word_error_rate(references, predictions)


def test_the_eval_report_counts_empty_reference_utterances():
    references = ["", "the cat sat", "a b"]
    predictions = ["uh huh", "the cat sat", "a b"]
    report = evaluation_report(references, predictions, audio_seconds=3.0, inference_seconds=1.0, wall_seconds=2.0,
                               settings={})
    assert report["wer"] == pytest.approx(2 / 5) and report["wer"] == jiwer.wer(references, predictions)
    assert report["cer"] == jiwer.cer(references, predictions)
    assert report["errors"] == {"hits": 5, "substitutions": 0, "insertions": 2, "deletions": 0, "reference_words": 5}
    assert report["empty_references"] == 1
    assert report["worst"] == [{"index": 0, "errors": 2, "words": 0, "target": "", "prediction": "uh huh"}]
    assert report["wer_ci95"][1] > 0  # the insertions reach the interval too
