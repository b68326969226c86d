"""Read speech datasets that live on the user's disk into the same undecoded table the Hub path gives.

Handled layouts (`--dataset_name` is a path):
- a Common Voice release folder: `clips/` + `train.tsv`, `dev.tsv`, `test.tsv`, `validated.tsv`, ...; or its
  parent, with the language as `--dataset_config_name` (like the Hub's Common Voice configs);
- an audio folder: audio files + `metadata.csv`/`.tsv`/`.jsonl` (columns `file_name` or `path`, and the
  transcript), at the top or in one subfolder per split (`train/metadata.csv`, ...);
- a single CSV/TSV/JSONL table of audio paths (absolute, or relative to the table);
- a `save_to_disk` folder (Dataset or DatasetDict), handled here so the Hub loader never sees it.

Folders of parquet/arrow/csv data files without a metadata table go to `datasets.load_dataset` (see sources.py).
datasets' own `audiofolder` builder is not used: it needs torchcodec even with `decode=False`.
Tables are read with the csv module, never pandas, so a sentence such as `NaN`, `1e3` or `"quoted"` stays
the text it is (Common Voice TSVs are unquoted, like its own loader reads them).

`stream_local_split` gives the same rows as an `IterableDataset` that reads the table line by line while it
is iterated (for `--streaming`): memory stays flat however many rows the table has, and no audio file is
touched until a row is decoded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import datasets
import pyarrow as pa

from robust_speech.core.errors import ConfigurationError

# Common Voice's field limit is the csv module's default 128 KiB; some user tables hold long texts.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
METADATA_NAMES = tuple(f"metadata{suffix}" for suffix in TABLE_SUFFIXES)
AUDIO_PATH_COLUMNS = ("file_name", "path", "audio", "audio_path", "audio_filepath", "filename", "file")
COMMON_VOICE_SPLITS = ("train", "dev", "test", "validated", "invalidated", "other", "reported")
# Common Voice on the Hub calls `dev.tsv` "validation"; accept both names for local folders.
SPLIT_ALIASES = {"validation": "dev", "valid": "dev", "eval": "dev"}


@dataclass(frozen=True)
class LocalLayout:
    """What kind of local dataset a path is, and the folder or file that holds it."""

    kind: str  # "common_voice" | "audio_folder" | "table" | "saved" | "data_files"
    root: Path

    @property
    def is_common_voice(self) -> bool:
        return self.kind == "common_voice"


def detect_layout(path: str | os.PathLike, config: str | None = None) -> LocalLayout | None:
    """The layout of `path`, or None when it is not a local path at all (then it is a Hub id)."""
    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.exists():
        return None
    if path.is_file():
        if path.suffix.lower() in TABLE_SUFFIXES:
            return LocalLayout("table", path)
        if path.suffix.lower() in (".parquet", ".arrow"):
            return LocalLayout("data_files", path)
        raise ConfigurationError(
            f"{path}: not a dataset (expected a folder, a CSV/TSV/JSONL table of audio paths, or a parquet file)"
        )
    if config and (path / config).is_dir() and _is_common_voice(path / config):
        return LocalLayout("common_voice", path / config)
    if _is_common_voice(path):
        return LocalLayout("common_voice", path)
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return LocalLayout("saved", path)
    if _metadata_tables(path):
        return LocalLayout("audio_folder", path)
    if config and (path / config).is_dir():
        return detect_layout(path / config)
    languages = sorted(child.name for child in path.iterdir() if child.is_dir() and _is_common_voice(child))
    if languages:
        wrong = f"has no config {config!r}; it " if config else ""
        raise ConfigurationError(
            f"{path} {wrong}holds Common Voice folders for {', '.join(languages)}: pass one as --dataset_config_name "
            "(eval.py: --config)"
        )
    return LocalLayout("data_files", path)


def _is_common_voice(folder: Path) -> bool:
    return (folder / "clips").is_dir() and any((folder / f"{split}.tsv").is_file() for split in COMMON_VOICE_SPLITS)


def _metadata_tables(folder: Path) -> dict[str, Path]:
    """Split name -> metadata table; the key is "" for a table at the top of the folder."""
    tables = {}
    for name in METADATA_NAMES:
        if (folder / name).is_file():
            tables.setdefault("", folder / name)
    for child in sorted(folder.iterdir()):
        if child.is_dir():
            for name in METADATA_NAMES:
                if (child / name).is_file():
                    tables.setdefault(child.name, child / name)
    return tables


def available_splits(layout: LocalLayout) -> list[str]:
    if layout.kind == "common_voice":
        return [split for split in COMMON_VOICE_SPLITS if (layout.root / f"{split}.tsv").is_file()]
    if layout.kind == "audio_folder":
        return sorted(name for name in _metadata_tables(layout.root) if name)
    return []


def read_local_split(layout: LocalLayout, split: str) -> tuple[datasets.Dataset, str | None]:
    """One split of a local dataset as an undecoded table, and a note to print when the split was implied.

    The audio column holds `{"bytes": None, "path": <absolute path>}`; the other columns are the table's own.
    """
    if layout.kind not in ("common_voice", "audio_folder", "table"):
        raise ValueError(f"read_local_split does not read {layout.kind!r} layouts")
    table, audio_root, note = _split_table(layout, split)
    return _table_dataset(table, audio_root), note


def load_saved_split(layout: LocalLayout, split: str) -> datasets.Dataset:
    """One split of a folder written by `save_to_disk`."""
    saved = datasets.load_from_disk(os.fspath(layout.root))
    if isinstance(saved, datasets.Dataset):
        return saved
    if split not in saved:
        raise ConfigurationError(f"{layout.root} has no split {split!r}; it has: {', '.join(saved)}")
    return saved[split]


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV, TSV or JSONL file, every value kept as the text it is."""
    return list(iter_table(path))


