"""training/batching.py's contracts that test_batching.py leaves open, each found by mutation testing
(benchmarks/results/mutation.md): refusals, defaults, the budget's edge, the babble talkers and the per-worker
generators of the collator."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

from robust_speech.training.batching import CTCCollator, DurationBatchSampler, StreamBuckets


def rows_of(durations):
    return [{"index": index, "duration": float(duration)} for index, duration in enumerate(durations)]


def indices(batches):
    return sorted(sorted(row["index"] for row in batch) for batch in batches)


def test_budgets_and_buffers_must_be_positive():
    with pytest.raises(ValueError, match="^max_batch_duration_s must be positive$"):
        DurationBatchSampler([1.0], 0)
    with pytest.raises(ValueError, match="^give max_batch_duration_s or batch_size$"):
        StreamBuckets([])
    for budget in ({"max_batch_duration_s": 0}, {"batch_size": 0}):
        with pytest.raises(ValueError, match="^the batch budget must be positive$"):
            StreamBuckets([], **budget)
    StreamBuckets([], max_batch_duration_s=0.5)  # fractions of a second and one row are budgets
    StreamBuckets([], batch_size=1, buffer_size=1)
    with pytest.raises(ValueError, match="^buffer_size must be positive$"):
        StreamBuckets([], batch_size=1, buffer_size=0)


def test_sampler_defaults_ten_buckets_seed_zero_and_keeps_a_short_last_batch():
    durations = np.linspace(1.0, 10.0, 100)
    sampler = DurationBatchSampler(durations, 25.0)
    assert len(sampler.buckets) == 10 and sampler.seed == 0 and not sampler.drop_last and sampler.epoch == 0
    assert list(sampler) == list(DurationBatchSampler(durations, 25.0, num_buckets=10, seed=0))
    assert list(sampler) != list(DurationBatchSampler(durations, 25.0, seed=1))
    # Fewer examples than buckets: one bucket each; none at all: no batch.
    assert len(DurationBatchSampler([3.0, 1.0], 10.0).buckets) == 2
    empty = DurationBatchSampler([], 10.0)
    assert list(empty) == [] and len(empty) == 0
    # A bucket of 3 clips of 4 s in batches of 2 (8 s of a 10 s budget): the last batch holds the third.
    three = DurationBatchSampler([4.0, 4.0, 4.0], 10.0, num_buckets=1)
    assert three.bucket_batch_sizes == [2] and len(three) == 2
    assert sorted(map(len, three)) == [1, 2]


def test_a_batch_exactly_at_the_budget_fits():
    assert DurationBatchSampler([5.0, 5.0], 10.0, num_buckets=1).bucket_batch_sizes == [2]
    assert indices(StreamBuckets(rows_of([5.0, 5.0, 5.0]), max_batch_duration_s=10.0)) == [[0, 1], [2]]
    assert indices(StreamBuckets(rows_of([1.0, 2.0, 3.0]), batch_size=2)) == [[0, 1], [2]]
    # Clips of zero seconds all fit one batch (no division by zero).
    assert DurationBatchSampler([0.0, 0.0], 10.0).bucket_batch_sizes[0] >= 2


def test_stream_buffers_are_cut_at_the_buffer_size():
    stream = rows_of([1.0, 9.0, 2.0, 8.0])
    # Batches of two: buffers of 2 pair the neighbours in the stream, one buffer of 4 pairs them by length.
    assert indices(StreamBuckets(stream, batch_size=2, buffer_size=2)) == [[0, 1], [2, 3]]
    assert indices(StreamBuckets(stream, batch_size=2, buffer_size=4)) == [[0, 2], [1, 3]]
    assert indices(StreamBuckets(stream, batch_size=2)) == [[0, 2], [1, 3]]  # default buffer (500): one buffer


def test_stream_defaults_seed_zero_and_a_plain_list_takes_epochs():
    buckets = StreamBuckets(rows_of(range(1, 21)), batch_size=2)
    assert buckets.seed == 0 and buckets.epoch == 0 and buckets.buffer_size == 500
    first = [[row["index"] for row in batch] for batch in buckets]
    same = StreamBuckets(rows_of(range(1, 21)), batch_size=2, seed=0)
    assert [[row["index"] for row in batch] for batch in same] == first
    buckets.set_epoch(3)  # a list has no set_epoch: only the shuffle changes
    assert buckets.epoch == 3 and [[row["index"] for row in batch] for batch in buckets] != first


@pytest.fixture
def processor(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({"[PAD]": 0, "[UNK]": 1, "|": 2, "a": 3, "b": 4}))
    tokenizer = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), bos_token=None, eos_token=None)
    return lambda **options: Wav2Vec2Processor(feature_extractor=Wav2Vec2FeatureExtractor(**options), tokenizer=tokenizer)


class RecordingAugmenter:
    """Records what the collator passes to `apply` (the babble talkers) and returns the clip halved."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.options = SimpleNamespace(seed=seed)
        self.calls = []

    def apply(self, audio, rng, others):
        self.calls.append((audio.copy(), [other.copy() for other in others], rng))
        return audio * 0.5


