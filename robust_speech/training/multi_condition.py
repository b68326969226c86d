"""Multi-condition training data: the Augmenter built from the recipe's flags, and pre-rendered copies.

Degrading on the fly (in the collator) makes every epoch new, but on a CPU it costs the training step: the
degradations run between steps, and a filterbank model's features cannot be cached. `--augment_copies N`
instead renders N degraded copies of the prepared training set once, with `datasets.map` in
`--preprocessing_num_workers` processes, into the Arrow cache next to the decoded audio (a re-run reads them
back); training then sees the clean set and its copies, with the feature cache on. Each example's degradation
is seeded by (seed, copy, index), and babble talks from a pool drawn once from the whole set, so the copies
are the same whatever the number of processes.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import datasets
import numpy as np
from datasets.fingerprint import Hasher

from robust_speech.audio.augment import Augmenter, AugmentOptions, parse_kinds, parse_range, summarize
from robust_speech.core.logs import LOGGER, datasets_bars_on_terminals_only
from robust_speech.core.threads import one_native_thread
from robust_speech.data.preprocess import DURATION_COLUMN
from robust_speech.data.sources import AUDIO_COLUMN
from robust_speech.training.arguments import RecipeArguments

RENDER_VERSION = 1
APPLIED_COLUMN = "augmented"  # the conditions applied to a rendered example, comma-separated
RENDER_BATCH_SIZE = 32
# Babble draws its talkers from this many training utterances, chosen once (seeded) from the whole set: the
# same talkers whatever the number of processes or the batch an example is rendered in.
BABBLE_POOL = 100


def augment_options(recipe_args: RecipeArguments, seed: int, sampling_rate: int) -> AugmentOptions | None:
    """The recipe's --augment flags as typed options; None without --augment."""
    probabilities = parse_kinds(recipe_args.augment, recipe_args.augment_prob)
    if not probabilities:
        return None
    return AugmentOptions(
        probabilities,
        snr_db=parse_range(recipe_args.augment_snr_db, "--augment_snr_db"),
        babble_snr_db=parse_range(recipe_args.augment_babble_snr_db, "--augment_babble_snr_db"),
        speeds=parse_range(recipe_args.augment_speeds, "--augment_speeds"),
        semitones=parse_range(recipe_args.augment_semitones, "--augment_semitones"),
        rt60_s=parse_range(recipe_args.augment_rt60_s, "--augment_rt60_s"),
        sampling_rate=sampling_rate,
        seed=seed,
    )


def render_copies(dataset: datasets.Dataset, augmenter: Augmenter, copies: int, *, num_workers: int | None = None,
                  log=LOGGER.info) -> datasets.Dataset:
    """`dataset` followed by `copies` degraded renderings of it (durations updated: speed changes them)."""
    if copies <= 0:
        return dataset
    if "rir" in augmenter.kinds:
        augmenter.rooms()  # simulated (or read from the cache) once here, not once per worker
    base = dataset.add_column(APPLIED_COLUMN, [""] * len(dataset))
    features = base.features
    workers = max(1, min(num_workers or 1, len(dataset) or 1))
    parts, counts, started = [base], Counter(), time.perf_counter()
    talkers = babble_pool(dataset, augmenter.options.seed) if "babble" in augmenter.kinds else []
    for copy in range(1, copies + 1):
        fingerprint = Hasher.hash([dataset._fingerprint, RENDER_VERSION, augmenter.options, copy])
        cache_file = _cache_file(dataset, fingerprint)
        with datasets_bars_on_terminals_only():
            rendered = _render_copy(base, copy, copies, augmenter, talkers, workers, features, fingerprint, cache_file)
        counts.update(kind for applied in rendered[APPLIED_COLUMN] for kind in applied.split(",") if kind)
        parts.append(rendered)
    log(f"multi-condition: {copies} degraded cop{'y' if copies == 1 else 'ies'} of {len(dataset)} training examples "
        f"rendered or read back in {time.perf_counter() - started:.1f} s; {summarize(counts, copies * len(dataset))}")
    return datasets.concatenate_datasets(parts)


def _render_copy(base: datasets.Dataset, copy: int, copies: int, augmenter: Augmenter, talkers, workers: int, features,
                 fingerprint: str, cache_file) -> datasets.Dataset:
    """Degraded copy number `copy` of `base`, rendered by `workers` processes (or read back from its cache file)."""
    return base.with_format("numpy").map(
        _render_batch, batched=True, batch_size=RENDER_BATCH_SIZE, with_indices=True,
        fn_kwargs={"augmenter": augmenter, "copy": copy, "talkers": talkers, "in_worker": workers > 1},
        features=features,
        num_proc=workers if workers > 1 else None, new_fingerprint=fingerprint,
        cache_file_name=os.fspath(cache_file) if cache_file else None,
        desc=f"rendering degraded copy {copy}/{copies}",
    ).with_format(None)


def babble_pool(dataset: datasets.Dataset, seed: int) -> list[tuple[int, np.ndarray]]:
    """BABBLE_POOL (index, audio) pairs drawn from `dataset` by `seed`."""
    chosen = sorted(int(index) for index in np.random.default_rng([seed, 0]).permutation(len(dataset))[:BABBLE_POOL])
    rows = dataset.select_columns([AUDIO_COLUMN]).select(chosen)
    return [(index, np.asarray(row[AUDIO_COLUMN]["array"], dtype=np.float32)) for index, row in zip(chosen, rows)]


def _render_batch(batch: dict, indices: list[int], *, augmenter: Augmenter, copy: int,
                  talkers: list[tuple[int, np.ndarray]], in_worker: bool = False) -> dict:
    audios = [np.asarray(audio["array"], dtype=np.float32) for audio in batch[AUDIO_COLUMN]]
    rendered, applied = [], []
    # Workers share the cores: one BLAS thread each (core/threads.py). The costly conditions (pitch, the codecs)
    # are single-threaded C++, but on a 16-core machine each of 16 workers would otherwise start 16 BLAS threads
    # for any numpy product a condition runs. The limit is lifted after the batch, in case datasets runs the
    # function in the main process.
    with one_native_thread() if in_worker else nullcontext():
        for index, audio in zip(indices, audios):
            others = [talker for other, talker in talkers if other != index]  # never over itself
            rng = np.random.default_rng([augmenter.options.seed, copy, index])
            degraded, kinds = augmenter.degrade(audio, rng, others)
            rendered.append(degraded)
            applied.append(",".join(kinds))
    out = {name: list(values) for name, values in batch.items()}
    rate = augmenter.options.sampling_rate
    out[AUDIO_COLUMN] = [{"array": audio, "sampling_rate": rate, "path": str(original["path"])}
                         for audio, original in zip(rendered, batch[AUDIO_COLUMN])]
    out[DURATION_COLUMN] = [audio.size / rate for audio in rendered]
    out[APPLIED_COLUMN] = applied
    return out


def _cache_file(dataset: datasets.Dataset, fingerprint: str) -> Path | None:
    """Beside the decoded audio's cache; None (kept in memory) for a dataset that has no cache file."""
    if not dataset.cache_files:
        return None
    return Path(dataset.cache_files[0]["filename"]).parent / f"robust-speech-augmented-{fingerprint}.arrow"
