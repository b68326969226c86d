"""data/preprocess.py through its library functions: what one example becomes (decode_example's fields, each skip
reason and its detail, the limits' edges), the CTC frame count, the audio fingerprint, the decoded-cache files, the
speed line, and preprocess_split on small in-memory datasets. Written for mutation testing
(benchmarks/results/mutation.md), where test_preprocess.py's folder corpora cost seconds per mutant."""

import hashlib
import io
import time
import warnings
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pytest
import soundfile
from conftest import tone

from robust_speech.core.errors import AudioError
from robust_speech.data import preprocess
from robust_speech.data.preprocess import (
    SILENCE_PEAK,
    WRITER_BATCH_SIZE,
    PreparedSplit,
    PreprocessOptions,
    _cache_exists,
    _cache_file,
    _keep_or_append,
    audio_fingerprint,
    ctc_frames,
    decode_audio,
    decode_example,
    prepared_features,
    preprocess_split,
)
from robust_speech.data.skips import SkipAppender, SkipLog, read_skip_log
from robust_speech.text.normalizer import TextNormalizer

RATE = 16000


def clip(seconds=1.0, amplitude=0.5):
    return {"array": tone(440, seconds, RATE, amplitude), "sampling_rate": RATE, "path": "a.wav"}


def wav_bytes(seconds, rate=RATE):
    buffer = io.BytesIO()
    soundfile.write(buffer, tone(440, seconds, rate), rate, format="WAV")
    return buffer.getvalue()


def decode(audio, sentence="hello", index=0, **options):
    return decode_example(audio, sentence, "src", index, options=PreprocessOptions(**options))


def skipped(audio, sentence="hello", **options):
    result = decode(audio, sentence, **options)
    return result["skip_reason"], result["skip_detail"]


def test_a_kept_example_has_every_field():
    audio = clip(1.0)
    result = decode(audio, "Hello, World!", normalizer=TextNormalizer())
    assert set(result) == {"audio", "sentence", "source", "example", "duration", "audio_sha1", "skip_reason",
                           "skip_detail"}
    assert result["audio"]["path"] == "a.wav" and result["audio"]["sampling_rate"] == RATE
    assert result["audio"]["array"].dtype == np.float32 and np.array_equal(result["audio"]["array"], audio["array"])
    assert (result["sentence"], result["source"], result["example"]) == ("hello world", "src", "a.wav")
    assert result["duration"] == 1.0 and result["audio_sha1"] == audio_fingerprint(audio["array"])
    assert (result["skip_reason"], result["skip_detail"]) == ("", "")
    unnamed = decode({"array": audio["array"], "sampling_rate": RATE, "path": None}, "hello", index=7)
    assert unnamed["example"] == "#7" and unnamed["audio"]["path"] == ""
    assert decode({"array": audio["array"], "sampling_rate": 8000}, "hello", sampling_rate=8000)["audio"][
        "sampling_rate"] == 8000


def test_transcript_skips_and_their_details():
    missing = decode(clip(), None)
    assert (missing["skip_reason"], missing["skip_detail"], missing["sentence"]) == ("missing transcript", "", "")
    assert missing["audio"]["array"].size == 0 and missing["audio"]["array"].dtype == np.float32
    assert skipped(clip(), "   ") == ("empty transcript after normalization", "")
    assert skipped(clip(), "", normalizer=TextNormalizer()) == ("empty transcript after normalization", "was ''")
    assert skipped(clip(), "...!", normalizer=TextNormalizer()) == ("empty transcript after normalization", "was '...!'")
    assert decode(clip(), " x ")["sentence"] == " x "  # kept as written without a normalizer
    outside = skipped(clip(), "zebra ǂ xylo", normalizer=TextNormalizer(), vocabulary_chars="abelorxy")
    assert outside == ("characters outside the vocabulary", "z ǂ")
    assert skipped(clip(), "a b", normalizer=TextNormalizer(), vocabulary_chars="ab") == ("", "")  # space allowed


def test_text_checks_run_before_decoding_and_text_only_never_decodes():
    nothing = {"bytes": None, "path": None}  # would fail to decode
    assert skipped(nothing, None) == ("missing transcript", "")
    result = decode(nothing, "Fine text", normalizer=TextNormalizer(), decode_audio=False)
    assert (result["sentence"], result["skip_reason"], result["audio_sha1"], result["duration"]) == (
        "fine text", "", "", 0.0)


