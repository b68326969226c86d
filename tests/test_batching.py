"""Duration-bucketed batches and the CTC collator."""

import numpy as np
import pytest
import torch
from transformers import (
    SeamlessM4TFeatureExtractor,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Processor,
)

from robust_speech.audio.augment import Augmenter, AugmentOptions
from robust_speech.training.batching import CTCCollator, DurationBatchSampler, StreamBuckets, padding_ratio
from robust_speech.training.feature_cache import FeatureCache


@pytest.fixture
def durations():
    return np.random.default_rng(0).uniform(0.5, 15.0, size=500)


def test_every_example_once_per_epoch_and_every_batch_within_budget(durations):
    sampler = DurationBatchSampler(durations, 60.0, seed=1)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(durations.size))
        assert all(durations[batch].max() * len(batch) <= 60.0 for batch in batches)


def test_epochs_reshuffle_deterministically(durations):
    sampler = DurationBatchSampler(durations, 60.0, seed=1)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    again = DurationBatchSampler(durations, 60.0, seed=1)
    again.set_epoch(1)
    assert second == list(again) and first != second


def test_padding_is_far_below_fixed_size_random_batches(durations):
    sampler = DurationBatchSampler(durations, 60.0, seed=1)
    dynamic = list(sampler)
    size = int(round(durations.size / len(dynamic)))
    order = np.random.default_rng(2).permutation(durations.size)
    fixed = [order[i : i + size].tolist() for i in range(0, durations.size, size)]
    assert padding_ratio(dynamic, durations) < 1.15 < padding_ratio(fixed, durations)


def test_drop_last_leaves_out_each_buckets_short_batch(durations):
    full = DurationBatchSampler(durations, 60.0, seed=1)
    dropped = DurationBatchSampler(durations, 60.0, seed=1, drop_last=True)
    batches = list(dropped)
    assert len(batches) == len(dropped) < len(full)
    sizes = dict(zip(map(tuple, map(sorted, (b.tolist() for b in dropped.buckets))), dropped.bucket_batch_sizes))
    assert all(len(batch) == next(size for bucket, size in sizes.items() if batch[0] in bucket) for batch in batches)


def test_a_clip_longer_than_the_budget_gets_a_batch_of_its_own():
    sampler = DurationBatchSampler([1.0, 2.0, 30.0, 1.5], 10.0, num_buckets=2)
    batches = list(sampler)
    assert [2] in batches and sorted(i for batch in batches for i in batch) == [0, 1, 2, 3]


class CountingStream:
    """Rows with a duration, counting how many were read (a stream that must not be read ahead)."""

    def __init__(self, durations):
        self.durations = durations
        self.read = 0
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def __iter__(self):
        for index, duration in enumerate(self.durations):
            self.read += 1
            yield {"index": index, "duration": float(duration)}


def test_stream_buckets_keep_the_budget_and_read_one_buffer_at_a_time(durations):
    stream = CountingStream(durations)
    buckets = StreamBuckets(stream, max_batch_duration_s=60.0, buffer_size=100, seed=1)
    iterator = iter(buckets)
    first = next(iterator)
    assert stream.read == 100  # one buffer, not the stream
    batches = [first, *iterator]
    assert sorted(row["index"] for batch in batches for row in batch) == list(range(durations.size))
    assert all(len(batch) * max(row["duration"] for row in batch) <= 60.0 or len(batch) == 1 for batch in batches)
    indices = [[row["index"] for row in batch] for batch in batches]
    # Bucketing within each buffer of 100 pads far less than fixed batches of the stream's order.
    fixed = [list(range(start, min(start + 8, durations.size))) for start in range(0, durations.size, 8)]
    assert padding_ratio(indices, durations) < 0.75 * padding_ratio(fixed, durations)
    buckets.set_epoch(1)
    assert stream.epochs == [1]
    assert [[row["index"] for row in batch] for batch in buckets] != indices  # reshuffled per epoch


def test_stream_buckets_by_count_group_by_length():
    buckets = StreamBuckets(CountingStream([5.0, 1.0, 4.0, 2.0, 3.0, 6.0]), batch_size=2, buffer_size=6, seed=0)
    batches = sorted([sorted(row["duration"] for row in batch) for batch in buckets])
    assert batches == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    with pytest.raises(ValueError):
        StreamBuckets([], batch_size=2, max_batch_duration_s=3.0)


