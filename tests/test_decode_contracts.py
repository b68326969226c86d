"""audio/decode.py's contracts that the format tests (test_audio.py) leave open, each found by mutation testing
(benchmarks/results/mutation.md): the names in messages, streaming's clipping, the WAV size checks, the ffmpeg
path's sample format and stream choice, and containers that state no length."""

import io
import struct
import tracemalloc
from contextlib import contextmanager

import av
import numpy as np
import pytest
import soundfile
from conftest import dominant_frequency, tone

import robust_speech.audio.decode as decode
from robust_speech.audio.decode import (
    BLOCK_FRAMES,
    AudioInfo,
    audio_info,
    describe_source,
    load_audio,
    stream_audio,
)
from robust_speech.core.errors import AudioError

RATE = 16000


def streamed(source, **options):
    return np.concatenate(list(stream_audio(source, **options)))


def test_sources_are_named_in_messages(tmp_path):
    missing = tmp_path / "missing.wav"
    assert describe_source(missing) == str(missing)
    assert describe_source(b"abc") == "<3 bytes of audio>"
    assert describe_source(bytearray(5)) == "<5 bytes of audio>" and describe_source(memoryview(b"xy")) == "<2 bytes of audio>"
    named = io.BytesIO(b"")
    named.name = "upload.wav"
    assert describe_source(named) == "upload.wav" and describe_source(io.BytesIO(b"")) == "<audio stream>"
    for read in (audio_info, load_audio, streamed):
        with pytest.raises(AudioError, match=f"^{missing}: no such file$"):
            read(missing)
        with pytest.raises(AudioError, match="^shown.wav: no such file$"):
            read(missing, name="shown.wav")
    with pytest.raises(AudioError, match=r"^<60 bytes of audio>: not a readable audio file"):
        audio_info(b"not audio " * 6)


def test_nan_is_located_in_seconds_of_the_file_and_named_when_streamed(tmp_path):
    early = tone(10, 2.0, 100)  # 100 Hz: one sample is 0.01 s, visible in the message
    early[150] = np.nan
    soundfile.write(tmp_path / "early.wav", early, 100, subtype="FLOAT")
    late = np.zeros(2 * BLOCK_FRAMES + RATE, np.float32)  # in the third block read
    late[2 * BLOCK_FRAMES + 8000] = np.inf
    soundfile.write(tmp_path / "late.wav", late, RATE, subtype="FLOAT")
    for name, seconds in (("early.wav", "1.50"), ("late.wav", "33.27")):
        for read in (load_audio, streamed):
            with pytest.raises(AudioError) as raised:
                read(tmp_path / name)
            assert str(raised.value) == (f"{tmp_path / name}: contains NaN or infinite samples (first at {seconds} s); "
                                         "the file is corrupt, re-encode or drop it")


def test_streaming_clips_what_loading_rescales(tmp_path):
    loud = tone(440, 0.5, RATE, amplitude=1.5)  # above full scale, below twice it
    soundfile.write(tmp_path / "loud.wav", loud, RATE, subtype="FLOAT")
    np.testing.assert_array_equal(streamed(tmp_path / "loud.wav"), np.clip(loud, -1.0, 1.0))
    np.testing.assert_allclose(load_audio(tmp_path / "loud.wav"), loud / np.abs(loud).max(), atol=1e-7)
    # Within full scale, streaming and loading give the same samples, resampled alike.
    soundfile.write(tmp_path / "8k.wav", tone(440, 0.5, 8000), 8000, subtype="FLOAT")
    np.testing.assert_array_equal(streamed(tmp_path / "8k.wav"), load_audio(tmp_path / "8k.wav"))


def test_a_single_sample_is_audio(tmp_path):
    soundfile.write(tmp_path / "one.wav", np.full(1, 0.25, np.float32), RATE, subtype="FLOAT")
    assert load_audio(tmp_path / "one.wav").tolist() == [0.25]
    assert [block.tolist() for block in stream_audio(tmp_path / "one.wav")] == [[0.25]]


def _wav_declaring(folder, data_bytes):
    """A 1 s 16-bit WAV whose data chunk declares `data_bytes` (32000 are there)."""
    soundfile.write(folder / "a.wav", tone(440, 1.0, RATE), RATE, subtype="PCM_16")
    header = bytearray((folder / "a.wav").read_bytes())
    at = header.index(b"data") + 4
    header[at : at + 4] = struct.pack("<I", data_bytes)
    return bytes(header)


@pytest.mark.parametrize("declared", [0xFFFFFFFF, 0x7FFFFFFF, 32001], ids=["unknown", "unknown-signed", "pad-byte"])
def test_unknown_sizes_and_a_missing_pad_byte_are_no_truncation(tmp_path, declared):
    assert load_audio(_wav_declaring(tmp_path, declared)).size == RATE


@pytest.mark.parametrize("declared, message", [(64000, "declares 2.00 s, the file holds 1.00 s"),
                                               (32002, "declares 1.00 s, the file holds 1.00 s")])
