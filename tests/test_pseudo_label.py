"""`robust-speech pseudo-label` (found/pseudo_label.py): speech segments of untranscribed audio, kept or skipped by
their utterance confidence, written as a dataset folder the data layer reads."""

import csv

import numpy as np
import pytest
import soundfile as sf
from ctc_logits import VOCABULARY, emissions

from robust_speech.core.errors import ConfigurationError
from robust_speech.found.pseudo_label import pseudo_label
from robust_speech.found.pseudo_label_options import PseudoLabelOptions
from robust_speech.inference.decoding import GreedyDecoder

RATE = 16000
CLEAR, MUMBLED = "the cat sat on the mat", "good night"


class ConstructedTranscriber:
    """A transcriber whose frame posteriors are made by hand: a long segment is heard clearly, a short one with
    every frame half sure; decoded (with confidences) by the real greedy decoder."""

    def __init__(self):
        self.decoder = GreedyDecoder(VOCABULARY)
        self.decoder.confidence = True

    def transcribe(self, pieces):
        heard = [emissions(CLEAR) if len(piece) > 1.5 * RATE else
                 emissions(MUMBLED, peak=0.5) for piece in pieces]
        return self.decoder.decode_batch(heard)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A folder of "found" audio: one recording with two spoken parts, one without speech, two unreadable files."""
    from robust_speech.data.synth import make_speakers, speak

    folder = tmp_path_factory.mktemp("found") / "radio"
    (folder / "day2").mkdir(parents=True)
    speaker = make_speakers("en", 1, np.random.default_rng(0))[0]
    silence = np.zeros(RATE * 2, np.float32)
    talk = np.concatenate([silence, speak(CLEAR, speaker, "en", RATE), silence, speak(MUMBLED, speaker, "en", RATE),
                           silence])
    sf.write(folder / "talk.wav", talk, RATE)
    sf.write(folder / "day2" / "hum.flac", np.random.default_rng(1).normal(0, 0.001, RATE * 3).astype(np.float32), RATE)
    (folder / "day2" / "broken.mp3").write_bytes(b"ID3 not really an mp3" * 50)
    (folder / "notes.txt").write_text("recorded on Tuesday\n")
    return folder


@pytest.fixture
def constructed_model(monkeypatch):
    import robust_speech.inference.loading as loading

    class Loaded:
        transcriber = ConstructedTranscriber()

    monkeypatch.setattr(loading, "load_for_inference", lambda *args, **kwargs: Loaded())


def read_rows(path, delimiter=","):
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file, delimiter=delimiter))


def test_confident_segments_are_kept_and_the_rest_listed_with_their_confidence(recordings, tmp_path,
                                                                               constructed_model):
    output = tmp_path / "labelled"
    result = pseudo_label(PseudoLabelOptions("stub", str(recordings), str(output), min_confidence=0.8))
    kept = read_rows(output / "metadata.csv")
    assert [row["sentence"] for row in kept] == [CLEAR]
    assert list(kept[0]) == ["file_name", "sentence", "source", "start", "end", "confidence"]
    assert kept[0]["source"] == str(recordings / "talk.wav") and float(kept[0]["confidence"]) >= 0.8
    assert 1.5 < float(kept[0]["start"]) < 2.5 and float(kept[0]["end"]) > float(kept[0]["start"]) + 1.5
    clip, rate = sf.read(output / kept[0]["file_name"])
    assert rate == RATE and clip.ndim == 1
    assert abs(len(clip) / RATE - (float(kept[0]["end"]) - float(kept[0]["start"]))) < 0.01
    skipped = {row["reason"]: row for row in read_rows(output / "skipped.tsv", "\t")}
    assert set(skipped) == {"low confidence", "no speech", "unreadable"}
    assert float(skipped["low confidence"]["confidence"]) < 0.8 and skipped["low confidence"]["detail"] == MUMBLED
    assert skipped["no speech"]["source"].endswith("hum.flac")
    assert result.kept == 1 and result.inputs == 4
    assert dict(result.skipped) == {"low confidence": 1, "no speech": 1, "unreadable": 2}
    assert "kept 1" in result.summary() and "2 unreadable" in result.summary()


def test_the_threshold_decides(recordings, tmp_path, constructed_model):
    everything = pseudo_label(PseudoLabelOptions("stub", str(recordings), str(tmp_path / "all"), min_confidence=0.0))
    nothing = pseudo_label(PseudoLabelOptions("stub", str(recordings), str(tmp_path / "none"), min_confidence=1.0))
    assert (everything.kept, nothing.kept) == (2, 0)
    assert nothing.skipped["low confidence"] == 2


def test_the_output_is_a_dataset_the_data_layer_reads(recordings, tmp_path, constructed_model):
    from robust_speech.data.preprocess import decode_audio
    from robust_speech.data.sources import load_speech_split, parse_sources

    output = tmp_path / "labelled"
    pseudo_label(PseudoLabelOptions("stub", str(recordings), str(output), min_confidence=0.0))
    dataset = load_speech_split(parse_sources(str(output)), "train")
    assert sorted(dataset["sentence"]) == sorted([CLEAR, MUMBLED])
    assert all(decode_audio(row["audio"], RATE).size > RATE for row in dataset)


def test_a_dataset_can_be_the_input(recordings, tmp_path, constructed_model):
    table = tmp_path / "table.csv"
    table.write_text(f"path,sentence\n{recordings / 'talk.wav'},\n{recordings / 'day2' / 'hum.flac'},\n")
    result = pseudo_label(PseudoLabelOptions("stub", str(table), str(tmp_path / "out"), min_confidence=0.8))
    assert result.inputs == 2 and result.kept == 1 and result.skipped["no speech"] == 1


def test_bad_options_and_inputs_get_one_line(recordings, tmp_path, constructed_model):
    for options, message in [
        (PseudoLabelOptions("stub", str(recordings), str(tmp_path / "o"), min_confidence=1.5), "--min_confidence 1.5"),
        (PseudoLabelOptions("stub", str(tmp_path / "nowhere"), str(tmp_path / "o")), "no such folder"),
        (PseudoLabelOptions("stub", str(recordings), str(recordings)), "not an empty folder"),
        (PseudoLabelOptions("stub", str(recordings), str(tmp_path / "o"), min_segment_s=30.0), "need 0 < min < max"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            pseudo_label(options)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="holds no files"):
        pseudo_label(PseudoLabelOptions("stub", str(tmp_path / "empty"), str(tmp_path / "o")))


def test_the_verb_runs_a_real_model_folder(recordings, tmp_path, capsys):
    from model_folders import save_random_model

    from robust_speech.cli.verbs import main

    model = save_random_model(tmp_path / "model")
    output = tmp_path / "out"
    assert main(["pseudo-label", str(recordings), "--model", str(model), "--output_dir", str(output),
                 "--min_confidence", "0", "--device", "cpu"]) == 0
    assert "pseudo-label: 4 inputs" in capsys.readouterr().out
    rows = read_rows(output / "metadata.csv") + read_rows(output / "skipped.tsv", "\t")
    confidences = [float(row["confidence"]) for row in rows if row["confidence"]]
    assert confidences and all(0 <= value <= 1 for value in confidences)
    assert main(["pseudo-label", str(recordings), "--model", str(model), "--output_dir", str(output)]) == 2
