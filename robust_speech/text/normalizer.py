"""Transcript normalization: one set of rules for the training targets, the LM text and eval.py's scoring.

The normalizer follows the reference recipe (lowercase, delete `--chars_to_ignore`, collapse whitespace), as
the challenge's guide prescribes ("fine-tuning" becomes "finetuning"), and composes text to Unicode NFC so that
"é" typed two ways is one character. `dashes_split_words` (`--dashes_split_words`) makes dash-like characters
and the ellipsis a word break instead ("wait—what" stays two words). What deletion merges (English
"it's"/"its" when the apostrophe is ignored) is what the collision audit finds, so the user can choose the set
knowingly.

The rules a model was trained with are saved in its folder (text_normalizer.json). eval.py applies the same
rules in plain Python (it must run without robust-speech); a property test keeps the two equal.
"""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from robust_speech.core.model_folder import NORMALIZER_FILE

# The reference recipe's set (its run.sh `--chars_to_ignore` and eval.py's regex).
DEFAULT_CHARS_TO_IGNORE = ',?.!-;:"“%‘”�—’…–'


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
    dashes_split_words: bool = False
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



def build_normalizer(chars_to_ignore: str | Sequence[str] | None = None, *, do_lower_case: bool = True,
                     casing_language: str | None = None, dashes_split_words: bool = False) -> TextNormalizer:
    """The normalizer of the flags every entry point shares: `--chars_to_ignore` (None: the reference set),
    `--do_lower_case`, `--casing_language`, `--dashes_split_words`."""
    return TextNormalizer(parse_chars_to_ignore(chars_to_ignore), lowercase=do_lower_case, language=casing_language,
                          dashes_split_words=dashes_split_words)


# ---------------------------------------------------------------------------------------------------------
# The normalizer a model was trained with, saved in its folder


def save_normalizer(model_dir: str | os.PathLike, normalizer: TextNormalizer) -> Path:
    """Record how training normalized text, so the LM and evaluation normalize the same way."""
    path = Path(model_dir) / NORMALIZER_FILE
    path.write_text(json.dumps(normalizer_settings(normalizer), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def normalizer_settings(normalizer: TextNormalizer) -> dict:
    """The rules as text_normalizer.json holds them (`TextNormalizer(**settings)` builds them again)."""
    return {"chars_to_ignore": normalizer.chars_to_ignore, "lowercase": normalizer.lowercase,
            "language": normalizer.language, "dashes_split_words": normalizer.dashes_split_words}


def load_normalizer(model_dir: str | os.PathLike) -> TextNormalizer | None:
    path = Path(model_dir) / NORMALIZER_FILE
    if not path.is_file():
        return None
    settings = json.loads(path.read_text(encoding="utf-8"))
    # Folders written before the key existed split words at dashes, as the normalizer then did.
    settings.setdefault("dashes_split_words", True)
    return TextNormalizer(**settings)


def model_normalizer(model_dir: str | os.PathLike) -> TextNormalizer:
    """The model's own normalizer (written by training), else the reference recipe's."""
    return load_normalizer(model_dir) or TextNormalizer()

