"""Decode any audio file or buffer to 16 kHz mono float32.

soundfile (libsndfile) reads wav, flac, ogg/vorbis, opus and mp3; PyAV (ffmpeg, shipped in its wheel) is
the fallback for what libsndfile lacks (m4a/aac, webm, wma, ...). Neither torchaudio nor torchcodec is
needed: they have no CPU build matching our torch, and datasets' own decoding depends on torchcodec.

Every file is read in blocks, mixed to mono and resampled with a streaming soxr resampler into one
preallocated output array, so a one-hour file never exists twice in memory (`load_audio`), and
`stream_audio` yields it block by block for bounded memory.
"""

from __future__ import annotations

import io
import math
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Union

import numpy as np
import soundfile
import soxr

from robust_speech.core.errors import AudioError, MissingDependencyError

TARGET_SAMPLING_RATE = 16_000
# About 6 s at 44.1 kHz: large enough that per-block overhead vanishes, small enough to bound memory.
BLOCK_FRAMES = 1 << 18
# libsndfile's log line when a WAV/AIFF data chunk declares more bytes than the file holds (an interrupted
# download or copy); it then reads what is there without an error, and the transcript no longer matches.
# MP3 has no such check: without a Xing header its length is only an estimate. FLAC and Ogg cut short fail
# to decode by themselves.
_SHORT_CHUNK = re.compile(r"^(?:data|SSND)\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)

AudioSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds before any conversion."""

    sampling_rate: int
    channels: int
    frames: int | None  # None when the container does not say (some streams decoded by ffmpeg)
    format: str  # libsndfile's format name ("WAV", "MP3", ...) or "ffmpeg:<codec>"

    @property
    def duration(self) -> float | None:
        return None if self.frames is None else self.frames / self.sampling_rate


def describe_source(source: AudioSource) -> str:
    """How a source is named in messages: its path, or the size of an in-memory buffer."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes of audio>"
    return getattr(source, "name", None) or "<audio stream>"


def audio_info(source: AudioSource, *, name: str | None = None) -> AudioInfo:
    """Sampling rate, channels, length and format of `source`, without decoding the samples."""
    with _open_decoder(source, name or describe_source(source)) as (info, _blocks):
        return info


def load_audio(
    source: AudioSource, sampling_rate: int = TARGET_SAMPLING_RATE, *, name: str | None = None
) -> np.ndarray:
    """The whole of `source` as mono float32 in [-1, 1] at `sampling_rate`.

    Raises `AudioError` (one line naming the file) for a missing, empty, unreadable, truncated or
    corrupt file and for NaN/inf samples.
    """
    name = name or describe_source(source)
    with _open_decoder(source, name) as (info, blocks):
        expected = None
        if info.frames is not None:
            expected = math.ceil(info.frames * sampling_rate / info.sampling_rate)
        output = _GrowingBuffer(expected)
        peak = 0.0
        for block in _mono_resampled(blocks, info.sampling_rate, sampling_rate, name):
            if block.size:
                peak = max(peak, float(np.max(np.abs(block))))
                output.append(block)
    audio = output.finish()
    if audio.size == 0:
        raise AudioError(f"{name}: contains no audio samples (zero-length); drop it or re-record it")
    # Float files may exceed full scale and resampling overshoots around clipped peaks: rescale in place
    # rather than clip, so the waveform keeps its shape.
    if peak > 1.0:
        audio /= peak
    return audio


def stream_audio(
    source: AudioSource,
    sampling_rate: int = TARGET_SAMPLING_RATE,
    *,
    name: str | None = None,
) -> Iterator[np.ndarray]:
    """Yield `source` as consecutive mono float32 blocks at `sampling_rate`, in bounded memory.

    Unlike `load_audio` it cannot rescale a file that exceeds full scale (it has not seen the end yet):
    such samples are clipped to [-1, 1].
    """
    name = name or describe_source(source)
    produced = 0
    with _open_decoder(source, name) as (info, blocks):
        for block in _mono_resampled(blocks, info.sampling_rate, sampling_rate, name):
            if block.size:
                produced += block.size
                yield np.clip(block, -1.0, 1.0, out=block)
    if produced == 0:
        raise AudioError(f"{name}: contains no audio samples (zero-length); drop it or re-record it")


def resample(audio: np.ndarray, orig_sampling_rate: int, sampling_rate: int = TARGET_SAMPLING_RATE) -> np.ndarray:
    """Resample a mono float32 array that is already in memory."""
    if orig_sampling_rate == sampling_rate:
        return np.asarray(audio, dtype=np.float32)
    return soxr.resample(np.asarray(audio, dtype=np.float32), orig_sampling_rate, sampling_rate)


def _mono_resampled(
    blocks: Iterator[np.ndarray], source_rate: int, target_rate: int, name: str
) -> Iterator[np.ndarray]:
    """Mix (frames, channels) float blocks to mono, check them, and resample them as one stream."""
    resampler = None
    if source_rate != target_rate:
        resampler = soxr.ResampleStream(source_rate, target_rate, 1, dtype="float32")
    seen = 0
    for block in blocks:
        mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
        if not np.isfinite(mono).all():
            where = seen + int(np.argmin(np.isfinite(mono)))
            raise AudioError(
                f"{name}: contains NaN or infinite samples (first at {where / source_rate:.2f} s); "
                "the file is corrupt, re-encode or drop it"
            )
        seen += mono.size
        yield mono if resampler is None else resampler.resample_chunk(mono)
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


class _GrowingBuffer:
    """One float32 array filled block by block; sized up front when the length is known."""

    def __init__(self, expected: int | None):
        # The streaming resampler may emit a few samples more than the nominal length.
        self._array = np.empty((expected + 64) if expected is not None else BLOCK_FRAMES, dtype=np.float32)
        self._size = 0

    def append(self, block: np.ndarray) -> None:
        end = self._size + block.size
        if end > self._array.size:
            # Only reached when the container misstates or omits its length.
            self._array.resize(max(end, int(self._array.size * 1.5)), refcheck=False)
        self._array[self._size : end] = block
        self._size = end

    def finish(self) -> np.ndarray:
        self._array.resize(self._size, refcheck=False)  # shrinks in place: no second copy
        return self._array


@contextmanager
def _open_decoder(source: AudioSource, name: str) -> Iterator[tuple[AudioInfo, Iterator[np.ndarray]]]:
    """Open `source` with libsndfile, or with ffmpeg when libsndfile cannot read its format."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise AudioError(f"{name}: no such file")
        if os.path.isdir(path):
            raise AudioError(f"{name}: is a directory, not an audio file")
        if os.path.getsize(path) == 0:
            raise AudioError(f"{name}: empty file (0 bytes); drop it or re-record it")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise AudioError(f"{name}: empty buffer (0 bytes)")
        source = io.BytesIO(bytes(source))

    try:
        sound_file = soundfile.SoundFile(source)
    except (soundfile.LibsndfileError, RuntimeError) as sndfile_error:
        if hasattr(source, "seek"):
            source.seek(0)
        with _open_with_ffmpeg(source, name, sndfile_error) as opened:
            yield opened
        return
    with sound_file:
        info = AudioInfo(sound_file.samplerate, sound_file.channels, sound_file.frames, sound_file.format)
        if info.frames == 0:
            raise AudioError(f"{name}: contains no audio samples (zero-length); drop it or re-record it")
        _check_chunk_sizes(sound_file, info, name)
        yield info, _soundfile_blocks(sound_file, name)


def _check_chunk_sizes(sound_file: soundfile.SoundFile, info: AudioInfo, name: str) -> None:
    """A WAV/AIFF cut short: libsndfile shrinks `frames` to what is there and only says so in its log."""
    match = _SHORT_CHUNK.search(sound_file.extra_info)
    if not match:
        return
    declared, present = int(match.group(1)), int(match.group(2))
    # Streaming writers that could not seek back leave 0 or 0xFFFFFFFF: an unknown size, not a truncation.
    # A missing odd pad byte is no truncation either.
    if declared in (0, 0xFFFFFFFF, 0x7FFFFFFF) or declared - present <= 1:
        return
    bytes_per_second = present / info.frames * info.sampling_rate if info.frames else 1
    raise AudioError(
        f"{name}: truncated (the header declares {declared / bytes_per_second:.2f} s, the file holds "
        f"{present / bytes_per_second:.2f} s); copy or download it again, or drop it"
    )


def _soundfile_blocks(sound_file: soundfile.SoundFile, name: str) -> Iterator[np.ndarray]:
    try:
        while True:
            block = sound_file.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                return
            yield block
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{name}: corrupt audio data ({error}); re-encode or drop it") from None


@contextmanager
def _open_with_ffmpeg(
    source: str | BinaryIO, name: str, sndfile_error: Exception
) -> Iterator[tuple[AudioInfo, Iterator[np.ndarray]]]:
    try:
        import av
    except ImportError:
        raise MissingDependencyError(
            f"{name}: libsndfile cannot read it ({sndfile_error}) and PyAV is not installed: pip install av"
        ) from None
    try:
        container = av.open(source, mode="r")
    except (av.FFmpegError, ValueError, OSError) as ffmpeg_error:
        raise AudioError(
            f"{name}: not a readable audio file (unknown format, truncated header or corrupt data: "
            f"libsndfile: {sndfile_error}; ffmpeg: {ffmpeg_error}); re-encode or drop it"
        ) from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{name}: has no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        channels = stream.codec_context.channels
        if not rate or not channels:
            raise AudioError(f"{name}: audio stream without a sampling rate or channel count; corrupt header")
        frames = None
        if stream.duration is not None and stream.time_base is not None:
            frames = int(stream.duration * stream.time_base * rate)
        elif container.duration is not None:
            frames = int(container.duration / av.time_base * rate)
        info = AudioInfo(rate, channels, frames or None, f"ffmpeg:{stream.codec_context.name}")
        yield info, _ffmpeg_blocks(container, stream, name)


def _ffmpeg_blocks(container, stream, name: str) -> Iterator[np.ndarray]:
    import av

    # Only converts sample format (int/float, packed/planar) to planar float; rate and layout stay, because
    # resampling is soxr's job here, as for every other format.
    converter = av.AudioResampler(format="fltp")
    try:
        for frame in container.decode(stream):
            for converted in converter.resample(frame):
                yield converted.to_ndarray().T
    except av.FFmpegError as error:
        raise AudioError(f"{name}: corrupt audio data ({error}); re-encode or drop it") from None
