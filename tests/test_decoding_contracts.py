"""inference/decoding.py through its library functions: frame paths to words, the token layout and its folding of
specials, the alphabet check, each engine's options and outputs (beam width, weights, n best, confidences, the
pool), and load_decoder's refusals. Written for mutation testing (benchmarks/results/mutation.md): the LM is
built in this process (lmplz on a few sentences) instead of test_lm.py's build_ngram.py subprocess."""

import json
import math
import sys

import numpy as np
import pytest
from ctc_logits import VOCABULARY, emissions

from robust_speech.core.errors import ConfigurationError, MissingDependencyError
from robust_speech.inference import decoding
from robust_speech.inference.decoding import (
    SPECIAL_LOG_PROB,
    Alternative,
    FlashlightDecoder,
    GreedyDecoder,
    PyctcdecodeDecoder,
    TokenLayout,
    Transcript,
    WordSpan,
    _best_with_alternatives,
    _clean,
    check_alphabet_matches,
    load_decoder,
    spans_from_frame_tokens,
)
from robust_speech.lm.install import install_language_model
from robust_speech.lm.ngram import NgramOptions, build_language_model, ctc_alphabet

SENTENCES = ["the cat sat on the mat", "a cat sat on a hat", "the dog sat on the log", "the cat ate the rat",
             "we like the cat", "they like the dog"]
LABELS = ("", "", " ", "a", "b", "c")  # blank, unk, delimiter, a, b, c


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decoding") / "model"
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(VOCABULARY), encoding="utf-8")
    (folder.parent / "work").mkdir()
    options = NgramOptions(order=3, memory="64M")  # lmplz's sorting memory: a few sentences need little
    built = build_language_model(SENTENCES * 3, folder.parent / "work", options, progress=lambda _: None)
    install_language_model(folder, built.binary, built.unigrams, flashlight_binary=built.flashlight_binary)
    return folder


def test_clean_drops_pyctcdecodes_unknown_and_extra_spaces():
    assert _clean("  the ⁇ cat⁇sat  ") == "the cat sat"
    assert _clean("⁇") == ""


def test_frame_paths_become_words_with_their_frames():
    # 0 blank, 2 delimiter, 3-5 letters; repeats collapse unless a blank separates them.
    assert spans_from_frame_tokens([3, 3, 0, 3, 4, 2, 2, 5, 5, 0], LABELS, 0) == (
        WordSpan("aab", 0, 5), WordSpan("c", 7, 9))
    # A word's end is one past its last letter frame, repeated frames included; blanks after it do not count.
    assert spans_from_frame_tokens([0, 4, 4, 4, 0, 0], LABELS, 0) == (WordSpan("b", 1, 4),)
    # Specials (label ""), unknown ids and out-of-range ids write nothing and do not end a word.
    assert spans_from_frame_tokens([3, 1, 4, 9, -1, 5], LABELS, 0) == (WordSpan("abc", 0, 6),)
    assert spans_from_frame_tokens([2, 2, 0, 2], LABELS, 0) == ()
    assert spans_from_frame_tokens([], LABELS, 0) == ()
    # The blank is whichever id is given; the same token after a blank starts a new letter.
    assert spans_from_frame_tokens([3, 5, 3, 5, 3], ("", "", " ", "a", "b", ""), 5) == (WordSpan("aaa", 0, 5),)
    assert spans_from_frame_tokens([3, 3, 2, 0, 4], LABELS, 0) == (WordSpan("a", 0, 2), WordSpan("b", 4, 5))


def test_the_token_layout_of_a_vocabulary():
    layout = TokenLayout.from_vocabulary(VOCABULARY)
    assert layout.labels[:4] == ("", "", " ", "a") and layout.blank == 0 and layout.delimiter == 2
    assert layout.specials == () and len(layout.labels) == len(VOCABULARY)
    other = TokenLayout.from_vocabulary({"a": 0, "<pad>": 3, "<s>": 1, "<unk>": 2, "bb": 5})
    assert other.blank == 3 and other.delimiter is None and other.labels == ("a", "", "", "", "", "")
    assert other.specials == (1, 4, 5)  # <s>, the gap at 4 and the multi-character token; not <unk>
    assert TokenLayout.from_vocabulary({"a": 1, "b": 2}).blank == 0
    single = TokenLayout.from_vocabulary({"[PAD]": 1, "x": 0, "[UNK]": 2, "|": 3})
    assert single.blank == 1 and single.labels == ("x", "", "", " ") and single.specials == ()


