"""The collision audit: every normalized word that two or more distinct written words turn into (its/it's).

The challenge's golden rule is never to remove a character that changes a word into another word; this lists
what a given `--chars_to_ignore` merges, so the user can choose the set knowingly."""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

from robust_speech.text.normalizer import _APOSTROPHES, _INVISIBLE_TABLE, TextNormalizer, _is_word_separator


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
        token = _strip_edges(token)
        if len(token) >= 2 and token[0] in _APOSTROPHES and token[-1] in _APOSTROPHES:
            token = _strip_edges(token[1:-1])  # the punctuation inside the quotes too: 'Nichts!', -> nichts
        if token:
            yield token


def _strip_edges(token: str) -> str:
    start, end = 0, len(token)
    while start < end and _is_edge_punctuation(token[start]):
        start += 1
    while end > start and _is_edge_punctuation(token[end - 1]):
        end -= 1
    return token[start:end]


def _is_edge_punctuation(char: str) -> bool:
    return char not in _APOSTROPHES and unicodedata.category(char)[0] in "PS"


def audit_collisions(lines: Iterable[str], normalizer: TextNormalizer) -> AuditReport:
    """Every normalized word that two or more distinct written words turn into, most frequent first."""
    counts: Counter = Counter()
    for line in lines:
        counts.update(line.split())
    return audit_word_counts(counts, normalizer)


def audit_word_counts(counts: Mapping[str, int], normalizer: TextNormalizer,
                      normalize: Callable[[str], str] | None = None) -> AuditReport:
    """`audit_collisions` over written words (whitespace-separated, as written) with their counts. `normalize`
    (default: `normalizer`) makes each word's normalized form; `normalizer` still finds the written words (its
    casing, its dashes) - check-submission passes eval.py's `normalize_text` as `normalize`."""
    normalize = normalize or normalizer
    forms_by_word: dict[str, Counter] = defaultdict(Counter)
    word_count = 0
    for token, count in counts.items():
        for form in _surface_forms(normalizer, token):
            normalized = normalize(form)
            # A form may normalize to nothing (all ignored) or to several words (an inner separator).
            if normalized:
                forms_by_word[normalized][form] += count
                word_count += count
    collisions = []
    for normalized, forms in forms_by_word.items():
        if len(forms) < 2:
            continue
        removed = "".join(sorted({char for form in forms for char in form if char not in normalized}))
        ranked = tuple(sorted(forms.items(), key=lambda item: (-item[1], item[0])))
        collisions.append(Collision(normalized, ranked, removed))
    collisions.sort(key=lambda collision: (-collision.count, collision.normalized))
    return AuditReport(tuple(collisions), word_count, len(forms_by_word))


def written_forms(counts: Mapping[str, int], normalizer: TextNormalizer) -> set[str]:
    """The distinct written words `audit_word_counts` normalizes (to normalize them elsewhere in one batch)."""
    return {form for token in counts for form in _surface_forms(normalizer, token)}
