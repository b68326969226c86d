"""Real sentences in several languages, from Debian's fortunes packages, cleaned into speakable text.

No text corpus can be downloaded here, but Debian ships thousands of quotations per language (UTF-8 files
of `%`-separated entries). An entry becomes sentences only when every character is a letter of the
language or plain punctuation, so what espeak-ng reads is what the transcript says: no digits (read
differently per language), no URLs, no acronyms, no ASCII art.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from robust_speech.core.errors import ConfigurationError, MissingDependencyError

FORTUNES_ROOT = Path("/usr/share/games/fortunes")

# English quotations sit at the top level next to other languages' files, hence an explicit list.
_ENGLISH_FILES = (
    "fortunes", "wisdom", "literature", "people", "education", "science", "work", "love", "miscellaneous",
    "platitudes", "food", "pets", "humorists", "kids", "law", "medicine", "politics", "sports", "tao",
    "men-women", "magic", "news", "riddles", "paradoxum", "songs-poems", "computers",
)


@dataclass(frozen=True)
class LanguageSource:
    code: str
    name: str
    debian_package: str
    folder: str  # under FORTUNES_ROOT; "" for the top level
    letters: str  # letters beyond a-z (lower case) that the language writes
    espeak_voices: tuple[str, ...]


LANGUAGES: dict[str, LanguageSource] = {
    source.code: source
    for source in (
        LanguageSource("en", "English", "fortunes", "", "", ("en-us", "en-gb", "en-gb-scotland", "en-us-nyc")),
        LanguageSource("de", "German", "fortunes-de", "de", "äöüß", ("de",)),
        LanguageSource("es", "Spanish", "fortunes-es", "es", "áéíóúñü", ("es", "es-419")),
        LanguageSource("it", "Italian", "fortunes-it", "it", "àèéìíîòóùú", ("it",)),
        LanguageSource("pl", "Polish", "fortunes-pl", "pl", "ąćęłńóśźż", ("pl",)),
        LanguageSource("cs", "Czech", "fortunes-cs", "cs", "áčďéěíňóřšťúůýž", ("cs",)),
    )
}

_PUNCTUATION = " ,.;:!?¿¡'’-"
_QUOTES = "\"“”„«»‹›"
_ATTRIBUTION = re.compile(r"^\s*(--|—|―|~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def language_source(code: str) -> LanguageSource:
    try:
        return LANGUAGES[code]
    except KeyError:
        raise ConfigurationError(
            f"no sentence source for language {code!r}; available: {', '.join(sorted(LANGUAGES))}"
        ) from None


def fortune_files(source: LanguageSource, root: Path = FORTUNES_ROOT) -> list[Path]:
    folder = root / source.folder
    if source.code == "en":
        candidates = [folder / name for name in _ENGLISH_FILES]
    else:
        candidates = sorted(folder.iterdir()) if folder.is_dir() else []
    files = [
        path
        for path in candidates
        if path.is_file() and not path.is_symlink() and path.suffix not in (".dat", ".u8")
    ]
    if not files:
        raise MissingDependencyError(
            f"no {source.name} sentences in {folder}: install the Debian package {source.debian_package} "
            f"(apt-get install {source.debian_package}, or run `make setup`)"
        )
    return files


def load_sentences(code: str, *, min_words: int = 3, max_words: int = 14, root: Path = FORTUNES_ROOT) -> list[str]:
    """Distinct speakable sentences of language `code`, in a stable order (files sorted, then file order)."""
    source = language_source(code)
    allowed = set("abcdefghijklmnopqrstuvwxyz" + source.letters)
    allowed |= {char.upper() for char in allowed} | set(_PUNCTUATION)
    sentences: dict[str, None] = {}
    for path in fortune_files(source, root):
        text = path.read_bytes().decode("utf-8", errors="replace")
        for entry in re.split(r"^%\s*$", text, flags=re.MULTILINE):
            for sentence in _entry_sentences(entry, allowed, min_words, max_words):
                sentences.setdefault(sentence, None)
    return list(sentences)


def _entry_sentences(entry: str, allowed: set[str], min_words: int, max_words: int):
    lines = []
    for line in entry.splitlines():
        if _ATTRIBUTION.match(line):
            break  # the author line and anything after it
        lines.append(line)
    text = unicodedata.normalize("NFC", " ".join(lines))
    text = text.translate({ord(char): None for char in _QUOTES})
    text = " ".join(text.split())
    if not text or not set(text) <= allowed:
        return
    for sentence in _SENTENCE_END.split(text):
        words = sentence.split()
        if not min_words <= len(words) <= max_words:
            continue
        if not sentence[0].isupper() or sentence[-1] not in ".!?" or "..." in sentence:
            continue
        # Acronyms and CamelCase are spelled out by the synthesizer but not by the transcript.
        if any(sum(char.isupper() for char in word) > 1 for word in words):
            continue
        if any(not any(char.isalpha() for char in word) for word in words):
            continue  # a lone dash or punctuation "word"
        yield sentence



