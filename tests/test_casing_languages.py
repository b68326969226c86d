"""Turkish and Azerbaijani casing (dotted İ/i, dotless I/ı): the normalizer and eval.py's plain-Python twin.

Both languages write "I" for the dotless ı and "İ" for the dotted i, so `str.lower()` gets both wrong there;
every other language keeps Python's casing. A model trained with one rule and scored with another loses every
word with an I in it."""

import importlib.util

import pytest
from entry_points import ROOT

from robust_speech.text.normalizer import TextNormalizer, build_normalizer

SPECIAL = {  # written form -> lowercase in Turkish and Azerbaijani
    "IŞIK İSTANBUL": "ışık istanbul",
    "İyi İşıq": "iyi işıq",  # Azerbaijani: "good light"
    "Bakı İQTİSADİYYATI": "bakı iqtisadiyyatı",
}


@pytest.fixture(scope="module")
def apply_rules():
    spec = importlib.util.spec_from_file_location("challenge_eval_casing", ROOT / "eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.apply_rules


def rules(language, lowercase=True):
    normalizer = TextNormalizer(language=language, lowercase=lowercase)
    return normalizer, {"chars_to_ignore": normalizer.chars_to_ignore, "lowercase": lowercase, "language": language,
                        "dashes_split_words": False}


@pytest.mark.parametrize("language", ["tr", "az"])
@pytest.mark.parametrize("written", sorted(SPECIAL))
def test_dotted_and_dotless_i_lowercase_as_the_language_writes_them(language, written, apply_rules):
    normalizer, saved = rules(language)
    assert normalizer(written) == SPECIAL[written]
    assert apply_rules(written, saved) == SPECIAL[written]
    assert build_normalizer(casing_language=language)(written) == SPECIAL[written]


@pytest.mark.parametrize("language", [None, "en", "de", "tk"])
def test_other_languages_keep_pythons_lowercase(language, apply_rules):
    normalizer, saved = rules(language)
    for written in SPECIAL:
        expected = " ".join(written.lower().split())
        assert normalizer(written) == expected != SPECIAL[written]
        assert apply_rules(written, saved) == expected


@pytest.mark.parametrize("language", ["tr", "az"])
def test_keeping_case_keeps_the_dots(language, apply_rules):
    normalizer, saved = rules(language, lowercase=False)
    assert normalizer("IŞIK İSTANBUL") == apply_rules("IŞIK İSTANBUL", saved) == "IŞIK İSTANBUL"
