"""The public Python API as a user calls it: `robust_speech.load(...).transcribe(...)`, `evaluate`, the metrics,
giving what `robust-speech transcribe`, eval.py's engine and jiwer give."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import tone, white_noise
from entry_points import run_robust_speech
from model_folders import save_random_model

import robust_speech
from robust_speech.core.errors import AudioError, ConfigurationError

RATE = 16000


def changing_audio(seconds: float, seed: int) -> np.ndarray:
    """Tones and noise that change every few hundred ms, so a random model's CTC path changes too."""
    rng = np.random.default_rng(seed)
    pieces = []
    while sum(piece.size for piece in pieces) < seconds * RATE:
        length = float(rng.uniform(0.1, 0.5))
        pieces.append(tone(float(rng.uniform(100, 3000)), length, RATE, float(rng.uniform(0.05, 0.5)))
                      + white_noise(length, int(rng.integers(1000))) * float(rng.uniform(0, 3)))
    return np.clip(np.concatenate(pieces), -1, 1).astype(np.float32)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_random_model(tmp_path_factory.mktemp("api") / "model")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Two float WAVs at 16 kHz (read back bit for bit) and the arrays they hold."""
    folder = tmp_path_factory.mktemp("recordings")
    arrays = {"first.wav": changing_audio(4.3, 1), "second.wav": changing_audio(2.1, 2)}
    for name, array in arrays.items():
        sf.write(folder / name, array, RATE, subtype="FLOAT")
    return folder, arrays


def test_a_file_transcribed_through_the_api_equals_robust_speech_transcribe(model_dir, recordings, tmp_path):
    folder, _arrays = recordings
    model = robust_speech.load(str(model_dir), "cpu", chunk_length_s=3.0)
    result = model.transcribe(str(folder / "first.wav"))
    assert isinstance(result, robust_speech.TimedTranscript) and result.text  # a random model still says something

    done = run_robust_speech("transcribe", folder / "first.wav", "--model", model_dir, "--output_dir", tmp_path,
                             "--chunk_length_s", "3", "--format", "json", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    written = json.loads((tmp_path / "first.json").read_text(encoding="utf-8"))
    assert result.text == written["text"]
    assert [(w.word, w.start, w.end) for w in result.words] == [(w["word"], w["start"], w["end"])
                                                                 for w in written["words"]]
    assert model.decoder == "greedy" and "greedy" in repr(model)  # no language_model/ in the folder


def test_arrays_files_and_lists_give_the_transcribers_text(model_dir, recordings):
    from robust_speech.inference.loading import load_for_inference

    folder, arrays = recordings
    model = robust_speech.load(model_dir, "cpu")
    files = [str(folder / name) for name in arrays]
    from_files = model.transcribe(files)
    from_arrays = model.transcribe(list(arrays.values()))
    assert isinstance(from_files, list) and from_files == from_arrays
    assert model.transcribe(arrays["second.wav"]) == from_arrays[1]
    transcriber = load_for_inference(model_dir).transcriber  # the library's own path, default options
    assert [t.text for t in from_files] == [t.text for t in transcriber.transcribe(list(arrays.values()))]
    seconds = arrays["first.wav"].size / RATE
    assert all(0 <= w.start < w.end <= seconds + 0.05 for w in from_files[0].words)
    assert model.transcribe([]) == []
    # An array at another rate is resampled to the model's: an 8 kHz copy of the same audio, the same length.
    from robust_speech.audio.decode import resample

    low = model.transcribe(resample(arrays["first.wav"], RATE, 8000), sampling_rate=8000)
    assert low.words == () or low.words[-1].end <= seconds + 0.05


def test_bad_inputs_are_one_line_errors(model_dir, tmp_path):
    model = robust_speech.load(model_dir, "cpu")
    with pytest.raises(AudioError, match="mono 1-D"):
        model.transcribe(np.zeros((2, RATE), np.float32))
    with pytest.raises(AudioError, match="NaN"):
        model.transcribe(np.full(RATE, np.nan, np.float32))
    with pytest.raises(AudioError, match="no-such.wav"):
        model.transcribe(str(tmp_path / "no-such.wav"))
    with pytest.raises(ConfigurationError, match="no such model folder"):
        robust_speech.load(str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="--decoder"):
        robust_speech.load(model_dir, "cpu", decoder="beam")
    assert issubclass(AudioError, robust_speech.RobustSpeechError)


def test_evaluate_scores_as_the_metrics_say(model_dir, recordings, tmp_path, monkeypatch):
    folder, arrays = recordings
    sentences = ["Hello World!", "Good night."]
    (folder / "metadata.csv").write_text("file_name,sentence\n" + "".join(
        f"{name},{sentence}\n" for name, sentence in zip(arrays, sentences)), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    report = robust_speech.evaluate(model_dir, str(folder), split="train", device="cpu")
    assert list(tmp_path.iterdir()) == []  # no result file: they are eval.py's to write
    predictions = [t.text for t in robust_speech.load(model_dir, "cpu").transcribe(list(arrays.values()))]
    targets = ["hello world", "good night"]
    assert report["wer"] == robust_speech.word_error_rate(targets, predictions)
    assert report["cer"] == robust_speech.character_error_rate(targets, predictions)
    with pytest.raises(TypeError, match="chunk_lenght_s"):
        robust_speech.evaluate(str(model_dir), str(folder), split="train", chunk_lenght_s=5)


def test_the_metrics_are_jiwers():
    assert robust_speech.word_error_rate(["a b c"], ["a x c"]) == pytest.approx(1 / 3)
    assert robust_speech.character_error_rate(["abcd"], ["abed"]) == pytest.approx(1 / 4)


def test_importing_the_package_is_cheap_and_help_shows_the_api():
    code = ("import sys, pydoc, robust_speech; "
            "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'numpy', 'jiwer') if m in sys.modules)); "
            "print(pydoc.render_doc(robust_speech, renderer=pydoc.plaintext))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, _, page = done.stdout.partition("\n")
    assert first == "[]"
    for shown in ("robust_speech.load(", "model.transcribe(", "robust_speech.evaluate(",  # the docstring
                  "load(model: 'str | os.PathLike'", "evaluate(model: 'str | os.PathLike'",  # the functions
                  "word_error_rate(references"):
        assert shown in page
