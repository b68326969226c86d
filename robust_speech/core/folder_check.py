"""Damaged files in a model folder, found before a library reads them, each named with what to do.

A file cut short by an interrupted copy or download, overwritten in the middle, emptied, or left as a Git LFS
pointer makes transformers, safetensors, pyctcdecode or KenLM fail with a traceback naming none of the fixes,
or (KenLM) read garbage scores or crash the process. Every entry point that loads a folder checks the files it
will read here first:

    find_damaged_files(folder)    # every problem, for a checklist (check-submission)
    verify_model_folder(folder)   # raises DamagedFileError (one line: the file, what is wrong, what to do)

What is checked, per file:
- JSON files: UTF-8, valid JSON, an object with the keys the readers need;
- safetensors weights: the library's own header check (`safe_open`), and, with `scan_weights`, that every
  float is finite and within `WEIGHT_LIMIT` (garbage bytes in the tensor data decode to such values);
- the KenLM binaries: not empty, KenLM's binary header, and the SHA-256 that build_ngram.py recorded in
  `checksums.json` when it installed them; unigrams.txt: UTF-8, ends with a newline, the same checksum.
KenLM cannot be asked to check its own file: a binary overwritten in its hash tables loads without an error and
then returns garbage scores or crashes the process when scoring, so a recorded checksum is the only reliable check.

Hashing a multi-GB 5-gram costs seconds on every load (benchmarks/lm_checksum.py, its result in
benchmarks/results/lm_checksum_cpu.md), so a load hashes a file only when its size or modification time differs
from those recorded with its checksum: a cut file changes size, and writing into a file changes its modification
time. What the quick path cannot see (bytes changed in place with the modification time set back) the full check
sees: `hash_all=True`, which check-submission uses, hashes every recorded file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.model_folder import (
    ALPHABET_FILE,
    ATTRS_FILE,
    CHECKSUMS_FILE,
    DECODING_FILE,
    FLASHLIGHT_BINARY,
    LM_DIRECTORY,
    NORMALIZER_FILE,
    UNIGRAMS_FILE,
    VOCAB_FILE,
)

MODEL_FIX = "re-download the model folder, or copy this file again from the training output folder"
LM_FIX = "rebuild the LM: build_ngram.py --model_dir {folder} --text YOUR_TEXT"
DECODING_FIX = "re-run robust-speech tune-lm, or delete it (the default beam width then applies)"
LFS_FIX = "run `git lfs pull` in the folder (or download the file again)"
# No trained speech model holds a weight this large; garbage bytes read as float32 exceed it (or are NaN/inf)
# for about a third of all 4-byte values, so a damaged stretch of a few dozen bytes is all but certain to.
WEIGHT_LIMIT = 1e10
KENLM_MAGIC = b"mmap lm http://kheafield.com/code format version"
LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _vocabulary_ok(vocab: dict) -> bool:
    """token -> id, or (multilingual adapters) language -> {token -> id}."""
    return all(_is_int(v) or (isinstance(v, dict) and all(_is_int(i) for i in v.values())) for v in vocab.values())


# JSON files: (relative path, the model part or the LM part, check of the parsed object: None when fine,
# else what is wrong).
JSON_FILES = (
    ("config.json", "model", None),
    ("processor_config.json", "model", None),
    ("preprocessor_config.json", "model", None),
    ("tokenizer_config.json", "model", None),
    ("special_tokens_map.json", "model", None),
    ("added_tokens.json", "model", None),
    ("model.safetensors.index.json", "model", lambda d: None if isinstance(d.get("weight_map"), dict)
     else "has no weight_map"),
    (VOCAB_FILE, "model", lambda d: None if d and _vocabulary_ok(d) else "is not a map of tokens to ids"),
    (NORMALIZER_FILE, "model", lambda d: None if isinstance(d.get("chars_to_ignore"), str)
     and isinstance(d.get("lowercase"), bool) else "lacks chars_to_ignore or lowercase"),
    (ALPHABET_FILE, "lm", lambda d: None if isinstance(d.get("labels"), list) else "has no list of labels"),
    (f"{LM_DIRECTORY}/{ATTRS_FILE}", "lm", lambda d: None if all(
        isinstance(d.get(key), (int, float)) for key in ("alpha", "beta", "unk_score_offset"))
     and "score_boundary" in d else "lacks alpha, beta, unk_score_offset or score_boundary"),
    (DECODING_FILE, "lm", lambda d: None if _is_int(d.get("beam_width")) and d["beam_width"] > 0
     else "has no positive beam_width"),
)
KENLM_SUFFIXES = (".bin", ".binary")


@dataclass(frozen=True)
class DamagedFile:
    path: Path
    problem: str  # what is wrong, e.g. "is empty (0 bytes)"
    fix: str  # what to do

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}; {self.fix}"


class DamagedFileError(ConfigurationError):
    """A file of a model folder that cannot be read as what it should be."""

    def __init__(self, damaged: DamagedFile):
        self.damaged = damaged
        super().__init__(str(damaged))


def find_damaged_files(folder: str | os.PathLike, *, model: bool = True, language_model: bool = True,
                       scan_weights: bool = False, hash_all: bool = False) -> list[DamagedFile]:
    """Every damaged file of a local model folder (a Hub id or a missing folder: none). `model` checks the
    acoustic model's files (weights, configs, tokenizer, text_normalizer.json), `language_model` the LM's
    (language_model/, alphabet.json, flashlight_lm.bin, decoding.json); `scan_weights` also reads every weight;
    `hash_all` hashes every file of checksums.json, even one whose size and modification time are as recorded."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    parts = {"model"} if model else set()
    parts |= {"lm"} if language_model else set()
    found = []
    for name, part, check in JSON_FILES:
        if part in parts and (folder / name).is_file():
            found.append(_json_problem(folder, name, check, _fix(name, part, folder)))
    if model:
        found += [_safetensors_problem(path, scan_weights) for path in sorted(folder.glob("*.safetensors"))]
    if language_model:
        found += _lm_problems(folder)
    found = [problem for problem in found if problem is not None]
    return found + _checksum_problems(folder, parts, hash_all, skip={problem.path for problem in found})


