import subprocess
import sys
import tracemalloc

import av
import numpy as np
import pytest
import soundfile
from conftest import dominant_frequency, tone

from robust_speech.audio.decode import audio_info, load_audio, stream_audio
from robust_speech.core.errors import AudioError, RobustSpeechError


def write_m4a(path, audio, sampling_rate):
    """AAC in MP4: a format libsndfile cannot read, so it must go through the ffmpeg fallback."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sampling_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
        frame.sample_rate = sampling_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


# (file name, sampling rate, soundfile keyword arguments)
FORMATS = [
    ("pcm16.wav", 16000, {"subtype": "PCM_16"}),
    ("pcm24_44k.wav", 44100, {"subtype": "PCM_24"}),
    ("float_8k.wav", 8000, {"subtype": "FLOAT"}),
    ("double_48k.wav", 48000, {"subtype": "DOUBLE"}),
    ("clip.flac", 22050, {}),
    ("vorbis.ogg", 32000, {"format": "OGG", "subtype": "VORBIS"}),
    ("speech.opus", 48000, {"format": "OGG", "subtype": "OPUS"}),
    ("common_voice.mp3", 48000, {"format": "MP3"}),
]


@pytest.mark.parametrize("name,rate,options", FORMATS, ids=[f[0] for f in FORMATS])
def test_every_soundfile_format_decodes_to_16k_mono_float32(tmp_path, name, rate, options):
    path = tmp_path / name
    soundfile.write(path, tone(440, 1.0, rate), rate, **options)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 16000) < 16000 * 0.08  # codecs add a little padding
    assert np.abs(audio).max() <= 1.0
    assert abs(dominant_frequency(audio, 16000) - 440) < 5
    assert not audio_info(path).format.startswith("ffmpeg")  # libsndfile handled it, no fallback


def test_format_libsndfile_lacks_goes_through_ffmpeg(tmp_path):
    path = tmp_path / "phone.m4a"
    write_m4a(path, tone(440, 1.0, 16000), 16000)
    assert audio_info(path).format == "ffmpeg:aac"
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(dominant_frequency(audio, 16000) - 440) < 5


def test_multichannel_is_mixed_to_mono(tmp_path):
    left, right = tone(300, 1.0, 48000), tone(1200, 1.0, 48000)
    six = np.zeros((48000, 6), dtype=np.float32)
    six[:, 0], six[:, 1] = left, right
    soundfile.write(tmp_path / "surround.wav", six, 48000, subtype="PCM_24")
    audio = load_audio(tmp_path / "surround.wav")
    spectrum = np.abs(np.fft.rfft(audio))
    peaks = sorted(np.argsort(spectrum)[-2:])
    assert [round(p * 16000 / audio.size) for p in peaks] == [300, 1200]  # both channels are heard


def test_bytes_and_paths_decode_identically(tmp_path):
    path = tmp_path / "a.mp3"
    soundfile.write(path, tone(440, 0.5, 48000), 48000, format="MP3")
    np.testing.assert_array_equal(load_audio(path), load_audio(path.read_bytes()))


def test_content_wins_over_a_wrong_extension(tmp_path):
    path = tmp_path / "really_an_mp3.wav"
    soundfile.write(path, tone(440, 0.5, 16000), 16000, format="MP3")
    assert abs(dominant_frequency(load_audio(path), 16000) - 440) < 5


def test_float_file_above_full_scale_is_rescaled_not_clipped(tmp_path):
    loud = tone(440, 0.5, 16000, amplitude=4.0)
    soundfile.write(tmp_path / "loud.wav", loud, 16000, subtype="FLOAT")
    audio = load_audio(tmp_path / "loud.wav")
    assert np.abs(audio).max() == pytest.approx(1.0)
    np.testing.assert_allclose(audio, loud / 4.0, atol=1e-6)


def _corrupt_files(folder):
    wav = folder / "good.wav"
    soundfile.write(wav, tone(440, 1.0, 16000), 16000)
    flac = folder / "good.flac"
    soundfile.write(flac, tone(440, 1.0, 16000), 16000)
    infinite = np.zeros((1600, 2), dtype=np.float32)
    infinite[800, 1] = np.inf
    soundfile.write(folder / "inf.wav", infinite, 16000, subtype="FLOAT")
    with_nan = tone(440, 0.2, 16000)
    with_nan[100] = np.nan
    soundfile.write(folder / "nan.wav", with_nan, 16000, subtype="FLOAT")
    soundfile.write(folder / "no_samples.wav", np.zeros(0, dtype=np.float32), 16000)
    (folder / "zero_bytes.mp3").write_bytes(b"")
    (folder / "not_audio.mp3").write_bytes(b"ID3 this is a text file pretending to be an mp3\n" * 20)
    (folder / "truncated_header.wav").write_bytes(wav.read_bytes()[:20])
    (folder / "truncated_header.flac").write_bytes(flac.read_bytes()[:30])
    (folder / "a_directory.wav").mkdir()
    return {
        "inf.wav": "NaN or infinite",
        "nan.wav": "NaN or infinite",
        "no_samples.wav": "no audio samples",
        "zero_bytes.mp3": "empty file",
        "not_audio.mp3": "not a readable audio file",
        "truncated_header.wav": "not a readable audio file",
        "truncated_header.flac": "not a readable audio file",
        "a_directory.wav": "directory",
        "missing.wav": "no such file",
    }


def test_bad_files_raise_one_line_naming_the_file(tmp_path):
    expectations = _corrupt_files(tmp_path)
    for name, reason in expectations.items():
        with pytest.raises(AudioError) as raised:
            load_audio(tmp_path / name)
        message = str(raised.value)
        assert isinstance(raised.value, RobustSpeechError)
        assert str(tmp_path / name) in message, message
        assert reason in message, message
        assert "\n" not in message


def test_empty_bytes_are_an_error():
    with pytest.raises(AudioError, match="empty buffer"):
        load_audio(b"")


def test_decoding_needs_neither_torchaudio_nor_torchcodec(tmp_path):
    path = tmp_path / "a.mp3"
    soundfile.write(path, tone(440, 0.5, 48000), 48000, format="MP3")
    code = (
        "import sys; sys.modules['torchaudio'] = None; sys.modules['torchcodec'] = None\n"
        "from robust_speech.audio.decode import load_audio\n"
        f"print(load_audio({str(path)!r}).size)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(result.stdout) > 7000


def _write_long_file(path, hours, rate):
    block = (0.3 * np.sin(2 * np.pi * 200 * np.arange(rate * 60) / rate)).astype(np.float32)
    with soundfile.SoundFile(path, "w", rate, 1, subtype="PCM_16") as file:
        for _minute in range(int(hours * 60)):
            file.write(block)


def test_one_hour_file_is_never_held_twice(tmp_path):
    path = tmp_path / "lecture.wav"
    _write_long_file(path, 1.0, 8000)
    tracemalloc.start()
    try:
        audio = load_audio(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert audio.size == pytest.approx(3600 * 16000, abs=64)
    # Reading everything then resampling would hold the 8 kHz copy next to the 16 kHz one (1.5x or more).
    assert peak < 1.1 * audio.nbytes, f"peak {peak / 2**20:.0f} MiB for {audio.nbytes / 2**20:.0f} MiB of output"


def test_streaming_a_long_file_uses_bounded_memory(tmp_path):
    path = tmp_path / "lecture.wav"
    _write_long_file(path, 0.5, 8000)
    tracemalloc.start()
    try:
        total = sum(block.size for block in stream_audio(path))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == pytest.approx(1800 * 16000, abs=64)
    assert peak < 32 * 2**20  # the whole output would be 110 MiB
