"""How the normalizer's settings arrive: the reference's flag forms, build_normalizer's flags and defaults, and
the text_normalizer.json of folders written before a setting existed (found unchecked by `make mutate`)."""

import json

from robust_speech.core.model_folder import NORMALIZER_FILE
from robust_speech.text.normalizer import (
    DEFAULT_CHARS_TO_IGNORE,
    TextNormalizer,
    build_normalizer,
    load_normalizer,
    model_normalizer,
    parse_chars_to_ignore,
    save_normalizer,
)


def test_one_string_is_one_argument_and_a_lone_backslash_is_a_character():
    assert parse_chars_to_ignore(",?") == ",?"
    assert parse_chars_to_ignore(["\\", ","]) == "\\,"  # `--chars_to_ignore \\ ,`: the backslash itself
    assert parse_chars_to_ignore(["\\-", "\\;"]) == "-;"  # an escape, as in the reference's regex class


def test_build_normalizer_applies_each_flag():
    text = "Fine-tuning, Wait—What"
    assert build_normalizer()(text) == "finetuning waitwhat"  # the reference: dashes deleted, not split
    assert build_normalizer([","])(text) == "fine-tuning wait—what"
    assert build_normalizer(",", do_lower_case=False)(text) == "Fine-tuning Wait—What"
    assert build_normalizer(dashes_split_words=True)(text) == "fine tuning wait what"
    assert build_normalizer().chars_to_ignore == DEFAULT_CHARS_TO_IGNORE


def test_words_are_the_normalized_words():
    assert TextNormalizer().words("  Hello, WORLD!  ") == ["hello", "world"]


def test_a_folder_written_before_dashes_split_words_existed_splits_at_dashes(tmp_path):
    # Such folders were trained with text split at dashes: their normalizer must keep doing so.
    (tmp_path / NORMALIZER_FILE).write_text(json.dumps(
        {"chars_to_ignore": DEFAULT_CHARS_TO_IGNORE, "lowercase": True, "language": None}), encoding="utf-8")
    assert load_normalizer(tmp_path)("Wait—what") == "wait what"
    assert model_normalizer(tmp_path) == load_normalizer(tmp_path)


def test_saved_rules_load_as_they_were(tmp_path):
    for normalizer in (TextNormalizer(), TextNormalizer("“”…,", lowercase=False, language="az", dashes_split_words=True)):
        save_normalizer(tmp_path, normalizer)
        assert load_normalizer(tmp_path) == normalizer
    assert model_normalizer(tmp_path / "missing") == TextNormalizer()