def test_a_data_chunk_longer_than_the_file_is_truncation(tmp_path, declared, message):
    with pytest.raises(AudioError, match=rf"^<\d+ bytes of audio>: truncated \(the header {message}\); copy"):
        load_audio(_wav_declaring(tmp_path, declared))


def test_corrupt_flac_data_names_the_file(tmp_path):
    soundfile.write(tmp_path / "a.flac", tone(440, 2.0, RATE), RATE)
    data = (tmp_path / "a.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=rf"^{tmp_path / 'cut.flac'}: corrupt audio data \("):
        load_audio(tmp_path / "cut.flac")


def _write_with_ffmpeg(path, streams):
    """A Matroska file (libsndfile cannot read it) with one audio stream per (codec, samples, sample format)."""
    with av.open(str(path), "w", format="matroska") as container:
        added = [container.add_stream(codec, rate=RATE, layout="mono") for codec, _samples, _format in streams]
        for stream, (_codec, samples, sample_format) in zip(added, streams):
            frame = av.AudioFrame.from_ndarray(samples[None, :], format=sample_format, layout="mono")
            frame.sample_rate = RATE
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                container.mux(packet)


def test_ffmpeg_integer_samples_keep_their_level(tmp_path):
    quiet = tone(440, 0.5, RATE, amplitude=0.25)
    _write_with_ffmpeg(tmp_path / "pcm.mka", [("pcm_s16le", np.round(quiet * 32767).astype(np.int16), "s16")])
    assert audio_info(tmp_path / "pcm.mka").format == "ffmpeg:pcm_s16le"
    np.testing.assert_allclose(load_audio(tmp_path / "pcm.mka"), quiet, atol=1e-4)


def test_ffmpeg_reads_the_first_audio_stream_only(tmp_path):
    first, second = tone(440, 0.5, RATE), tone(1000, 0.25, RATE)
    _write_with_ffmpeg(tmp_path / "two.mka", [("pcm_f32le", first, "flt"), ("pcm_f32le", second, "flt")])
    np.testing.assert_array_equal(load_audio(tmp_path / "two.mka"), first)


def test_corrupt_ffmpeg_data_names_the_file(tmp_path):
    _write_with_ffmpeg(tmp_path / "good.mka", [("aac", tone(440, 1.0, RATE), "flt")])
    data = bytearray((tmp_path / "good.mka").read_bytes())
    data[2000:4000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    (tmp_path / "bad.mka").write_bytes(bytes(data))
    with pytest.raises(AudioError, match=rf"^{tmp_path / 'bad.mka'}: corrupt audio data \("):
        load_audio(tmp_path / "bad.mka")


@pytest.fixture
def lengthless(monkeypatch):
    """A decoder whose container states no length (some ffmpeg streams), yielding the given blocks."""
    blocks = []

    @contextmanager
    def open_decoder(source, name):
        yield AudioInfo(RATE, 1, None, "ffmpeg:test"), iter([block[:, None] for block in blocks])

    monkeypatch.setattr(decode, "_open_decoder", open_decoder)
    return blocks


def test_a_stream_of_unknown_length_is_read_whole(lengthless):
    samples = tone(440, 1.5 * BLOCK_FRAMES / RATE, RATE)  # past the first guess of BLOCK_FRAMES
    lengthless += [samples[: BLOCK_FRAMES - 1], samples[BLOCK_FRAMES - 1 :]]
    np.testing.assert_array_equal(load_audio("stream.webm"), samples)


def test_a_stream_without_samples_is_an_error(lengthless):
    lengthless.append(np.zeros(0, np.float32))
    for read in (load_audio, streamed):
        with pytest.raises(AudioError, match=r"^stream.webm: contains no audio samples \(zero-length\)"):
            read("stream.webm")


def test_a_file_of_known_length_is_decoded_into_one_array_sized_up_front(tmp_path):
    # Seven blocks resampled from 8 kHz: an array grown by half at each overflow would end at 1.45x the output
    # (and the peak with it); sized from the header, the peak is the output and the blocks in flight.
    samples = tone(200, 7 * BLOCK_FRAMES / 8000, 8000, amplitude=0.3)
    soundfile.write(tmp_path / "long.wav", samples, 8000, subtype="PCM_16")
    tracemalloc.start()
    try:
        audio = load_audio(tmp_path / "long.wav")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert audio.size == 2 * samples.size
    assert peak < 1.5 * audio.nbytes, f"peak {peak / audio.nbytes:.2f}x the output"


def test_in_memory_arrays_are_resampled_to_float32(tmp_path):
    same = tone(440, 0.25, RATE).astype(np.float64)
    kept = decode.resample(same, RATE)
    assert kept.dtype == np.float32 and np.array_equal(kept, same.astype(np.float32))
    low = tone(440, 0.5, 8000).astype(np.float64)
    for audio in (decode.resample(low, 8000), decode.resample(low, 8000, RATE)):
        assert audio.dtype == np.float32 and audio.size == 2 * low.size
        assert abs(dominant_frequency(audio, RATE) - 440) < 5
    assert decode.resample(low, 8000, 8000).size == low.size
