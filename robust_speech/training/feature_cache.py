"""Each training example's input features, computed once and kept in memory across epochs.

A filterbank model's feature extractor (SeamlessM4T's, which w2v-BERT uses) computes its fbank in numpy, one
clip at a time, a sizeable part of a small model's training step on a CPU (benchmarks/results/demo_history.md
has the measurement). Without augmentation an example's features are the same in every
epoch, so they are computed once, and each batch is only padded, by the extractor's own `pad`: the batch is
the one the extractor would have built, bit for bit (tests/test_batching.py checks both extractor families).

Nothing in the datasets library or the Trainer does this: `datasets.map` would write every feature matrix to
the Arrow cache (several times the audio's size) and read it back through Python lists each epoch.

Keys are a digest of the audio samples, because the Trainer's samplers hand the collator rows without a
stable index. A memory cap keeps a large dataset from filling RAM: past it, new examples are computed each
time, as without the cache. `warm` fills the cache before training, in several processes.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from typing import Iterable, Sequence

import numpy as np

from robust_speech.audio.fbank import fast_spectrograms
from robust_speech.core.threads import one_native_thread


class FeatureCache:
    def __init__(self, extractor, max_bytes: int):
        self.extractor = extractor
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._features: dict[bytes, dict[str, np.ndarray]] = {}

    @staticmethod
    def worth_it(extractor) -> bool:
        """Spectrogram features (`input_features`) cost milliseconds per clip; a waveform extractor
        (`input_values`) only normalizes the samples, not worth a second copy of the audio in memory. And
        per-example features padded afterwards equal the batched ones only when the extractor normalizes each
        example over its own length, which it does when it returns an attention mask (without one,
        Wav2Vec2FeatureExtractor normalizes over the padding too)."""
        inputs = getattr(extractor, "model_input_names", None) or [None]
        return inputs[0] == "input_features" and bool(getattr(extractor, "return_attention_mask", False))

    def batch(self, audios: Sequence[np.ndarray]):
        examples = [self.features(audio) for audio in audios]
        columns = {name: [example[name] for example in examples] for name in examples[0]}
        return self.extractor.pad(columns, padding=True, return_tensors="pt")

    def features(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        key = _key(audio)
        cached = self._features.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        example = _extract(self.extractor, audio)
        self._keep(key, example)
        return example

    def _keep(self, key: bytes, example: dict[str, np.ndarray]) -> bool:
        size = sum(values.nbytes for values in example.values())
        if self.bytes + size > self.max_bytes:
            return False
        self._features[key] = example
        self.bytes += size
        return True

    def warm(self, audios: Iterable[np.ndarray], workers: int) -> int:
        """Compute the features of `audios` in `workers` processes now, before training, up to the memory cap;
        returns how many were kept. The training steps then only pad: the extraction is off the critical path
        (on a CPU it is a third of a small model's step while examples are new, e.g. in degraded copies)."""
        kept = 0
        if workers <= 1:
            for audio in audios:
                key = _key(audio)
                if key not in self._features and not self._keep(key, _extract(self.extractor, audio)):
                    return kept
                kept += 1
            return kept
        context = multiprocessing.get_context("fork")  # the extractor is inherited, not pickled per task
        global _WARM_EXTRACTOR
        _WARM_EXTRACTOR = self.extractor
        # One BLAS thread per worker: the library's default (a thread per core in each worker) oversubscribes the
        # cores and made the demo's warm-up several times slower (core/threads.py; benchmarks/results/demo_history.md).
        with context.Pool(workers, initializer=one_native_thread) as pool:
            for key, example in pool.imap(_warm_one, audios, chunksize=16):
                if key in self._features:
                    kept += 1
                    continue
                if not self._keep(key, example):
                    pool.terminate()
                    break
                kept += 1
        return kept


_WARM_EXTRACTOR = None


def _warm_one(audio: np.ndarray) -> tuple[bytes, dict[str, np.ndarray]]:
    return _key(audio), _extract(_WARM_EXTRACTOR, audio)


def _key(audio: np.ndarray) -> bytes:
    return hashlib.blake2b(audio.tobytes(), digest_size=16).digest() + audio.size.to_bytes(8, "little")


def _extract(extractor, audio: np.ndarray) -> dict[str, np.ndarray]:
    with fast_spectrograms(extractor):  # the library's features, bit for bit, computed faster (audio/fbank.py)
        computed = extractor(audio, sampling_rate=extractor.sampling_rate, return_tensors="np", return_attention_mask=True)
    return {name: np.asarray(values)[0] for name, values in computed.items()}