def test_duration_limits_are_inclusive_and_named_in_the_detail():
    assert skipped(clip(0.5), min_duration_s=0.5) == ("", "")
    assert skipped(clip(0.5), min_duration_s=0.51) == ("too short", "0.50 s < 0.51 s")
    assert skipped(clip(2.0), max_duration_s=2.0) == ("", "")
    assert skipped(clip(2.0), max_duration_s=1.5) == ("too long", "2.00 s > 1.5 s")
    assert decode(clip(0.5), min_duration_s=0.6)["duration"] == 0.5


def test_a_file_too_long_by_its_header_is_not_decoded(monkeypatch):
    from robust_speech.data import preprocess

    data = wav_bytes(3.0)
    assert skipped({"bytes": data, "path": "x.wav"}, max_duration_s=1.5) == (
        "too long", "over 1.5 s (from the file header)")
    # Within a second of the limit the header is not trusted: decoded and measured.
    assert skipped({"bytes": data, "path": "x.wav"}, max_duration_s=2.0) == ("too long", "3.00 s > 2.0 s")
    assert skipped({"bytes": data, "path": "x.wav"}, max_duration_s=3.0) == ("", "")
    monkeypatch.setattr(preprocess, "load_audio", lambda *args, **kwargs: pytest.fail("decoded"))
    assert skipped({"bytes": data, "path": "x.wav"}, max_duration_s=1.9)[0] == "too long"


def test_the_header_check_reads_bytes_or_the_path_and_names_the_file(tmp_path):
    path = tmp_path / "long.wav"
    path.write_bytes(wav_bytes(3.0))
    assert skipped(str(path), max_duration_s=1.0)[1] == "over 1.0 s (from the file header)"
    assert skipped({"bytes": None, "path": str(path)}, max_duration_s=1.0)[1] == "over 1.0 s (from the file header)"
    broken = {"bytes": b"RIFF....WAVEjunk" * 4, "path": "named.wav"}
    reason, detail = skipped(broken, max_duration_s=1.0)
    assert reason == "undecodable audio" and detail.startswith("named.wav: ")
    # Decoded arrays have no header to read: measured only.
    assert skipped(clip(3.0), max_duration_s=1.0) == ("too long", "3.00 s > 1.0 s")
    reason, detail = skipped({"bytes": None, "path": None}, max_duration_s=1.0)
    assert (reason, detail) == ("undecodable audio", "the row has neither audio bytes nor a path")


def test_the_ctc_frames_a_transcript_needs():
    # 560 samples (35 ms) give the first frame, every 320 (20 ms) one more.
    assert [ctc_frames(n, RATE) for n in (0, 559, 560, 879, 880, 1200)] == [0, 0, 1, 1, 2, 3]
    assert [ctc_frames(n, 8000) for n in (279, 280, 439, 440)] == [0, 1, 1, 2]
    samples = 560 + 320 * 2  # 3 frames: "abc" fits, "abcd" does not
    audio = {"array": tone(440, 1.0, RATE)[:samples], "sampling_rate": RATE, "path": "a.wav"}
    assert skipped(audio, "abc") == ("", "")
    assert skipped(audio, "abcd") == (
        "too short", "0.0750 s is 3 CTC frames of 20 ms; its transcript needs 4")


def test_silence_is_skipped_with_its_peak():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clip of zeros is described without taking log10(0)
        assert skipped(clip(1.0, amplitude=0.0)) == ("silent audio", "peak -inf dBFS < -60 dBFS")
    quiet = clip(1.0)
    quiet["array"] = np.full(RATE, -10 ** (-70 / 20), dtype=np.float32)
    assert skipped(quiet) == ("silent audio", "peak -70 dBFS < -60 dBFS")
    at_limit = clip(1.0)
    at_limit["array"] = np.full(RATE, np.float32(SILENCE_PEAK) * np.float32(1.001), dtype=np.float32)
    assert skipped(at_limit) == ("", "")
    assert SILENCE_PEAK == pytest.approx(0.001)


