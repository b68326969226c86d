"""The LM weights (alpha, beta) that `set_weights` gives a beam-search engine change what it decodes.

LM tuning (evaluation/lm_tuning.py) calls `set_weights` on one loaded decoder for every trial: an engine that
kept the weights it was loaded with would make every trial score alike and the tuned weights meaningless."""

import pytest
from ctc_logits import emissions
from entry_points import run_build_ngram
from model_folders import save_processor

from robust_speech.inference.decoding import load_decoder

SENTENCES = ["the cat sat on the mat", "a cat sat on a hat", "the cat ate the rat", "we like the cat"]
# "kat" (never in the LM) is what the acoustics favour: "k" 0.5 against "c" 0.4.
HEARD = "the cat sat on the mat"
CONFUSED = {HEARD.index("cat"): ("k", 0.5)}


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory, kenlm_programs):
    folder = save_processor(tmp_path_factory.mktemp("lm-weights") / "model")
    text = folder.parent / "lm.txt"
    text.write_text("\n".join(SENTENCES * 3) + "\n", encoding="utf-8")
    result = run_build_ngram("--model_dir", str(folder), "--text", str(text), "--order", "3")
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.parametrize("engine", ["pyctcdecode", "flashlight"])
def test_set_weights_changes_what_a_loaded_decoder_writes(lm_folder, engine):
    heard = emissions(HEARD, confusions=CONFUSED)
    decoder = load_decoder(lm_folder, engine, beam_width=16)
    texts = {}
    for alpha, beta in [(0.0, 0.0), (1.0, 0.0), (0.0, 0.0)]:  # back again: the second change must count too
        decoder.set_weights(alpha, beta)
        texts.setdefault(alpha, []).append(decoder.decode(heard).text)
    assert texts[0.0] == ["the kat sat on the mat"] * 2  # no LM weight: the acoustics win
    assert texts[1.0] == ["the cat sat on the mat"]  # the LM's "cat" wins


@pytest.mark.parametrize("engine", ["pyctcdecode", "flashlight"])
def test_set_weights_gives_the_same_result_as_loading_with_those_weights(lm_folder, engine):
    heard = [emissions(HEARD, confusions=CONFUSED), emissions("we like the kat", confusions={12: ("c", 0.4)})]
    for alpha, beta in [(0.0, 0.0), (1.0, 0.0), (2.0, -3.0)]:
        loaded = [t.text for t in load_decoder(lm_folder, engine, beam_width=16, alpha=alpha, beta=beta).decode_batch(heard)]
        reweighted = load_decoder(lm_folder, engine, beam_width=16, alpha=0.5, beta=1.0)
        reweighted.set_weights(alpha, beta)
        assert [t.text for t in reweighted.decode_batch(heard)] == loaded, (alpha, beta)


@pytest.mark.parametrize("engine", ["pyctcdecode", "flashlight"])
def test_beta_the_word_bonus_changes_the_output(lm_folder, engine):
    # The delimiter between "the" and "cat" is half heard as a blank: a large penalty per word (beta < 0)
    # writes one word, a large bonus two.
    heard = emissions("the cat", confusions={3: ("[PAD]", 0.5)})
    decoder = load_decoder(lm_folder, engine, beam_width=16)
    decoder.set_weights(0.0, -10.0)
    assert decoder.decode(heard).text == "thecat"
    decoder.set_weights(0.0, 3.0)
    assert decoder.decode(heard).text == "the cat"
