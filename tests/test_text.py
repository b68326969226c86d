import json
import unicodedata

import pytest

from robust_speech.core.errors import TextError
from robust_speech.text.collisions import audit_collisions
from robust_speech.text.lines import read_text_lines
from robust_speech.text.normalizer import DEFAULT_CHARS_TO_IGNORE, TextNormalizer, parse_chars_to_ignore
from robust_speech.text.vocabulary import build_vocabulary, load_vocabulary

REFERENCE_SET = set(',?.!-;:"“%‘”�—’…–')


def test_default_set_is_the_reference_recipes():
    assert set(DEFAULT_CHARS_TO_IGNORE) == REFERENCE_SET
    assert set(parse_chars_to_ignore(None)) == REFERENCE_SET


def test_reference_style_arguments_are_parsed_like_its_regex_class():
    # What the shell hands over for: --chars_to_ignore , ? . ! \- \; \: \" “ % ‘ ” � — ’ … –
    arguments = [",", "?", ".", "!", "\\-", "\\;", "\\:", '\\"', "“", "%", "‘", "”", "�", "—", "’", "…", "–"]
    assert set(parse_chars_to_ignore(arguments)) == REFERENCE_SET
    assert parse_chars_to_ignore([]) == ""
    assert parse_chars_to_ignore([",.?"]) == ",.?"


def test_normalizer_lowercases_removes_and_collapses():
    normalize = TextNormalizer()
    assert normalize("  Hello,   WORLD!\n\tHow are you?  ") == "hello world how are you"
    assert normalize("“Quoted” 50% ; done:") == "quoted 50 done"


def test_dashes_are_deleted_as_the_guide_does_unless_they_split_words():
    assert TextNormalizer()("Wait—what? Well-known…really") == "waitwhat wellknownreally"
    assert TextNormalizer(dashes_split_words=True)("Wait—what? Well-known…really") == "wait what well known really"


def test_normalizer_composes_unicode_and_drops_invisible_characters():
    decomposed = unicodedata.normalize("NFD", "Café Éclair")
    assert decomposed != "Café Éclair"
    assert TextNormalizer()(decomposed) == "café éclair"
    assert TextNormalizer()("zero\u200bwidth soft\u00adhyphen \ufeffbom") == "zerowidth softhyphen bom"


def test_language_specific_casing():
    assert TextNormalizer(language="tr")("IŞIK İSTANBUL") == "ışık istanbul"
    assert TextNormalizer()("IŞIK") == "işik"
    assert TextNormalizer(lowercase=False)("Hello, World") == "Hello World"


def test_normalizer_is_idempotent_on_tricky_text():
    normalize = TextNormalizer(DEFAULT_CHARS_TO_IGNORE + "'")
    for text in ["e-\u0301", "It's “OK”—fine…", "ﬁ İ ß ΣΑΣ", " \u200b ", "a - b -- c"]:
        once = normalize(text)
        assert normalize(once) == once


CORPUS = [
    "It's a dog. Its tail is long, and it's happy.",
    "We'll see. Well, well.",
    "The cat sat. THE CAT SAT!",
    "Its, its; its.",
    "The students' teacher met the students.",
    "Distinct words stay distinct: cat, cut, cot.",
]


def test_audit_finds_words_merged_by_removing_the_apostrophe():
    report = audit_collisions(CORPUS, TextNormalizer(DEFAULT_CHARS_TO_IGNORE + "'"))
    found = {collision.normalized: dict(collision.forms) for collision in report.collisions}
    assert found == {
        "its": {"its": 4, "it's": 2},
        "well": {"well": 2, "we'll": 1},
        "students": {"students": 1, "students'": 1},
    }
    assert report.collisions[0].normalized == "its"  # most frequent first
    assert all(collision.removed_chars == "'" for collision in report.collisions)
    assert report.chars_causing_merges() == {"'": 3}
    text = report.format()
    assert "it's (2)" in text and "--chars_to_ignore" in text


def test_audit_does_not_flag_case_punctuation_or_distinct_words():
    # The reference set keeps the ASCII apostrophe: nothing merges.
    report = audit_collisions(CORPUS, TextNormalizer())
    assert report.collisions == ()
    assert "No collisions" in report.format()


def test_audit_strips_the_punctuation_inside_quoting_apostrophes():
    # "'Nichts!'," is the word nichts quoted: not a second written form "nichts!" merged into it.
    assert audit_collisions(["Es ist nichts.", "Er sagte 'Nichts!', dann ging er."], TextNormalizer()).collisions == ()


def test_audit_sees_typographic_apostrophes_too():
    report = audit_collisions(["It’s here.", "Its place."], TextNormalizer())
    assert [collision.normalized for collision in report.collisions] == ["its"]
    assert report.collisions[0].removed_chars == "’"


def test_vocabulary_layout_and_stability(tmp_path):
    normalize = TextNormalizer()
    texts = [normalize(line) for line in ["Über café", "bac", "abc"]]
    vocabulary = build_vocabulary(texts, min_count=2)
    assert list(vocabulary.tokens.items())[:3] == [("[PAD]", 0), ("[UNK]", 1), ("|", 2)]
    assert list(vocabulary.tokens)[3:] == sorted(set("übercafébacabc") - {" "})
    assert list(vocabulary.tokens.values()) == list(range(len(vocabulary.tokens)))
    assert build_vocabulary(reversed(texts)).tokens == vocabulary.tokens  # input order does not matter
    rare = {char for char, _count, _example in vocabulary.rare_chars}
    assert rare == {"ü", "e", "r", "f", "é"}
    assert ("é", 1, "café") in vocabulary.rare_chars
    path = tmp_path / "vocab.json"
    vocabulary.save(path)
    assert load_vocabulary(path) == vocabulary.tokens
    assert "é" in path.read_text(encoding="utf-8")  # written as UTF-8, not \u escapes


def test_vocabulary_rejects_the_delimiter_and_empty_text():
    with pytest.raises(TextError, match="word delimiter"):
        build_vocabulary(["a|b"])
    with pytest.raises(TextError, match="empty"):
        build_vocabulary(["", "   "])


def test_vocabulary_loads_in_transformers(tmp_path):
    from transformers import Wav2Vec2CTCTokenizer

    vocabulary = build_vocabulary(["hello world"])
    vocabulary.save(tmp_path / "vocab.json")
    tokenizer = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), unk_token="[UNK]", pad_token="[PAD]", word_delimiter_token="|")
    ids = tokenizer("hello world").input_ids
    assert tokenizer.decode(ids, group_tokens=False) == "hello world"
    assert tokenizer.pad_token_id == 0


def test_text_files_must_be_utf8(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("one\n\n  two  \n", encoding="utf-8")
    assert list(read_text_lines(good)) == ["one", "two"]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("fine\ncafé\n".encode("latin-1"))
    with pytest.raises(TextError, match=r"latin1.txt: line 2 is not UTF-8"):
        list(read_text_lines(bad))
    with pytest.raises(TextError, match="cannot open"):
        list(read_text_lines(tmp_path / "missing.txt"))


def test_vocab_json_is_plain_json(tmp_path):
    build_vocabulary(["ab"]).save(tmp_path / "v.json")
    assert json.loads((tmp_path / "v.json").read_text()) == {"[PAD]": 0, "[UNK]": 1, "|": 2, "a": 3, "b": 4}