def test_folding_gives_the_specials_mass_to_the_blank_and_copies():
    layout = TokenLayout.from_vocabulary({"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "a": 5})
    log_probs = np.log(np.array([[0.1, 0.2, 0.3, 0.1, 0.1, 0.2]], dtype=np.float64))
    folded = layout.fold_specials(log_probs)
    assert folded.dtype == np.float32 and np.isclose(np.exp(folded[0, 0]), 0.6)
    assert (folded[0, 1:3] == SPECIAL_LOG_PROB).all() and SPECIAL_LOG_PROB == -1e4
    assert np.allclose(folded[0, 3:], log_probs[0, 3:])
    assert np.isclose(np.exp(log_probs[0, 0]), 0.1)  # the caller's array is unchanged
    plain = TokenLayout.from_vocabulary(VOCABULARY)
    array = emissions("ab")
    copy = plain.fold_specials(array)
    assert np.array_equal(copy, array) and copy is not array
    copy[0, 0] = 5.0
    assert array[0, 0] != 5.0


def test_the_alphabet_must_match_the_vocabulary(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps(VOCABULARY), encoding="utf-8")
    with pytest.raises(ConfigurationError) as raised:
        check_alphabet_matches(tmp_path)
    assert str(raised.value) == (f"{tmp_path / 'alphabet.json'}: missing or unreadable; re-run build_ngram.py "
                                 f"--model_dir {tmp_path}")
    (tmp_path / "alphabet.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="missing or unreadable"):
        check_alphabet_matches(tmp_path)
    (tmp_path / "alphabet.json").write_text("not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="missing or unreadable"):
        check_alphabet_matches(tmp_path)
    (tmp_path / "alphabet.json").write_text(ctc_alphabet({**VOCABULARY, "é": 30}).dumps(), encoding="utf-8")
    with pytest.raises(ConfigurationError) as raised:
        check_alphabet_matches(tmp_path)
    assert str(raised.value) == (f"{tmp_path / 'alphabet.json'} has 31 labels that do not match vocab.json's 30 "
                                 f"tokens (the LM was built for another vocabulary): re-run build_ngram.py "
                                 f"--model_dir {tmp_path}")
    (tmp_path / "alphabet.json").write_text(ctc_alphabet(VOCABULARY).dumps(), encoding="utf-8")
    check_alphabet_matches(tmp_path)


def test_greedy_decoding(monkeypatch):
    decoder = GreedyDecoder(VOCABULARY)
    assert (decoder.engine, decoder.beam_width, decoder.confidence, decoder.nbest) == ("greedy", None, False, 1)
    with pytest.raises(ConfigurationError) as raised:
        decoder.set_weights(1.0, 1.0)
    assert str(raised.value) == "greedy decoding uses no language model: there are no LM weights to set"
    heard = emissions("ab cd")
    transcript = decoder.decode(heard)
    assert transcript.text == "ab cd" and transcript.words == (WordSpan("ab", 0, 5), WordSpan("cd", 9, 14))
    assert transcript.confidence is None and transcript.words[0].confidence is None
    assert decoder.decode_batch([heard, emissions("b")]) == [transcript, decoder.decode(emissions("b"))]
    monkeypatch.setattr(decoding, "_GREEDY_BLOCK_FRAMES", 4)
    assert decoder.decode(heard) == transcript  # frames folded block by block, the same path
    decoder.confidence = True
    sure = decoder.decode(heard)
    assert 0.5 < sure.confidence <= 1.0 and all(0.5 < word.confidence <= 1.0 for word in sure.words)
    assert decoding._GREEDY_BLOCK_FRAMES == 4


def test_the_block_size_of_greedy_decoding():
    assert decoding._GREEDY_BLOCK_FRAMES == 65536


def test_confidences_of_words_and_of_silence():
    layout = TokenLayout.from_vocabulary(VOCABULARY)
    heard = emissions("ab cd")
    transcript = GreedyDecoder(VOCABULARY).decode(heard)
    sure = layout.with_confidence(transcript, heard)
    doubtful_heard = emissions("ab cd", confusions={3: ("b", 0.4)})
    doubtful = layout.with_confidence(GreedyDecoder(VOCABULARY).decode(doubtful_heard), doubtful_heard)
    assert doubtful.words[1].confidence < sure.words[1].confidence
    assert doubtful.words[0].confidence == pytest.approx(sure.words[0].confidence, abs=0.05)
    assert doubtful.confidence < sure.confidence
    # A word the vocabulary cannot spell has no alignment: confidence 0.
    unspellable = layout.with_confidence(Transcript("ab zé", (WordSpan("ab", 0, 5), WordSpan("zé", 9, 14))), heard)
    assert unspellable.words[1].confidence == 0.0 and unspellable.words[0].confidence > 0.5
    silence = np.log(np.full((10, len(VOCABULARY)), 0.001 / 29))
    silence[:, 0] = np.log(0.999)
    nothing = layout.with_confidence(Transcript(""), silence)
    assert nothing.words == () and nothing.confidence > 0.9
    spoken = layout.with_confidence(Transcript(""), heard)
    assert spoken.confidence < 0.5  # nothing written where letters were sure


def test_no_delimiter_pauses_are_the_blank_only():
    vocabulary = {"[PAD]": 0, "a": 1, "b": 2}
    layout = TokenLayout.from_vocabulary(vocabulary)
    log_probs = np.log(np.array([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.05, 0.9]]))
    transcript = Transcript("ab", (WordSpan("ab", 0, 3),))
    assert 0.5 < layout.with_confidence(transcript, log_probs).words[0].confidence <= 1.0


def test_best_with_alternatives_keeps_distinct_texts_best_first():
    layout = TokenLayout.from_vocabulary(VOCABULARY)
    found = [(Transcript("a b"), -1.234567), (Transcript("a b"), -2.0), (Transcript("ab"), -3.0),
             (Transcript("b"), -4.0)]
    assert _best_with_alternatives(found, layout, emissions("ab"), False, 1) == Transcript("a b")
    best = _best_with_alternatives(found, layout, emissions("ab"), False, 2)
    assert best.text == "a b" and best.alternatives == (Alternative("a b", -1.2346), Alternative("ab", -3.0))
    three = _best_with_alternatives(found, layout, emissions("ab"), False, 3)
    assert [alternative.text for alternative in three.alternatives] == ["a b", "ab", "b"]
    heard = emissions("ab")
    words = GreedyDecoder(VOCABULARY).decode(heard)
    scored = _best_with_alternatives([(words, -1.0), (Transcript("ba"), -2.0)], layout, heard, True, 2)
    assert scored.confidence is not None and scored.alternatives[0].confidence == scored.confidence
    assert scored.alternatives[1].confidence is not None


def test_pyctcdecode_options(lm_dir, monkeypatch):
    monkeypatch.setattr(decoding.os, "cpu_count", lambda: 3)
    decoder = PyctcdecodeDecoder(lm_dir)
    assert (decoder.engine, decoder.beam_width, decoder.processes) == ("pyctcdecode", 100, 3)
    assert decoder._boost == {} and decoder.decoder.model_container[decoder.decoder._model_key].alpha == 0.5
    monkeypatch.setattr(decoding.os, "cpu_count", lambda: None)
    assert PyctcdecodeDecoder(lm_dir).processes == 1
    weighted = PyctcdecodeDecoder(lm_dir, alpha=0.0, processes=2, beam_width=7)
    model = weighted.decoder.model_container[weighted.decoder._model_key]
    assert (model.alpha, model.beta, weighted.processes, weighted.beam_width) == (0.0, 1.0, 2, 7)
    only_beta = PyctcdecodeDecoder(lm_dir, beta=2.0).decoder
    assert only_beta.model_container[only_beta._model_key].beta == 2.0
    boosted = PyctcdecodeDecoder(lm_dir, hotwords=("kat",), hotword_weight=3.0)
    assert boosted._boost == {"hotwords": ["kat"], "hotword_weight": 3.0}
    without = PyctcdecodeDecoder(lm_dir, use_lm=False)
    assert without.decoder.model_container.get(without.decoder._model_key) is None


def test_pyctcdecode_uses_the_lm_unless_told_not_to(lm_dir):
    heard = emissions("the cat sat on the mat", confusions={4: ("k", 0.5)})
    assert PyctcdecodeDecoder(lm_dir, processes=1).decode(heard).text == "the cat sat on the mat"
    assert PyctcdecodeDecoder(lm_dir, use_lm=False, processes=1).decode(heard).text == "the kat sat on the mat"
    assert PyctcdecodeDecoder(lm_dir, alpha=0.0, beta=0.0, processes=1).decode(heard).text == "the kat sat on the mat"


def test_pyctcdecode_transcripts_nbest_and_confidence(lm_dir):
    heard = emissions("the cat sat on the mat", confusions={4: ("k", 0.45), 19: ("n", 0.45)}, noise=0.05)
    decoder = PyctcdecodeDecoder(lm_dir, processes=1, beam_width=16)
    plain = decoder.decode(heard)
    assert plain.text == "the cat sat on the mat" and plain.alternatives == () and plain.confidence is None
    assert [word.word for word in plain.words] == plain.text.split()
    decoder.nbest, decoder.confidence = 3, True
    best = decoder.decode(heard)
    assert len(best.alternatives) == 3 and best.alternatives[0].text == plain.text
    assert len({alternative.text for alternative in best.alternatives}) == 3
    scores = [alternative.score for alternative in best.alternatives]
    assert scores == sorted(scores, reverse=True) and all(isinstance(score, float) for score in scores)
    assert best.confidence is not None and best.alternatives[0].confidence == best.confidence


def test_pyctcdecode_drops_the_unknown_word_from_the_words(lm_dir):
    heard = emissions("the x cat")
    heard[12:14, :] = -20.0
    heard[12:14, VOCABULARY["[UNK]"]] = 0.0  # the frames of "x" say [UNK]: pyctcdecode writes the word "⁇"
    transcript = PyctcdecodeDecoder(lm_dir, use_lm=False, processes=1).decode(heard)
    assert "⁇" not in transcript.text and all(word.word != "⁇" for word in transcript.words)
    assert [word.word for word in transcript.words] == transcript.text.split() == ["the", "cat"]


def test_the_pool_is_made_once_for_batches_and_closed_with_new_weights(lm_dir, monkeypatch):
    made = []

    class FakePool:
        def __init__(self, processes):
            made.append(processes)

        def terminate(self):
            made.append("terminated")

    class FakeContext:
        Pool = FakePool

    monkeypatch.setattr(decoding.multiprocessing, "get_context", lambda method: method == "fork" and FakeContext)
    decoder = PyctcdecodeDecoder(lm_dir, processes=2, beam_width=8)
    calls = []
    monkeypatch.setattr(decoder.decoder, "decode_beams_batch", lambda pool, logits, **kw: calls.append((pool, kw)) or [
        decoder.decoder.decode_beams(x, **kw) for x in logits])
    heard = [emissions("the cat"), emissions("a dog")]
    assert [t.text for t in decoder.decode_batch(heard)] == ["the cat", "a dog"]
    assert made == [2] and isinstance(calls[0][0], FakePool) and calls[0][1] == {"beam_width": 8}
    decoder.decode_batch(heard)
    assert made == [2] and calls[1][0] is calls[0][0]
    assert decoder.decode_batch(heard[:1])[0].text == "the cat" and len(calls) == 2  # one utterance: no pool
    decoder.set_weights(0.0, 0.0)
    assert made == [2, "terminated"] and decoder._pool is None
    decoder.decode_batch(heard)
    assert made == [2, "terminated", 2]
    decoder.close()
    single = PyctcdecodeDecoder(lm_dir, processes=1)
    assert [t.text for t in single.decode_batch(heard)] == ["the cat", "a dog"] and single._pool is None


def test_flashlight_options_and_weights(lm_dir):
    decoder = FlashlightDecoder(lm_dir, beam_width=9)
    assert (decoder.engine, decoder.beam_width, decoder.alpha, decoder.beta) == ("flashlight", 9, 0.5, 1.0)
    first = decoder.decoder
    decoder.beam_width = 9
    assert decoder.decoder is first  # the same width: not rebuilt
    decoder.beam_width = 12
    assert decoder.beam_width == 12 and decoder.decoder is not first
    weighted = FlashlightDecoder(lm_dir, alpha=0.0, beta=2.0)
    assert (weighted.alpha, weighted.beta) == (0.0, 2.0)
    assert FlashlightDecoder(lm_dir, beta=3.0).alpha == 0.5
    decoder.set_weights(1.5, -1.0)
    assert (decoder.alpha, decoder.beta) == (1.5, -1.0)
    assert decoding.LN10 == pytest.approx(math.log(10))


def test_flashlight_decodes_with_the_lm_and_nbest(lm_dir):
    heard = emissions("the cat sat on the mat", confusions={4: ("k", 0.5)})
    decoder = FlashlightDecoder(lm_dir, beam_width=16)
    plain = decoder.decode(heard)
    assert plain.text == "the cat sat on the mat" and plain.alternatives == () and plain.confidence is None
    assert plain.words[0] == WordSpan("the", 0, 8) and plain.words[1].start_frame == 12
    the = emissions("the")
    paused = np.concatenate([the, np.repeat(the[-1:], 3, axis=0), emissions(" cat ")])
    assert decoder.decode(paused).words[:2] == (WordSpan("the", 0, 8), WordSpan("cat", 15, 23))
    decoder.set_weights(0.0, 0.0)
    assert decoder.decode(heard).text == "the kat sat on the mat"
    noisy = emissions("the cat sat on the mat", confusions={4: ("k", 0.45), 19: ("n", 0.45)}, noise=0.05)
    decoder = FlashlightDecoder(lm_dir, beam_width=16)
    decoder.nbest, decoder.confidence = 3, True
    best = decoder.decode(noisy)
    assert best.text == "the cat sat on the mat" and 2 <= len(best.alternatives) <= 3
    assert best.alternatives[0].text == best.text and best.confidence is not None
    assert len({alternative.text for alternative in best.alternatives}) == len(best.alternatives)
    assert decoder.decode_batch([noisy, noisy]) == [best, best]


def test_flashlight_admits_unknown_spellings_once_per_batch(lm_dir, monkeypatch):
    heard = emissions("the cow sat")
    assert FlashlightDecoder(lm_dir).decode(heard).text == "the cow sat"
    closed = FlashlightDecoder(lm_dir, open_vocabulary=False)
    assert "cow" not in closed.decode(heard).text.split()
    assert "cow" not in closed.decode_batch([heard])[0].text.split()
    decoder = FlashlightDecoder(lm_dir)
    smeared = []
    monkeypatch.setattr(decoder, "_smear", lambda: smeared.append(1))
    decoder.decode_batch([heard, emissions("a pig")])
    assert len(smeared) == 1 and {"cow", "pig"} <= decoder._known
    decoder.decode_batch([heard])
    assert len(smeared) == 1  # nothing new: no smearing
    batch = FlashlightDecoder(lm_dir)
    assert [t.text for t in batch.decode_batch([heard, emissions("a pig")])] == ["the cow sat", "a pig"]


def test_flashlight_needs_an_lm_and_a_delimiter(lm_dir, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "vocab.json").write_text(json.dumps(VOCABULARY), encoding="utf-8")
    with pytest.raises(ConfigurationError) as raised:
        FlashlightDecoder(bare)
    assert str(raised.value) == f"{bare} has no language_model/: build one with build_ngram.py"
    no_delimiter = {key: value for key, value in VOCABULARY.items() if key != "|"}
    folder = tmp_path / "nodelim"
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(no_delimiter), encoding="utf-8")
    (folder / "language_model").symlink_to(lm_dir / "language_model")
    (folder / "alphabet.json").write_text(ctc_alphabet(no_delimiter).dumps(), encoding="utf-8")
    with pytest.raises(ConfigurationError) as raised:
        FlashlightDecoder(folder)
    assert str(raised.value) == f"{folder}: the vocabulary has no word delimiter '|'"


def test_flashlight_without_its_shifted_lm_uses_the_plain_binary(lm_dir, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for name in ("vocab.json", "alphabet.json"):
        (folder / name).write_bytes((lm_dir / name).read_bytes())
    (folder / "language_model").symlink_to(lm_dir / "language_model")
    heard = emissions("the cow sat")
    decoder = FlashlightDecoder(folder)
    shifted = FlashlightDecoder(lm_dir)
    assert decoder.decode(heard).text == "the cow sat"
    # The shifted binary's <unk> carries the offset; the lookahead charges the plain <unk> either way.
    assert shifted._unk_lookahead == pytest.approx(decoder._unk_lookahead, abs=1e-3)


def test_flashlight_hotwords(lm_dir):
    heard = emissions("we like the kat", confusions={12: ("c", 0.5)})
    plain = FlashlightDecoder(lm_dir, beam_width=16)
    assert plain.decode(heard).text == "we like the cat" and not plain._boosted
    boosted = FlashlightDecoder(lm_dir, beam_width=16, hotwords=("kat", "zig zag"), hotword_weight=20.0)
    assert boosted.decode(heard).text == "we like the kat"
    ids = {boosted.word_dict.get_index(word) for word in ("kat", "zig", "zag")}
    assert boosted._boosted == ids and boosted.lm.bonuses == dict.fromkeys(ids, 20.0 / (0.5 * math.log(10)))
    boosted.set_weights(2.0, 1.0)
    assert boosted.lm.bonuses == dict.fromkeys(ids, 20.0 / (2.0 * math.log(10)))
    with pytest.raises(ConfigurationError) as raised:
        boosted.set_weights(0.0, 1.0)
    assert str(raised.value) == ("--hotwords with the flashlight engine need an LM weight (alpha) above 0: the boost "
                                 "goes through the LM score; use --decoder pyctcdecode otherwise")
    with pytest.raises(ConfigurationError) as raised:
        FlashlightDecoder(lm_dir, hotwords=("zürich", "émile ok"))
    assert str(raised.value) == ("--hotwords zürich, émile: the model cannot spell them (characters outside its "
                                 "vocabulary); normalize them as the training text was")
    start = boosted.lm.start(False)
    kat = boosted.word_dict.get_index("kat")
    _state, score = boosted.lm.score(start, kat)
    _state, base = boosted.lm.lm.score(start, kat)
    assert score == pytest.approx(base + 20.0 / (2.0 * math.log(10)))
    assert boosted.lm.finish(start)[1] == pytest.approx(boosted.lm.lm.finish(start)[1])


def test_load_decoder_refusals_and_choices(lm_dir):
    with pytest.raises(ConfigurationError) as raised:
        load_decoder(lm_dir, "beamy")
    assert str(raised.value) == "decoder engine 'beamy': choose one of greedy, pyctcdecode, flashlight"
    with pytest.raises(ConfigurationError) as raised:
        load_decoder(lm_dir, nbest=0)
    assert str(raised.value) == "--nbest 0: give 1 or more"
    with pytest.raises(ConfigurationError) as raised:
        load_decoder(lm_dir, "greedy", nbest=2)
    assert str(raised.value) == ("--nbest 2 needs beam search: greedy decoding finds a single path (use --decoder "
                                 "pyctcdecode, with or without an LM)")
    with pytest.raises(ConfigurationError) as raised:
        load_decoder(lm_dir, nbest=8, beam_width=7)
    assert str(raised.value) == "--nbest 8 is more than the beam keeps (7): raise --beam_width"
    assert load_decoder(lm_dir, nbest=7, beam_width=7).nbest == 7
    with pytest.raises(ConfigurationError, match=r"--nbest 101 is more than the beam keeps \(100\)"):
        load_decoder(lm_dir, nbest=101)
    default = load_decoder(lm_dir)
    assert isinstance(default, PyctcdecodeDecoder) and (default.confidence, default.nbest) == (False, 1)
    greedy = load_decoder(lm_dir, "greedy", confidence=True)
    assert isinstance(greedy, GreedyDecoder) and greedy.confidence and greedy.nbest == 1
    flashlight = load_decoder(lm_dir, "flashlight", nbest=2, beam_width=5)
    assert isinstance(flashlight, FlashlightDecoder) and flashlight.nbest == 2 and flashlight.beam_width == 5


# A vocabulary laid out as the reference training script writes it: letters first, the specials last.
LETTERS_FIRST = {"a": 0, "b": 1, "c": 2, "d": 3, "|": 4, "[UNK]": 5, "[PAD]": 6}


def test_a_letter_at_id_0_and_ids_past_the_labels():
    assert spans_from_frame_tokens([0, 6, 1], ("a", "b", "", "", " ", "", ""), 6) == (WordSpan("ab", 0, 3),)
    # An id one past the labels (a model whose head is wider than vocab.json) writes nothing.
    assert spans_from_frame_tokens([3, 6, 4], LABELS, 0) == (WordSpan("ab", 0, 3),)


def test_a_word_with_the_letter_at_id_0_has_its_confidence():
    heard = emissions("ab cd", vocabulary=LETTERS_FIRST)
    transcript = GreedyDecoder(LETTERS_FIRST).decode(heard)
    assert transcript.text == "ab cd"
    sure = TokenLayout.from_vocabulary(LETTERS_FIRST).with_confidence(transcript, heard)
    assert all(word.confidence > 0.8 for word in sure.words)


def test_a_words_confidence_is_aligned_between_its_neighbours_only():
    # The same word twice, once doubtful: neither is scored on the other's frames.
    layout = TokenLayout.from_vocabulary(VOCABULARY)
    greedy = GreedyDecoder(VOCABULARY)
    for doubtful, text in ((0, "ab ab"), (0, "ab ab cd"), (1, "ab ab cd"), (2, "cd ab ab")):
        letters = [index for index, char in enumerate(text) if char != " "][2 * doubtful: 2 * doubtful + 2]
        heard = emissions(text, confusions={letters[0]: ("c", 0.45), letters[1]: ("d", 0.45)})
        scored = layout.with_confidence(greedy.decode(heard), heard)
        confidences = [word.confidence for word in scored.words]
        assert confidences[doubtful] < 0.6 and all(c > 0.85 for i, c in enumerate(confidences) if i != doubtful)


def test_a_word_is_aligned_up_to_its_neighbours_not_only_in_its_reported_frames():
    # pyctcdecode may report frames narrower than a word's letters: the confidence is the same as for its true span.
    layout = TokenLayout.from_vocabulary(VOCABULARY)
    heard = emissions("ab cd ef")
    transcript = GreedyDecoder(VOCABULARY).decode(heard)
    true = layout.with_confidence(transcript, heard)
    narrow = Transcript(transcript.text, tuple(WordSpan(w.word, w.start_frame + 3, w.end_frame - 3)
                                               for w in transcript.words))
    assert [w.confidence for w in layout.with_confidence(narrow, heard).words] == pytest.approx(
        [w.confidence for w in true.words], abs=1e-6)
    # The first word's window starts at the first frame: there its first letter is sure, the frames after are not.
    small = {"[PAD]": 0, "a": 1, "b": 2, "|": 3}
    rows = [[0.05, 0.9, 0.03, 0.02], [0.3, 0.2, 0.4, 0.1], [0.3, 0.2, 0.4, 0.1], [0.8, 0.05, 0.05, 0.1]]
    late = Transcript("ab", (WordSpan("ab", 2, 3),))
    confidence = TokenLayout.from_vocabulary(small).with_confidence(late, np.log(np.array(rows))).words[0].confidence
    assert confidence == pytest.approx((0.9 + 0.4) / 2)


def test_the_word_delimiter_is_a_pause_around_words_and_silence_without_words():
    layout = TokenLayout.from_vocabulary(VOCABULARY)
    greedy = GreedyDecoder(VOCABULARY)
    alone, between = emissions("ab"), emissions("ab cd")
    first = layout.with_confidence(greedy.decode(between), between).words[0].confidence
    assert first == pytest.approx(layout.with_confidence(greedy.decode(alone), alone).words[0].confidence, abs=1e-3)
    # A sure delimiter frame after a doubtful letter is a pause, not a better frame for the letter.
    small = TokenLayout.from_vocabulary({"[PAD]": 0, "a": 1, "b": 2, "|": 3})
    rows = np.log(np.array([[0.7, 0.05, 0.2, 0.05], [0.03, 0.02, 0.05, 0.9]]))
    assert small.with_confidence(Transcript("b", (WordSpan("b", 0, 1),)), rows).words[0].confidence == pytest.approx(0.7)
    delimiters = np.log(np.full((10, len(VOCABULARY)), 0.001 / 29))
    delimiters[:, VOCABULARY["|"]] = np.log(0.999)
    assert layout.with_confidence(Transcript(""), delimiters).confidence > 0.99
    no_delimiter = TokenLayout.from_vocabulary({"[PAD]": 0, "a": 1, "b": 2})
    quiet = np.log(np.array([[0.98, 0.01, 0.01]] * 5))
    assert no_delimiter.with_confidence(Transcript(""), quiet).confidence == pytest.approx(0.98)


def test_greedy_word_ends_do_not_run_over_repeated_blanks():
    heard = emissions("ab")
    padded = np.concatenate([heard, np.repeat(heard[-1:], 3, axis=0), emissions("cd")])
    assert GreedyDecoder(VOCABULARY).decode(padded).words == (WordSpan("abcd", 0, 14),)
    spaced = np.concatenate([heard, np.repeat(heard[-1:], 3, axis=0), emissions(" cd")])
    assert GreedyDecoder(VOCABULARY).decode(spaced).words == (WordSpan("ab", 0, 5), WordSpan("cd", 12, 17))


def test_pyctcdecode_searches_with_the_beam_width_given(lm_dir):
    # Two frames of a (0.4) or blank (0.6): "a" (0.64 over its paths) needs a beam of two to beat "" (0.36).
    heard = np.full((2, len(VOCABULARY)), -30.0, dtype=np.float32)
    heard[:, VOCABULARY["[PAD]"]], heard[:, VOCABULARY["a"]] = np.log(0.6), np.log(0.4)
    assert PyctcdecodeDecoder(lm_dir, use_lm=False, processes=1, beam_width=1).decode(heard).text == ""
    assert PyctcdecodeDecoder(lm_dir, use_lm=False, processes=1, beam_width=2).decode(heard).text == "a"


def test_pyctcdecode_two_best_with_the_lms_scores_and_pooled_confidences(lm_dir):
    heard = emissions("the cat sat on the mat", confusions={4: ("k", 0.45), 19: ("n", 0.45)}, noise=0.05)
    decoder = PyctcdecodeDecoder(lm_dir, processes=1, beam_width=16)
    decoder.nbest = 2
    best = decoder.decode(heard)
    beams = decoder.decoder.decode_beams(decoder.layout.fold_specials(heard), beam_width=16)
    # The scores are the combined acoustic and LM scores, not the acoustic (logit) ones.
    assert [alternative.score for alternative in best.alternatives] == [round(beam[-1], 4) for beam in beams[:2]]
    assert beams[0][-1] != pytest.approx(beams[0][-2], abs=1e-3)
    pooled = PyctcdecodeDecoder(lm_dir, processes=2, beam_width=16)
    pooled.confidence = True
    batch = [heard, emissions("the dog")]
    try:
        assert pooled.decode_batch(batch) == [pooled.decode(log_probs) for log_probs in batch]
    finally:
        pooled.close()


def test_flashlight_scores_are_acoustic_plus_weighted_lm_plus_word_bonus(lm_dir):
    import kenlm

    heard = emissions("the cat ")  # ends on the delimiter, so the best path is the frame by frame best
    lm = kenlm.Model(str(lm_dir / "flashlight_lm.bin"))
    acoustic = float(heard.max(axis=1).astype(np.float64).sum())
    for alpha, beta in ((0.0, 0.0), (0.5, 1.0), (1.5, -0.5)):
        decoder = FlashlightDecoder(lm_dir, alpha=alpha, beta=beta, beam_width=16)
        decoder.nbest = 2
        best = decoder.decode(heard)
        expected = acoustic + alpha * math.log(10) * lm.score("the cat", bos=True, eos=True) + beta * 2
        assert best.text == "the cat" and best.alternatives[0].score == pytest.approx(expected, abs=2e-3)
    noisy = emissions("the cat sat on the mat", confusions={4: ("k", 0.45), 19: ("n", 0.45)}, noise=0.05)
    assert len(decoder.decode(noisy).alternatives) == 2


def test_flashlight_without_flashlight_text_says_what_to_install(lm_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "flashlight.lib.text.decoder", None)  # an import of it fails
    with pytest.raises(MissingDependencyError) as raised:
        FlashlightDecoder(lm_dir)
    assert str(raised.value) == "the flashlight engine needs flashlight-text: pip install flashlight-text"


def test_flashlight_hotwords_boost_only_their_words(lm_dir):
    boosted = FlashlightDecoder(lm_dir, hotwords=("kat",), hotword_weight=20.0)
    start = boosted.lm.start(False)
    the = boosted.word_dict.get_index("the")
    assert boosted.lm.score(start, the)[1] == pytest.approx(boosted.lm.lm.score(start, the)[1])
