"""The data half of the training recipe: load, guard, build the vocabulary, decode, filter, check overlap.

`run_speech_recognition_ctc.py` and `robust-speech prepare` both call `prepare_datasets`; with
`--preprocessing_only` the training script stops after it (decoded data cached, skips and overlap reported).

With `--streaming` nothing is decoded up front and nothing is materialized: the vocabulary comes from one pass
over the training transcripts (text only: no audio is decoded, and parquet sources do not even read it), the
training stream is shuffled in a buffer of `--shuffle_buffer_size` undecoded examples, the overlap check holds
the evaluation sentences and checks each training example as it is read (leakage.StreamingOverlapGuard), and
skips are appended to `skipped.tsv` as they are met (skips.SkipAppender).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from robust_speech.audio.decode import TARGET_SAMPLING_RATE
from robust_speech.core.errors import ConfigurationError
from robust_speech.core.logs import LOGGER
from robust_speech.data.arguments import DataTrainingArguments
from robust_speech.data.leakage import (
    LEAKAGE_FILE,
    REASON_IN_EVALUATION,
    ExampleKeys,
    OverlapReport,
    StreamingOverlapGuard,
    find_overlaps,
    guard_against_overlap,
    refuse_common_voice_test,
)
from robust_speech.data.preprocess import (
    AUDIO_HASH_COLUMN,
    EXAMPLE_COLUMN,
    PreparedSplit,
    PreprocessOptions,
    preprocess_split,
)
from robust_speech.data.skips import SKIPPED_FILE, SkipAppender, SkipLog, read_counts
from robust_speech.data.sources import (
    AUDIO_COLUMN,
    SOURCE_COLUMN,
    TEXT_COLUMN,
    SpeechDataset,
    load_speech_split,
    parse_probabilities,
    parse_sources,
)
from robust_speech.data.training_text import TextRecord
from robust_speech.text.normalizer import TextNormalizer, build_normalizer
from robust_speech.text.vocabulary import Vocabulary, build_vocabulary

# Seconds between two progress lines of a pass over a stream's transcripts.
PROGRESS_SECONDS = 10.0


@dataclass
class PreparedData:
    train: PreparedSplit | None = None
    eval: PreparedSplit | None = None
    vocabulary: Vocabulary | None = None
    normalizer: TextNormalizer | None = None
    skip_log: SkipLog = field(default_factory=SkipLog)
    overlap: OverlapReport | None = None
    lines: list[str] = field(default_factory=list)  # what was printed, for logs and model cards
    # The training transcripts as given (before normalization and skips), recorded for check-submission; None
    # for a stream (read once, as it trains).
    transcripts: TextRecord | None = None


def normalizer_from(args: DataTrainingArguments) -> TextNormalizer:
    return build_normalizer(args.chars_to_ignore, do_lower_case=args.do_lower_case, casing_language=args.casing_language,
                            dashes_split_words=args.dashes_split_words)


def load_raw_split(args: DataTrainingArguments, which: str, notes: list[str], *, guard: bool = True,
                   text_only: bool = False) -> SpeechDataset:
    """The undecoded `train` or `eval` split the arguments name (max samples applied); `text_only`: the same
    examples' `sentence` and `source` alone (see sources.load_speech_split)."""
    if which == "train":
        name, config, split, limit = args.dataset_name, args.dataset_config_name, args.train_split_name, args.max_train_samples
    else:
        name = args.eval_dataset_name or args.dataset_name
        config = args.eval_dataset_config_name if args.eval_dataset_name else args.dataset_config_name
        split, limit = args.eval_split_name, args.max_eval_samples
    sources = parse_sources(name, config, args.text_column_name, args.audio_column_name)
    if which == "train" and guard:
        refuse_common_voice_test(sources, split)
    dataset = load_speech_split(
        sources,
        split,
        token=args.hub_token,
        streaming=args.streaming,
        cache_dir=args.cache_dir,
        interleave_probabilities=parse_probabilities(args.interleave_probabilities, len(sources)),
        stopping_strategy=args.interleave_stopping_strategy,
        notes=notes,
        text_only=text_only,
    )
    if limit is not None:
        if limit <= 0:
            raise ConfigurationError(f"--max_{which}_samples must be positive, got {limit}")
        if isinstance(dataset, datasets.IterableDataset):
            dataset = dataset.take(limit)
        elif limit < len(dataset):
            dataset = dataset.select(range(limit))
    return dataset