def test_collator_pads_audio_and_masks_label_padding(tmp_path):
    vocab = {"[PAD]": 0, "[UNK]": 1, "|": 2, "a": 3, "b": 4}
    (tmp_path / "vocab.json").write_text(__import__("json").dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), bos_token=None, eos_token=None)
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    collate = CTCCollator(Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer))
    rows = [{"audio": {"array": np.ones(1600, np.float32) * 0.1}, "sentence": "ab ba"},
            {"audio": {"array": np.linspace(-1, 1, 800, dtype=np.float32)}, "sentence": "a"}]
    batch = collate(rows)
    assert batch["input_values"].shape == (2, 1600) and batch["attention_mask"][1].sum() == 800
    assert batch["labels"].tolist() == [[3, 4, 2, 4, 3], [3, -100, -100, -100, -100]]
    assert torch.allclose(batch["input_values"][1, :800].mean(), torch.tensor(0.0), atol=1e-5)  # normalized


def _processor(tmp_path, extractor):
    vocab = {"[PAD]": 0, "[UNK]": 1, "|": 2, "a": 3, "b": 4}
    (tmp_path / "vocab.json").write_text(__import__("json").dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), bos_token=None, eos_token=None)
    return Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer)


def _rows(count, seed=0):
    rng = np.random.default_rng(seed)
    return [{"audio": {"array": (0.1 * rng.standard_normal(int(rng.integers(4000, 24000)))).astype(np.float32)},
             "sentence": "ab"} for _ in range(count)]


@pytest.mark.parametrize("extractor", [SeamlessM4TFeatureExtractor(), Wav2Vec2FeatureExtractor(return_attention_mask=True)],
                         ids=["filterbank", "waveform"])
def test_cached_features_give_the_batch_the_extractor_builds_bit_for_bit(tmp_path, extractor):
    processor = _processor(tmp_path, extractor)
    rows = _rows(6)
    cache = FeatureCache(extractor, 2**30)
    plain, cached = CTCCollator(processor), CTCCollator(processor, feature_cache=cache)
    for batch_rows in (rows[:4], rows[2:], rows[:4]):  # misses, half hits (another padded length), all hits
        expected, got = plain(batch_rows), cached(batch_rows)
        assert expected.keys() == got.keys()
        for name in expected:
            assert expected[name].dtype == got[name].dtype and torch.equal(expected[name], got[name]), name
    assert (cache.misses, cache.hits) == (6, 2 + 4)


def test_the_cache_stops_growing_at_its_cap_and_serves_only_spectrogram_extractors(tmp_path):
    extractor = SeamlessM4TFeatureExtractor()
    rows = _rows(4)
    one = FeatureCache(extractor, 2**30).features(rows[0]["audio"]["array"])
    cache = FeatureCache(extractor, sum(values.nbytes for values in one.values()))
    for row in rows * 2:
        cache.features(row["audio"]["array"])
    assert len(cache._features) == 1 and (cache.hits, cache.misses) == (1, 7)
    assert FeatureCache.worth_it(extractor)
    # A waveform extractor only normalizes (cheap); without an attention mask it normalizes over the padding
    # too, so per-example features padded afterwards would even differ.
    assert not FeatureCache.worth_it(Wav2Vec2FeatureExtractor(return_attention_mask=True))
    assert not FeatureCache.worth_it(Wav2Vec2FeatureExtractor(return_attention_mask=False))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_warmed_cache_serves_every_step_with_the_features_the_extractor_computes(tmp_path, workers):
    extractor = SeamlessM4TFeatureExtractor()
    rows = _rows(5)
    audios = [row["audio"]["array"] for row in rows]
    cache = FeatureCache(extractor, 2**30)
    assert cache.warm(iter(audios + audios[:1]), workers) == 6  # a repeated clip is kept once
    assert len(cache._features) == 5 and (cache.hits, cache.misses) == (0, 0)
    processor = _processor(tmp_path, extractor)
    expected, got = CTCCollator(processor)(rows), CTCCollator(processor, feature_cache=cache)(rows)
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert (cache.hits, cache.misses) == (5, 0)  # nothing left to compute during training
    one = sum(values.nbytes for values in cache.features(audios[0]).values())
    capped = FeatureCache(extractor, one)
    assert capped.warm(iter(audios), workers) == 1 and len(capped._features) == 1  # stops at the cap


