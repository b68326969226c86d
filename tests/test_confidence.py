"""Word and utterance confidence and n-best alternatives from every decoding engine (inference/confidence.py,
inference/decoding.py), in `transcribe --format json` and in eval's report; what they are worth
(reports/calibration.py)."""

import json

import numpy as np
import pytest
import soundfile as sf
from ctc_logits import VOCABULARY, emissions
from model_folders import save_random_model
from test_eval import varied_audio
from test_lm import lm_model_dir  # noqa: F401  (the fixture: a model folder with a 3-gram LM)

from robust_speech.core.errors import ConfigurationError
from robust_speech.inference.confidence import align_word, word_confidence
from robust_speech.inference.decoding import GreedyDecoder, TokenLayout, Transcript, WordSpan, load_decoder
from robust_speech.inference.options import ENGINES
from robust_speech.reports.calibration import (
    confidence_summary,
    expected_calibration_error,
    hypothesis_words_correct,
    reliability_table,
    roc_auc,
)

RATE = 16000


def test_a_word_whose_frames_are_sure_scores_higher_than_one_whose_frames_are_not():
    # "cat" heard clearly, and half heard: character 1 ("a") shares its frames with "e".
    sure, unsure = emissions("cat"), emissions("cat", confusions={1: ("e", 0.4)})
    tokens, blank = [VOCABULARY[c] for c in "cat"], VOCABULARY["[PAD]"]
    assert 0 <= word_confidence(unsure, tokens, blank) < word_confidence(sure, tokens, blank) <= 1
    assert word_confidence(sure, tokens, blank) == pytest.approx(0.9, abs=1e-4)  # each character's peak posterior
    assert word_confidence(unsure, tokens, blank) == pytest.approx((0.9 + 0.5 + 0.9) / 3, abs=0.01)


def test_the_alignment_follows_the_spelling_and_refuses_a_span_too_short():
    log_probs = emissions("tall")  # two frames per character, a blank frame after each
    spans = align_word(log_probs[:11], [VOCABULARY[c] for c in "tall"], VOCABULARY["[PAD]"])
    assert spans == [(0, 1), (3, 4), (6, 7), (9, 10)]
    # A doubled letter needs a blank between its two: "ll" cannot fit in two frames.
    assert align_word(log_probs[6:8], [VOCABULARY["l"]] * 2, VOCABULARY["[PAD]"]) is None
    assert word_confidence(log_probs[6:8], [VOCABULARY["l"]] * 2, VOCABULARY["[PAD]"]) == 0.0


def test_no_confidence_is_computed_unless_asked():
    transcript = GreedyDecoder(VOCABULARY).decode(emissions("the cat"))
    assert transcript.confidence is None and all(word.confidence is None for word in transcript.words)


def test_an_empty_transcript_gets_the_confidence_that_nothing_was_said():
    layout = TokenLayout.from_vocabulary(VOCABULARY)
    quiet = np.log(np.full((20, len(VOCABULARY)), 0.01))
    quiet[:, VOCABULARY["[PAD]"]] = np.log(1 - 0.01 * (len(VOCABULARY) - 1))
    unsure = quiet.copy()
    unsure[7] = np.log(np.full(len(VOCABULARY), 1 / len(VOCABULARY)))  # a frame that might hold anything
    sure, doubt = (layout.with_confidence(Transcript(""), lp).confidence for lp in (quiet, unsure))
    assert 0 <= doubt < sure <= 1 and doubt == pytest.approx(2 / len(VOCABULARY), abs=1e-4)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_gives_word_and_utterance_confidences(lm_model_dir, engine):  # noqa: F811
    decoder = load_decoder(lm_model_dir, engine, confidence=True, **({} if engine == "greedy" else {"beam_width": 16}))
    if engine == "pyctcdecode":
        decoder.processes = 1
    heard = emissions("the cat sat on the mat", confusions={4: ("k", 0.4), 5: ("e", 0.4)}, noise=0.02)
    for transcript in (decoder.decode(heard), decoder.decode_batch([heard, heard])[1]):
        assert transcript.text == "the cat sat on the mat"
        scores = [word.confidence for word in transcript.words]
        assert all(0 <= score <= 1 for score in scores) and 0 <= transcript.confidence <= 1
        assert transcript.confidence == pytest.approx(np.mean(scores))
        assert scores[1] == min(scores) and scores[1] < 0.6 < min(scores[:1] + scores[2:])  # "cat" was half heard


