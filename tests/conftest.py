import os
import tempfile

# Nothing may come from the Hugging Face Hub here; fail fast instead of retrying for ~20 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Decoded-audio caches of test data stay out of the user's ~/.cache (subprocesses inherit this).
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="robust-speech-test-datasets-"))

import numpy as np
import pytest

from robust_speech.synth import SynthConfig, synthesize_corpus

# Small enough to synthesize in seconds, large enough to hold every split and voice hold-out.
SMALL_CORPUS = SynthConfig(
    languages=("en", "de", "es", "it"), train_size=6, dev_size=2, test_size=2, lm_sentences=40, speakers=6, seed=7
)


def tone(frequency: float, seconds: float, sampling_rate: int, amplitude: float = 0.5) -> np.ndarray:
    time = np.arange(int(seconds * sampling_rate)) / sampling_rate
    return (amplitude * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def dominant_frequency(audio: np.ndarray, sampling_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.argmax(spectrum) * sampling_rate / audio.size)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    return synthesize_corpus(SMALL_CORPUS, tmp_path_factory.mktemp("synth") / "corpus", progress=False)


# A random-init model with XLS-R's architecture (7-layer conv encoder, stable layer norm, layer-norm features)
# scaled down to 2 layers of width 32: trains in a fraction of a second per step on CPU.
TINY_XLSR_CONFIG = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
    "conv_dim": [32] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
    "do_stable_layer_norm": True, "feat_extract_norm": "layer",
}


@pytest.fixture(scope="session")
def tiny_config_json(tmp_path_factory):
    import json

    path = tmp_path_factory.mktemp("config") / "tiny_xlsr.json"
    path.write_text(json.dumps(TINY_XLSR_CONFIG), encoding="utf-8")
    return str(path)
