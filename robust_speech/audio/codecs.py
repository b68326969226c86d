"""Lossy codecs and telephone channels, through the audio stack the toolkit already reads with (libsndfile via
soundfile, soxr): the signal is encoded in memory at a low bit rate and decoded back, same length and
time-aligned with the input.

Bit rates: libsndfile sets them by a compression level; the levels below were measured on 16 kHz mono speech
(bytes written over duration) and are named by the rate they gave.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile
import soxr

from robust_speech.audio.effects import fit_length

MP3_LEVELS = {8: 0.99, 16: 0.95, 24: 0.9, 32: 0.85}  # kbit/s -> compression level (constant bit rate)
OPUS_LEVELS = {9: 0.99, 20: 0.95, 33: 0.9}
CODECS = ("mp3", "opus", "telephone")
TELEPHONE_RATE = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
# LAME's encoder delay plus mpg123's decoder delay (576 + 529 samples) is the largest offset met; the search
# window leaves room beyond it.
_MAX_CODEC_DELAY = 2304


def mp3(audio: np.ndarray, kbps: int, sampling_rate: int) -> np.ndarray:
    """`audio` through an MP3 encoder at `kbps` (one of MP3_LEVELS) and back."""
    return _through(audio, sampling_rate, format="MP3", subtype=None, bitrate_mode="CONSTANT",
                    compression_level=_level(MP3_LEVELS, kbps, "mp3"))


def opus(audio: np.ndarray, kbps: int, sampling_rate: int) -> np.ndarray:
    """`audio` through an Opus encoder (in Ogg) at about `kbps` (one of OPUS_LEVELS) and back. Opus runs at
    8/12/16/24/48 kHz; other rates go through 16 kHz."""
    rate = sampling_rate if sampling_rate in (8000, 12000, 16000, 24000, 48000) else 16000
    signal = soxr.resample(audio, sampling_rate, rate) if rate != sampling_rate else audio
    coded = _through(signal, rate, format="OGG", subtype="OPUS", compression_level=_level(OPUS_LEVELS, kbps, "opus"))
    if rate != sampling_rate:
        coded = soxr.resample(coded, rate, sampling_rate)
    return fit_length(coded, audio.size)


def telephone(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """A mobile phone call: the 300-3400 Hz voice band at 8 kHz, through the GSM 06.10 full-rate codec
    (13 kbit/s), back at `sampling_rate`."""
    from scipy.signal import butter, sosfilt  # here: scipy.signal is slow and large to import

    low, high = TELEPHONE_BAND_HZ
    narrow = soxr.resample(np.asarray(audio, dtype=np.float32), sampling_rate, TELEPHONE_RATE)
    band = sosfilt(butter(4, [low, high], btype="bandpass", fs=TELEPHONE_RATE, output="sos"), narrow)
    coded = _through(band.astype(np.float32), TELEPHONE_RATE, format="WAV", subtype="GSM610")
    return fit_length(soxr.resample(coded, TELEPHONE_RATE, sampling_rate), audio.size)


def _level(levels: dict[int, float], kbps: int, name: str) -> float:
    if kbps not in levels:
        raise ValueError(f"{name} bit rate must be one of {sorted(levels)} kbit/s, not {kbps}")
    return levels[kbps]


def _through(audio: np.ndarray, sampling_rate: int, **write_options) -> np.ndarray:
    signal = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, sampling_rate, **{k: v for k, v in write_options.items() if v is not None})
    buffer.seek(0)
    decoded, _ = soundfile.read(buffer, dtype="float32")
    decoded = decoded.reshape(-1)
    delay = _delay(signal, decoded)
    return fit_length(decoded[delay:], signal.size)


def _delay(original: np.ndarray, decoded: np.ndarray) -> int:
    """The codec's delay in samples: the lag (0 to _MAX_CODEC_DELAY) at which the decoded signal best matches
    the input. Some decoders remove the encoder's padding, others do not, depending on the bit rate."""
    if decoded.size <= original.size:
        return 0
    size = original.size + decoded.size
    correlation = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(original, size)), size)
    return int(np.argmax(correlation[: min(_MAX_CODEC_DELAY, decoded.size - 1) + 1]))
