"""A loaded model as a Python user holds it: files or arrays in, text with word times out.

`robust_speech.load` returns a `Model`; it runs the same Transcriber, decoder policy and audio reading as
`robust-speech transcribe` and eval.py, so the text is theirs for the same settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from robust_speech.audio.decode import TARGET_SAMPLING_RATE, load_audio, resample
from robust_speech.core.errors import AudioError
from robust_speech.core.logs import LOGGER
from robust_speech.inference.loading import LoadedModel
from robust_speech.inference.transcribe import long_audio_progress
from robust_speech.inference.writers import TimedWord, timed_words

# One input: a path to any audio file, or a mono waveform (floats in [-1, 1]).
AudioInput = Union[str, os.PathLike, np.ndarray]


@dataclass(frozen=True)
class TimedTranscript:
    """What was said: the text, and each word with its start and end in seconds from the start of the audio."""

    text: str
    words: tuple[TimedWord, ...] = ()


class Model:
    """A model folder loaded for inference, with the decoder the policy picked (`decoder`: its engine's name)."""

    def __init__(self, loaded: LoadedModel):
        self._loaded = loaded
        # The long-audio note is a warning: a Python user sees it without configuring logging.
        loaded.transcriber.note = LOGGER.warning

    def __repr__(self) -> str:
        return f"Model({str(self.model_dir)!r}, decoder={self.decoder!r}, device={str(self.device)!r})"

    @property
    def model_dir(self):
        return self._loaded.model_dir

    @property
    def sampling_rate(self) -> int:
        return self._loaded.acoustic.sampling_rate

    @property
    def device(self):
        return self._loaded.acoustic.device

    @property
    def decoder(self) -> str:
        return self._loaded.decoder.engine

    def transcribe(self, audio: AudioInput | Sequence[AudioInput], sampling_rate: int = TARGET_SAMPLING_RATE
                   ) -> TimedTranscript | list[TimedTranscript]:
        """Transcribe one input (a path or a mono array), or a list or tuple of them (a list back, in order).

        Files are decoded and resampled to the model's rate whatever their format; arrays are taken to be at
        `sampling_rate` and resampled when the model's differs."""
        if isinstance(audio, (list, tuple)):
            return self._transcribe([self._waveform(one, sampling_rate) for one in audio])
        return self._transcribe([self._waveform(audio, sampling_rate)])[0]

    def _transcribe(self, audios: list[np.ndarray]) -> list[TimedTranscript]:
        if not audios:
            return []
        transcriber = self._loaded.transcriber
        progress = long_audio_progress(audios, self.sampling_rate)
        transcripts = transcriber.transcribe(audios, progress=progress)
        if progress is not None:
            progress.close()
        return [TimedTranscript(t.text, tuple(timed_words(t, transcriber.seconds_per_frame))) for t in transcripts]

    def _waveform(self, audio: AudioInput, sampling_rate: int) -> np.ndarray:
        if isinstance(audio, (str, os.PathLike)):
            return load_audio(audio, self.sampling_rate)
        array = np.asarray(audio, dtype=np.float32)
        if array.ndim != 1:
            raise AudioError(f"a waveform of shape {array.shape}: give a mono 1-D array (average the channels)")
        if array.size == 0:
            raise AudioError("an empty waveform: give at least one sample")
        if not np.isfinite(array).all():
            raise AudioError("a waveform with NaN or infinite samples: give finite floats in [-1, 1]")
        return resample(array, sampling_rate, self.sampling_rate)