def test_decode_audio_mixes_channels_either_layout_and_resamples(tmp_path):
    left, right = np.full(800, 0.25, dtype=np.float32), np.full(800, 0.75, dtype=np.float32)
    channels_first = decode_audio({"array": np.stack([left, right]), "sampling_rate": 8000}, 8000)
    channels_last = decode_audio({"array": np.stack([left, right], axis=1), "sampling_rate": 8000}, 8000)
    assert channels_first.shape == channels_last.shape == (800,) and np.allclose(channels_first, 0.5)
    assert np.allclose(channels_last, 0.5)
    as_list = decode_audio({"array": [0.5] * 800, "sampling_rate": 8000}, 8000)
    assert as_list.dtype == np.float32 and as_list.size == 800
    assert decode_audio({"array": np.zeros(8000, dtype=np.float64), "sampling_rate": 8000}, RATE).size == RATE
    data = wav_bytes(0.5, 8000)
    assert decode_audio({"bytes": data, "path": "missing.wav"}, RATE).size == 8000  # bytes before the path
    (tmp_path / "a.wav").write_bytes(data)
    assert decode_audio({"bytes": None, "path": str(tmp_path / "a.wav")}, RATE).size == 8000
    assert decode_audio(str(tmp_path / "a.wav"), RATE).size == 8000
    assert decode_audio(str(tmp_path / "a.wav"), 8000).size == 4000  # the rate asked for, not the default
    with pytest.raises(AudioError, match=r"^bad\.wav: "):  # bytes that fail are named by the row's path
        decode_audio({"bytes": b"not audio at all", "path": "bad.wav"}, RATE)
    with pytest.raises(AudioError, match=r"^gone\.wav: no such file$"):
        decode_audio({"bytes": None, "path": "gone.wav"}, RATE)
    with pytest.raises(AudioError, match="^<"):
        decode_audio({"bytes": b"not audio at all", "path": None}, RATE)  # no name: the buffer is described
    with pytest.raises(AudioError, match="^the row has neither audio bytes nor a path$"):
        decode_audio(None, RATE)


def test_the_fingerprint_is_sha1_of_clipped_16_bit_little_endian_samples():
    samples = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7, -3.0, 0.49999], dtype=np.float32)
    expected = np.array([0, 16384, -16384, 32767, -32767, 32767, -32767, 16383], dtype="<i2")
    assert audio_fingerprint(samples) == hashlib.sha1(expected.tobytes()).hexdigest()


def test_keep_or_append(tmp_path):
    assert _keep_or_append("s", "e", "", "", split="train", appender=None)
    assert not _keep_or_append("s", "e", "too long", "", split="train", appender=None)
    appender = SkipAppender(tmp_path / "skipped.tsv")
    assert _keep_or_append("s", "e", "", "", split="train", appender=appender)
    assert not _keep_or_append("s", "e", "too long", "3 s", split="dev", appender=appender)
    assert [tuple(row.values()) for row in read_skip_log(tmp_path / "skipped.tsv")] == [
        ("dev", "s", "e", "too long", "3 s")]


def test_cache_files_and_their_shards(tmp_path, monkeypatch):
    in_memory = datasets.Dataset.from_dict({"x": [1]})
    assert _cache_file(in_memory, "f00", tmp_path / "given") == tmp_path / "given" / "robust-speech-decoded-f00.arrow"
    assert (tmp_path / "given").is_dir()
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf"))
    assert _cache_file(in_memory, "f00", None) == tmp_path / "hf" / "robust_speech" / "robust-speech-decoded-f00.arrow"
    in_memory.save_to_disk(tmp_path / "saved")
    on_disk = datasets.load_from_disk(tmp_path / "saved")
    assert _cache_file(on_disk, "f00", None).parent == Path(on_disk.cache_files[0]["filename"]).parent
    cache = tmp_path / "c.arrow"
    assert not _cache_exists(cache, 1)
    cache.touch()
    assert _cache_exists(cache, 1) and not _cache_exists(cache, 2)
    (tmp_path / "c_00000_of_00002.arrow").touch()
    assert not _cache_exists(cache, 2)
    (tmp_path / "c_00001_of_00002.arrow").touch()
    assert _cache_exists(cache, 2)


