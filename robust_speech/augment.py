"""Robustness degradations of clean speech: additive noise at a chosen SNR, and reverberation.

Written with numpy rather than audiomentations because that package pins soxr<1.0 (it would downgrade the
resampler the whole toolkit uses), and these two effects are a few lines each.
"""

from __future__ import annotations

import numpy as np

NOISE_COLORS = ("white", "pink", "brown")


def colored_noise(length: int, rng: np.random.Generator, color: str = "white") -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f^0 (white), 1/f (pink) or 1/f^2 (brown)."""
    if color not in NOISE_COLORS:
        raise ValueError(f"noise color must be one of {NOISE_COLORS}, not {color!r}")
    white = rng.standard_normal(length)
    if color != "white" and length > 1:
        spectrum = np.fft.rfft(white)
        frequencies = np.arange(spectrum.size, dtype=np.float64)
        frequencies[0] = 1.0
        exponent = 0.5 if color == "pink" else 1.0  # amplitude slope = half the power slope
        white = np.fft.irfft(spectrum / frequencies**exponent, n=length)
    rms = np.sqrt(np.mean(white**2)) or 1.0
    return (white / rms).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator, color: str = "white") -> np.ndarray:
    """`audio` plus noise whose power is `snr_db` below the speech power; peak-limited to full scale."""
    speech_power = float(np.mean(audio.astype(np.float64) ** 2))
    if speech_power == 0.0:
        return audio.copy()
    noise = colored_noise(audio.size, rng, color) * np.sqrt(speech_power / 10 ** (snr_db / 10))
    return _limit(audio + noise)


def room_impulse_response(rt60_s: float, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic impulse response: the direct path, then exponentially decaying diffuse noise that is
    60 dB down after `rt60_s` seconds (the standard statistical model of a room's late reverberation)."""
    length = max(1, int(rt60_s * sampling_rate))
    time = np.arange(length) / sampling_rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * time / rt60_s)  # ln(1000) = 60 dB in amplitude
    tail[0] = 0.0
    tail *= 0.3 / (np.sqrt(np.sum(tail**2)) or 1.0)  # direct-to-reverberant ratio about 10 dB
    tail[0] = 1.0
    return tail


def add_reverb(audio: np.ndarray, rt60_s: float, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
    """`audio` as heard in a room with reverberation time `rt60_s`; same length as the input."""
    response = room_impulse_response(rt60_s, sampling_rate, rng)
    size = audio.size + response.size - 1
    wet = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(response, size), size)[: audio.size]
    return _limit(wet)


def _limit(audio: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    scale = 0.99 / peak if peak > 0.99 else 1.0
    return (audio * scale).astype(np.float32)
