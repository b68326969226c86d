"""Property tests (hypothesis): the normalizer, the vocabulary and chunking hold for any input."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_speech.core.errors import ConfigurationError
from robust_speech.inference.chunking import Chunking
from robust_speech.text.normalizer import TextNormalizer
from robust_speech.text.vocabulary import build_vocabulary, is_unspoken_symbol, load_vocabulary

NORMALIZERS = [TextNormalizer(), TextNormalizer(language="tr"), TextNormalizer(lowercase=False),
               TextNormalizer(dashes_split_words=False), TextNormalizer(chars_to_ignore="")]


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_the_normalizer_never_crashes_and_is_idempotent(text):
    for normalizer in NORMALIZERS:
        once = normalizer(text)
        assert normalizer(once) == once
        assert once == once.strip() and "  " not in once and "\n" not in once


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="|"), min_size=1, max_size=30),
                      min_size=1, max_size=8))
def test_the_vocabulary_round_trips_through_vocab_json(tmp_path_factory, texts):
    normalized = [TextNormalizer()(text) for text in texts]
    if all(c == " " or is_unspoken_symbol(c) for t in normalized for c in t):
        return  # nothing a vocabulary could hold: build_vocabulary refuses it
    vocabulary = build_vocabulary(normalized, min_count=1)
    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    vocabulary.save(path)
    assert load_vocabulary(path) == vocabulary.tokens
    assert sorted(vocabulary.tokens.values()) == list(range(len(vocabulary.tokens)))
    written = {c for t in normalized for c in t if c != " "}
    # Every character is in the vocabulary, except emoji and other symbols, which are listed as left out.
    assert set(vocabulary.tokens) >= {c for c in written if not is_unspoken_symbol(c)}
    assert {char for char, _count, _example in vocabulary.symbols} == {c for c in written if is_unspoken_symbol(c)}
    assert json.loads(path.read_text(encoding="utf-8")) == vocabulary.tokens


@settings(max_examples=300, deadline=None)
@given(samples=st.integers(0, 2_000_000), chunk_s=st.floats(0.1, 30.0), left_s=st.floats(0.0, 10.0),
       right_s=st.floats(0.0, 10.0), align=st.sampled_from([1, 160, 320]))
def test_chunks_cover_every_sample_exactly_once(samples, chunk_s, left_s, right_s, align):
    def aligned(seconds: float) -> int:
        return int(round(seconds * 16000 / align) * align)

    if aligned(chunk_s) <= aligned(left_s) + aligned(right_s):  # the documented refusal, and only then
        with pytest.raises(ConfigurationError, match="must be longer than the strides"):
            Chunking.from_seconds(chunk_s, (left_s, right_s), 16000, align)
        return
    chunking = Chunking.from_seconds(chunk_s, (left_s, right_s), 16000, align)
    covered = [chunk.kept for chunk in chunking.plan(samples)]
    if samples == 0:
        assert all(start == end for start, end in covered)
        return
    assert covered[0][0] == 0 and covered[-1][1] == samples
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))
    assert all(start < end for start, end in covered)


# ---------------------------------------------------------------------------------------------------------
# One normalization: training targets, LM text and eval.py's normalize_text agree character for character

RULES = [  # (chars_to_ignore flag values, do_lower_case, casing_language, dashes_split_words; None: the flag's default)
    (None, True, None, None), (None, True, None, True), ([",", ".", "'", "-"], False, None, False),
    (None, True, "tr", True), ([], True, None, False),
]
_EVAL = {}


def eval_module():
    if "module" not in _EVAL:
        import importlib.util
        from pathlib import Path

        spec = importlib.util.spec_from_file_location("challenge_eval_rules", Path(__file__).parents[2] / "eval.py")
        _EVAL["module"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_EVAL["module"])
    return _EVAL["module"]


def saved_rules(tmp_path_factory, rule: int):
    """The normalizer training builds from its flags, saved in a model folder as training saves it."""
    from robust_speech.data.arguments import DataTrainingArguments
    from robust_speech.data.prepare import normalizer_from
    from robust_speech.text.normalizer import save_normalizer

    chars, lower, language, dashes = RULES[rule]
    dashes = {} if dashes is None else {"dashes_split_words": dashes}
    normalizer = normalizer_from(DataTrainingArguments(dataset_name="x", chars_to_ignore=chars, do_lower_case=lower,
                                                       casing_language=language, **dashes))
    folder = tmp_path_factory.mktemp("rules")
    save_normalizer(folder, normalizer)
    return normalizer, folder


LETTERS = "abcdeéfghiIİıjklmnopqrstuvwxyzäöüßçñ ABCÄÖÜÉ\n\t  "


@settings(max_examples=60, deadline=None)
@given(rule=st.integers(0, len(RULES) - 1), pieces=st.lists(st.sampled_from(
    list(LETTERS) + list(',?.!-;:"“%‘”�—’…–\'') + ["e\u0301", "\u200b", "\u00ad", "\u200e"]), max_size=40))
def test_training_targets_lm_text_and_eval_normalize_alike(tmp_path_factory, rule, pieces):
    from robust_speech.lm.ngram import prepare_lm_text
    from robust_speech.text.normalizer import model_normalizer

    text = "".join(pieces)
    normalizer, folder = saved_rules(tmp_path_factory, rule)
    module = eval_module()
    module.TRAINING_RULES = module.load_rules(str(folder))
    target = normalizer(text)  # what training learns to write
    lm_lines = prepare_lm_text([text], model_normalizer(folder), None).lines  # what build_ngram.py feeds lmplz
    assert module.normalize_text(text) == target
    assert lm_lines == ([target] if target else [])


def test_the_default_deletes_dashes_as_the_guide_does_and_the_option_splits_everywhere(tmp_path_factory):
    module = eval_module()
    for rule, expected in ((0, "a wellknown finetuning trick"), (1, "a well known fine tuning trick")):
        normalizer, folder = saved_rules(tmp_path_factory, rule)
        module.TRAINING_RULES = module.load_rules(str(folder))
        assert normalizer("A well-known fine-tuning trick.") == expected
        assert module.normalize_text("A well-known fine-tuning trick.") == expected
    module.TRAINING_RULES = None  # a folder without rules: the reference's normalize_text
    assert module.normalize_text("A well-known fine-tuning trick.") == "a wellknown finetuning trick"