def test_speed_lines():
    assert PreparedSplit(None, 10, 8, 2.0, False, 1).examples_per_second == 5.0
    assert PreparedSplit(None, 10, 8, 2.0, False, 1).speed_line("train") == (
        "train: prepared 10 examples in 2.0 s (5.0 examples/s, 1 worker)")
    assert PreparedSplit(None, 10, 8, 2.0, False, 3).speed_line("dev").endswith("3 workers)")
    cached = PreparedSplit(None, 10, 8, 0.25, True, 2)
    assert cached.examples_per_second is None
    assert cached.speed_line("train") == "train: 10 examples read from the preprocessing cache in 0.2 s"
    assert PreparedSplit(None, 10, 8, 0.0, False, 1).examples_per_second is None
    streaming = PreparedSplit(None, None, None, 0.0, False, 1)
    assert streaming.examples_per_second is None
    assert streaming.speed_line("train") == "train: streaming; examples are decoded as training reads them"
    assert PreparedSplit(None, 0, 0, 0.0, False, 1).speed_line("eval") == "eval: the split holds no examples"


def rows():
    good = tone(440, 0.5, RATE)
    return {
        "audio": [{"array": good, "sampling_rate": RATE, "path": p} for p in ("a.wav", "b.wav", "c.wav", "d.wav")],
        "sentence": ["One", None, "Two!", "..."],
        "source": ["src"] * 4,
    }


def test_preprocess_split_keeps_the_good_rows_and_logs_the_rest(tmp_path):
    dataset = datasets.Dataset.from_dict(rows())
    log = SkipLog()
    started = time.perf_counter()
    prepared = preprocess_split(dataset, "train", PreprocessOptions(TextNormalizer()), log, cache_dir=tmp_path / "c")
    assert (prepared.total, prepared.kept, prepared.workers, prepared.from_cache) == (4, 2, 1, False)
    assert 0 < prepared.seconds <= time.perf_counter() - started
    assert prepared.dataset.column_names == ["audio", "sentence", "source", "example", "duration", "audio_sha1"]
    assert prepared.dataset["sentence"][:] == ["one", "two"] and prepared.dataset["example"][:] == ["a.wav", "c.wav"]
    assert prepared.dataset.features["audio"]["array"].feature.dtype == "float32"
    assert prepared.dataset.features["duration"].dtype == "float32"
    assert log.rows == [("train", "src", "b.wav", "missing transcript", ""),
                        ("train", "src", "d.wav", "empty transcript after normalization", "was '...'")]
    assert len(list((tmp_path / "c").glob("robust-speech-decoded-*.arrow"))) == 1
    again = preprocess_split(dataset, "train", PreprocessOptions(TextNormalizer()), SkipLog(), cache_dir=tmp_path / "c")
    assert again.from_cache and again.dataset["sentence"][:] == ["one", "two"]
    fresh = preprocess_split(dataset, "train", PreprocessOptions(TextNormalizer()), SkipLog(), cache_dir=tmp_path / "c",
                             overwrite_cache=True)
    assert not fresh.from_cache


def test_the_cache_is_read_instead_of_decoding_unless_overwritten(tmp_path, monkeypatch):
    decoded = []

    def counting(audio, sentence, source, index, **kwargs):
        decoded.append(index)
        return decode_example(audio, sentence, source, index, **kwargs)

    monkeypatch.setattr(preprocess, "decode_example", counting)
    dataset = datasets.Dataset.from_dict(rows())
    options = PreprocessOptions(TextNormalizer())
    preprocess_split(dataset, "train", options, SkipLog(), cache_dir=tmp_path)
    assert decoded == [0, 1, 2, 3]
    again = preprocess_split(dataset, "train", options, SkipLog(), cache_dir=tmp_path)
    assert decoded == [0, 1, 2, 3] and again.dataset["sentence"][:] == ["one", "two"]
    preprocess_split(dataset, "train", options, SkipLog(), cache_dir=tmp_path, overwrite_cache=True)
    assert decoded == [0, 1, 2, 3] * 2


def test_the_cache_is_written_in_batches_of_bounded_rows(tmp_path):
    # Decoded audio is large: the writer flushes every WRITER_BATCH_SIZE rows rather than datasets' 1000.
    short = {"array": tone(440, 0.05, RATE), "sampling_rate": RATE, "path": "a.wav"}
    count = WRITER_BATCH_SIZE + 1
    dataset = datasets.Dataset.from_dict({"audio": [short] * count, "sentence": ["a"] * count, "source": ["s"] * count})
    preprocess_split(dataset, "train", PreprocessOptions(TextNormalizer()), SkipLog(), cache_dir=tmp_path)
    (cache,) = tmp_path.glob("robust-speech-decoded-*.arrow")
    with pa.memory_map(str(cache)) as source:
        sizes = [batch.num_rows for batch in pa.ipc.open_stream(source)]
    assert sizes == [WRITER_BATCH_SIZE, 1]