def verify_model_folder(folder: str | os.PathLike, **parts) -> None:
    """Raise DamagedFileError for the first damaged file (see `find_damaged_files` for the options)."""
    damaged = find_damaged_files(folder, **parts)
    if damaged:
        raise DamagedFileError(damaged[0])


def _fix(name: str, part: str, folder: Path) -> str:
    if name == DECODING_FILE:
        return DECODING_FIX
    return LM_FIX.format(folder=folder) if part == "lm" else MODEL_FIX


def _read(path: Path, fix: str, size: int = -1) -> tuple[bytes | None, DamagedFile | None]:
    """The file (or its first `size` bytes), or why it is no file at all: empty, or a Git LFS pointer."""
    with open(path, "rb") as file:
        data = file.read(size)
    if not data:
        return None, DamagedFile(path, "is empty (0 bytes)", fix)
    if data.startswith(LFS_POINTER):
        return None, DamagedFile(path, "is a Git LFS pointer, not the file itself", LFS_FIX)
    return data, None


def _json_problem(folder: Path, name: str, check, fix: str) -> DamagedFile | None:
    path = folder / name
    data, damaged = _read(path, fix)
    if damaged:
        return damaged
    try:
        parsed = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        return DamagedFile(path, f"is damaged (byte {error.start} is not UTF-8 text)", fix)
    except json.JSONDecodeError as error:
        return DamagedFile(path, f"is damaged or cut short (not valid JSON: {error.msg} at line {error.lineno}, "
                                 f"column {error.colno})", fix)
    if not isinstance(parsed, dict):
        return DamagedFile(path, f"is damaged (a JSON {type(parsed).__name__}, not an object)", fix)
    problem = check(parsed) if check else None
    return DamagedFile(path, f"is damaged ({problem})", fix) if problem else None


def _safetensors_problem(path: Path, scan: bool) -> DamagedFile | None:
    from safetensors import SafetensorError, safe_open

    data, damaged = _read(path, MODEL_FIX, 64)
    if damaged:
        return damaged
    try:
        with safe_open(os.fspath(path), framework="pt") as weights:
            if scan:
                return weights_problem(((name, weights.get_tensor(name)) for name in weights.keys()), path)
    except (SafetensorError, OSError) as error:
        reason = " ".join(str(error).split())
        return DamagedFile(path, f"is cut short or damaged ({path.stat().st_size} bytes; safetensors: {reason})",
                           MODEL_FIX)
    return None


def _within_limit(low, high) -> bool:
    """One pass (aminmax) over a tensor instead of a copy of its absolute values; NaN fails both comparisons."""
    return bool(low >= -WEIGHT_LIMIT) and bool(high <= WEIGHT_LIMIT)


def weights_problem(named_tensors: Iterable, path: str | os.PathLike) -> DamagedFile | None:
    """The first floating-point tensor holding NaN, infinity or a value beyond WEIGHT_LIMIT, as a DamagedFile."""
    import torch

    for name, tensor in named_tensors:
        if tensor.is_floating_point() and tensor.numel() and not _within_limit(*torch.aminmax(tensor.detach())):
            return DamagedFile(Path(path), f"is damaged: weight {name} holds NaN, infinite or absurd values "
                                           f"(beyond {WEIGHT_LIMIT:g}; or the training diverged)", MODEL_FIX)
    return None


