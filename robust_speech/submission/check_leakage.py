"""The challenge's first rule, checked after training: no sentence of the Common Voice test split of the folder's
language among the recorded training transcripts or LM text (their fingerprints in training_text.json.gz, the
test sentences normalized by the same rules; data/leakage.py refuses the test split itself before training)."""

from __future__ import annotations

from pathlib import Path

from robust_speech.data.sources import TEXT_COLUMN, load_speech_split, parse_sources
from robust_speech.data.training_text import TrainingText
from robust_speech.submission.check_card import iso_639, recorded_language
from robust_speech.submission.checklist import CheckLine, failed, passed

TEST_SPLIT = "test"
SHOWN_SENTENCES = 5


def is_language_folder(folder: Path) -> bool:
    """A Common Voice language folder: `clips/` beside the split tables."""
    return (folder / "clips").is_dir() and (folder / f"{TEST_SPLIT}.tsv").is_file()


def test_folders(release: Path, languages: set[str]) -> list[Path]:
    """The Common Voice language folders to read: `release` itself when it is one, else its languages'
    (`sv-SE` is Swedish's)."""
    if is_language_folder(release):
        return [release]
    return sorted(child for child in release.iterdir() if child.is_dir() and iso_639(child.name) in languages
                  and is_language_folder(child))


def check_common_voice(folder: Path, recorded: TrainingText | None, release: str) -> list[CheckLine]:
    what = "no Common Voice test sentence in the training transcripts or the LM text"
    if recorded is None or not recorded.sets:
        return [failed(what, "train with robust-speech (it records training_text.json.gz) to make this checkable",
                       "the folder records no training text")]
    languages = recorded_language(recorded)
    folders = test_folders(Path(release), languages) if Path(release).is_dir() else []
    if not folders:
        return [failed(what, "give the Common Voice release folder (or its language folder, with test.tsv)",
                       f"{release}: no {TEST_SPLIT}.tsv for {', '.join(sorted(languages)) or 'the folder language'}")]
    sentences = []
    for language_folder in folders:
        dataset = load_speech_split(parse_sources(str(language_folder)), TEST_SPLIT, text_only=True)
        sentences += [text for text in dataset.select_columns([TEXT_COLUMN])[:][TEXT_COLUMN] if text]
    found = {name: [s for s in sentences if record.contains(s)] for name, record in sorted(recorded.sets.items())}
    where = ", ".join(str(path) for path in folders)
    if not any(found.values()):
        return [passed(what, f"{len(sentences)} test sentences of {where} checked against "
                       f"{' and '.join(sorted(recorded.sets))} text")]
    counts = ", ".join(f"{len(hits)} in the {name} text" for name, hits in found.items() if hits)
    examples = sorted({sentence for hits in found.values() for sentence in hits})
    detail = f"of {len(sentences)} test sentences of {where}: {counts}\n" + "\n".join(
        f"{sentence!r}" for sentence in examples[:SHOWN_SENTENCES])
    return [failed(what, "remove them from the training data and the LM text, then train (and build the LM) again",
                   detail)]