def test_workers_are_bounded_by_the_rows_and_at_least_one(tmp_path):
    one_row = datasets.Dataset.from_dict({key: value[:1] for key, value in rows().items()})
    options = PreprocessOptions(TextNormalizer())
    assert preprocess_split(one_row, "train", options, SkipLog(), num_workers=4, cache_dir=tmp_path).workers == 1
    assert preprocess_split(one_row, "train", options, SkipLog(), num_workers=0, cache_dir=tmp_path).workers == 1
    two_rows = datasets.Dataset.from_dict({key: value[:2] for key, value in rows().items()})
    two = preprocess_split(two_rows, "train", options, SkipLog(), num_workers=4, cache_dir=tmp_path / "two")
    # Two workers write one cache shard each, which the next run with two workers finds.
    assert two.workers == 2 and len(list((tmp_path / "two").glob("*_0000[01]_of_00002.arrow"))) == 2
    assert preprocess_split(two_rows, "train", options, SkipLog(), num_workers=2, cache_dir=tmp_path / "two").from_cache


def test_a_split_without_rows_is_an_empty_prepared_split(tmp_path):
    # datasets' map adds no column to zero rows; the prepared columns must still be there for the empty-split check.
    empty = datasets.Dataset.from_dict({key: value[:0] for key, value in rows().items()})
    prepared = preprocess_split(empty, "eval", PreprocessOptions(TextNormalizer()), SkipLog(), num_workers=4,
                                cache_dir=tmp_path)
    assert (prepared.total, prepared.kept, prepared.workers, prepared.from_cache) == (0, 0, 1, False)
    assert prepared.seconds == 0.0 and prepared.examples_per_second is None
    assert prepared.dataset.column_names == ["audio", "sentence", "source", "example", "duration", "audio_sha1"]
    assert prepared.dataset.features["audio"]["array"].feature.dtype == "float32" and len(prepared.dataset) == 0


def test_a_split_with_nothing_skipped_is_the_whole_split(tmp_path):
    dataset = datasets.Dataset.from_dict({key: [value[0], value[2]] for key, value in rows().items()})
    prepared = preprocess_split(dataset, "dev", PreprocessOptions(), SkipLog(), cache_dir=tmp_path)
    assert prepared.kept == 2 and prepared.dataset["sentence"][:] == ["One", "Two!"]


def test_a_stream_is_filtered_lazily_and_its_skips_appended(tmp_path):
    stream = datasets.Dataset.from_dict(rows()).to_iterable_dataset()
    skip_file = tmp_path / "skipped.tsv"
    prepared = preprocess_split(stream, "train", PreprocessOptions(TextNormalizer()), SkipLog(),
                                streaming_skip_file=skip_file)
    assert (prepared.total, prepared.kept, prepared.seconds, prepared.from_cache, prepared.workers) == (
        None, None, 0.0, False, 1)
    assert not skip_file.exists()  # nothing read yet
    kept = list(prepared.dataset)
    assert [row["sentence"] for row in kept] == ["one", "two"]
    assert "skip_reason" not in kept[0] and "skip_detail" not in kept[0]
    assert [(row["split"], row["example"], row["reason"]) for row in read_skip_log(skip_file)] == [
        ("train", "b.wav", "missing transcript"), ("train", "d.wav", "empty transcript after normalization")]
    unlogged = preprocess_split(stream, "train", PreprocessOptions(TextNormalizer()), SkipLog())
    assert [row["sentence"] for row in unlogged.dataset] == ["one", "two"]


def test_prepared_features_types():
    features = prepared_features()
    assert features["audio"]["sampling_rate"].dtype == "int32" and features["audio"]["path"].dtype == "string"
    assert {name: features[name].dtype for name in ("sentence", "source", "example", "audio_sha1", "skip_reason",
                                                    "skip_detail")} == dict.fromkeys(
        ("sentence", "source", "example", "audio_sha1", "skip_reason", "skip_detail"), "string")
