"""The golden rule: eval.py's `normalize_text`, run over the words of the training transcripts and the LM text
recorded in the folder (or of `--text` files), must not turn one written word into another (it's -> its).

`normalize_text` is the folder's code: it runs in a separate Python process (eval.py is imported there, so its
module-level code runs too), and the checklist line says so; with `run_code=False` the rules of
text_normalizer.json (which robust-speech's eval.py applies) are audited instead."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from robust_speech.core.model_folder import EVAL_SCRIPT
from robust_speech.data.training_text import TrainingText
from robust_speech.submission.checklist import CheckLine, failed, passed, warned
from robust_speech.text.collisions import AuditReport, Collision, audit_word_counts, written_forms
from robust_speech.text.lines import read_text_lines
from robust_speech.text.normalizer import _APOSTROPHES, DEFAULT_CHARS_TO_IGNORE, model_normalizer

# Collisions listed under the failed line; `robust-speech audit --text FILE` lists them all.
SHOWN_COLLISIONS = 10
# Seconds eval.py's import and normalize_text may take over every distinct word.
RUN_TIMEOUT_S = 600
# What the challenge's reference normalize_text removes (its chars_to_ignore regex) but the apostrophes: a merge
# made only by removing these is one the organizers' own scoring makes too, so it is a warning, not a failure.
# The apostrophes stay failures although the reference removes ' and ’: removing them merges it's/its.
REFERENCE_REMOVED = "".join(char for char in DEFAULT_CHARS_TO_IGNORE if char not in _APOSTROPHES)

# Imports the folder's eval.py (not as __main__) and normalizes the words given as JSON, as eval.py would:
# robust-speech's eval.py reads the folder's text_normalizer.json in main(), so that is done here too.
_RUNNER = """
import importlib.util, json, os, sys
folder, words_path, out_path = sys.argv[1:4]
sys.path.insert(0, folder)
spec = importlib.util.spec_from_file_location("submission_eval", os.path.join(folder, "eval.py"))
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if hasattr(module, "load_rules") and hasattr(module, "TRAINING_RULES"):
    module.TRAINING_RULES = module.load_rules(folder)
with open(words_path, encoding="utf-8") as file:
    words = json.load(file)
with open(out_path, "w", encoding="utf-8") as file:
    json.dump([module.normalize_text(word) for word in words], file)
"""


def word_counts(recorded: TrainingText | None, text: Sequence[str]) -> tuple[Counter, str]:
    """The written words to audit and where they come from."""
    counts: Counter = Counter()
    if text:
        for path in text:
            for line in read_text_lines(path):
                counts.update(line.split())
        return counts, f"the words of {', '.join(text)}"
    names = sorted(recorded.sets) if recorded is not None else []
    for name in names:
        counts.update(recorded.sets[name].words)
    return counts, f"the recorded {' and '.join(names)} text" if names else ""


def run_normalize_text(folder: Path, words: Sequence[str]) -> list[str]:
    """eval.py's normalize_text over `words`, in a separate process; RuntimeError with its last line if it fails."""
    with tempfile.TemporaryDirectory(prefix="check-normalizer-") as work:
        words_path, out_path = Path(work) / "words.json", Path(work) / "normalized.json"
        words_path.write_text(json.dumps(list(words), ensure_ascii=False), encoding="utf-8")
        done = subprocess.run([sys.executable, "-c", _RUNNER, str(folder.resolve()), str(words_path), str(out_path)],
                              cwd=folder, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        if done.returncode != 0 or not out_path.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(last)
        return json.loads(out_path.read_text(encoding="utf-8"))


def check_normalizer(folder: Path, recorded: TrainingText | None, text: Sequence[str], *, run_code: bool) -> list[CheckLine]:
    what = "normalize_text merges no two distinct written words (the golden rule: it's/its)"
    counts, source = word_counts(recorded, text)
    if not counts:
        return [failed(what, "train with robust-speech (it records training_text.json.gz) or pass --text FILE with "
                       "the training transcripts", "no training text recorded in the folder and no --text given")]
    normalizer = model_normalizer(folder)
    normalize, how = normalizer, "text_normalizer.json's rules"
    if run_code and (folder / EVAL_SCRIPT).is_file():
        forms = sorted(written_forms(counts, normalizer))
        try:
            normalized = dict(zip(forms, run_normalize_text(folder, forms)))
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
            return [failed(what, "make eval.py importable and normalize_text(str) -> str",
                           f"running eval.py's normalize_text failed: {error}")]
        normalize, how = normalized.__getitem__, "eval.py's normalize_text (run in a separate process)"
    report = audit_word_counts(counts, normalizer, normalize)
    summary = f"{how} over {source}: {report.distinct_words} distinct normalized words"
    merges, spellings, reference = _sorted_collisions(report.collisions)
    lines = []
    if merges:
        culprits = "".join(sorted({char for collision in merges for char in collision.removed_chars}))
        lines.append(failed(what, f"stop removing {culprits!r} (chars_to_ignore in text_normalizer.json, or eval.py's "
                            "normalize_text), or map such words explicitly",
                            f"{summary}\n{_listed(report, merges)}"))
    else:
        lines.append(passed(what, summary))
    if spellings:
        lines.append(warned(f"normalize_text merges {len(spellings)} hyphenated and closed spellings (usually one word)",
                            "check the list: a pair that is two words breaks the golden rule",
                            _listed(report, spellings)))
    if reference:
        removed = "".join(sorted({char for collision in reference for char in collision.removed_chars}))
        words = f"{len(reference)} word{'s' * (len(reference) != 1)}"
        lines.append(warned(f"normalize_text merges {words} only by removing {removed!r}, as the "
                            "challenge's reference normalize_text does (its scoring merges them too)",
                            "check the list: keep these characters if your language needs them to tell words apart",
                            _listed(report, reference)))
    return lines


def _sorted_collisions(collisions: Sequence[Collision]) -> tuple[list, list, list]:
    """The collisions that fail the check; hyphenated and closed spellings of one word (to-morrow/tomorrow,
    merged by removing dashes only); merges the reference normalization makes too (s.a./sa: only characters of
    `REFERENCE_REMOVED` removed). Both latter kinds are warnings; a merge that removed nothing fails."""
    merges, spellings, reference = [], [], []
    for collision in collisions:
        if not collision.removed_chars:
            merges.append(collision)
        elif all(unicodedata.category(char) == "Pd" for char in collision.removed_chars):
            spellings.append(collision)
        elif all(char in REFERENCE_REMOVED for char in collision.removed_chars):
            reference.append(collision)
        else:
            merges.append(collision)
    return merges, spellings, reference


def _listed(report: AuditReport, collisions: list) -> str:
    return replace(report, collisions=tuple(collisions)).format(top=SHOWN_COLLISIONS)
