"""Robustness degradations of clean speech: noise at a chosen SNR, reverberation, speed, band limits.

Written with numpy and soxr rather than audiomentations because that package pins soxr<1.0 (it would
downgrade the resampler the whole toolkit uses), and each effect is a few lines. `Augmenter` applies them on
the fly during training, each with its own probability, from one seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import soxr

from robust_speech.audio.decode import TARGET_SAMPLING_RATE
from robust_speech.core.errors import ConfigurationError

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


def change_speed(audio: np.ndarray, factor: float, sampling_rate: int) -> np.ndarray:
    """Play `audio` `factor` times faster (tempo and pitch together, Kaldi-style speed perturbation)."""
    return soxr.resample(audio, sampling_rate * factor, sampling_rate).astype(np.float32)


def band_limit(audio: np.ndarray, bandwidth_hz: float, sampling_rate: int) -> np.ndarray:
    """Keep only frequencies below `bandwidth_hz` (a telephone line keeps ~4 kHz): resample down and back."""
    low_rate = int(2 * bandwidth_hz)
    if low_rate >= sampling_rate:
        return audio.astype(np.float32)
    narrow = soxr.resample(audio, sampling_rate, low_rate)
    restored = soxr.resample(narrow, low_rate, sampling_rate)
    out = np.zeros(audio.size, dtype=np.float32)
    out[: min(audio.size, restored.size)] = restored[: audio.size]
    return out


AUGMENTATIONS = ("noise", "reverb", "speed", "bandlimit")


@dataclass
class Augmenter:
    """Random degradations for training, each applied with probability `probability`, seeded."""

    kinds: tuple[str, ...]
    probability: float = 0.5
    snr_db: tuple[float, float] = (5.0, 20.0)
    speeds: tuple[float, float] = (0.9, 1.1)
    rt60_s: tuple[float, float] = (0.2, 0.8)
    bandwidths_hz: tuple[float, ...] = (3400.0, 4000.0, 5500.0)
    sampling_rate: int = TARGET_SAMPLING_RATE
    seed: int = 0
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.kinds if kind not in AUGMENTATIONS]
        if unknown:
            raise ConfigurationError(f"--augment {','.join(unknown)}: choose from {','.join(AUGMENTATIONS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ConfigurationError(f"--augment_prob must be between 0 and 1, got {self.probability}")
        self.rng = np.random.default_rng(self.seed)

    @classmethod
    def from_flags(cls, augment: str | None, probability: float, snr_db: str, speeds: str, seed: int, sampling_rate: int):
        if not augment:
            return None
        kinds = tuple(kind.strip() for kind in augment.split(",") if kind.strip())
        return cls(kinds, probability, _range(snr_db, "--augment_snr_db"), _range(speeds, "--augment_speeds"),
                   sampling_rate=sampling_rate, seed=seed)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        for kind in self.kinds:
            if self.rng.random() >= self.probability:
                continue
            if kind == "speed":
                audio = change_speed(audio, float(self.rng.uniform(*self.speeds)), self.sampling_rate)
            elif kind == "reverb":
                audio = add_reverb(audio, float(self.rng.uniform(*self.rt60_s)), self.sampling_rate, self.rng)
            elif kind == "bandlimit":
                audio = band_limit(audio, float(self.rng.choice(self.bandwidths_hz)), self.sampling_rate)
            else:
                color = str(self.rng.choice(NOISE_COLORS))
                audio = add_noise(audio, float(self.rng.uniform(*self.snr_db)), self.rng, color)
        return audio


def _range(value: str, flag: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in value.split(","))
    except ValueError:
        raise ConfigurationError(f"{flag} {value!r}: expected low,high such as 5,20") from None
    if low > high:
        raise ConfigurationError(f"{flag} {value!r}: low is above high")
    return low, high
