"""N-gram language models: text in, a KenLM binary installed into a model folder out.

The folder layout is the one `pyctcdecode.BeamSearchDecoderCTC.load_from_dir` (and so
`Wav2Vec2ProcessorWithLM.from_pretrained`) reads:

    DIR/alphabet.json                  the CTC labels in id order ("" = blank, " " = word delimiter)
    DIR/language_model/<order>gram.bin KenLM binary
    DIR/language_model/unigrams.txt    the LM's words (pyctcdecode scores partial words against them)
    DIR/language_model/attrs.json      alpha, beta, unk_score_offset, score_boundary

    DIR/flashlight_lm.bin              the same LM with <unk> made `unk_score_offset` less likely (below)

Our decoders (inference/decoding.py) read the same files, so one LM serves pyctcdecode, flashlight and plain transformers.
pyctcdecode adds `unk_score_offset` (log10) to the LM score of any word outside the unigrams; flashlight's
decoder has no such knob, so it gets a binary whose `<unk>` unigram already carries the offset (pyctcdecode's
folder must hold exactly three files, hence the copy beside it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.model_folder import ATTRS_FILE, FLASHLIGHT_BINARY, LM_DIRECTORY, VOCAB_FILE
from robust_speech.lm.kenlm_tools import KenLMError, KenLMPrograms, kenlm_programs
from robust_speech.text.normalizer import TextNormalizer
from robust_speech.text.vocabulary import PAD_TOKEN, UNK_TOKEN, WORD_DELIMITER

DEFAULT_ATTRS = {"alpha": 0.5, "beta": 1.0, "unk_score_offset": -10.0, "score_boundary": True}


# ---------------------------------------------------------------------------------------------------------
# Text


@dataclass
class LMText:
    """Normalized sentences for the LM, and what was left out and why."""

    lines: list[str] = field(default_factory=list)
    read: int = 0
    empty: int = 0
    outside_alphabet: int = 0
    foreign_chars: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def report(self) -> str:
        lines = [f"LM text: {len(self.lines)} of {self.read} sentences kept"]
        if self.empty:
            lines.append(f"  {self.empty} empty after normalization")
        if self.outside_alphabet:
            lines.append(f"  {self.outside_alphabet} left out for characters the model cannot write: {self.format_foreign()}")
        return "\n".join(lines)

    def format_foreign(self, top: int = 10) -> str:
        """`'é' x2 (e.g. 'café'), ...`: the characters outside the alphabet, by the sentences using them."""
        ranked = sorted(self.foreign_chars.items(), key=lambda item: (-item[1], item[0]))[:top]
        return ", ".join(f"{char!r} x{count} (e.g. {self.examples[char]!r})" for char, count in ranked)


def prepare_lm_text(sentences: Iterable[str], normalizer: TextNormalizer, alphabet: set[str] | None) -> LMText:
    """Normalize like the model's training text; a sentence using a character outside `alphabet` is left out
    (the acoustic model can never spell its words) and counted with the character, never dropped silently."""
    result = LMText()
    for sentence in sentences:
        result.read += 1
        text = normalizer(sentence) if sentence else ""
        if not text:
            result.empty += 1
            continue
        if alphabet is not None:
            foreign = set(text) - alphabet - {" "}
            if foreign:
                result.outside_alphabet += 1
                for char in foreign:
                    result.foreign_chars[char] += 1
                    result.examples.setdefault(char, next(w for w in text.split() if char in w))
                continue
        result.lines.append(text)
    return result


# ---------------------------------------------------------------------------------------------------------
# KenLM


@dataclass(frozen=True)
class NgramOptions:
    order: int = 5
    prune: tuple[int, ...] = ()  # lmplz --prune thresholds per order, e.g. (0, 0, 1)
    memory: str = "1G"  # lmplz -S: sorting memory; the 80% default costs seconds of allocation on small jobs
    binary_type: str = "probing"  # build_binary data structure: probing (fast) or trie (small)


def build_arpa(lines: Sequence[str], arpa_path: Path, options: NgramOptions, programs: KenLMPrograms | None = None,
               progress=print) -> Path:
    """Run lmplz over `lines`; `--discount_fallback` lets tiny corpora through (it only acts when the
    Kneser-Ney discounts cannot be estimated, which lmplz otherwise treats as an error)."""
    if not lines:
        raise ConfigurationError("no LM text left after normalization: give --text files or a dataset with sentences")
    if not 1 <= options.order <= 6:
        raise ConfigurationError(f"--order {options.order}: lmplz as built here supports orders 1 to 6")
    programs = programs or kenlm_programs(progress)
    command = [str(programs.lmplz), "-o", str(options.order), "-S", options.memory, "-T", tempfile.gettempdir(),
               "--discount_fallback", "--arpa", str(arpa_path)]
    if options.prune:
        command += ["--prune", *map(str, options.prune)]
    text = "\n".join(lines) + "\n"
    result = subprocess.run(command, input=text.encode("utf-8"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if result.returncode != 0:
        last = result.stderr.decode("utf-8", "replace").strip().splitlines()[-2:]
        raise KenLMError(f"lmplz failed (exit {result.returncode}): {' | '.join(last)}")
    return arpa_path


def ensure_end_of_sentence(arpa_path: Path) -> bool:
    """Give the ARPA a `</s>` unigram if it lacks one (the blog's hand edit), copying `<s>`'s entry and
    raising the unigram count. Returns True when the file was changed; a file that has `</s>` is untouched."""
    with open(arpa_path, encoding="utf-8") as file:
        lines = file.readlines()
    section, start_line, has_end = None, None, False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("\\") and stripped.endswith(":"):
            section = stripped
            continue
        if section == "\\1-grams:" and stripped:
            token = stripped.split("\t")[1] if "\t" in stripped else stripped.split()[1]
            if token == "</s>":
                has_end = True
            elif token == "<s>":
                start_line = index
    if has_end:
        return False
    if start_line is None:
        raise KenLMError(f"{arpa_path}: no <s> unigram to copy for </s>; is this an ARPA file?")
    for index, line in enumerate(lines):
        match = re.match(r"^ngram 1=(\d+)\s*$", line)
        if match:
            lines[index] = f"ngram 1={int(match.group(1)) + 1}\n"
            break
    lines.insert(start_line + 1, lines[start_line].replace("<s>", "</s>"))
    with open(arpa_path, "w", encoding="utf-8") as file:
        file.writelines(lines)
    return True


def shift_unknown_word(arpa_path: Path, output_path: Path, offset: float) -> Path:
    """A copy of the ARPA whose `<unk>` unigram log10 probability is lowered by `-offset`: every OOV word then
    scores P(<unk>|context) + offset, which is what pyctcdecode computes with `unk_score_offset`."""
    section = None
    with open(arpa_path, encoding="utf-8") as source, open(output_path, "w", encoding="utf-8") as target:
        for line in source:
            stripped = line.strip()
            if stripped.startswith("\\"):
                section = stripped
            elif section == "\\1-grams:" and stripped:
                fields = stripped.split("\t")
                if len(fields) >= 2 and fields[1] == "<unk>":
                    fields[0] = f"{float(fields[0]) + offset:.6f}"
                    line = "\t".join(fields) + "\n"
            target.write(line)
    return output_path


def arpa_unigrams(arpa_path: Path) -> list[str]:
    """The words of the ARPA's 1-gram section, without `<s>`, `</s>` and `<unk>`."""
    words, section = [], None
    with open(arpa_path, encoding="utf-8") as file:
        for line in file:
            stripped = line.strip()
            if stripped.startswith("\\"):
                section = stripped
                if section == "\\2-grams:":
                    break
                continue
            if section == "\\1-grams:" and stripped:
                word = stripped.split("\t")[1] if "\t" in stripped else stripped.split()[1]
                if word not in ("<s>", "</s>", "<unk>"):
                    words.append(word)
    return words


def build_binary(arpa_path: Path, binary_path: Path, options: NgramOptions, programs: KenLMPrograms | None = None,
                 progress=print) -> Path:
    programs = programs or kenlm_programs(progress)
    command = [str(programs.build_binary), "-S", options.memory, options.binary_type, str(arpa_path), str(binary_path)]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if result.returncode != 0:
        last = result.stderr.decode("utf-8", "replace").strip().splitlines()[-2:]
        raise KenLMError(f"build_binary failed (exit {result.returncode}): {' | '.join(last)}")
    return binary_path


@dataclass(frozen=True)
class BuiltLM:
    arpa: Path
    binary: Path
    flashlight_binary: Path
    unigrams: list[str]


def build_language_model(lines: Sequence[str], work: Path, options: NgramOptions, progress=print) -> BuiltLM:
    """lmplz -> ARPA with `</s>` -> binary, plus the `<unk>`-shifted binary flashlight uses, in `work`."""
    arpa = build_arpa(lines, work / f"{options.order}gram.arpa", options, progress=progress)
    if ensure_end_of_sentence(arpa):
        progress("added the missing </s> unigram to the ARPA")
    binary = build_binary(arpa, work / f"{options.order}gram.bin", options, progress=progress)
    shifted = shift_unknown_word(arpa, work / "unk_shifted.arpa", DEFAULT_ATTRS["unk_score_offset"])
    flashlight_binary = build_binary(shifted, work / FLASHLIGHT_BINARY, options, progress=progress)
    shifted.unlink()
    return BuiltLM(arpa, binary, flashlight_binary, arpa_unigrams(arpa))


# ---------------------------------------------------------------------------------------------------------
# Model folders


def model_vocabulary(model_dir: str | os.PathLike) -> dict[str, int]:
    path = Path(model_dir) / VOCAB_FILE
    if not path.is_file():
        raise ConfigurationError(f"{model_dir}: no {VOCAB_FILE}; is this a trained CTC model folder?")
    return json.loads(path.read_text(encoding="utf-8"))


def ctc_alphabet(vocabulary: dict[str, int]):
    """pyctcdecode's Alphabet of the tokenizer's tokens in id order: blank "", word delimiter " ", unk "⁇"."""
    from pyctcdecode.alphabet import Alphabet

    tokens = [token for token, _ in sorted(vocabulary.items(), key=lambda item: item[1])]
    return Alphabet.build_alphabet(tokens)


def model_alphabet(vocabulary: dict[str, int]) -> set[str]:
    """Characters the model can write (its single-character tokens, the word delimiter aside)."""
    specials = {PAD_TOKEN, UNK_TOKEN, WORD_DELIMITER}
    return {token for token in vocabulary if len(token) == 1 and token not in specials}






def write_unigrams(path: Path, unigrams: Sequence[str]) -> Path:
    path.write_text("".join(f"{word}\n" for word in sorted(set(unigrams))), encoding="utf-8")
    return path




def read_lm_attrs(model_dir: str | os.PathLike) -> dict:
    return json.loads((Path(model_dir) / LM_DIRECTORY / ATTRS_FILE).read_text(encoding="utf-8"))


def write_lm_attrs(model_dir: str | os.PathLike, **values) -> dict:
    attrs = {**read_lm_attrs(model_dir), **values}
    (Path(model_dir) / LM_DIRECTORY / ATTRS_FILE).write_text(json.dumps(attrs) + "\n", encoding="utf-8")
    return attrs


def language_model_binary(model_dir: str | os.PathLike) -> Path | None:
    folder = Path(model_dir) / LM_DIRECTORY
    if not folder.is_dir():
        return None
    found = [path for path in folder.iterdir() if path.suffix in (".bin", ".binary", ".arpa")]
    return found[0] if found else None
