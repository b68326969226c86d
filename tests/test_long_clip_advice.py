"""training/long_clips.py: when a few long clips inflate an epoch of duration batches, training says which clips
and the --max_duration_in_seconds that leaves them out; otherwise it says nothing."""

import logging

import numpy as np
import pytest
from transformers import TrainingArguments

from robust_speech.core.logs import LOGGER
from robust_speech.training.arguments import RecipeArguments
from robust_speech.training.batching import DurationBatchSampler
from robust_speech.training.long_clips import (
    MAX_LEFT_OUT_SHARE,
    MIN_BATCHES_PER_CLIP,
    MIN_BATCHES_SAVED,
    LongClipAdvice,
    _round_between,
    long_clip_advice,
    worth_leaving_out,
)
from robust_speech.training.run import _duration_batches

BUDGET = 40.0


def read_sentences(count=1300, seed=0):
    return np.random.default_rng(seed).uniform(1.5, 9.0, count)


def epoch(durations):
    return len(DurationBatchSampler(durations, BUDGET))


def advise(durations, drop_last=False):
    return long_clip_advice(DurationBatchSampler(durations, BUDGET, drop_last=drop_last))


def test_epochs_are_counted_as_training_counts_them():
    # --dataloader_drop_last leaves out each bucket's last short batch, in the advice's counts too.
    durations = np.concatenate([read_sentences(), np.linspace(20.1, 25.0, 9)])
    dropped = advise(durations, drop_last=True)
    assert dropped.batches == len(DurationBatchSampler(durations, BUDGET, drop_last=True)) < epoch(durations)
    kept = np.sort(durations)[:-dropped.clips]
    assert dropped.batches_without == len(DurationBatchSampler(kept, BUDGET, drop_last=True))


def test_a_few_long_found_clips_are_named_with_the_cap_that_leaves_them_out():
    # Nine found clips of 20 to 25 s beside read sentences of up to 9 s: the longest bucket goes one clip a batch.
    durations = np.concatenate([read_sentences(), np.linspace(20.1, 25.0, 9)])
    advice = advise(durations)
    kept = read_sentences()
    assert advice == LongClipAdvice(9, 20.1, 25.0, pytest.approx(np.ceil(kept.max() * 10) / 10), epoch(durations),
                                    epoch(kept))
    assert advice.batches - advice.batches_without >= 0.25 * advice.batches
    # The flag value keeps every read sentence and leaves out exactly the found clips.
    assert (durations > advice.cap_s).sum() == 9 and kept.max() <= advice.cap_s
    assert advice.message() == (
        f"duration batches: the 9 longest clips (20.1 to 25.0 s) set the batch size of the longest bucket, so an "
        f"epoch has {advice.batches} batches; --max_duration_in_seconds {advice.cap_s:g} would leave them out and "
        f"make {advice.batches_without}")


def test_the_fewest_clips_that_save_the_batches_are_named():
    # Three clips far longer than the rest and six a little longer: leaving out the three saves nearly all.
    durations = np.concatenate([read_sentences(), np.full(6, 9.5), [30.0, 31.0, 32.0]])
    advice = advise(durations)
    assert advice is not None and advice.clips == 3 and advice.shortest_s == 30.0 and advice.longest_s == 32.0
    assert 9.5 <= advice.cap_s < 30.0


def test_clips_of_one_duration_at_the_cap_are_left_out_together():
    durations = np.concatenate([read_sentences(), np.full(9, 24.0)])
    advice = advise(durations)
    assert advice.clips == 9 and (durations > advice.cap_s).sum() == 9


