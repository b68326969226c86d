"""transformers' `audio_utils.spectrogram`, with its per-frame Python loop done as array operations.

A filterbank model's feature extractor (SeamlessM4T's, which w2v-BERT uses) calls that function once per clip,
and its Python loop over 10 ms frames costs more than a small model's training step spends per example
(benchmarks/results/code_history.md). Every operation here is the loop's, in the same order and precision, over all
frames at once, so the features are bit for bit the library's (tests/test_batching.py compares them); cases
this version does not cover (dither, decibels) go to the library's own function. No library offers the exact
same features faster: torchaudio's Kaldi fbank is close but not equal, and is not a dependency.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def spectrogram(waveform: np.ndarray, window: np.ndarray, frame_length: int, hop_length: int, fft_length: int | None = None,
                power: float | None = 1.0, center: bool = True, pad_mode: str = "reflect", onesided: bool = True,
                dither: float = 0.0, preemphasis: float | None = None, mel_filters: np.ndarray | None = None,
                mel_floor: float = 1e-10, log_mel: str | None = None, *, library_spectrogram, **others) -> np.ndarray:
    fft_length = fft_length or frame_length
    unusual = (dither != 0.0 or power is None or log_mel not in (None, "log", "log10") or others.get("dtype", np.float32)
               != np.float32 or waveform.ndim != 1 or len(window) != frame_length or frame_length > fft_length
               or hop_length <= 0 or np.iscomplexobj(waveform))
    if unusual:
        return library_spectrogram(waveform, window, frame_length, hop_length, fft_length, power, center, pad_mode,
                                   onesided, dither, preemphasis, mel_filters, mel_floor, log_mel, **others)
    if center:
        waveform = np.pad(waveform, [(frame_length // 2, frame_length // 2)], mode=pad_mode)
    waveform = waveform.astype(np.float64)
    window = window.astype(np.float64)
    num_frames = int(1 + np.floor((waveform.size - frame_length) / hop_length))
    frames = np.zeros((num_frames, fft_length))
    frames[:, :frame_length] = sliding_window_view(waveform, frame_length)[::hop_length][:num_frames]
    body = frames[:, :frame_length]
    if others.get("remove_dc_offset"):
        body -= body.mean(axis=1, keepdims=True)
    if preemphasis is not None:
        body[:, 1:] -= preemphasis * body[:, :-1].copy()
        body[:, 0] *= 1 - preemphasis
    body *= window
    fft = np.fft.rfft if onesided else np.fft.fft
    result = fft(frames, axis=1).astype(np.complex64)  # the library stores each frame's FFT as complex64
    result = (np.abs(result, dtype=np.float64) ** power).T
    if mel_filters is not None:
        result = np.maximum(mel_floor, np.dot(mel_filters.T, result))
    if log_mel == "log":
        result = np.log(result)
    elif log_mel == "log10":
        result = np.log10(result)
    return np.asarray(result, dtype=np.float32)


@contextmanager
def fast_spectrograms(extractor) -> Iterator[None]:
    """While inside, `extractor` (any transformers feature extractor whose module calls `spectrogram`) computes
    its spectrograms with the function above."""
    module = sys.modules.get(type(extractor).__module__)
    library = getattr(module, "spectrogram", None)
    if library is None or getattr(library, "robust_speech_fast", False):
        yield
        return

    def fast(*args, **kwargs):
        return spectrogram(*args, library_spectrogram=library, **kwargs)

    fast.robust_speech_fast = True
    module.spectrogram = fast
    try:
        yield
    finally:
        module.spectrogram = library
