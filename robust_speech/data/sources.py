"""Load any Hugging Face or local speech dataset into one undecoded table: `audio`, `sentence`, `source`.

`--dataset_name a+b --dataset_config_name x+y` names several sources (a name or a config alone is shared by
all); `--train_split_name train+validation` joins splits of each source, and a split a source lacks is read
under an equivalent name it has (`dev` for `validation`: EQUIVALENT_SPLITS). Several sources are concatenated,
or interleaved with `datasets.interleave_datasets` when probabilities are given (or when streaming).

Audio is never decoded here: the column is cast to `Audio(decode=False)`, so rows hold `{"bytes", "path"}` and
preprocess.py decodes them with audio/decode.py. That keeps datasets' torchcodec dependency out of the way (its
wheels need CUDA) and lets workers decode in parallel into the Arrow cache.

With `streaming`, nothing is copied: Hub datasets and parquet files are read with `load_dataset(streaming=True)`
(no Arrow cache), local tables line by line (local_datasets.stream_local_split). `text_only` gives the
transcripts alone, for one pass over the text (the vocabulary); parquet sources then read only that column.

Hub datasets that datasets can no longer load (script-based ones such as the `mozilla-foundation/common_voice_*`
ids, or repositories that are gone) raise `DatasetUnavailableError`, naming the local route: the downloaded
Common Voice release folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import datasets
from datasets import Audio
from datasets.exceptions import DatasetNotFoundError

from robust_speech.core.errors import ConfigurationError
from robust_speech.data.local_datasets import detect_layout, load_saved_split, read_local_split, stream_local_split

SpeechDataset = Union[datasets.Dataset, datasets.IterableDataset]

AUDIO_COLUMN = "audio"
TEXT_COLUMN = "sentence"
SOURCE_COLUMN = "source"
# Tried in this order when --text_column_name is not given (or is the reference's default "text" and the
# dataset has no such column): the names Common Voice, LibriSpeech, FLEURS, VoxPopuli and audio folders use.
TEXT_COLUMN_CANDIDATES = ("text", "sentence", "transcription", "transcript", "normalized_text", "raw_transcription")
STOPPING_STRATEGIES = ("first_exhausted", "all_exhausted")
# Names datasets give one split. Joined with '+', sources may disagree (a Hub dataset's `validation`, a local
# folder's `dev`): a split one source lacks is read under the first name of its group that the source has.
EQUIVALENT_SPLITS = (("validation", "dev", "valid"),)
AUDIO_STRUCT = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
# What datasets 4+ raises (RuntimeError) for a Hub repository that holds a loading script.
SCRIPT_MESSAGE = "Dataset scripts are no longer supported"
# Common Voice by name (`mozilla-foundation/common_voice_11_0`, `common_voice`, ...); the leakage guard uses it too.
COMMON_VOICE_NAME = re.compile(r"(^|/)common[_-]?voice", re.IGNORECASE)
RELEASE_FOLDER_ROUTE = (
    "download the Common Voice release from https://commonvoice.mozilla.org/datasets, extract it and pass the "
    "folder instead: --dataset_name cv-corpus-XX/<lang> (or --dataset_name cv-corpus-XX --dataset_config_name "
    "<lang>; eval.py: --dataset cv-corpus-XX --config <lang>)"
)


class DatasetUnavailableError(ConfigurationError):
    """A Hub dataset that cannot be loaded: based on a loading script (unsupported since datasets 4), or gone."""


@dataclass(frozen=True)
class SourceFlags:
    """How the command at hand spells the data flags, so that a message names a flag it has (None: it has none;
    eval.py keeps the challenge's `--dataset/--config` and reads the column named `audio`)."""

    dataset: str = "--dataset_name"
    config: str = "--dataset_config_name"
    text_column: str | None = "--text_column_name"
    audio_column: str | None = "--audio_column_name"


TRAINING_FLAGS = SourceFlags()
EVAL_FLAGS = SourceFlags(dataset="--dataset", config="--config", audio_column=None)


@dataclass(frozen=True)
class SourceSpec:
    """One dataset to read: a Hub id or a local path, its config, and the text/audio columns to use."""

    name: str
    config: str | None = None
    text_column: str | None = None
    audio_column: str = AUDIO_COLUMN
    flags: SourceFlags = TRAINING_FLAGS

    def label(self, split: str) -> str:
        return f"{self.name}{'/' + self.config if self.config else ''}:{split}"


def split_plus(value: str | None) -> list[str | None]:
    """`a+b` -> ["a", "b"]; empty parts (and None) mean "not given"."""
    if value is None:
        return [None]
    return [part.strip() or None for part in value.split("+")]


def parse_sources(
    dataset_name: str,
    dataset_config_name: str | None = None,
    text_column_name: str | None = None,
    audio_column_name: str = AUDIO_COLUMN,
    flags: SourceFlags = TRAINING_FLAGS,
) -> list[SourceSpec]:
    """The sources named by `+`-joined flags (spelled as `flags` says); a single value is shared by every source."""
    if not dataset_name:
        raise ConfigurationError(f"{flags.dataset} is required (a Hub dataset id or a local folder/file)")
    # A local path that contains "+" is one source, not two.
    names = [dataset_name] if os.path.exists(os.path.expanduser(dataset_name)) else split_plus(dataset_name)
    configs = split_plus(dataset_config_name)
    texts = split_plus(text_column_name)
    audios = split_plus(audio_column_name)
    parts = {flags.dataset: names, flags.config: configs, flags.text_column or "the transcript column": texts,
             flags.audio_column or "the audio column": audios}
    longest = max(parts, key=lambda flag: len(parts[flag]))
    count = len(parts[longest])
    for flag, values in parts.items():
        if len(values) not in (1, count):
            raise ConfigurationError(
                f"{flag} has {len(values)} '+'-joined parts but {longest} has {count}: give one value for all "
                "datasets or one per dataset"
            )
    if any(name is None for name in names):
        raise ConfigurationError(f"{flags.dataset} {dataset_name!r} has an empty part between '+' signs")

    def pick(values, index):
        return values[0] if len(values) == 1 else values[index]

    return [
        SourceSpec(pick(names, i), pick(configs, i), pick(texts, i), pick(audios, i) or AUDIO_COLUMN, flags)
        for i in range(count)
    ]


def parse_probabilities(value: str | Sequence[float] | None, count: int) -> list[float] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            probabilities = [float(part) for part in value.replace("+", ",").split(",") if part.strip()]
        except ValueError:
            raise ConfigurationError(f"--interleave_probabilities {value!r}: expected numbers such as 0.7,0.3") from None
    else:
        probabilities = [float(part) for part in value]
    if len(probabilities) != count:
        raise ConfigurationError(
            f"--interleave_probabilities gives {len(probabilities)} numbers for {count} datasets: give one per dataset"
        )
    if any(p < 0 for p in probabilities) or sum(probabilities) <= 0:
        raise ConfigurationError("--interleave_probabilities must be non-negative and not all zero")
    total = sum(probabilities)
    return [p / total for p in probabilities]


def load_speech_split(
    sources: Sequence[SourceSpec],
    split: str,
    *,
    token: str | bool | None = None,
    streaming: bool = False,
    cache_dir: str | None = None,
    interleave_probabilities: Sequence[float] | None = None,
    stopping_strategy: str = "all_exhausted",
    seed: int = 42,
    notes: list[str] | None = None,
    text_only: bool = False,
) -> SpeechDataset:
    """`split` (possibly `a+b`) of every source, in the canonical columns, joined into one dataset.

    `notes` collects lines worth printing (an implied split, a guessed text column). `text_only`: only the
    `sentence` and `source` columns (the same examples, in the same order), and with `streaming` no audio
    bytes are read where the source can leave them out (parquet).
    """
    notes = notes if notes is not None else []
    if stopping_strategy not in STOPPING_STRATEGIES:
        raise ConfigurationError(f"stopping strategy {stopping_strategy!r}: use one of {', '.join(STOPPING_STRATEGIES)}")
    parts = []
    for source in sources:
        parts.append(
            _load_source_split(source, split, token=token, streaming=streaming, cache_dir=cache_dir, notes=notes,
                               text_only=text_only)
        )
    if len(parts) == 1:
        return parts[0]
    if interleave_probabilities is None and not streaming:
        return _concatenate(parts, sources)
    try:
        return datasets.interleave_datasets(
            parts, probabilities=interleave_probabilities, seed=seed, stopping_strategy=stopping_strategy
        )
    except ValueError as error:
        raise ConfigurationError(f"cannot interleave {', '.join(s.name for s in sources)}: {error}") from None


def _concatenate(parts: list[SpeechDataset], sources: Sequence[SourceSpec]) -> SpeechDataset:
    try:
        return datasets.concatenate_datasets(parts)
    except ValueError as error:
        raise ConfigurationError(f"cannot join {', '.join(s.name for s in sources)}: {error}") from None


def _load_source_split(
    source: SourceSpec, split: str, *, token, streaming: bool, cache_dir: str | None, notes: list[str],
    text_only: bool = False,
) -> SpeechDataset:
    split_names = [part for part in split_plus(split) if part]
    if not split_names:
        raise ConfigurationError(f"split {split!r} names no split")
    layout = detect_layout(source.name, source.config)
    if layout is None:
        if _looks_like_path(source.name):
            raise ConfigurationError(f"{source.name}: no such file or folder")

        def load(name: str, columns=None):
            return _load_hub(source, name, token, streaming, cache_dir, columns=columns)

        def piece(name: str):
            loaded, used = _load_equivalent(load, name, source, notes)
            return _text_only(loaded, source, used, notes, load) if text_only and streaming else loaded

        if streaming or len(split_names) == 1:
            pieces = [piece(name) for name in split_names]
            dataset = pieces[0] if len(pieces) == 1 else datasets.concatenate_datasets(pieces)
            return _finish(dataset, source, split, notes, text_only)
        try:
            dataset = load("+".join(split_names))  # datasets joins the splits itself: one cache entry
        except ConfigurationError as error:
            if not _names_a_split(error):
                raise
            dataset = datasets.concatenate_datasets([piece(name) for name in split_names])
        return _finish(dataset, source, split, notes, text_only)

    def load_local(name: str):
        return _load_local_split(layout, source, name, cache_dir, streaming=streaming, text_only=text_only, notes=notes)

    pieces = [_load_equivalent(load_local, name, source, notes)[0] for name in split_names]
    dataset = pieces[0] if len(pieces) == 1 else datasets.concatenate_datasets(pieces)
    return _finish(dataset, source, split, notes, text_only)


def _load_local_split(layout, source: SourceSpec, name: str, cache_dir: str | None, *, streaming: bool, text_only: bool,
                      notes: list[str]) -> SpeechDataset:
    if layout.kind == "saved":
        piece = load_saved_split(layout, name)
    elif layout.kind == "data_files":
        piece = _load_data_files(layout.root, name, cache_dir, streaming=streaming)
        if text_only and streaming:
            piece = _text_only(piece, source, name, notes,
                               lambda _name, columns: _load_data_files(layout.root, name, cache_dir, streaming=True,
                                                                      columns=columns))
    else:
        piece, note = (stream_local_split if streaming else read_local_split)(layout, name)
        if note:
            notes.append(note)
    if streaming and isinstance(piece, datasets.Dataset):
        piece = piece.to_iterable_dataset()
    return piece


def _names_a_split(error: ConfigurationError) -> bool:
    """Whether a load failed for want of the split asked (not for a missing dataset, config or column)."""
    return "split" in str(error).lower()


def _load_equivalent(load, name: str, source: SourceSpec, notes: list[str]) -> tuple[SpeechDataset, str]:
    """`load(name)` and `name`; where the source has no split `name`, its first split of the same meaning
    (EQUIVALENT_SPLITS), with a note."""
    try:
        return load(name), name
    except ConfigurationError as error:
        if not _names_a_split(error):
            raise
        for other in next((group for group in EQUIVALENT_SPLITS if name in group), ()):
            if other == name:
                continue
            try:
                piece = load(other)
            except ConfigurationError:
                continue
            notes.append(f"{source.label(name)}: no split {name!r}, using its {other!r} split")
            return piece, other
        raise error


def _finish(dataset: SpeechDataset, source: SourceSpec, split: str, notes: list[str], text_only: bool) -> SpeechDataset:
    if text_only:
        return _canonical_text(dataset, source, split, notes)
    return _canonical(dataset, source, split, notes)


def _text_only(dataset: SpeechDataset, source: SourceSpec, split: str, notes: list[str], reload) -> SpeechDataset:
    """A parquet stream again, reading only its transcript column (the audio bytes stay on the disk or Hub)."""
    if not isinstance(dataset, datasets.IterableDataset) or getattr(dataset.info, "builder_name", None) != "parquet":
        return dataset
    text_column = _text_column(_columns(dataset), source, split, [])
    return reload(split, [text_column])


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith(
        (".csv", ".tsv", ".jsonl", ".parquet", ".arrow")
    )


def _load_hub(source: SourceSpec, split: str, token, streaming: bool, cache_dir: str | None,
              columns: list[str] | None = None) -> SpeechDataset:
    extra = {"columns": columns} if columns else {}
    try:
        return datasets.load_dataset(
            source.name, source.config, split=split, token=token, streaming=streaming, cache_dir=cache_dir, **extra
        )
    except RuntimeError as error:
        if SCRIPT_MESSAGE not in str(error):
            raise
        gone = (" (and the mozilla-foundation/common_voice_* repositories were reported gone from the Hub since late "
                "2025)") if COMMON_VOICE_NAME.search(source.name) else ""
        raise DatasetUnavailableError(
            f"{source.name} is a dataset with a loading script, which datasets 4 and later cannot load{gone}: "
            + (RELEASE_FOLDER_ROUTE if gone else "use a copy of it in parquet, or its files downloaded to a local folder")
        ) from None
    except DatasetNotFoundError as error:
        if COMMON_VOICE_NAME.search(source.name) and "gated" not in str(error):
            raise DatasetUnavailableError(
                f"{source.name} is not on the Hugging Face Hub (the mozilla-foundation/common_voice_* repositories "
                f"were reported gone since late 2025): {RELEASE_FOLDER_ROUTE}"
            ) from None
        raise DatasetUnavailableError(
            f"cannot load {source.label(split)}: {str(error).rstrip('.')}; check the name, and pass --token for gated "
            "or private datasets"
        ) from None
    except (FileNotFoundError, ConnectionError) as error:
        hint = f"; or {RELEASE_FOLDER_ROUTE}" if COMMON_VOICE_NAME.search(source.name) else ""
        raise ConfigurationError(
            f"cannot load {source.label(split)} from the Hugging Face Hub ({type(error).__name__}: {error}); "
            f"check the name, your network and --token{hint}"
        ) from None
    except ValueError as error:
        # datasets raises ValueError for an unknown split or config; its message lists the valid ones.
        raise ConfigurationError(f"{source.label(split)}: {error}") from None


def _load_data_files(path: Path, split: str, cache_dir: str | None, *, streaming: bool = False,
                     columns: list[str] | None = None) -> SpeechDataset:
    """Parquet/arrow/csv/json files; with `streaming`, read from the files while iterating (no Arrow cache)."""
    if path.is_file() and path.suffix == ".arrow":
        return datasets.Dataset.from_file(os.fspath(path))  # memory-mapped: no copy either way
    extra = {"columns": columns} if columns else {}
    try:
        if path.is_file():
            return datasets.load_dataset("parquet", data_files=os.fspath(path), split="train", cache_dir=cache_dir,
                                         streaming=streaming, **extra)
        return datasets.load_dataset(os.fspath(path), split=split, cache_dir=cache_dir, streaming=streaming, **extra)
    except ValueError as error:
        raise ConfigurationError(f"{path}: {error}") from None
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path}: no dataset found (expected a Common Voice folder, an audio folder with metadata.csv, "
            "a save_to_disk folder, or parquet/arrow/csv/json data files)"
        ) from None


