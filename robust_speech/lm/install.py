"""A language model in a model folder: installed in pyctcdecode's layout, or removed, with the folder's processor
configs naming `Wav2Vec2ProcessorWithLM` exactly while the LM is there.

transformers decides from those configs whether a folder decodes with its LM: `AutoProcessor` reads the
`processor_class` of processor_config.json / tokenizer_config.json, and the ASR pipeline reads the one inside
the feature extractor's settings (the nested "feature_extractor" of processor_config.json, or
preprocessor_config.json). A folder that says `Wav2Vec2Processor` beside a `language_model/` is decoded greedily
by plain transformers; one that says `...WithLM` without it does not load at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from robust_speech.core.files import write_text_atomic
from robust_speech.core.folder_check import is_lm_entry, read_checksums, record_checksums
from robust_speech.core.model_folder import (
    ALPHABET_FILE,
    ATTRS_FILE,
    CHECKSUMS_FILE,
    DECODING_FILE,
    FLASHLIGHT_BINARY,
    LM_DIRECTORY,
    UNIGRAMS_FILE,
)
from robust_speech.lm.ngram import DEFAULT_ATTRS, ctc_alphabet, model_vocabulary, write_unigrams

PLAIN_PROCESSOR = "Wav2Vec2Processor"
PROCESSOR_WITH_LM = "Wav2Vec2ProcessorWithLM"
# Where transformers looks for the processor class: the file, and the key path inside it.
PROCESSOR_CLASS_KEYS = (("processor_config.json", ()), ("processor_config.json", ("feature_extractor",)),
                        ("preprocessor_config.json", ()), ("tokenizer_config.json", ()))


def install_language_model(model_dir: str | os.PathLike, binary_path: Path, unigrams: Sequence[str],
                           attrs: dict | None = None, flashlight_binary: Path | None = None) -> Path:
    """Put the LM into `model_dir` in pyctcdecode's layout; an existing language_model/ is replaced whole."""
    model_dir = Path(model_dir)
    alphabet = ctc_alphabet(model_vocabulary(model_dir))
    staging = Path(tempfile.mkdtemp(prefix=".language_model-", dir=model_dir))
    try:
        shutil.copyfile(binary_path, staging / binary_path.name)
        write_unigrams(staging / UNIGRAMS_FILE, unigrams)
        (staging / ATTRS_FILE).write_text(json.dumps({**DEFAULT_ATTRS, **(attrs or {})}) + "\n", encoding="utf-8")
        target = model_dir / LM_DIRECTORY
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    (model_dir / ALPHABET_FILE).write_text(alphabet.dumps(), encoding="utf-8")
    stale = model_dir / FLASHLIGHT_BINARY
    if flashlight_binary is not None:
        shutil.copyfile(flashlight_binary, stale.with_name(f".{FLASHLIGHT_BINARY}.tmp"))
        os.replace(stale.with_name(f".{FLASHLIGHT_BINARY}.tmp"), stale)
    elif stale.exists():
        stale.unlink()  # built for the previous LM
    # What a JSON check cannot judge is checked against these when the folder is loaded (core/folder_check.py).
    lm_files = [f"{LM_DIRECTORY}/{binary_path.name}", f"{LM_DIRECTORY}/{UNIGRAMS_FILE}"]
    record_checksums(model_dir, [*lm_files, *([FLASHLIGHT_BINARY] if flashlight_binary is not None else [])],
                     forget=_recorded_lm_files(model_dir))
    declare_processor_class(model_dir, with_lm=True)
    return model_dir / LM_DIRECTORY


def _recorded_lm_files(model_dir: Path) -> list[str]:
    return [name for name in read_checksums(model_dir) if is_lm_entry(name)]


def remove_language_model(model_dir: str | os.PathLike) -> list[Path]:
    """Take the LM out of `model_dir` (and what was built or tuned for it); the configs go back to the plain
    processor. Returns what was removed."""
    model_dir = Path(model_dir)
    removed = []
    for name in (LM_DIRECTORY, ALPHABET_FILE, FLASHLIGHT_BINARY, DECODING_FILE):
        path = model_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    if (model_dir / CHECKSUMS_FILE).is_file():
        record_checksums(model_dir, [], forget=_recorded_lm_files(model_dir))
    declare_processor_class(model_dir, with_lm=False)
    return removed


def declare_processor_class(model_dir: str | os.PathLike, *, with_lm: bool) -> list[Path]:
    """Name `Wav2Vec2ProcessorWithLM` (or the plain processor) wherever transformers reads the processor class.

    Only folders whose processor is a Wav2Vec2 CTC processor are changed; another class (a w2v-BERT processor,
    say) has no LM twin in transformers, so its LM serves our decoders only."""
    model_dir = Path(model_dir)
    wanted = PROCESSOR_WITH_LM if with_lm else PLAIN_PROCESSOR
    ours = {PLAIN_PROCESSOR, PROCESSOR_WITH_LM}
    configs = {}  # file -> its config, read once
    sections = []  # (file, the dict holding the processor class there)
    for filename, keys in PROCESSOR_CLASS_KEYS:
        path = model_dir / filename
        if path.is_file():
            section = configs.setdefault(path, json.loads(path.read_text(encoding="utf-8")))
            for key in keys:
                section = section.get(key) if isinstance(section, dict) else None
            if isinstance(section, dict):
                sections.append((path, section))
    if not any(section.get("processor_class") in ours for _path, section in sections):
        return []
    changed = []
    for path, section in sections:
        # The feature extractor's own settings may lack the key (transformers 5 writes none there): it is added.
        if section.get("processor_class", wanted) in ours and section.get("processor_class") != wanted:
            section["processor_class"] = wanted
            changed.append(path)
    for path in dict.fromkeys(changed):
        write_text_atomic(path, json.dumps(configs[path], indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return list(dict.fromkeys(changed))
