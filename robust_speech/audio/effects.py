"""Signal-level degradations of clean speech, each a pure function of its input and a seeded generator.

Noise at a chosen SNR (colored, or babble from other utterances), reverberation (a statistical room tail, or a
simulated room's impulse response from rooms.py), speed, pitch, band limits, gain and clipping. Codecs are in
codecs.py. Used by training augmentation (augment.py), the robustness sweep and the synthetic corpora.

Written with numpy, scipy and soxr rather than audiomentations because that package pins soxr<1.0 (it would
downgrade the resampler the whole toolkit uses); pitch shifting is pedalboard's (Rubber Band), which no few
lines replace.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import soxr

NOISE_COLORS = ("white", "pink", "brown")
_COLOR_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power falls as 1/f^exponent
FULL_SCALE = 0.99


def colored_noise(length: int, rng: np.random.Generator, color: str | float = "white") -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f^0 (white), 1/f (pink), 1/f^2 (brown), or 1/f^x for a number x."""
    if isinstance(color, str):
        if color not in NOISE_COLORS:
            raise ValueError(f"noise color must be one of {NOISE_COLORS} or a spectral exponent, not {color!r}")
        exponent = _COLOR_EXPONENTS[color]
    else:
        exponent = float(color)
    white = rng.standard_normal(length)
    if exponent and length > 1:
        spectrum = np.fft.rfft(white)
        frequencies = np.arange(spectrum.size, dtype=np.float64)
        frequencies[0] = 1.0
        white = np.fft.irfft(spectrum / frequencies ** (exponent / 2), n=length)  # amplitude slope = half the power's
    rms = np.sqrt(np.mean(white**2)) or 1.0
    return (white / rms).astype(np.float32)


def power(audio: np.ndarray) -> float:
    return float(np.mean(np.asarray(audio, dtype=np.float64) ** 2)) if audio.size else 0.0


def mix_at_snr(audio: np.ndarray, interference: np.ndarray, snr_db: float) -> np.ndarray:
    """`audio` plus `interference` (same length) scaled to be `snr_db` below the speech power; peak-limited."""
    speech_power, interference_power = power(audio), power(interference)
    if speech_power == 0.0 or interference_power == 0.0:
        return audio.astype(np.float32, copy=True)
    scale = np.sqrt(speech_power / (interference_power * 10 ** (snr_db / 10)))
    return limit(audio + scale * interference)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator, color: str | float = "white") -> np.ndarray:
    """`audio` plus noise whose power is `snr_db` below the speech power; peak-limited to full scale."""
    if power(audio) == 0.0:
        return audio.copy()
    return mix_at_snr(audio, colored_noise(audio.size, rng, color), snr_db)


def babble(length: int, talkers: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Several other utterances talking at once, each looped or cut to `length` from a random offset and at
    equal power: the competing speech of a cafe or an open office."""
    total = np.zeros(length, dtype=np.float64)
    for talker in talkers:
        talker = np.asarray(talker, dtype=np.float64)
        if not talker.size or power(talker) == 0.0:
            continue
        repeats = int(np.ceil((length + talker.size) / talker.size))
        looped = np.tile(talker, repeats)
        start = int(rng.integers(talker.size))
        total += looped[start : start + length] / np.sqrt(power(talker))
    return total.astype(np.float32)


def add_babble(audio: np.ndarray, talkers: Sequence[np.ndarray], snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """`audio` with `talkers` speaking over it, their sum `snr_db` below the speech power."""
    return mix_at_snr(audio, babble(audio.size, talkers, rng), snr_db)


def room_impulse_response(rt60_s: float, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A statistical impulse response: the direct path, then exponentially decaying diffuse noise that is
    60 dB down after `rt60_s` seconds (the standard model of a room's late reverberation). rooms.py simulates
    real rooms; this one is cheap and has an exact RT60, for the robustness sweep and the synthetic corpora."""
    length = max(1, int(rt60_s * sampling_rate))
    time = np.arange(length) / sampling_rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * time / rt60_s)  # ln(1000) = 60 dB in amplitude
    tail[0] = 0.0
    tail *= 0.3 / (np.sqrt(np.sum(tail**2)) or 1.0)  # direct-to-reverberant ratio about 10 dB
    tail[0] = 1.0
    return tail