def _lm_problems(folder: Path) -> list[DamagedFile | None]:
    lm_dir = folder / LM_DIRECTORY
    fix = LM_FIX.format(folder=folder)
    found = []
    binaries = [path for path in sorted(lm_dir.glob("*")) if path.suffix in KENLM_SUFFIXES]
    for path in [*binaries, *[p for p in [folder / FLASHLIGHT_BINARY] if p.is_file()]]:
        head, damaged = _read(path, fix, 64)
        if damaged is None and not head.startswith(KENLM_MAGIC):
            damaged = DamagedFile(path, "is damaged (no KenLM binary header)", fix)
        found.append(damaged)
    unigrams = lm_dir / UNIGRAMS_FILE
    if unigrams.is_file():
        found.append(_unigrams_problem(unigrams, fix))
    return found


def _unigrams_problem(path: Path, fix: str) -> DamagedFile | None:
    data, damaged = _read(path, fix)
    if damaged:
        return damaged
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return DamagedFile(path, f"is damaged (byte {error.start} is not UTF-8 text)", fix)
    if not data.endswith(b"\n"):  # build_ngram.py ends every word with a newline: a cut file ends mid-word
        return DamagedFile(path, "is cut short (its last word has no newline)", fix)
    return None


# ---------------------------------------------------------------------------------------------------------
# Checksums of the files a JSON check cannot judge (the LM's recorded by lm/install.py, the weights by
# `record_folder_checksums`)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_checksums(folder: str | os.PathLike, relative_paths: Iterable[str], *, forget: Iterable[str] = ()) -> Path:
    """Add (or replace) the size, modification time and SHA-256 of `relative_paths` in `folder`/checksums.json,
    drop `forget`."""
    from robust_speech.core.files import write_text_atomic

    folder = Path(folder)
    recorded = read_checksums(folder)
    for name in forget:
        recorded.pop(name, None)
    for name in relative_paths:
        path = folder / name
        stat = path.stat()
        recorded[name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}
    target = folder / CHECKSUMS_FILE
    if recorded:
        write_text_atomic(target, json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    elif target.exists():
        target.unlink()
    return target


def is_lm_entry(name: str) -> bool:
    """Whether a checksums.json entry is one of the LM's files (replaced with the LM) or the acoustic model's."""
    return name.startswith(f"{LM_DIRECTORY}/") or name == FLASHLIGHT_BINARY


def record_folder_checksums(folder: str | os.PathLike) -> Path:
    """Record the weights' (`*.safetensors`) size, modification time and SHA-256 in checksums.json beside the LM's,
    once training has saved them: a load then finds weights overwritten in place even where the garbage reads as
    finite, small values (which `scan_weights` cannot tell from trained ones), and check-submission hashes them.
    Entries of weights that are gone (another sharding) are dropped; the LM's are kept."""
    folder = Path(folder)
    stale = [name for name in read_checksums(folder) if not is_lm_entry(name)]
    return record_checksums(folder, sorted(path.name for path in folder.glob("*.safetensors")), forget=stale)


def read_checksums(folder: Path) -> dict:
    try:
        recorded = json.loads((folder / CHECKSUMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


# Files already hashed by this process, by (path, size, modification time): loading a folder checks it more than
# once (eval.py, then the engine), and a file whose modification time is not the recorded one (a copy that did
# not keep it, a download) is hashed on each load otherwise.
_VERIFIED: set[tuple[str, int, int]] = set()


def _checksum_problems(folder: Path, parts: set[str], hash_all: bool, skip: set[Path]) -> list[DamagedFile]:
    """The recorded files of `parts` ("model", "lm") whose size or SHA-256 differs; `skip`: found damaged already."""
    found = []
    for name, expected in read_checksums(folder).items():
        path, part = folder / name, "lm" if is_lm_entry(name) else "model"
        if part not in parts or path in skip or not path.is_file() or not isinstance(expected, dict):
            continue
        fix = LM_FIX.format(folder=folder) if part == "lm" else MODEL_FIX
        stat = path.stat()
        key = (os.fspath(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if stat.st_size != expected.get("size"):
            found.append(DamagedFile(path, f"is damaged or cut short ({stat.st_size} bytes, {expected.get('size')} "
                                           f"when it was built, {CHECKSUMS_FILE})", fix))
        elif not hash_all and (stat.st_mtime_ns == expected.get("mtime_ns") or key in _VERIFIED):
            continue  # as installed (nothing wrote into it since), or hashed already by this process
        elif file_sha256(path) != expected.get("sha256"):
            found.append(DamagedFile(path, f"is damaged (its SHA-256 differs from the one recorded when it was "
                                           f"built, {CHECKSUMS_FILE})", fix))
        else:
            _VERIFIED.add(key)
    return found