def iter_table(path: Path) -> Iterator[dict[str, str]]:
    """The rows of `read_table`, read from the file one line at a time."""
    lines = _utf8_lines(path)
    if path.suffix.lower() == ".jsonl":
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise ConfigurationError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        return
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # TSVs (Common Voice) are unquoted: a `"` is part of the sentence. CSVs follow the usual quoting.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    yield from csv.DictReader(lines, delimiter=delimiter, quoting=quoting)


# A line ends at \n, \r\n or a lone \r (as bytes.splitlines cuts): split the \n-cut pieces after a lone \r.
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")


def _utf8_lines(path: Path) -> Iterator[str]:
    """The table's lines (endings kept, a leading BOM dropped), read lazily; bytes that are not UTF-8 are an
    error naming the line and column, because a table saved in another encoding garbles every accented
    transcript."""
    number = 0
    with open(path, "rb") as file:
        for chunk in file:
            for raw in _LONE_CR.split(chunk):
                if not raw:
                    continue
                number += 1
                try:
                    yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as error:
                    column = len(raw[: error.start].decode("utf-8", "replace")) + 1
                    raise ConfigurationError(
                        f"{path}: line {number} is not UTF-8 (byte {raw[error.start]:#04x} at column {column}); "
                        "re-save the table as UTF-8"
                    ) from None


def _table_dataset(table: Path, audio_root: Path) -> datasets.Dataset:
    rows = read_table(table)
    if not rows:
        raise ConfigurationError(f"{table}: has no rows")
    columns = list(rows[0])
    path_column = _path_column(table, columns)
    paths = [_resolve(row.get(path_column), audio_root) for row in rows]
    data = {name: [_as_text(row.get(name)) for row in rows] for name in columns if name != path_column}
    data["audio"] = [{"bytes": None, "path": path} for path in paths]
    arrow = pa.Table.from_pydict(data)
    # The fingerprint covers the table and each audio file's size and mtime, so replacing a clip in place
    # invalidates the decoded cache even though no path or sentence changed.
    return datasets.Dataset(arrow, fingerprint=_fingerprint(table, paths))


def _path_column(table: Path, columns: list[str]) -> str:
    path_column = next((name for name in AUDIO_PATH_COLUMNS if name in columns), None)
    if path_column is None:
        raise ConfigurationError(
            f"{table}: no audio path column; name one of {', '.join(AUDIO_PATH_COLUMNS)} (columns: {', '.join(columns)})"
        )
    return path_column


def stream_local_split(layout: LocalLayout, split: str) -> tuple[datasets.IterableDataset, str | None]:
    """`read_local_split` as a stream: the table is read line by line while the dataset is iterated.

    The first row is read now, so a table without rows or without an audio path column is an error before
    training starts; the columns of the first row are the stream's (as `read_local_split` takes them).
    """
    table, audio_root, note = _split_table(layout, split)
    first = next(iter_table(table), None)
    if first is None:
        raise ConfigurationError(f"{table}: has no rows")
    columns = list(first)
    path_column = _path_column(table, columns)
    features = datasets.Features({name: datasets.Value("string") for name in columns if name != path_column})
    # A plain struct: datasets' Audio feature would encode every row through torchcodec; sources.py casts it.
    features["audio"] = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
    stream = datasets.IterableDataset.from_generator(
        _stream_rows, features=features,
        gen_kwargs={"table": os.fspath(table), "audio_root": os.fspath(audio_root), "path_column": path_column,
                    # a tuple: datasets would cut a list in gen_kwargs into shards
                    "columns": tuple(name for name in columns if name != path_column)},
    )
    return stream, note


def _stream_rows(table: str, audio_root: str, path_column: str, columns: tuple[str, ...]) -> Iterator[dict]:
    for row in iter_table(Path(table)):
        example = {name: _as_text(row.get(name)) for name in columns}
        example["audio"] = {"bytes": None, "path": _resolve(row.get(path_column), Path(audio_root))}
        yield example


def _split_table(layout: LocalLayout, split: str) -> tuple[Path, Path, str | None]:
    """The table holding `split`, the folder its audio paths are relative to, and a note when implied."""
    if layout.kind == "common_voice":
        name = SPLIT_ALIASES.get(split, split)
        table = layout.root / f"{name}.tsv"
        if not table.is_file():
            raise ConfigurationError(
                f"{layout.root} has no split {split!r} ({name}.tsv); it has: {', '.join(available_splits(layout))}"
            )
        return table, layout.root / "clips", None
    if layout.kind == "audio_folder":
        tables = _metadata_tables(layout.root)
        if split in tables and split:
            return tables[split], tables[split].parent, None
        if "" in tables and len(tables) == 1:
            note = f"{layout.root} has one metadata table and no split folders: all of it is split {split!r}"
            return tables[""], layout.root, note
        raise ConfigurationError(
            f"{layout.root} has no split {split!r}; it has: {', '.join(sorted(n or '(top level)' for n in tables))}"
        )
    if layout.kind == "table":
        note = f"{layout.root} is one table without splits: all of it is split {split!r}"
        return layout.root, layout.root.parent, note
    raise ValueError(f"no table holds the splits of {layout.kind!r} layouts")


def _resolve(value: str | None, root: Path) -> str:
    if not value:
        return ""
    path = Path(os.path.expanduser(value))
    return os.fspath(path if path.is_absolute() else root / path)


def _as_text(value) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _fingerprint(table: Path, audio_paths: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(table.read_bytes())
    for path in audio_paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:16]