def prepare_datasets(
    args: DataTrainingArguments,
    output_dir: str | os.PathLike,
    *,
    do_train: bool = True,
    do_eval: bool = True,
    vocabulary: dict[str, int] | None = None,
    sampling_rate: int = TARGET_SAMPLING_RATE,
    seed: int = 42,
    log=LOGGER.info,
) -> PreparedData:
    """Load, check and decode the splits; writes `skipped.tsv` (and `leakage.tsv`) into `output_dir`.

    `vocabulary`: an existing tokenizer's vocabulary (training examples using other characters are skipped);
    without it one is built from the normalized training text. `sampling_rate`: the model's feature extractor's.
    `seed`: shuffles a training stream.
    """
    if args.shuffle_buffer_size < 0:
        raise ConfigurationError(f"--shuffle_buffer_size must be 0 (keep the order) or more, got {args.shuffle_buffer_size}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    prepared = PreparedData(normalizer=normalizer_from(args))

    def say(line: str) -> None:
        prepared.lines.append(line)
        log(line)

    notes: list[str] = []
    raw_train = load_raw_split(args, "train", notes) if do_train else None
    raw_eval = load_raw_split(args, "eval", notes) if do_eval else None
    for note in notes:
        say(f"note: {note}")
    if isinstance(raw_train, datasets.Dataset):
        prepared.transcripts = TextRecord(prepared.normalizer)
        for text in raw_train.select_columns([TEXT_COLUMN])[:][TEXT_COLUMN]:
            prepared.transcripts.add(text)
    vocabulary_chars = _vocabulary_chars(args, prepared, raw_train, vocabulary, say)
    streaming_skips = output_dir / SKIPPED_FILE
    guard = None
    if args.streaming:
        raw_train, guard = _start_streaming(args, prepared.normalizer, raw_train, raw_eval, output_dir, seed, say)
    common = dict(sampling_rate=sampling_rate, min_duration_s=args.min_duration_in_seconds,
                  max_duration_s=args.max_duration_in_seconds, normalizer=prepared.normalizer)
    for which, raw in (("train", raw_train), ("eval", raw_eval)):
        if raw is None:
            continue
        options = PreprocessOptions(**common, vocabulary_chars=vocabulary_chars if which == "train" else None)
        split = preprocess_split(raw, which, options, prepared.skip_log, num_workers=args.preprocessing_num_workers,
                                 cache_dir=args.cache_dir, overwrite_cache=args.overwrite_cache,
                                 streaming_skip_file=streaming_skips)
        setattr(prepared, which, split)
        say(split.speed_line(which))
        if split.total is not None:
            say(prepared.skip_log.summary(which, split.total))
    _report_skips(args, prepared, output_dir, say)
    _refuse_empty_splits(prepared, output_dir)
    if prepared.train is not None and prepared.eval is not None and not args.streaming:
        prepared.overlap = find_overlaps(keys_of(prepared.train.dataset), keys_of(prepared.eval.dataset), prepared.normalizer)
        say(guard_against_overlap(prepared.overlap, output_dir, allow_overlap=args.allow_overlap))
    elif guard is not None and guard.count():
        say(f"streaming: {guard.count()} training examples met so far share a sentence with the evaluation set "
            f"(listed in {guard.path})")
    return prepared


def _vocabulary_chars(args: DataTrainingArguments, prepared: PreparedData, raw_train: SpeechDataset | None,
                      vocabulary: dict[str, int] | None, say) -> str | None:
    """The characters training examples may use: the given tokenizer's, else those of a vocabulary built from
    the normalized training text (set on `prepared`); None when neither is there (no training split)."""
    if vocabulary is not None:
        return "".join(token for token in vocabulary if len(token) == 1 and token != args.word_delimiter_token)
    if raw_train is None:
        return None
    if isinstance(raw_train, datasets.Dataset):
        texts = raw_train.select_columns([TEXT_COLUMN])[:][TEXT_COLUMN]
    else:
        texts = _streamed_transcripts(args, say)
    built = build_vocabulary((prepared.normalizer(text) for text in texts if text), min_count=args.vocabulary_min_count)
    if built.rare_chars:
        say(f"vocabulary: {built.format_rare()}; left out, their examples are skipped")
    if built.symbols:
        say(f"vocabulary: {built.format_symbols()}; their examples are skipped")
    prepared.vocabulary = built.without_rare()
    return "".join(prepared.vocabulary.char_counts)


def _start_streaming(args: DataTrainingArguments, normalizer: TextNormalizer, raw_train: SpeechDataset | None,
                     raw_eval: SpeechDataset | None, output_dir: Path, seed: int, say):
    """A fresh `skipped.tsv`, the overlap check on the training stream (with an eval split) and its shuffle
    buffer; returns the training stream and the overlap guard (None without one)."""
    streaming_skips = output_dir / SKIPPED_FILE
    SkipAppender(streaming_skips).start()  # a fresh file with its header; skips are appended while training reads
    guard = None
    if raw_train is not None and raw_eval is not None:
        guard = _overlap_guard(args, normalizer, output_dir, SkipAppender(streaming_skips), say)
        raw_train = raw_train.filter(guard, input_columns=[AUDIO_COLUMN, TEXT_COLUMN, SOURCE_COLUMN], with_indices=True)
    if raw_train is not None and args.shuffle_buffer_size:
        # Undecoded rows (paths, or encoded bytes): the buffer costs little memory.
        raw_train = raw_train.shuffle(seed=seed, buffer_size=args.shuffle_buffer_size)
    return raw_train, guard


def _report_skips(args: DataTrainingArguments, prepared: PreparedData, output_dir: Path, say) -> None:
    if not args.streaming:
        prepared.skip_log.write(output_dir)
        if prepared.skip_log.rows:
            say(f"skipped examples are listed in {output_dir / SKIPPED_FILE}")
    else:
        say(f"streaming: skipped examples are appended to {output_dir / SKIPPED_FILE} as training meets them")


def _refuse_empty_splits(prepared: PreparedData, output_dir: Path) -> None:
    """Stop on a split with no usable example: better said here than as an empty-sampler error in the Trainer."""
    skips = output_dir / SKIPPED_FILE
    fix = ("fix the data or the filters (--max_duration_in_seconds, --min_duration_in_seconds, --chars_to_ignore, "
           "--vocabulary_min_count)")
    for which in ("train", "eval"):
        split = getattr(prepared, which)
        if split is None:
            continue
        if split.total is None and next(iter(split.dataset.take(1)), None) is None:
            # A stream is not counted before training; its first usable example is looked for now.
            raise ConfigurationError(f"{read_counts(skips).summary(which)}: the {which} stream holds no usable example; "
                                     f"{skips} says why each was skipped: {fix}")
        if split.total is not None and split.kept == 0:
            raise ConfigurationError(f"{prepared.skip_log.summary(which, split.total)}: no {which} example is left; "
                                     f"{skips} says why each was skipped: {fix}")


class _Progress:
    """A line every PROGRESS_SECONDS while a pass over a stream runs, and one at the end."""

    def __init__(self, what: str, say):
        self.what, self.say = what, say
        self.count = 0
        self.started = self.last = time.perf_counter()

    def tick(self) -> None:
        self.count += 1
        now = time.perf_counter()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.say(f"{self.what}: {self.count} transcripts read ({self.count / (now - self.started):.0f}/s)")

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def _streamed_transcripts(args: DataTrainingArguments, say):
    """The training stream's transcripts, read once without its audio (for the vocabulary)."""
    texts = load_raw_split(args, "train", [], guard=False, text_only=True)
    progress = _Progress("vocabulary", say)
    for row in texts:
        progress.tick()
        yield row[TEXT_COLUMN]
    say(f"vocabulary: one pass over {progress.count} training transcripts in {progress.seconds:.1f} s "
        "(text only: no audio decoded)")


def _overlap_guard(args: DataTrainingArguments, normalizer: TextNormalizer, output_dir: Path, skips: SkipAppender,
                   say) -> StreamingOverlapGuard:
    """The evaluation sentences, read once (text only), and the filter that checks training examples against them."""
    progress = _Progress("overlap check", say)
    sentences: dict[str, tuple[str, str]] = {}
    for index, row in enumerate(load_raw_split(args, "eval", [], text_only=True)):
        progress.tick()
        key = normalizer(row[TEXT_COLUMN]) if row[TEXT_COLUMN] else ""
        if key:
            sentences.setdefault(key, (f"#{index}", row[SOURCE_COLUMN]))
    guard = StreamingOverlapGuard(sentences, normalizer, output_dir, skips, allow_overlap=args.allow_overlap)
    guard.start()
    what = ("kept (--allow_overlap) and listed" if args.allow_overlap
            else f"skipped (reason {REASON_IN_EVALUATION!r}) and listed")
    say(f"streaming: the overlap check compares sentences only, as training reads each example: the "
        f"{len(sentences)} distinct sentences of {progress.count} evaluation examples are held in memory, and a "
        f"training example with one of them is {what} in {output_dir / LEAKAGE_FILE}; audio is not compared "
        "(robust-speech check-leakage compares it, on data that is not streamed)")
    return guard


def keys_of(dataset: datasets.Dataset) -> ExampleKeys:
    """The columns the overlap check compares, read without touching the audio arrays."""
    columns = dataset.select_columns([EXAMPLE_COLUMN, SOURCE_COLUMN, TEXT_COLUMN, AUDIO_HASH_COLUMN])[:]
    return ExampleKeys(columns[EXAMPLE_COLUMN], columns[SOURCE_COLUMN], columns[TEXT_COLUMN], columns[AUDIO_HASH_COLUMN])


def check_leakage(
    args: DataTrainingArguments, output_dir: str | os.PathLike | None, *, decode_audio: bool = True, log=LOGGER.info
) -> OverlapReport:
    """Compare the train and eval splits `args` names, without filtering anything but undecodable audio."""
    notes: list[str] = []
    raw = {which: load_raw_split(args, which, notes, guard=False) for which in ("train", "eval")}
    for note in notes:
        log(f"note: {note}")
    normalizer = normalizer_from(args)
    options = PreprocessOptions(normalizer=normalizer, decode_audio=decode_audio)
    skip_log = SkipLog()
    keys = {}
    for which, dataset in raw.items():
        if isinstance(dataset, datasets.IterableDataset):
            raise ConfigurationError("check-leakage reads whole splits: it does not work with --streaming")
        split = preprocess_split(dataset, which, options, skip_log, num_workers=args.preprocessing_num_workers,
                                 cache_dir=args.cache_dir, overwrite_cache=args.overwrite_cache)
        log(split.speed_line(which))
        keys[which] = keys_of(split.dataset)
    if skip_log.rows:
        log(skip_log.summary("train") + "; " + skip_log.summary("eval") + " (not compared)")
        if output_dir is not None:
            log(f"skipped examples are listed in {skip_log.write(output_dir)}")
    report = find_overlaps(keys["train"], keys["eval"], normalizer)
    if report and output_dir is not None:
        log(f"overlaps are listed in {report.write(output_dir)}")
    return report