def convolve(audio: np.ndarray, impulse_response: np.ndarray, *, keep_level: bool = True) -> np.ndarray:
    """`audio` through `impulse_response`, cut to the input's length and peak-limited; with `keep_level`, at
    the input's power (a simulated room's response also carries the 1/distance loss, which is not the point)."""
    from scipy.signal import fftconvolve  # here: scipy.signal is slow and large to import

    wet = fftconvolve(np.asarray(audio, dtype=np.float64), impulse_response)[: audio.size]
    before, after = power(audio), power(wet)
    if keep_level and after > 0.0:
        wet *= np.sqrt(before / after)
    return limit(wet)


def add_reverb(audio: np.ndarray, rt60_s: float, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
    """`audio` as heard in a room with reverberation time `rt60_s` (statistical tail); same length as the input."""
    return convolve(audio, room_impulse_response(rt60_s, sampling_rate, rng), keep_level=False)


def limit(audio: np.ndarray) -> np.ndarray:
    """Scaled down to stay within full scale (never clipped: clipping is its own degradation)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    scale = FULL_SCALE / peak if peak > FULL_SCALE else 1.0
    return (audio * scale).astype(np.float32)


def change_speed(audio: np.ndarray, factor: float, sampling_rate: int) -> np.ndarray:
    """Play `audio` `factor` times faster (tempo and pitch together, Kaldi-style speed perturbation)."""
    return soxr.resample(audio, sampling_rate * factor, sampling_rate).astype(np.float32)


def shift_pitch(audio: np.ndarray, semitones: float, sampling_rate: int) -> np.ndarray:
    """`audio` `semitones` higher (or lower), at the same tempo and length. The formants move with the pitch,
    as with a shorter or longer vocal tract: another voice saying the same words."""
    if semitones == 0.0 or not audio.size:
        return audio.astype(np.float32, copy=True)
    from pedalboard import PitchShift

    shifted = PitchShift(semitones=float(semitones))(np.asarray(audio, dtype=np.float32), sampling_rate)
    out = np.zeros(audio.size, dtype=np.float32)
    shifted = np.asarray(shifted, dtype=np.float32).reshape(-1)[: audio.size]
    out[: shifted.size] = shifted
    return out


def band_limit(audio: np.ndarray, bandwidth_hz: float, sampling_rate: int) -> np.ndarray:
    """Keep only frequencies below `bandwidth_hz` (a telephone line keeps ~4 kHz): resample down and back."""
    low_rate = int(2 * bandwidth_hz)
    if low_rate >= sampling_rate:
        return audio.astype(np.float32)
    narrow = soxr.resample(audio, sampling_rate, low_rate)
    return fit_length(soxr.resample(narrow, low_rate, sampling_rate), audio.size)


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """Louder or quieter by `gain_db`, then peak-limited: a near or far microphone, a quiet or loud talker."""
    return limit(np.asarray(audio, dtype=np.float32) * np.float32(10 ** (gain_db / 20)))


def clip(audio: np.ndarray, headroom_db: float) -> np.ndarray:
    """An overdriven input: the signal amplified until its peak is `headroom_db` above full scale, then cut
    flat at full scale (the distortion of a recording made too loud)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio.astype(np.float32, copy=True)
    driven = np.asarray(audio, dtype=np.float64) * (FULL_SCALE * 10 ** (headroom_db / 20) / peak)
    return np.clip(driven, -FULL_SCALE, FULL_SCALE).astype(np.float32)


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """`audio` cut or zero-padded at the end to `length` samples, float32."""
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, audio.size)] = audio[:length]
    return out