def _columns(dataset: SpeechDataset) -> list[str]:
    columns = list(dataset.column_names or [])
    if not columns and isinstance(dataset, datasets.IterableDataset):
        # Some streamed datasets declare no features: the first example shows the columns.
        columns = list(next(iter(dataset.take(1)), {}))
    return columns


def _canonical_text(dataset: SpeechDataset, source: SourceSpec, split: str, notes: list[str]) -> SpeechDataset:
    """`sentence` and `source` only: what a pass over the transcripts reads."""
    text_column = _text_column(_columns(dataset), source, split, notes)
    dataset = dataset.select_columns([text_column])
    if text_column != TEXT_COLUMN:
        dataset = dataset.rename_column(text_column, TEXT_COLUMN)
    return _with_source(dataset, source.label(split))


def _canonical(dataset: SpeechDataset, source: SourceSpec, split: str, notes: list[str]) -> SpeechDataset:
    """Keep only the audio and the transcript, named `audio` and `sentence`, plus where each row came from."""
    columns = _columns(dataset)
    if source.audio_column not in columns:
        raise ConfigurationError(
            f"{source.label(split)} has no audio column {source.audio_column!r}; "
            + (f"pass {source.flags.audio_column} " if source.flags.audio_column else "rename its audio column 'audio' ")
            + f"(columns: {', '.join(columns)})"
        )
    text_column = _text_column(columns, source, split, notes)
    streamed = isinstance(dataset, datasets.IterableDataset)
    if streamed and isinstance((dataset.features or {}).get(source.audio_column), Audio):
        # A stream's rows pass through features.encode_example, and the Audio feature's needs torchcodec: a plain
        # {bytes, path} struct carries the same values. Cast first: after a rename datasets decodes anyway.
        dataset = dataset.cast_column(source.audio_column, AUDIO_STRUCT)
    dataset = dataset.select_columns([source.audio_column, text_column])
    if source.audio_column != AUDIO_COLUMN:
        dataset = dataset.rename_column(source.audio_column, AUDIO_COLUMN)
    if text_column != TEXT_COLUMN:
        dataset = dataset.rename_column(text_column, TEXT_COLUMN)
    feature = dataset.features[AUDIO_COLUMN] if dataset.features else None
    if not streamed and not (isinstance(feature, dict) and "array" in feature):
        # Audio, a {bytes, path} struct or a plain path string all cast to undecoded audio. (A stream keeps a
        # struct or a path: preprocess.decode_example reads both.)
        dataset = dataset.cast_column(AUDIO_COLUMN, Audio(decode=False))
    return _with_source(dataset, source.label(split))


def _with_source(dataset: SpeechDataset, label: str) -> SpeechDataset:
    if isinstance(dataset, datasets.Dataset):
        return dataset.add_column(SOURCE_COLUMN, [label] * len(dataset))
    return dataset.map(lambda _example: {SOURCE_COLUMN: label})


def _text_column(columns: list[str], source: SourceSpec, split: str, notes: list[str]) -> str:
    if source.text_column in columns:
        return source.text_column
    # The reference recipe's default is "text"; a dataset without it gets the usual names tried.
    if source.text_column in (None, "text"):
        for candidate in TEXT_COLUMN_CANDIDATES:
            if candidate in columns:
                if source.text_column is not None:
                    notes.append(f"{source.label(split)} has no column 'text': using {candidate!r} as the transcript")
                return candidate
    wanted = source.text_column or " or ".join(TEXT_COLUMN_CANDIDATES)
    raise ConfigurationError(
        f"{source.label(split)} has no transcript column {wanted!r}; pass {source.flags.text_column} "
        f"(columns: {', '.join(columns)})"
    )