def test_the_cap_leaves_out_exactly_the_clips_named_even_among_equal_durations():
    # Durations on a half-second grid (many ties) with a few long clips: whatever the advice, its flag value
    # must leave out exactly the clips it counts (a cap inside a group of equal clips would keep all of them).
    advised = 0
    for seed in range(400):
        rng = np.random.default_rng(seed)
        count = int(rng.integers(300, 1500))
        durations = np.concatenate([np.round(rng.uniform(1.5, 9.0, count) * 2) / 2,
                                    np.round(rng.uniform(10, 30, int(rng.integers(1, count // 100 + 1))))])
        advice = advise(durations)
        if advice is not None:
            advised += 1
            assert (durations > advice.cap_s).sum() == advice.clips, seed
            assert durations[durations <= advice.cap_s].max() <= advice.cap_s < advice.shortest_s
    assert advised > 100


def test_nothing_is_said_of_an_even_spread_or_of_mildly_longer_clips():
    assert advise(read_sentences()) is None
    # Nine clips of 9.5 to 12 s cost a couple of batches each: not worth leaving out.
    assert advise(np.concatenate([read_sentences(), np.linspace(9.5, 12.0, 9)])) is None


def test_never_more_than_the_share_of_clips_is_left_out():
    # 2% of the clips are long: leaving them all out would help, but that is more data than advice may drop.
    durations = np.concatenate([read_sentences(980), np.full(20, 25.0)])
    assert MAX_LEFT_OUT_SHARE == 0.01 and advise(durations) is None
    eleven_of_1001 = np.concatenate([read_sentences(990), np.full(11, 25.0)])
    assert advise(eleven_of_1001) is None
    assert advise(np.concatenate([read_sentences(990), np.full(10, 25.0)])).clips == 10
    assert advise([25.0, 2.0, 3.0]) is None  # too few clips to leave any out


def test_the_savings_needed():
    assert (MIN_BATCHES_PER_CLIP, MIN_BATCHES_SAVED) == (3, 0.10)
    assert worth_leaving_out(30, 10, 300) and worth_leaving_out(31, 10, 300)
    assert not worth_leaving_out(29, 10, 200)  # under three batches a clip
    assert not worth_leaving_out(29, 5, 300)  # under a tenth of the epoch
    assert worth_leaving_out(3, 1, 30) and not worth_leaving_out(2, 1, 10)


def test_one_clip_can_be_enough():
    durations = np.concatenate([read_sentences(300), [35.0]])
    advice = advise(durations)
    assert advice.clips == 1 and advice.shortest_s == advice.longest_s == 35.0


def test_advice_waits_for_the_clips_that_save_a_tenth_of_the_epoch():
    # Leaving out the six longest of these nine saves three batches a clip but under a tenth of the epoch; the
    # eight longest save both.
    durations = np.concatenate([read_sentences(), np.linspace(10.5, 19.5, 9)])
    ordered = np.sort(durations)
    saved_by_six, saved_by_eight = (epoch(ordered) - epoch(ordered[:-count]) for count in (6, 8))
    assert saved_by_six >= 3 * 6 and saved_by_six < 0.10 * epoch(ordered)
    assert saved_by_eight >= max(3 * 8, 0.10 * epoch(ordered))
    assert advise(durations).clips == 8


def test_the_cap_is_a_short_number_between_the_kept_and_the_left_out():
    assert _round_between(8.93, 20.1) == 9.0
    assert _round_between(9.0, 20.1) == 9.0
    assert _round_between(9.04, 9.05) == 9.04
    assert _round_between(9.04, 9.2) == 9.1
    assert _round_between(8.5, 9.0) == 8.5  # 9 would keep the clip of 9.0 s
    assert _round_between(1.00000001, 1.0000002) == 1.00000001  # at most six decimals, else the duration itself
    assert _round_between(9.041, 9.0415) == 9.041
    assert _round_between(2.0, 2.0) == 2.0  # nothing between: the kept clip's own duration


@pytest.fixture
def library_log(caplog):
    LOGGER.propagate = True  # the fixture in conftest restores it
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    return caplog


def test_training_logs_the_epoch_and_the_advice(tmp_path, library_log):
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to=[])
    recipe = RecipeArguments(max_batch_duration_s=BUDGET)
    durations = list(np.concatenate([read_sentences(), np.linspace(20.1, 25.0, 9)]))
    batches = _duration_batches(durations, arguments, recipe)
    advice = advise(durations)
    assert len(batches) == advice.batches
    messages = [(record.levelno, record.getMessage()) for record in library_log.records]
    assert (logging.INFO, f"duration batches: {len(batches)} batches of at most 40.0 s of padded audio") in messages
    assert (logging.WARNING, advice.message()) in messages
    library_log.clear()
    dropping = TrainingArguments(output_dir=str(tmp_path), report_to=[], dataloader_drop_last=True)
    batches = _duration_batches(durations, dropping, recipe)
    assert (logging.WARNING, advise(durations, drop_last=True).message()) in [
        (record.levelno, record.getMessage()) for record in library_log.records]
    assert f"an epoch has {len(batches)} batches" in library_log.records[-1].getMessage()
    library_log.clear()
    _duration_batches(list(read_sentences()), arguments, recipe)
    assert [record.levelno for record in library_log.records] == [logging.INFO]
