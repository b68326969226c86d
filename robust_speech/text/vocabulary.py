"""The CTC vocabulary built from normalized text: [PAD] (the blank) = 0, [UNK] = 1, | = 2, then characters."""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from robust_speech.core.errors import TextError

WORD_DELIMITER = "|"


UNK_TOKEN = "[UNK]"


PAD_TOKEN = "[PAD]"


def is_unspoken_symbol(char: str) -> bool:
    """Emoji and other pictographs (Unicode "So"), their skin-tone modifiers and variation selectors: no one
    says them, so a CTC model must never be taught to write them."""
    code = ord(char)
    return (unicodedata.category(char) == "So" or 0x1F3FB <= code <= 0x1F3FF or 0xFE00 <= code <= 0xFE0F
            or 0xE0100 <= code <= 0xE01EF)


@dataclass(frozen=True)
class Vocabulary:
    """A CTC vocabulary: `[PAD]` (the CTC blank) = 0, `[UNK]` = 1, `|` (word delimiter) = 2, then characters
    in code point order, so the same text always gives the same ids. Emoji and other symbols are never in it
    (`symbols` lists those seen); examples that use them are skipped."""

    tokens: dict[str, int]
    char_counts: Counter
    rare_chars: tuple[tuple[str, int, str], ...]  # (character, count, an example word)
    symbols: tuple[tuple[str, int, str], ...] = ()  # left out: (character, count, an example word)

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.tokens, file, ensure_ascii=False, indent=2)
            file.write("\n")

    def without_rare(self) -> "Vocabulary":
        """The same vocabulary with the rare characters left out (ids renumbered in the same order)."""
        rare = {char for char, _count, _example in self.rare_chars}
        tokens = {}
        for token in self.tokens:
            if token not in rare:
                tokens[token] = len(tokens)
        counts = Counter({char: count for char, count in self.char_counts.items() if char not in rare})
        return Vocabulary(tokens, counts, (), self.symbols)

    def format_rare(self) -> str:
        if not self.rare_chars:
            return "No rare characters."
        return f"{len(self.rare_chars)} rare characters, likely noise or foreign words: {_format_chars(self.rare_chars)}"

    def format_symbols(self) -> str:
        """One line naming the emoji/symbols left out, or "" when the text had none."""
        if not self.symbols:
            return ""
        return f"symbols no one speaks (emoji, pictographs) left out: {_format_chars(self.symbols)}"


def _format_chars(rows: Sequence[tuple[str, int, str]]) -> str:
    return ", ".join(f"{char!r} x{count} (e.g. {example!r})" for char, count, example in rows)


def build_vocabulary(normalized_texts: Iterable[str], min_count: int = 3) -> Vocabulary:
    """Vocabulary of the characters in already-normalized texts; characters seen fewer than `min_count`
    times are kept but reported, because they are usually typos, foreign words or encoding debris."""
    counts: Counter = Counter()
    examples: dict[str, str] = {}
    for text in normalized_texts:
        if WORD_DELIMITER in text:
            raise TextError(
                f"the text contains {WORD_DELIMITER!r}, the vocabulary's word delimiter: add it to "
                f"--chars_to_ignore (in: {text[:60]!r})"
            )
        counts.update(char for char in text if char != " ")
        for word in text.split():
            for char in word:
                examples.setdefault(char, word)
    symbols = tuple((char, counts.pop(char), examples[char]) for char in sorted(counts) if is_unspoken_symbol(char))
    if not counts:
        raise TextError("no characters to build a vocabulary from: the text is empty after normalization "
                        "(or holds only emoji and symbols)")
    tokens = {PAD_TOKEN: 0, UNK_TOKEN: 1, WORD_DELIMITER: 2}
    for char in sorted(counts):
        tokens[char] = len(tokens)
    rare = tuple((char, counts[char], examples[char]) for char in sorted(counts) if counts[char] < min_count)
    return Vocabulary(tokens, counts, rare, symbols)


def load_vocabulary(path: str | os.PathLike) -> dict[str, int]:
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        raise TextError(f"{path}: cannot read a vocabulary ({error})") from None