def test_augmented_batches_bypass_the_cache(tmp_path):
    extractor = SeamlessM4TFeatureExtractor()
    cache = FeatureCache(extractor, 2**30)
    augmenter = Augmenter(AugmentOptions({"noise": 1.0}, sampling_rate=extractor.sampling_rate))
    CTCCollator(_processor(tmp_path, extractor), augmenter, cache)(_rows(3))
    assert cache.misses == cache.hits == 0


@pytest.mark.parametrize("seconds", [0.05, 0.9, 3.7])
def test_the_vectorized_spectrogram_gives_the_librarys_features_bit_for_bit(seconds):
    import importlib

    from robust_speech.audio.fbank import fast_spectrograms

    extractor = SeamlessM4TFeatureExtractor()
    audio = (0.1 * np.random.default_rng(int(seconds * 10)).standard_normal(int(seconds * 16000))).astype(np.float32)
    library = extractor(audio, sampling_rate=16000, return_tensors="np", return_attention_mask=True)
    module = importlib.import_module(type(extractor).__module__)
    original = module.spectrogram
    with fast_spectrograms(extractor):
        assert module.spectrogram is not original  # ours is the one called inside
        fast = extractor(audio, sampling_rate=16000, return_tensors="np", return_attention_mask=True)
    assert module.spectrogram is original
    for name in library:
        assert np.array_equal(library[name], fast[name]), name


@pytest.mark.parametrize("do_normalize, padding_value", [(True, 0.0), (True, 0.5), (False, 0.0), (False, -1.0)])
def test_waveform_inputs_are_the_extractors_bit_for_bit(do_normalize, padding_value):
    from robust_speech.model.waveform_inputs import handles, waveform_inputs

    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=do_normalize, padding_value=padding_value)
    assert handles(extractor)
    rng = np.random.default_rng(3)
    for trial in range(20):
        count = int(rng.integers(1, 6))
        # Odd trials: equal lengths (a long recording's chunks), normalized as one array.
        sizes = [int(rng.integers(400, 40000))] * count if trial % 2 else rng.integers(400, 40000, count).tolist()
        audios = [(rng.standard_normal(size) * rng.uniform(0.01, 2) + rng.uniform(-1, 1)).astype(np.float32)
                  for size in sizes]
        expected = extractor(audios, sampling_rate=16000, padding=True, return_tensors="pt", return_attention_mask=True)
        found = {key: torch.from_numpy(value) for key, value in waveform_inputs(extractor, audios).items()}
        assert found.keys() == {"input_values", "attention_mask"}
        for key in found:
            assert found[key].dtype == expected[key].dtype and torch.equal(found[key], expected[key]), key
        without_mask = waveform_inputs(extractor, audios, attention_mask=False)
        assert without_mask.keys() == {"input_values"}
        assert np.array_equal(without_mask["input_values"], found["input_values"].numpy())


def test_waveform_inputs_leave_other_extractors_and_left_padding_to_the_library():
    from robust_speech.model.waveform_inputs import handles

    class Subclass(Wav2Vec2FeatureExtractor):
        pass

    assert not handles(Subclass()) and not handles(Wav2Vec2FeatureExtractor(padding_side="left"))
    assert not handles(SeamlessM4TFeatureExtractor())


def test_the_warm_up_workers_run_one_native_thread_each_and_the_main_process_keeps_its_own(monkeypatch):
    import robust_speech.training.feature_cache as feature_cache
    from robust_speech.core.threads import native_threads

    before = native_threads()
    # Forked workers inherit the patch: each reports its own thread count in place of features.
    monkeypatch.setattr(feature_cache, "_extract", lambda extractor, audio: {"threads": np.array([native_threads()])})
    cache = FeatureCache(SeamlessM4TFeatureExtractor(), 2**30)
    audios = [np.full(100 + index, 0.1, dtype=np.float32) for index in range(8)]
    assert cache.warm(iter(audios), 2) == 8
    assert {int(example["threads"][0]) for example in cache._features.values()} == {1}
    assert native_threads() == before
