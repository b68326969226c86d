"""N-gram building (robust_speech/lm/, build_ngram.py) and the decoders that use it (inference/decoding.py,
inference/loading.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ctc_logits import VOCABULARY, emissions
from entry_points import run_build_ngram
from model_folders import save_processor

import robust_speech.lm.kenlm_tools as kenlm_tools
from robust_speech.core.errors import ConfigurationError, MissingDependencyError
from robust_speech.inference.decoding import (
    Decoder,
    FlashlightDecoder,
    GreedyDecoder,
    PyctcdecodeDecoder,
    TokenLayout,
    load_decoder,
)
from robust_speech.lm.ngram import arpa_unigrams, ctc_alphabet, ensure_end_of_sentence, prepare_lm_text, read_lm_attrs
from robust_speech.reports.metrics import word_error_rate
from robust_speech.text.normalizer import TextNormalizer

LM_SENTENCES = [
    "the cat sat on the mat", "a cat sat on a hat", "the dog sat on the log", "the cat ate the rat",
    "a dog ate a bone", "the rat sat on the cat", "we like the cat", "they like the dog",
]

HAND_MADE_ARPA = """\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<unk>\t0
0\t<s>\t-0.30103
-0.60206\tcat\t-0.30103
-0.60206\tmat\t-0.30103

\\2-grams:
-0.30103\t<s> cat
-0.30103\tcat mat

