"""Decode, normalize and filter a loaded split: 16 kHz float32 arrays in the Arrow cache, skips on record.

Decoding is the usual bottleneck of CTC fine-tuning, so it runs once, in `--preprocessing_num_workers`
processes (`Dataset.map(num_proc=...)`), and its result is an Arrow cache file keyed by the input's
fingerprint and every setting that changes the output: a second run with the same data and flags reads the
cache instead of decoding again.

A bad example is never dropped quietly: the map marks it with a reason, and the caller's `SkipLog` gets one
row per skipped example (`skipped.tsv`). Streaming datasets are filtered lazily, so their skips are appended
to `skipped.tsv` as training meets them (skips.SkipAppender: once per example, however often it is read).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
from datasets import Features, List, Value
from datasets.fingerprint import Hasher

from robust_speech.audio.decode import TARGET_SAMPLING_RATE, audio_info, load_audio, resample
from robust_speech.core.errors import AudioError
from robust_speech.core.logs import datasets_bars_on_terminals_only
from robust_speech.data.skips import SKIPPED_FILE, SkipAppender, SkipLog
from robust_speech.data.sources import AUDIO_COLUMN, SOURCE_COLUMN, TEXT_COLUMN, SpeechDataset
from robust_speech.text.normalizer import TextNormalizer

# Bumped whenever the map's output changes for the same input, so old caches are not reused.
PREPROCESS_VERSION = 2
# A 20 s clip is 1.3 MB of float32: write the Arrow file every 64 examples, not datasets' default 1000,
# so each worker holds tens of MB, not a GB, before a flush.
WRITER_BATCH_SIZE = 64

EXAMPLE_COLUMN = "example"
DURATION_COLUMN = "duration"
AUDIO_HASH_COLUMN = "audio_sha1"
SKIP_REASON_COLUMN = "skip_reason"
SKIP_DETAIL_COLUMN = "skip_detail"

REASON_MISSING_TEXT = "missing transcript"
REASON_EMPTY_TEXT = "empty transcript after normalization"
REASON_OUT_OF_VOCABULARY = "characters outside the vocabulary"
REASON_UNDECODABLE = "undecodable audio"
REASON_TOO_SHORT = "too short"
REASON_TOO_LONG = "too long"
REASON_SILENT = "silent audio"

# One CTC frame per 20 ms after a longer first one, whose length differs by encoder (wav2vec2's receptive
# field, w2v-BERT's stacked filterbank frames); counting from the longest never credits a frame an encoder lacks
# (tests/test_ctc_frame_filter.py checks both encoders' own counts).
CTC_FRAME_SECONDS = 0.02
CTC_FIRST_FRAME_SECONDS = 0.035
# A clip whose loudest sample stays below -60 dBFS holds nothing a transcript could describe (a dead
# microphone, a muted recording). Clipped clips are kept: the speech in them is still intelligible.
SILENCE_PEAK = 10 ** (-60 / 20)


def prepared_features() -> Features:
    """The columns of a prepared split; the sampling rate is a value of each row, not part of the schema."""
    return Features(
        {
            AUDIO_COLUMN: {"array": List(Value("float32")), "sampling_rate": Value("int32"), "path": Value("string")},
            TEXT_COLUMN: Value("string"),
            SOURCE_COLUMN: Value("string"),
            EXAMPLE_COLUMN: Value("string"),
            DURATION_COLUMN: Value("float32"),
            AUDIO_HASH_COLUMN: Value("string"),
            SKIP_REASON_COLUMN: Value("string"),
            SKIP_DETAIL_COLUMN: Value("string"),
        }
    )


@dataclass(frozen=True)
class PreprocessOptions:
    """Everything that decides what one example becomes; all of it is part of the cache key."""

    normalizer: TextNormalizer | None = None  # None keeps the transcript as written (evaluation references)
    sampling_rate: int = TARGET_SAMPLING_RATE
    min_duration_s: float = 0.0
    max_duration_s: float | None = None
    vocabulary_chars: str | None = None  # characters a transcript may use (space is always allowed)
    decode_audio: bool = True  # False: transcripts only (text-only leakage checks, n-gram text from datasets)


@dataclass(frozen=True)
class PreparedSplit:
    dataset: SpeechDataset
    total: int | None  # None for streaming datasets (not known before training has read them)
    kept: int | None
    seconds: float
    from_cache: bool
    workers: int

    @property
    def examples_per_second(self) -> float | None:
        if self.total is None or self.from_cache or self.seconds <= 0:
            return None
        return self.total / self.seconds

    def speed_line(self, split: str) -> str:
        if self.total is None:
            return f"{split}: streaming; examples are decoded as training reads them"
        if self.total == 0:
            return f"{split}: the split holds no examples"
        if self.from_cache:
            return f"{split}: {self.total} examples read from the preprocessing cache in {self.seconds:.1f} s"
        return (
            f"{split}: prepared {self.total} examples in {self.seconds:.1f} s "
            f"({self.examples_per_second:.1f} examples/s, {self.workers} worker{'s' if self.workers > 1 else ''})"
        )


def preprocess_split(
    dataset: SpeechDataset,
    split: str,
    options: PreprocessOptions,
    skip_log: SkipLog,
    *,
    num_workers: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    overwrite_cache: bool = False,
    streaming_skip_file: str | os.PathLike | None = None,
) -> PreparedSplit:
    """Decode and filter `dataset`; skipped examples go to `skip_log` (or, streaming, to `streaming_skip_file`)."""
    fn_kwargs = {"options": options}
    input_columns = [AUDIO_COLUMN, TEXT_COLUMN, SOURCE_COLUMN]
    features = prepared_features()
    if isinstance(dataset, datasets.IterableDataset):
        # No `features`: datasets would turn each float32 array into a Python list (8x the memory, and slow).
        decoded = dataset.map(decode_example, with_indices=True, input_columns=input_columns, fn_kwargs=fn_kwargs)
        kept = decoded.filter(
            _keep_or_append, input_columns=[SOURCE_COLUMN, EXAMPLE_COLUMN, SKIP_REASON_COLUMN, SKIP_DETAIL_COLUMN],
            fn_kwargs={"split": split, "appender": SkipAppender(streaming_skip_file) if streaming_skip_file else None},
        )
        return PreparedSplit(kept.remove_columns([SKIP_REASON_COLUMN, SKIP_DETAIL_COLUMN]), None, None, 0.0, False, 1)

    if len(dataset) == 0:
        # datasets' map adds no column to a split without rows, so the prepared (empty) columns are made here;
        # the caller then reports the split as holding no usable example.
        empty = datasets.Dataset.from_dict({name: [] for name in features}, features=features)
        return PreparedSplit(empty.remove_columns([SKIP_REASON_COLUMN, SKIP_DETAIL_COLUMN]), 0, 0, 0.0, False, 1)
    workers = max(1, min(num_workers or 1, len(dataset)))
    fingerprint = Hasher.hash([dataset._fingerprint, PREPROCESS_VERSION, options])
    cache_file = _cache_file(dataset, fingerprint, cache_dir)
    from_cache = not overwrite_cache and _cache_exists(cache_file, workers)
    started = time.perf_counter()
    with datasets_bars_on_terminals_only():
        decoded = dataset.map(
            decode_example,
            with_indices=True,
            input_columns=input_columns,
            fn_kwargs=fn_kwargs,
            features=features,
            num_proc=workers if workers > 1 else None,
            cache_file_name=os.fspath(cache_file),
            new_fingerprint=fingerprint,
            load_from_cache_file=not overwrite_cache,
            writer_batch_size=WRITER_BATCH_SIZE,
            desc=f"decoding {split} audio",
        )
    seconds = time.perf_counter() - started

    marks = decoded.select_columns([SOURCE_COLUMN, EXAMPLE_COLUMN, SKIP_REASON_COLUMN, SKIP_DETAIL_COLUMN])[:]
    keep = []
    for index, reason in enumerate(marks[SKIP_REASON_COLUMN]):
        if reason:
            skip_log.add(split, marks[SOURCE_COLUMN][index], marks[EXAMPLE_COLUMN][index], reason,
                         marks[SKIP_DETAIL_COLUMN][index])
        else:
            keep.append(index)
    if len(keep) < len(decoded):
        decoded = decoded.select(keep)
    decoded = decoded.remove_columns([SKIP_REASON_COLUMN, SKIP_DETAIL_COLUMN])
    return PreparedSplit(decoded, len(dataset), len(keep), seconds, from_cache, workers)


def decode_example(audio, sentence, source, index, *, options: PreprocessOptions) -> dict:
    """One example decoded, normalized and checked; a bad one keeps its row with a `skip_reason`.

    Transcript checks run first: an example that will be dropped for its text is not decoded at all.
    """
    path = (audio.get("path") if isinstance(audio, dict) else audio) or ""
    result = {
        AUDIO_COLUMN: {"array": np.zeros(0, dtype=np.float32), "sampling_rate": options.sampling_rate, "path": path},
        TEXT_COLUMN: sentence if sentence is not None else "",
        SOURCE_COLUMN: source,
        EXAMPLE_COLUMN: path or f"#{index}",
        DURATION_COLUMN: 0.0,
        AUDIO_HASH_COLUMN: "",
        SKIP_REASON_COLUMN: "",
        SKIP_DETAIL_COLUMN: "",
    }

    def skip(reason: str, detail: str = "") -> dict:
        result[SKIP_REASON_COLUMN] = reason
        result[SKIP_DETAIL_COLUMN] = detail
        return result

    if sentence is None or (isinstance(sentence, str) and not sentence.strip() and options.normalizer is None):
        return skip(REASON_MISSING_TEXT if sentence is None else REASON_EMPTY_TEXT)
    if options.normalizer is not None:
        text = options.normalizer(sentence)
        result[TEXT_COLUMN] = text
        if not text:
            return skip(REASON_EMPTY_TEXT, f"was {sentence!r}")
        if options.vocabulary_chars is not None:
            outside = sorted(set(text) - set(options.vocabulary_chars) - {" "})
            if outside:
                return skip(REASON_OUT_OF_VOCABULARY, " ".join(outside))

    if not options.decode_audio:
        return result
    try:
        array = _decode_audio(audio, path, options)
    except AudioError as error:
        return skip(REASON_UNDECODABLE, str(error))
    if array is None:
        return skip(REASON_TOO_LONG, f"over {options.max_duration_s} s (from the file header)")
    duration = array.size / options.sampling_rate
    result[DURATION_COLUMN] = duration
    if duration < options.min_duration_s:
        return skip(REASON_TOO_SHORT, f"{duration:.2f} s < {options.min_duration_s} s")
    if options.max_duration_s is not None and duration > options.max_duration_s:
        return skip(REASON_TOO_LONG, f"{duration:.2f} s > {options.max_duration_s} s")
    frames = ctc_frames(array.size, options.sampling_rate)
    needed = ctc_frames_needed(result[TEXT_COLUMN])
    if frames < needed:
        # CTC cannot align it: its loss is infinite (zeroed by ctc_zero_infinity), so it would teach nothing.
        return skip(REASON_TOO_SHORT, f"{duration:.4f} s is {frames} CTC frames of 20 ms; its transcript needs {needed}")
    peak = float(np.max(np.abs(array)))
    if peak < SILENCE_PEAK:
        return skip(REASON_SILENT, f"peak {20 * np.log10(peak) if peak > 0 else -np.inf:.0f} dBFS < -60 dBFS")
    result[AUDIO_COLUMN]["array"] = array
    result[AUDIO_HASH_COLUMN] = audio_fingerprint(array)
    return result


def ctc_frames(samples: int, sampling_rate: int) -> int:
    """The CTC frames every supported encoder emits for `samples` at least (one per 20 ms after the first)."""
    hop = round(sampling_rate * CTC_FRAME_SECONDS)
    first = round(sampling_rate * CTC_FIRST_FRAME_SECONDS)
    return 0 if samples < first else (samples - first) // hop + 1


def ctc_frames_needed(text: str) -> int:
    """The fewest CTC frames that can spell `text`: one per character (a space is the word delimiter) plus a
    blank between each pair of equal neighbours."""
    return len(text) + sum(1 for left, right in zip(text, text[1:]) if left == right)


def _decode_audio(audio, path: str, options: PreprocessOptions) -> np.ndarray | None:
    """The samples at the target rate; None when the header already shows the file is too long."""
    if options.max_duration_s is not None and not (isinstance(audio, dict) and audio.get("array") is not None):
        data = audio.get("bytes") if isinstance(audio, dict) else None
        source = data if data else path
        if source:
            duration = audio_info(source, name=path or None).duration
            if duration is not None and duration > options.max_duration_s + 1.0:
                return None
    return decode_audio(audio, options.sampling_rate)


def decode_audio(audio, sampling_rate: int) -> np.ndarray:
    """A dataset's audio value (decoded `{"array", "sampling_rate"}`, `{"bytes", "path"}` or a path) as mono
    float32 at `sampling_rate`; AudioError names the file when it cannot be read."""
    if isinstance(audio, dict) and audio.get("array") is not None:
        samples = np.asarray(audio["array"], dtype=np.float32)
        if samples.ndim == 2:  # (channels, samples), the layout datasets uses for multichannel audio
            samples = samples.mean(axis=0 if samples.shape[0] < samples.shape[1] else 1)
        return resample(samples, int(audio["sampling_rate"]), sampling_rate)
    path = (audio.get("path") if isinstance(audio, dict) else audio) or ""
    data = audio.get("bytes") if isinstance(audio, dict) else None
    source = data if data else path
    if not source:
        raise AudioError("the row has neither audio bytes nor a path")
    return load_audio(source, sampling_rate, name=path or None)


def audio_fingerprint(array: np.ndarray) -> str:
    """A hash of the decoded samples at 16-bit precision: the same recording under another name matches."""
    quantized = np.round(np.clip(array, -1.0, 1.0) * 32767).astype("<i2")
    return hashlib.sha1(quantized.tobytes()).hexdigest()


def _keep_or_append(source, example, reason, detail, *, split: str, appender: SkipAppender | None) -> bool:
    if appender is None:
        return not reason
    return appender(split, source, example, reason, detail)


def _cache_file(dataset: datasets.Dataset, fingerprint: str, cache_dir) -> Path:
    if cache_dir is not None:
        folder = Path(cache_dir)
    elif dataset.cache_files:
        folder = Path(dataset.cache_files[0]["filename"]).parent
    else:
        folder = Path(datasets.config.HF_DATASETS_CACHE) / "robust_speech"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"robust-speech-decoded-{fingerprint}.arrow"


def _cache_exists(cache_file: Path, workers: int) -> bool:
    if workers == 1:
        return cache_file.exists()
    return all(
        cache_file.with_name(f"{cache_file.stem}_{rank:05d}_of_{workers:05d}{cache_file.suffix}").exists()
        for rank in range(workers)
    )


__all__ = ["PreprocessOptions", "PreparedSplit", "preprocess_split", "decode_example", "audio_fingerprint", "SKIPPED_FILE"]
