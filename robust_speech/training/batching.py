"""Batches for CTC training: the padding collator, and duration-bucketed dynamic batches.

`CTCCollator` turns prepared records (`audio.array`, `sentence`) into model inputs: the feature extractor
normalizes and pads the audio, the tokenizer turns text into label ids padded with -100 (ignored by the CTC
loss). Doing both here, per batch, keeps a single decoded copy of the audio in the Arrow cache, and lets
augmentation run on the fly. Without augmentation, a `FeatureCache` computes each example's features once.

`DurationBatchSampler` (`--max_batch_duration_s`) forms batches by padded audio seconds, as lhotse and NeMo
do: examples are split into buckets of similar duration, and each bucket's batch holds as many examples as
fit the budget at the bucket's longest duration. Short clips travel in big batches, long ones in small, and
padding stays within a bucket's width. torch has no such sampler; lhotse's needs its own manifests.

A stream (`--streaming`) has no indices to sample and no durations known in advance, so `StreamBuckets` does the
same within a buffer: it reads `--bucket_buffer_size` decoded examples, sorts them by duration, cuts batches
that fit the budget (or, for `--group_by_length`, batches of `--per_device_train_batch_size`), yields them in
a shuffled order, and reads the next buffer. Memory is one buffer of decoded audio, never the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, Sampler

from robust_speech.audio.augment import Augmenter
from robust_speech.audio.fbank import fast_spectrograms
from robust_speech.data.preprocess import DURATION_COLUMN
from robust_speech.training.feature_cache import FeatureCache


@dataclass
class CTCCollator:
    processor: object  # Wav2Vec2Processor (feature_extractor + tokenizer)
    augmenter: Augmenter | None = None  # on-the-fly augmentation (pre-rendered copies need none here)
    feature_cache: FeatureCache | None = None  # only used without augmentation (augmented audio is new each time)
    _worker_rngs: dict = field(default_factory=dict, init=False, repr=False)

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]:
        extractor = self.processor.feature_extractor
        audios = [np.asarray(row["audio"]["array"], dtype=np.float32) for row in rows]
        if self.augmenter is not None:
            # Babble talkers are the batch's other utterances, clean.
            rng = self._rng()
            audios = [self.augmenter.apply(audio, rng, audios[:position] + audios[position + 1 :])
                      for position, audio in enumerate(audios)]
        if self.feature_cache is not None and self.augmenter is None:
            batch = self.feature_cache.batch(audios)
        else:
            with fast_spectrograms(extractor):
                batch = extractor(
                    audios, sampling_rate=extractor.sampling_rate, padding=True, return_tensors="pt",
                    return_attention_mask=extractor.return_attention_mask,
                )
        labels = self.processor.tokenizer([row["sentence"] for row in rows], padding=True, return_tensors="pt",
                                          return_attention_mask=True)
        batch["labels"] = labels["input_ids"].masked_fill(labels["attention_mask"].ne(1), -100)
        return batch

    def _rng(self) -> np.random.Generator:
        """The augmenter's own generator in the main process; in dataloader worker w, one seeded by (seed, w):
        each worker holds a copy of this collator, and copies of one generator would degrade every worker's
        batches alike."""
        worker = torch.utils.data.get_worker_info()
        if worker is None:
            return self.augmenter.rng
        if worker.id not in self._worker_rngs:
            self._worker_rngs[worker.id] = np.random.default_rng([self.augmenter.options.seed, worker.id + 1])
        return self._worker_rngs[worker.id]


class DurationBatchSampler(Sampler[list[int]]):
    """Batches of indices whose padded duration (bucket's longest clip x batch size) fits `max_batch_duration_s`.

    The number and size of batches are the same every epoch (so `len()` and the LR schedule are stable); which
    examples share a batch and the batch order are reshuffled per epoch from `seed` and `set_epoch`.
    """

    def __init__(self, durations: Sequence[float], max_batch_duration_s: float, *, num_buckets: int = 10, seed: int = 0,
                 drop_last: bool = False):
        if max_batch_duration_s <= 0:
            raise ValueError("max_batch_duration_s must be positive")
        self.durations = np.asarray(durations, dtype=np.float64)
        self.max_batch_duration_s = float(max_batch_duration_s)
        self.seed = seed
        self.drop_last = drop_last  # --dataloader_drop_last: each bucket's last, smaller batch is left out
        self.epoch = 0
        order = np.argsort(self.durations, kind="stable")
        self.buckets = [bucket for bucket in np.array_split(order, min(num_buckets, max(1, order.size))) if bucket.size]
        self.bucket_batch_sizes = [
            max(1, int(self.max_batch_duration_s // max(self.durations[bucket].max(), 1e-6))) for bucket in self.buckets
        ]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return sum(bucket.size // size for bucket, size in zip(self.buckets, self.bucket_batch_sizes))
        return sum(-(-bucket.size // size) for bucket, size in zip(self.buckets, self.bucket_batch_sizes))

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for bucket, size in zip(self.buckets, self.bucket_batch_sizes):
            shuffled = rng.permutation(bucket)
            batches += [shuffled[start : start + size].tolist() for start in range(0, shuffled.size, size)
                        if not self.drop_last or start + size <= shuffled.size]
        for index in rng.permutation(len(batches)):
            yield batches[index]


class StreamBuckets(IterableDataset):
    """Batches (lists of rows) from a stream of prepared rows, bucketed by duration within a buffer.

    Give `max_batch_duration_s` (padded seconds per batch, as DurationBatchSampler) or `batch_size` (a fixed
    number of rows, grouped by length). A clip longer than the budget travels alone. The order of the batches
    of a buffer is shuffled from `seed` and the epoch (`set_epoch`, which the stream also gets).
    """

    def __init__(self, stream: Iterable[dict], *, max_batch_duration_s: float | None = None,
                 batch_size: int | None = None, buffer_size: int = 500, seed: int = 0):
        if (max_batch_duration_s is None) == (batch_size is None):
            raise ValueError("give max_batch_duration_s or batch_size")
        if (max_batch_duration_s is not None and max_batch_duration_s <= 0) or (batch_size is not None and batch_size < 1):
            raise ValueError("the batch budget must be positive")
        if buffer_size < 1:
            raise ValueError("buffer_size must be positive")
        self.stream = stream
        self.max_batch_duration_s = max_batch_duration_s
        self.batch_size = batch_size
        self.buffer_size = buffer_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.stream, "set_epoch"):
            self.stream.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[dict]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        buffer: list[dict] = []
        for row in self.stream:
            buffer.append(row)
            if len(buffer) >= self.buffer_size:
                yield from self.batches(buffer, rng)
                buffer = []
        if buffer:
            yield from self.batches(buffer, rng)

    def batches(self, rows: list[dict], rng: np.random.Generator) -> Iterator[list[dict]]:
        """`rows` sorted by duration and cut into batches, in a shuffled order."""
        ordered = sorted(rows, key=lambda row: float(row[DURATION_COLUMN]))
        batches: list[list[dict]] = []
        current: list[dict] = []
        for row in ordered:
            # Sorted: the row being added is the longest of the batch, so it sets the padded length.
            if current and not self._fits(len(current) + 1, float(row[DURATION_COLUMN])):
                batches.append(current)
                current = []
            current.append(row)
        if current:
            batches.append(current)
        for index in rng.permutation(len(batches)):
            yield batches[index]

    def _fits(self, size: int, longest_s: float) -> bool:
        if self.batch_size is not None:
            return size <= self.batch_size
        return size * longest_s <= self.max_batch_duration_s


def padding_ratio(batches: Sequence[Sequence[int]], durations: Sequence[float]) -> float:
    """Padded seconds / real seconds over `batches` (1.0 = no padding)."""
    durations = np.asarray(durations, dtype=np.float64)
    padded = sum(durations[list(batch)].max() * len(batch) for batch in batches)
    real = sum(durations[list(batch)].sum() for batch in batches)
    return float(padded / real)