\\end\\
"""


@pytest.fixture(scope="module")
def lm_model_dir(tmp_path_factory, kenlm_programs):
    folder = save_processor(tmp_path_factory.mktemp("lm") / "model")
    text = folder.parent / "lm.txt"
    text.write_text("\n".join(sentence.capitalize() + "." for sentence in LM_SENTENCES * 3) + "\n", encoding="utf-8")
    result = run_build_ngram("--model_dir", str(folder), "--text", str(text), "--order", "3")
    assert result.returncode == 0, result.stderr
    return folder


def test_build_ngram_installs_the_lm_in_pyctcdecodes_layout(lm_model_dir):
    files = sorted(path.name for path in (lm_model_dir / "language_model").iterdir())
    assert files == ["3gram.bin", "attrs.json", "unigrams.txt"]
    assert set((lm_model_dir / "language_model" / "unigrams.txt").read_text().split()) == {
        word for sentence in LM_SENTENCES for word in sentence.split()}
    assert read_lm_attrs(lm_model_dir) == {"alpha": 0.5, "beta": 1.0, "unk_score_offset": -10.0, "score_boundary": True}
    assert json.loads((lm_model_dir / "alphabet.json").read_text())["labels"][:3] == ["", "⁇", " "]


def test_the_folders_configs_name_the_lm_processor_while_it_has_an_lm(lm_model_dir, tmp_path):
    import shutil

    from transformers import AutoProcessor

    from robust_speech.cli.build_ngram import main

    folder = tmp_path / "model"
    shutil.copytree(lm_model_dir, folder)
    configs = {name: json.loads((folder / name).read_text()) for name in ("processor_config.json", "tokenizer_config.json")}
    # Where AutoProcessor reads the class, and where the ASR pipeline reads it (the feature extractor's settings).
    assert configs["processor_config.json"]["processor_class"] == "Wav2Vec2ProcessorWithLM"
    assert configs["processor_config.json"]["feature_extractor"]["processor_class"] == "Wav2Vec2ProcessorWithLM"
    assert configs["tokenizer_config.json"]["processor_class"] == "Wav2Vec2ProcessorWithLM"
    assert type(AutoProcessor.from_pretrained(folder)).__name__ == "Wav2Vec2ProcessorWithLM"
    assert main(["--model_dir", str(folder), "--remove_lm"]) == 0
    assert type(AutoProcessor.from_pretrained(folder)).__name__ == "Wav2Vec2Processor"
    nested = json.loads((folder / "processor_config.json").read_text())["feature_extractor"]
    assert nested.get("processor_class") == "Wav2Vec2Processor" and not (folder / "language_model").exists()


def test_the_folder_loads_in_transformers_and_decodes_like_our_pyctcdecode_engine(lm_model_dir):
    from transformers import Wav2Vec2ProcessorWithLM

    processor = Wav2Vec2ProcessorWithLM.from_pretrained(lm_model_dir)
    batch = [emissions("the cat sat on the mat", confusions={4: ("k", 0.5)}),
             emissions("the dog ate a bone", confusions={5: ("a", 0.55)}, noise=0.05),
             emissions("they like the rat", noise=0.2, seed=3)]
    theirs = [processor.decode(log_probs).text for log_probs in batch]
    ours = [t.text for t in PyctcdecodeDecoder(lm_model_dir, processes=1).decode_batch(batch)]
    assert ours == theirs
    assert ours[0] == "the cat sat on the mat"


@pytest.mark.parametrize("engine", ["pyctcdecode", "flashlight"])
def test_the_lm_corrects_what_greedy_misspells(lm_model_dir, engine):
    log_probs = emissions("the cat sat on the mat", confusions={4: ("k", 0.5), 19: ("n", 0.5)})
    assert GreedyDecoder(VOCABULARY).decode(log_probs).text == "the kat sat on the nat"
    decoder = load_decoder(lm_model_dir, engine, beam_width=20)
    transcript = decoder.decode(log_probs)
    assert transcript.text == "the cat sat on the mat"
    assert [word.word for word in transcript.words] == transcript.text.split()
    starts = [word.start_frame for word in transcript.words]
    assert starts == sorted(starts) and starts[0] == 0 and transcript.words[1].start_frame == 4 * 3


def test_without_lm_weight_beam_search_follows_the_acoustics(lm_model_dir):
    log_probs = emissions("the cat sat on the mat", confusions={4: ("k", 0.5)})
    decoder = PyctcdecodeDecoder(lm_model_dir, beam_width=20, alpha=0.0, beta=0.0, processes=1)
    assert decoder.decode(log_probs).text == "the kat sat on the mat"


def test_flashlight_writes_words_the_lm_does_not_know_like_pyctcdecode(lm_model_dir):
    log_probs = emissions("the cow sat on the mat")  # "cow" is not in the LM text
    assert PyctcdecodeDecoder(lm_model_dir, processes=1).decode(log_probs).text == "the cow sat on the mat"
    assert FlashlightDecoder(lm_model_dir).decode(log_probs).text == "the cow sat on the mat"
    closed = FlashlightDecoder(lm_model_dir, open_vocabulary=False).decode(log_probs).text
    assert "cow" not in closed.split()  # a lexicon decoder alone cannot spell it


def test_flashlight_is_as_accurate_as_pyctcdecode_on_noisy_emissions(lm_model_dir):
    rng = np.random.default_rng(5)
    references, batch = [], []
    for index, sentence in enumerate(LM_SENTENCES * 2):
        positions = rng.choice([i for i, c in enumerate(sentence) if c != " "], size=2, replace=False)
        confusions = {int(p): (rng.choice(list("aeioustk")), 0.5) for p in positions}
        references.append(sentence)
        batch.append(emissions(sentence, confusions=confusions, noise=0.1, seed=index))
    greedy = [t.text for t in GreedyDecoder(VOCABULARY).decode_batch(batch)]
    pyctc = [t.text for t in PyctcdecodeDecoder(lm_model_dir, beam_width=50, processes=2).decode_batch(batch)]
    fast = [t.text for t in FlashlightDecoder(lm_model_dir, beam_width=50).decode_batch(batch)]
    assert word_error_rate(references, pyctc) < word_error_rate(references, greedy)
    assert word_error_rate(references, fast) <= word_error_rate(references, pyctc)


def test_special_tokens_never_reach_the_text(lm_model_dir, tmp_path):
    vocabulary = {**VOCABULARY, "<s>": len(VOCABULARY), "</s>": len(VOCABULARY) + 1}
    folder = save_processor(tmp_path / "model", vocabulary)
    os.symlink(lm_model_dir / "language_model", folder / "language_model")
    (folder / "alphabet.json").write_text(ctc_alphabet(vocabulary).dumps(), encoding="utf-8")
    log_probs = emissions("the cat", vocabulary)
    for special in ("<s>", "</s>", "[UNK]"):
        log_probs[2:4, :] = -20.0
        log_probs[2:4, vocabulary[special]] = 0.0  # the model is sure of a special where "e" was
        texts = [GreedyDecoder(vocabulary).decode(log_probs).text,
                 PyctcdecodeDecoder(folder, use_lm=False, processes=1).decode(log_probs).text,
                 PyctcdecodeDecoder(folder, processes=1).decode(log_probs).text,
                 FlashlightDecoder(folder).decode(log_probs).text]
        assert all("<" not in text and "[" not in text and "⁇" not in text for text in texts), texts


def test_an_lm_built_for_another_vocabulary_is_refused(lm_model_dir, tmp_path):
    folder = save_processor(tmp_path / "model", {**VOCABULARY, "é": len(VOCABULARY)})
    for name in ("language_model", "alphabet.json"):
        os.symlink(lm_model_dir / name, folder / name)
    for engine in ("pyctcdecode", "flashlight"):
        with pytest.raises(ConfigurationError, match="do not match vocab.json's 31 tokens"):
            load_decoder(folder, engine)


def test_every_engine_implements_the_decoder_protocol(lm_model_dir):
    decoders = [load_decoder(lm_model_dir, engine) for engine in ("greedy", "pyctcdecode", "flashlight")]
    assert all(isinstance(decoder, Decoder) for decoder in decoders)
    assert [decoder.beam_width for decoder in decoders] == [None, 100, 100]
    text = emissions("the cat sat on the mat")
    assert all(decoder.decode(text).text == decoder.decode_batch([text])[0].text for decoder in decoders)
    for decoder in decoders[1:]:
        decoder.set_weights(0.0, 0.0)
    with pytest.raises(ConfigurationError, match="no language model"):
        decoders[0].set_weights(1.0, 1.0)


def test_the_decoder_policy(lm_model_dir, tmp_path):
    from robust_speech.inference.loading import choose_decoder
    from robust_speech.inference.options import DecoderChoice

    assert choose_decoder(lm_model_dir, DecoderChoice()).engine == "pyctcdecode"
    assert choose_decoder(lm_model_dir, DecoderChoice(no_lm=True)).engine == "greedy"
    assert choose_decoder(lm_model_dir, DecoderChoice("greedy", no_lm=True)).engine == "greedy"
    with pytest.raises(ConfigurationError, match="--no_lm decodes greedily, so --decoder flashlight would be ignored"):
        choose_decoder(lm_model_dir, DecoderChoice("flashlight", no_lm=True))
    assert choose_decoder(lm_model_dir, DecoderChoice("flashlight", beam_width=7)).beam_width == 7
    with pytest.raises(ConfigurationError, match=r"--beam_width 7 applies to the LM decoders.*\(--no_lm\)"):
        choose_decoder(lm_model_dir, DecoderChoice(no_lm=True, beam_width=7))
    with pytest.raises(ConfigurationError, match=r"greedily \(--decoder greedy\)"):
        choose_decoder(lm_model_dir, DecoderChoice("greedy", beam_width=7))
    bare = save_processor(tmp_path / "bare")
    assert choose_decoder(bare, DecoderChoice()).engine == "greedy"
    with pytest.raises(ConfigurationError, match=r"greedily \(.*bare has no language_model/\)"):
        choose_decoder(bare, DecoderChoice(beam_width=7))
    with pytest.raises(ConfigurationError, match="needs .*language_model"):
        choose_decoder(bare, DecoderChoice("flashlight"))
    with pytest.raises(ConfigurationError, match="--decoder beamy"):
        choose_decoder(lm_model_dir, DecoderChoice("beamy"))


@pytest.mark.parametrize("engine", ["pyctcdecode", "flashlight"])
def test_hotwords_raise_the_recall_of_the_boosted_words(lm_model_dir, engine):
    # "kat" (a name the LM never saw) is spoken, its first letter half heard as "c": the LM's "cat" wins.
    spoken = ["we like the kat", "the kat sat on the mat", "a dog ate the kat"]
    heard = [emissions(text, confusions={text.index("kat"): ("c", 0.5)}) for text in spoken]
    plain = [t.text for t in load_decoder(lm_model_dir, engine, beam_width=16).decode_batch(heard)]
    boosted = load_decoder(lm_model_dir, engine, beam_width=16, hotwords=("kat",), hotword_weight=20.0)
    assert sum("kat" in text.split() for text in plain) == 0
    assert [t.text for t in boosted.decode_batch(heard)] == spoken  # every "kat" found, nothing else changed
    assert [t.text for t in boosted.decode_batch([emissions("the cat sat on the mat")])] == ["the cat sat on the mat"]


def test_hotwords_reach_the_decoder_through_the_policy_and_need_beam_search(lm_model_dir, tmp_path):
    from robust_speech.inference.loading import choose_decoder
    from robust_speech.inference.options import DecoderChoice

    heard = emissions("we like the kat", confusions={12: ("c", 0.5)})
    choice = DecoderChoice(hotwords=("kat",), hotword_weight=20.0)
    assert choose_decoder(lm_model_dir, choice).decode(heard).text == "we like the kat"
    bare = save_processor(tmp_path / "bare")  # no LM: auto becomes beam search without one, to boost
    assert choose_decoder(bare, choice).engine == "pyctcdecode"
    for forced in (DecoderChoice("greedy", hotwords=("kat",)), DecoderChoice(no_lm=True, hotwords=("kat",))):
        with pytest.raises(ConfigurationError, match="--hotwords need beam search"):
            choose_decoder(lm_model_dir, forced)
    with pytest.raises(ConfigurationError, match="cannot spell"):
        load_decoder(lm_model_dir, "flashlight", hotwords=("Zürich",))


def test_layout_folds_specials_into_the_blank():
    layout = TokenLayout.from_vocabulary({"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "a": 5})
    assert layout.blank == 0 and layout.delimiter == 4 and layout.specials == (1, 2)
    folded = layout.fold_specials(np.log(np.full((1, 6), 1 / 6)))
    assert np.isclose(np.exp(folded[0, 0]), 3 / 6) and np.exp(folded[0, 1:3]).max() == 0
    assert np.isclose(np.exp(folded[0, 3:]), 1 / 6).all()


def test_new_weights_reach_the_pool_workers(lm_model_dir):
    batch = [emissions("the cat sat on the mat", confusions={4: ("k", 0.5)})] * 2
    decoder = PyctcdecodeDecoder(lm_model_dir, beam_width=16, processes=2)
    decoder.set_weights(0.0, 0.0)
    assert [t.text for t in decoder.decode_batch(batch)] == ["the kat sat on the mat"] * 2
    decoder.set_weights(1.0, 0.0)
    assert [t.text for t in decoder.decode_batch(batch)] == ["the cat sat on the mat"] * 2
    decoder.close()


def test_batched_decoding_keeps_one_pool(lm_model_dir):
    decoder = PyctcdecodeDecoder(lm_model_dir, beam_width=10, processes=2)
    batch = [emissions(sentence) for sentence in LM_SENTENCES[:4]]
    assert [t.text for t in decoder.decode_batch(batch)] == LM_SENTENCES[:4]
    pool = decoder._pool
    decoder.decode_batch(batch)
    assert pool is not None and decoder._pool is pool
    decoder.close()


# ---------------------------------------------------------------------------------------------------------
# Text and ARPA


def test_arpa_gets_the_missing_end_of_sentence(tmp_path, kenlm_programs):
    import kenlm

    arpa = tmp_path / "hand.arpa"
    arpa.write_text(HAND_MADE_ARPA, encoding="utf-8")
    assert ensure_end_of_sentence(arpa) is True
    text = arpa.read_text(encoding="utf-8")
    assert "ngram 1=5\n" in text and "0\t</s>\t-0.30103\n" in text
    assert ensure_end_of_sentence(arpa) is False and arpa.read_text(encoding="utf-8") == text  # idempotent
    assert arpa_unigrams(arpa) == ["cat", "mat"]
    model = kenlm.Model(str(arpa))
    assert model.order == 2 and np.isfinite(model.score("cat mat", bos=True, eos=True))


def test_the_flashlight_copy_of_the_lm_makes_unknown_words_cost_the_offset(tmp_path):
    import kenlm

    from robust_speech.lm.ngram import shift_unknown_word

    arpa = tmp_path / "hand.arpa"
    arpa.write_text(HAND_MADE_ARPA, encoding="utf-8")
    ensure_end_of_sentence(arpa)
    shifted = shift_unknown_word(arpa, tmp_path / "shifted.arpa", -10.0)
    assert "-11.000000\t<unk>\t0\n" in shifted.read_text(encoding="utf-8")
    plain, lowered = kenlm.Model(str(arpa)), kenlm.Model(str(shifted))
    assert lowered.score("dog", bos=False, eos=False) == pytest.approx(plain.score("dog", bos=False, eos=False) - 10)
    assert lowered.score("cat mat", bos=False, eos=False) == pytest.approx(plain.score("cat mat", bos=False, eos=False))


def test_characters_outside_the_alphabet_are_reported_not_dropped_silently():
    prepared = prepare_lm_text(["Hello world.", "Die Straße ist lang", "", "  ", "un café noir", "we're fine"],
                               TextNormalizer(), set("abcdefghijklmnopqrstuvwxyz'"))
    assert prepared.lines == ["hello world", "we're fine"]
    assert (prepared.read, prepared.empty, prepared.outside_alphabet) == (6, 2, 2)
    report = prepared.report()
    assert "2 of 6 sentences kept" in report and "2 empty" in report
    assert "'ß' x1 (e.g. 'straße')" in report and "'é' x1 (e.g. 'café')" in report


def test_build_ngram_reports_left_out_sentences_and_refuses_no_text(lm_model_dir, tmp_path):
    text = tmp_path / "mixed.txt"
    text.write_text("the cat sat\nthe café\nthe dog sat\n", encoding="utf-8")
    folder = save_processor(tmp_path / "model")  # its own folder: the LM is installed there too
    result = run_build_ngram("--output_dir", str(tmp_path / "lm"), "--text", str(text), "--order", "2",
                             "--model_dir", str(folder))
    assert result.returncode == 0, result.stderr
    assert "LM text: 2 of 3 sentences kept" in result.stdout and "'é' x1 (e.g. 'café')" in result.stdout
    assert sorted(p.name for p in (tmp_path / "lm").iterdir()) == ["2gram.arpa", "2gram.bin", "flashlight_lm.bin", "unigrams.txt"]
    assert (folder / "language_model" / "2gram.bin").is_file() and (folder / "flashlight_lm.bin").is_file()
    refused = run_build_ngram("--model_dir", str(folder))
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0 and "no text" in refused.stderr


def test_build_ngram_refuses_common_voice_test_sentences(tmp_path, small_corpus, monkeypatch, capsys):
    import datasets

    from robust_speech.cli.build_ngram import main

    def load_dataset(*args, **kwargs):  # the refusal comes before any load, Hub or local
        raise AssertionError(f"loaded {args}")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    for dataset, config in (("mozilla-foundation/common_voice_8_0", "sv-SE"), (str(small_corpus.root), "en")):
        assert main(["--output_dir", str(tmp_path), "--dataset_name", dataset, "--dataset_config_name", config,
                     "--split", "train+test"]) == 2
        error = capsys.readouterr().err
        assert "refusing to train on Common Voice 'test' data" in error and "Traceback" not in error
    # The same local corpus's training split is allowed: the refusal is about the split, not the dataset.
    assert main(["--output_dir", str(tmp_path / "lm"), "--dataset_name", str(small_corpus.root),
                 "--dataset_config_name", "en", "--split", "train", "--order", "2"]) == 0
    assert (tmp_path / "lm" / "unigrams.txt").read_text().split()


# ---------------------------------------------------------------------------------------------------------
# KenLM binaries


def test_missing_build_tools_are_named_with_their_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(kenlm_tools.shutil, "which", lambda name: None if name == "cmake" else f"/usr/bin/{name}")
    monkeypatch.setattr(kenlm_tools, "HEADER_DIRS", (str(tmp_path),))
    with pytest.raises(MissingDependencyError) as raised:
        kenlm_tools.build_from_source(tmp_path / "kenlm")
    message = str(raised.value)
    assert "cmake" in message and "libboost-program-options-dev" in message and "zlib1g-dev" in message


def test_programs_on_path_win_over_the_cache(monkeypatch, tmp_path):
    for name in kenlm_tools.PROGRAMS:
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert kenlm_tools.find_programs() == kenlm_tools.KenLMPrograms(tmp_path / "lmplz", tmp_path / "build_binary")


@pytest.mark.slow
def test_lmplz_is_built_from_source_when_absent(tmp_path):
    """The full bootstrap (pip download of the sdist, cmake, compile) into an empty cache: 30-60 s here, so it
    runs in the default suite and CI exercises it on every submission."""
    env = {**os.environ, "ROBUST_SPEECH_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "from robust_speech.lm.kenlm_tools import kenlm_programs; print(kenlm_programs().lmplz)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    lmplz = Path(result.stdout.strip().splitlines()[-1])
    assert lmplz == tmp_path / "kenlm" / "bin" / "lmplz"
    corpus = "a b c\na b\n" * 5
    arpa = subprocess.run([str(lmplz), "-o", "2", "--discount_fallback", "-S", "100M"], input=corpus,
                          capture_output=True, text=True)
    assert arpa.returncode == 0 and "\\2-grams:" in arpa.stdout


# ---------------------------------------------------------------------------------------------------------
# Weight search


def test_tune_lm_picks_the_better_of_two_planted_settings(lm_model_dir, tmp_path):
    import shutil

    from robust_speech.core.model_folder import DECODING_FILE
    from robust_speech.evaluation.lm_tuning import save_tuning, tune_weights
    from robust_speech.inference.loading import choose_decoder
    from robust_speech.inference.options import DecoderChoice

    folder = tmp_path / "model"
    shutil.copytree(lm_model_dir, folder)
    references = ["the cat sat on the mat", "the dog ate a bone", "we like the cat"]
    log_probs = [emissions(references[0], confusions={4: ("k", 0.5)}),
                 emissions(references[1], confusions={5: ("a", 0.5)}),
                 emissions(references[2], confusions={3: ("i", 0.5)})]
    decoder = PyctcdecodeDecoder(folder, processes=1)
    result = tune_weights(decoder, log_probs, references, alphas=(0.0, 1.0), betas=(0.0,), beam_widths=(8, 16))
    by_alpha = {trial.alpha: trial.wer for trial in result.trials if trial.beam_width == 8}
    assert by_alpha[1.0] == 0.0 < by_alpha[0.0]
    assert (result.best.alpha, result.best.beam_width) == (1.0, 8)  # a wider beam did not help: the narrow one stays
    assert "<- best" in result.table() and len(result.trials) == 3
    save_tuning(folder, result, "pyctcdecode", "dev")
    assert read_lm_attrs(folder)["alpha"] == 1.0 and read_lm_attrs(folder)["beta"] == 0.0
    assert json.loads((folder / DECODING_FILE).read_text())["beam_width"] == 8
    chosen = choose_decoder(folder, DecoderChoice())
    assert chosen.engine == "pyctcdecode" and chosen.beam_width == 8
    from transformers import (
        Wav2Vec2ProcessorWithLM,  # the tuned folder still loads in plain transformers
    )
    assert Wav2Vec2ProcessorWithLM.from_pretrained(folder).decode(log_probs[0]).text == references[0]


def test_the_time_budget_stops_the_search_early(lm_model_dir):
    from robust_speech.evaluation.lm_tuning import tune_weights

    decoder = FlashlightDecoder(lm_model_dir, beam_width=8)
    result = tune_weights(decoder, [emissions("the cat sat")], ["the cat sat"], alphas=(0.0, 0.5, 1.0),
                          betas=(0.0, 1.0), beam_widths=(8, 16), time_budget_s=0.0)
    assert len(result.trials) == 1 and result.stopped_by_budget and "stopped by the time budget" in result.table()


def test_greedy_decoding_folds_block_by_block_with_the_same_text_and_frames(monkeypatch):
    """A word spans the border between two blocks of frames; the folded specials stay unwritable in each."""
    import robust_speech.inference.decoding as decoding

    vocabulary = {**VOCABULARY, "<s>": len(VOCABULARY), "</s>": len(VOCABULARY) + 1}
    log_probs = emissions("the cat sat on the mat", vocabulary, noise=0.05)
    log_probs[10:12, vocabulary["<s>"]] = 5.0  # the model is sure of a special where a letter was
    whole = GreedyDecoder(vocabulary).decode(log_probs)
    monkeypatch.setattr(decoding, "_GREEDY_BLOCK_FRAMES", 7)
    blocks = GreedyDecoder(vocabulary).decode(log_probs)
    assert blocks == whole and "<" not in whole.text and whole.words[-1].end_frame > 7 * 9
