"""Transcript normalization, the collision audit, and the CTC vocabulary built from normalized text.

The challenge's golden rule: never remove a character that changes a word into another word. The normalizer
follows the reference recipe (lowercase, delete `--chars_to_ignore`, collapse whitespace) with two
differences that keep distinct words apart: dash-like characters and the ellipsis become a space instead
of vanishing ("wait—what" stays two words, not "waitwhat"), and text is Unicode NFC so that "é" typed two
ways is one character. What deletion still merges (English "it's"/"its" when the apostrophe is ignored) is
what `audit_collisions` finds, so the user can choose the set knowingly.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

from robust_speech.errors import TextError

# The reference recipe's set (its run.sh `--chars_to_ignore` and eval.py's regex).
DEFAULT_CHARS_TO_IGNORE = ',?.!-;:"“%‘”�—’…–'

WORD_DELIMITER = "|"
UNK_TOKEN = "[UNK]"
PAD_TOKEN = "[PAD]"

# Invisible characters that only ever split a word in two for a tokenizer; never spoken. The bidirectional
# marks and embeddings (LRM, RLM, ALM, LRE..RLO, LRI..PDI) steer how Arabic or Hebrew text is displayed, not
# what is said. ZWJ/ZWNJ stay: they change how Persian and Indic words are written.
_BIDI_CONTROLS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE = {"\u200b": "", "\ufeff": "", "\u00ad": "", "\u2060": "", **dict.fromkeys(_BIDI_CONTROLS, "")}
_ELLIPSIS = "…"
_INVISIBLE_TABLE = {ord(char): replacement for char, replacement in _INVISIBLE.items()}
_APOSTROPHES = "'’ʼ‘`´"


def parse_chars_to_ignore(values: str | Sequence[str] | None) -> str:
    """Characters from the reference's `--chars_to_ignore , ? . !` form (one or several per argument).

    `None` means the reference default; an empty list or string means "remove nothing".
    """
    if values is None:
        return DEFAULT_CHARS_TO_IGNORE
    if isinstance(values, str):
        values = [values]
    # The reference builds a regex character class from these arguments; shell users escape with '\'.
    joined = "".join(value.replace("\\", "") if value != "\\" else value for value in values)
    return "".join(dict.fromkeys(unicodedata.normalize("NFC", joined)))


def _is_word_separator(char: str) -> bool:
    return unicodedata.category(char) == "Pd" or char == _ELLIPSIS


@dataclass(frozen=True)
class TextNormalizer:
    """Lowercase, NFC, remove `chars_to_ignore`, collapse whitespace.

    `language` selects language-specific casing (Turkish/Azeri dotted and dotless i); `lowercase=False`
    keeps case for scripts where it carries meaning to the user.
    """

    chars_to_ignore: str = DEFAULT_CHARS_TO_IGNORE
    lowercase: bool = True
    language: str | None = None
    dashes_split_words: bool = True
    _table: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = dict(_INVISIBLE_TABLE)
        for char in self.chars_to_ignore:
            separator = self.dashes_split_words and _is_word_separator(char)
            table[ord(char)] = " " if separator else None
        object.__setattr__(self, "_table", table)

    def casefold(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text)
        if not self.lowercase:
            return text
        if self.language in ("tr", "az"):
            text = text.replace("I", "ı").replace("İ", "i")
        return unicodedata.normalize("NFC", text.lower())

    def __call__(self, text: str) -> str:
        text = self.casefold(text).translate(self._table)
        # Removing a character can leave a base letter next to a combining mark: compose them again.
        return " ".join(unicodedata.normalize("NFC", text).split())

    def words(self, text: str) -> list[str]:
        return self(text).split()


# ---------------------------------------------------------------------------------------------------------
# Collision audit


@dataclass(frozen=True)
class Collision:
    """Distinct written words (`forms`, with counts) that normalize to the same word."""

    normalized: str
    forms: tuple[tuple[str, int], ...]  # most frequent first
    removed_chars: str  # characters whose removal merged them

    @property
    def count(self) -> int:
        return sum(count for _form, count in self.forms)


@dataclass(frozen=True)
class AuditReport:
    collisions: tuple[Collision, ...]
    word_count: int
    distinct_words: int

    def chars_causing_merges(self) -> Counter:
        """How many collisions each removed character takes part in."""
        return Counter(char for collision in self.collisions for char in collision.removed_chars)

    def format(self, top: int | None = None) -> str:
        lines = [
            f"{len(self.collisions)} normalized words merge distinct written words "
            f"({self.word_count} words, {self.distinct_words} distinct, audited)."
        ]
        if not self.collisions:
            lines.append("No collisions: this normalization never turns one word into another.")
            return "\n".join(lines)
        shown = self.collisions if top is None else self.collisions[:top]
        width = max(len(collision.normalized) for collision in shown)
        for collision in shown:
            forms = ", ".join(f"{form} ({count})" for form, count in collision.forms)
            lines.append(f"  {collision.normalized:<{width}}  <-  {forms}")
        if top is not None and len(self.collisions) > top:
            lines.append(f"  ... and {len(self.collisions) - top} more (--top to show more)")
        culprits = ", ".join(f"{char!r} in {count}" for char, count in self.chars_causing_merges().most_common())
        lines.append(f"Removed characters behind them: {culprits}.")
        lines.append(
            "Golden rule: never remove a character that changes a word into another word; "
            "take these characters out of --chars_to_ignore."
        )
        return "\n".join(lines)


def _surface_forms(normalizer: TextNormalizer, text: str) -> Iterator[str]:
    """Written words, cased like the normalizer's output, without the punctuation that only surrounds them.

    Edge apostrophes stay (the possessive "students'" differs from "students") unless they quote the word
    from both sides.
    """
    text = normalizer.casefold(text).translate(_INVISIBLE_TABLE)
    if normalizer.dashes_split_words:
        text = "".join(" " if char in normalizer.chars_to_ignore and _is_word_separator(char) else char for char in text)
    for token in text.split():
        start, end = 0, len(token)
        while start < end and _is_edge_punctuation(token[start]):
            start += 1
        while end > start and _is_edge_punctuation(token[end - 1]):
            end -= 1
        token = token[start:end]
        if len(token) >= 2 and token[0] in _APOSTROPHES and token[-1] in _APOSTROPHES:
            token = token[1:-1]
        if token:
            yield token


def _is_edge_punctuation(char: str) -> bool:
    return char not in _APOSTROPHES and unicodedata.category(char)[0] in "PS"


def audit_collisions(lines: Iterable[str], normalizer: TextNormalizer) -> AuditReport:
    """Every normalized word that two or more distinct written words turn into, most frequent first."""
    forms_by_word: dict[str, Counter] = defaultdict(Counter)
    word_count = 0
    for line in lines:
        for form in _surface_forms(normalizer, line):
            normalized = normalizer(form)
            # A form may normalize to nothing (all ignored) or to several words (an inner separator).
            if normalized:
                forms_by_word[normalized][form] += 1
                word_count += 1
    collisions = []
    for normalized, forms in forms_by_word.items():
        if len(forms) < 2:
            continue
        removed = "".join(sorted({char for form in forms for char in form if char not in normalized}))
        ranked = tuple(sorted(forms.items(), key=lambda item: (-item[1], item[0])))
        collisions.append(Collision(normalized, ranked, removed))
    collisions.sort(key=lambda collision: (-collision.count, collision.normalized))
    return AuditReport(tuple(collisions), word_count, len(forms_by_word))


# ---------------------------------------------------------------------------------------------------------
# Vocabulary


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


# ---------------------------------------------------------------------------------------------------------
# Reading text


def read_text_lines(path: str | os.PathLike) -> Iterator[str]:
    """Non-empty lines of a UTF-8 text file; a line that is not UTF-8 is an error naming the line."""
    try:
        file = open(path, "rb")
    except OSError as error:
        raise TextError(f"{path}: cannot open ({error.strerror})") from None
    with file:
        for number, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TextError(
                    f"{path}: line {number} is not UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1}); "
                    "convert the file to UTF-8"
                ) from None
            line = line.strip()
            if line:
                yield line
