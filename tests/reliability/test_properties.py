"""Property tests (hypothesis): the normalizer, the vocabulary and chunking hold for any input."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from robust_speech.inference.chunking import Chunking
from robust_speech.text.normalizer import TextNormalizer
from robust_speech.text.vocabulary import (
    build_vocabulary,
    is_unspoken_symbol,
    load_vocabulary,
)

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
    try:
        chunking = Chunking.from_seconds(chunk_s, (left_s, right_s), 16000, align)
    except Exception as error:  # only the documented refusal is allowed
        assert "must be longer than the strides" in str(error)
        return
    covered = [chunk.kept for chunk in chunking.plan(samples)]
    if samples == 0:
        assert all(start == end for start, end in covered)
        return
    assert covered[0][0] == 0 and covered[-1][1] == samples
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))
    assert all(start < end for start, end in covered)
