import os
import tempfile

# Nothing may come from the Hugging Face Hub here; fail fast instead of retrying for ~20 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Decoded-audio caches of test data stay out of the user's ~/.cache (subprocesses inherit this).
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="robust-speech-test-datasets-"))

import json

import numpy as np
import pytest
import soundfile

from robust_speech.data.synth import SynthConfig, synthesize_corpus
from robust_speech.model.random_models import MODEL_SHAPES

# Small enough to synthesize in seconds, large enough to hold every split and voice hold-out.
SMALL_CORPUS = SynthConfig(
    languages=("en", "de", "es", "it"), train_size=6, dev_size=2, test_size=2, lm_sentences=40, speakers=6, seed=7
)


def tone(frequency: float, seconds: float, sampling_rate: int, amplitude: float = 0.5) -> np.ndarray:
    time = np.arange(int(seconds * sampling_rate)) / sampling_rate
    return (amplitude * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def white_noise(seconds: float, seed: int = 0, sampling_rate: int = 16000) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * sampling_rate)).astype(np.float32)


@pytest.fixture(autouse=True)
def library_logger_as_it_was():
    """Every test leaves the library's logger as it found it (level, handlers, propagation): a test that configures
    it, directly or through an entry point, cannot change what a later test reads, in whatever order they run."""
    from robust_speech.core.logs import LOGGER

    level, handlers, propagate = LOGGER.level, list(LOGGER.handlers), LOGGER.propagate
    yield
    LOGGER.setLevel(level)
    LOGGER.handlers[:] = handlers
    LOGGER.propagate = propagate


@pytest.fixture(scope="session")
def tiny_acoustic(tmp_path_factory):
    """The tiny random-init model (tests/model_folders.py) loaded for inference on the CPU."""
    from model_folders import save_random_model

    from robust_speech.model.acoustic import load_acoustic_model

    return load_acoustic_model(save_random_model(tmp_path_factory.mktemp("tiny-acoustic") / "model"), "cpu")


def dominant_frequency(audio: np.ndarray, sampling_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.argmax(spectrum) * sampling_rate / audio.size)


def make_folder(root, rows):
    """An audio folder whose train/ split is a JSONL table (so a transcript can be null), and a test/ split.

    `rows`: file name -> (audio, transcript); audio is seconds of a tone, None for no file, "garbage" for bytes
    that are not audio, or a function that writes the file at the path it is given."""
    (root / "train").mkdir(parents=True)
    with open(root / "train" / "metadata.jsonl", "w", encoding="utf-8") as table:
        for index, (name, (seconds, text)) in enumerate(rows.items()):
            path = root / "train" / name
            if callable(seconds):
                seconds(path)
            elif seconds == "garbage":
                path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 10)
            elif seconds is not None:
                soundfile.write(path, tone(300 + 50 * index, seconds, 16000), 16000)
            table.write(json.dumps({"file_name": name, "sentence": text}) + "\n")
    (root / "test").mkdir()
    soundfile.write(root / "test" / "eval.wav", tone(2000, 1.0, 16000), 16000)
    (root / "test" / "metadata.csv").write_text("file_name,sentence\neval.wav,An evaluation sentence\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    return synthesize_corpus(SMALL_CORPUS, tmp_path_factory.mktemp("synth") / "corpus", progress=False)


# The tiny XLS-R shape (2 layers of width 32): trains in a fraction of a second per step on CPU.
TINY_XLSR_CONFIG = MODEL_SHAPES["tiny"]


@pytest.fixture(scope="session")
def tiny_config_json(tmp_path_factory):
    import json

    path = tmp_path_factory.mktemp("config") / "tiny_xlsr.json"
    path.write_text(json.dumps(TINY_XLSR_CONFIG), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def kenlm_programs():
    """lmplz and build_binary: from PATH or the cache, else built from the kenlm sdist right here (the
    bootstrap path a fresh CI machine takes)."""
    import robust_speech.lm.kenlm_tools as kenlm_tools

    return kenlm_tools.kenlm_programs()
