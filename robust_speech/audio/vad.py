"""Speech segments by voice activity detection (silero-vad, whose package ships its weights): an alternative
to fixed chunks for long recordings, cutting in pauses instead of mid-word."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from robust_speech.audio.decode import resample

VAD_RATE = 16000  # silero-vad runs at 8 or 16 kHz


@lru_cache(maxsize=1)
def _vad_model():
    from silero_vad import load_silero_vad

    return load_silero_vad()


def speech_segments(audio: np.ndarray, sampling_rate: int, *, max_segment_s: float = 30.0, threshold: float = 0.5,
                    min_silence_ms: int = 300, pad_ms: int = 100) -> list[tuple[int, int]]:
    """[start, end) sample ranges (at `sampling_rate`) that hold speech, none longer than `max_segment_s`."""
    from silero_vad import get_speech_timestamps

    samples = np.asarray(audio, dtype=np.float32)
    if sampling_rate != VAD_RATE:
        samples = resample(samples, sampling_rate, VAD_RATE)
    if samples.size == 0:
        return []
    with torch.inference_mode():
        stamps = get_speech_timestamps(
            torch.from_numpy(samples), _vad_model(), threshold=threshold, sampling_rate=VAD_RATE,
            max_speech_duration_s=max_segment_s, min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms,
        )
    scale = sampling_rate / VAD_RATE
    length = len(audio)
    return [(min(int(s["start"] * scale), length), min(int(s["end"] * scale), length)) for s in stamps]
