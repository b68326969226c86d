"""Advice when a few long clips inflate an epoch of duration batches.

`DurationBatchSampler` sizes each bucket's batches for the bucket's longest clip, so a handful of clips much
longer than the rest (found recordings cut into long segments, next to short read sentences) set the batch size
of the whole longest bucket: an epoch then has many more, smaller batches, and a schedule counted in epochs trains
differently (docs/found_data.md tells what that did to a recipe run). The sampler itself is left as it is, so the
batches of existing recipes stay the same; instead, training is told which clips cost what, and the
`--max_duration_in_seconds` that would leave them out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robust_speech.training.batching import DurationBatchSampler

# Advice is given when leaving out at most this share of the clips (the longest) ...
MAX_LEFT_OUT_SHARE = 0.01
# ... saves at least this many batches per clip left out (a clip alone costs at most one) ...
MIN_BATCHES_PER_CLIP = 3
# ... and at least this share of an epoch's batches.
MIN_BATCHES_SAVED = 0.10


@dataclass(frozen=True)
class LongClipAdvice:
    clips: int  # how many of the longest clips to leave out
    shortest_s: float  # the shortest of them
    longest_s: float
    cap_s: float  # a --max_duration_in_seconds that keeps every other clip and leaves exactly those out
    batches: int  # an epoch's batches with them
    batches_without: int  # and without them

    def message(self) -> str:
        return (f"duration batches: the {self.clips} longest clips ({self.shortest_s:.1f} to {self.longest_s:.1f} s) "
                f"set the batch size of the longest bucket, so an epoch has {self.batches} batches; "
                f"--max_duration_in_seconds {self.cap_s:g} would leave them out and make {self.batches_without}")


def long_clip_advice(batches: DurationBatchSampler) -> LongClipAdvice | None:
    """For the training's sampler: the fewest longest clips (at most MAX_LEFT_OUT_SHARE of them) whose leaving out
    saves MIN_BATCHES_PER_CLIP batches each and MIN_BATCHES_SAVED of an epoch; None when no such clips exist.
    Epochs are counted as that sampler counts them (its budget, its --dataloader_drop_last)."""
    ordered = np.sort(batches.durations)
    total, epoch = ordered.size, len(batches)
    for left_out in range(1, int(total * MAX_LEFT_OUT_SHARE) + 1):
        cap = ordered[total - left_out - 1]
        if cap == ordered[total - left_out]:
            continue  # a cap here would keep the equal clip above it too
        without = len(DurationBatchSampler(ordered[: total - left_out], batches.max_batch_duration_s,
                                           drop_last=batches.drop_last))
        if worth_leaving_out(epoch - without, left_out, epoch):
            shortest = float(ordered[total - left_out])
            return LongClipAdvice(left_out, shortest, float(ordered[-1]), _round_between(float(cap), shortest), epoch,
                                  without)
    return None


def worth_leaving_out(saved: int, left_out: int, batches: int) -> bool:
    """Whether `left_out` clips that cost `saved` of an epoch's `batches` are worth naming."""
    return saved >= MIN_BATCHES_PER_CLIP * left_out and saved >= MIN_BATCHES_SAVED * batches


def _round_between(low: float, high: float) -> float:
    """The number of fewest decimals at or above `low` and below `high` (a flag value a person can type)."""
    for decimals in range(7):
        value = math.ceil(low * 10**decimals) / 10**decimals
        if value < high:
            return value
    return low