@pytest.mark.parametrize("engine", ["pyctcdecode", "flashlight"])
def test_nbest_alternatives_are_distinct_best_first_and_at_most_n(lm_model_dir, engine):  # noqa: F811
    decoder = load_decoder(lm_model_dir, engine, beam_width=16, nbest=3, confidence=True)
    heard = emissions("the cat sat on the mat", confusions={4: ("k", 0.45), 19: ("n", 0.45)}, noise=0.05)
    transcript = decoder.decode(heard)
    alternatives = transcript.alternatives
    assert 2 <= len(alternatives) <= 3 and alternatives[0].text == transcript.text
    assert len({a.text for a in alternatives}) == len(alternatives)
    assert [a.score for a in alternatives] == sorted((a.score for a in alternatives), reverse=True)
    assert alternatives[0].confidence == pytest.approx(transcript.confidence, abs=1e-4)
    assert len(load_decoder(lm_model_dir, engine, beam_width=16, nbest=2).decode(heard).alternatives) == 2
    assert load_decoder(lm_model_dir, engine, beam_width=16).decode(heard).alternatives == ()


def test_nbest_needs_beam_search(lm_model_dir, tmp_path):  # noqa: F811
    from model_folders import save_processor

    from robust_speech.inference.loading import choose_decoder
    from robust_speech.inference.options import DecoderChoice

    with pytest.raises(ConfigurationError, match="--nbest 3 needs beam search"):
        load_decoder(lm_model_dir, "greedy", nbest=3)
    with pytest.raises(ConfigurationError, match="--nbest 3 needs beam search"):
        choose_decoder(lm_model_dir, DecoderChoice(no_lm=True, nbest=3))
    with pytest.raises(ConfigurationError, match="more than the beam keeps"):
        load_decoder(lm_model_dir, "pyctcdecode", beam_width=4, nbest=5)
    # auto without an LM: beam search without one, so that there are alternatives
    bare = choose_decoder(save_processor(tmp_path / "bare"), DecoderChoice(nbest=2))
    assert bare.engine == "pyctcdecode" and bare.nbest == 2