def test_the_babble_talkers_are_the_batchs_other_clean_clips(processor):
    clips = [np.full(400 + 100 * index, 0.1 * (index + 1), np.float32) for index in range(3)]
    augmenter = RecordingAugmenter()
    batch = CTCCollator(processor(do_normalize=False), augmenter)(
        [{"audio": {"array": clip.astype(np.float64)}, "sentence": "ab"} for clip in clips])
    for position, (audio, others, rng) in enumerate(augmenter.calls):
        assert audio.dtype == np.float32 and np.array_equal(audio, clips[position])
        assert [other.tolist() for other in others] == [clip.tolist() for i, clip in enumerate(clips) if i != position]
        assert rng is augmenter.rng  # the main process: the augmenter's own generator
    assert np.allclose(batch["input_values"][2].numpy(), clips[2] * 0.5)  # the augmented audio is what is batched


def test_without_an_attention_mask_the_extractor_gives_none(processor):
    batch = CTCCollator(processor(return_attention_mask=False))(
        [{"audio": {"array": np.ones(800, np.float32)}, "sentence": "a"}])
    assert "attention_mask" not in batch and batch["input_values"].shape == (1, 800)


def test_each_dataloader_worker_draws_from_its_own_generator(processor, monkeypatch):
    augmenter = RecordingAugmenter(seed=7)
    collate = CTCCollator(processor(), augmenter)
    worker = SimpleNamespace(id=0)
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: worker)
    first = collate._rng()
    assert collate._rng() is first  # one generator per worker, kept
    assert first.random() == np.random.default_rng([7, 1]).random()
    worker.id = 1
    assert collate._rng().random() == np.random.default_rng([7, 2]).random()


def test_the_batch_size_is_the_largest_that_fits_in_exact_arithmetic():
    from fractions import Fraction

    rng = np.random.default_rng(0)
    pairs = [(1.0, 0.1), (0.3, 0.1), (2.0, 0.5), (0.5, 0.2), (10.0, 0.7)]
    pairs += [(float(rng.uniform(0.5, 60)), float(rng.uniform(0.05, 20))) for _ in range(200)]
    for budget, duration in pairs:
        size = DurationBatchSampler([duration], budget).bucket_batch_sizes[0]
        fits = size * Fraction(duration) <= Fraction(budget)
        assert (fits and (size + 1) * Fraction(duration) > Fraction(budget)) or (size == 1 and duration > budget), (
            budget, duration, size)


def test_float32_durations_are_budgeted_in_float64():
    # datasets stores the duration column as float32; 3 x float32(0.1) is over 0.3.
    durations = np.full(3, 0.1, np.float32)
    assert DurationBatchSampler(durations, 0.3, num_buckets=1).bucket_batch_sizes == [2]
    from robust_speech.training.batching import padding_ratio

    many = np.random.default_rng(0).uniform(0.5, 15.0, 20000).astype(np.float32)
    batches = [list(range(start, start + 7)) for start in range(0, many.size - 7, 7)]
    exact = sum(float(many[b].max()) * len(b) for b in batches) / sum(float(x) for b in batches for x in many[b])
    assert padding_ratio(batches, many) == pytest.approx(exact, rel=1e-12)


def test_ties_are_bucketed_in_index_order():
    """A stable sort: the same durations give the same buckets whatever numpy's default sort does with ties."""
    durations = np.tile([2.0, 1.0], 50)
    sampler = DurationBatchSampler(durations, 4.0, num_buckets=4)
    assert np.concatenate(sampler.buckets).tolist() == [*range(1, 100, 2), *range(0, 100, 2)]
    assert DurationBatchSampler([0.2], 0.5).bucket_batch_sizes == [2]  # a budget under a second is a budget


def test_the_collator_computes_filterbanks_vectorized_and_names_the_rate(processor, monkeypatch):
    """audio/fbank.py's spectrogram (bit for bit the library's, test_batching.py) serves the batch, and the rate is
    passed: without it transformers logs a warning per batch."""
    import logging

    from transformers import SeamlessM4TFeatureExtractor

    from robust_speech.audio import fbank

    calls = []
    vectorized = fbank.spectrogram
    monkeypatch.setattr(fbank, "spectrogram", lambda *args, **kwargs: calls.append(1) or vectorized(*args, **kwargs))
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    library = logging.getLogger("transformers")
    level = library.level
    library.addHandler(handler)
    library.setLevel(logging.WARNING)
    try:
        rows = [{"audio": {"array": np.full(1600, 0.1, np.float32)}, "sentence": "ab"}]
        tokenizer = processor().tokenizer
        CTCCollator(Wav2Vec2Processor(feature_extractor=SeamlessM4TFeatureExtractor(), tokenizer=tokenizer))(rows)
        CTCCollator(processor())(rows)
    finally:
        library.removeHandler(handler)
        library.setLevel(level)
    assert calls and [record.getMessage() for record in records if "sampling_rate" in record.getMessage()] == []