def test_the_json_transcript_carries_confidences_and_alternatives():
    from robust_speech.inference.decoding import Alternative
    from robust_speech.inference.writers import timed_words, transcript_json

    transcript = Transcript("the cat", (WordSpan("the", 0, 5, 0.91234567), WordSpan("cat", 8, 12, 0.5)), 0.70617,
                            (Alternative("the cat", -3.5, 0.70617), Alternative("the kat", -4.25, 0.6)))
    data = transcript_json(transcript, timed_words(transcript, 0.02), "a.wav", 1.0)
    assert data["confidence"] == 0.7062 and [w["confidence"] for w in data["words"]] == [0.9123, 0.5]
    assert data["alternatives"] == [{"text": "the cat", "score": -3.5, "confidence": 0.7062},
                                    {"text": "the kat", "score": -4.25, "confidence": 0.6}]
    plain = transcript_json(Transcript("the", (WordSpan("the", 0, 5),)), [], "a.wav", 1.0)
    assert "confidence" not in plain and "alternatives" not in plain


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two short clips of changing noise and tones in an audio folder, and a random-init model folder."""
    folder = tmp_path_factory.mktemp("clips") / "data"
    folder.mkdir()
    for index in range(3):
        sf.write(folder / f"c{index}.wav", varied_audio(1.5 + index, index), RATE)
    (folder / "metadata.csv").write_text("file_name,sentence\nc0.wav,a cat\nc1.wav,the dog\nc2.wav,a hat\n")
    return folder, save_random_model(tmp_path_factory.mktemp("random") / "model")


def test_transcribe_json_has_confidences_and_nbest(clips, tmp_path):
    from robust_speech.cli.verbs import main

    folder, model = clips
    out = tmp_path / "out"
    assert main(["transcribe", str(folder / "c2.wav"), "--model", str(model), "--output_dir", str(out),
                 "--format", "json,txt", "--nbest", "3", "--device", "cpu"]) == 0
    data = json.loads((out / "c2.json").read_text())
    assert 0 <= data["confidence"] <= 1 and all(0 <= word["confidence"] <= 1 for word in data["words"])
    assert 1 <= len(data["alternatives"]) <= 3 and data["alternatives"][0]["text"] == data["text"]
    assert main(["transcribe", str(folder / "c2.wav"), "--model", str(model), "--format", "txt", "--nbest", "2"]) == 2
    assert main(["transcribe", str(folder / "c2.wav"), "--model", str(model), "--vad", "--nbest", "2"]) == 2


def test_the_eval_report_carries_confidence_and_the_result_files_do_not_change(clips, tmp_path):
    from robust_speech.evaluation.engine import evaluate
    from robust_speech.evaluation.options import EvalOptions
    from robust_speech.inference.options import DecoderChoice, LoadOptions

    folder, model = clips
    runs = {}
    for asked in (False, True):
        output = tmp_path / str(asked)
        options = EvalOptions(str(model), str(folder), "default", "train", log_outputs=True, output_dir=str(output),
                              load=LoadOptions(device="cpu"), decoding=DecoderChoice(confidence=asked))
        runs[asked] = (evaluate(options).report, {path.name: path.read_text() for path in output.glob("*.txt")})
    assert runs[False][1] == runs[True][1]  # the challenge's result files and logs, byte for byte
    assert "confidence" not in runs[False][0]
    summary = runs[True][0]["confidence"]
    assert len(summary["per_utterance"]) == 3 and all(0 <= value <= 1 for value in summary["per_utterance"])
    assert sum(quarter["utterances"] for quarter in summary["wer_by_quarter"]) == 3
    assert runs[True][0]["settings"]["confidence"] is True


def test_eval_py_has_a_confidence_flag():
    from test_eval import load_eval_module

    from robust_speech.cli.arguments import eval_options

    parser = load_eval_module().build_parser()
    base = ["--model_id", "m", "--dataset", "d", "--config", "c", "--split", "s"]
    assert eval_options(parser.parse_args([*base, "--confidence"])).decoding.confidence is True
    assert eval_options(parser.parse_args(base)).decoding.confidence is False


def test_which_hypothesis_words_are_right_and_what_the_confidence_is_worth():
    correct = hypothesis_words_correct(["the cat sat", "a dog", ""], ["the kat sat down", "a dog", "hm"])
    assert correct == [[True, False, True, False], [True, True], [False]]
    scores = [0.9, 0.2, 0.8, 0.3, 0.95, 0.7, 0.1]
    flat = [flag for row in correct for flag in row]
    assert roc_auc(scores, flat) == 1.0 and roc_auc(scores[::-1], flat) < 0.5
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5 and roc_auc([0.5], [True]) is None
    table = reliability_table(scores, flat, bins=2)
    assert [(row["words"], row["accuracy"]) for row in table] == [(3, 0.0), (4, 1.0)]
    assert expected_calibration_error(table) == pytest.approx((3 * 0.2 + 4 * (1 - 0.8375)) / 7, abs=1e-4)


def test_the_confidence_summary_ranks_utterances_into_quarters():
    summary = confidence_summary([0.9, 0.1, 0.8, 0.2], ["a b", "a b", "a b", "a b"], ["a b", "x y", "a b", "a y"])
    assert [quarter["wer"] for quarter in summary["wer_by_quarter"]] == [1.0, 0.5, 0.0, 0.0]
    assert summary["mean"] == 0.5 and summary["per_utterance"] == [0.9, 0.1, 0.8, 0.2]


def test_a_transcript_joined_from_speech_segments_keeps_its_confidences():
    from robust_speech.inference.transcribe import _joined_confidence

    decoder = GreedyDecoder(VOCABULARY)
    decoder.confidence = True
    parts = decoder.decode_batch([emissions("the cat"), emissions("sat", confusions={1: ("e", 0.4)})])
    words = [word for part in parts for word in part.words]
    assert _joined_confidence(words, parts, decoder) == pytest.approx(np.mean([w.confidence for w in words]))
    assert _joined_confidence([], [], decoder) == 1.0  # the VAD found no speech
    decoder.confidence = False
    assert _joined_confidence(words, parts, decoder) is None
