"""The challenge's final score from eval.py result files:
FINAL_SCORE = 1/3 WER(Common Voice test) + 1/3 WER(real-world dev) + 1/3 WER(real-world test),
over the parts that exist when a language lacks one (the rules fall back to what was evaluated)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from robust_speech.core.errors import ConfigurationError

ROLES = ("cv_test", "real_dev", "real_test")
ROLE_NAMES = {"cv_test": "Common Voice test", "real_dev": "real-world dev", "real_test": "real-world test"}
RESULT_PATTERN = re.compile(r"\AWER: (?P<wer>\S+)\nCER: (?P<cer>\S+)\s*\Z")
SCORE_FILE = "final_score.json"
# Common Voice in a result file's name: a Hub id (`mozilla-foundation_common_voice_8_0_...`) or the release folder
# that replaced it (`cv-corpus-17.0-2024-03-15_sv-SE_test_...`, eval.py's `--dataset cv-corpus-... --config sv-SE`).
COMMON_VOICE_RESULT = re.compile(r"common[_-]?voice|cv-corpus")


def read_results_file(path: str | os.PathLike) -> dict[str, float]:
    """WER and CER from a `*_eval_results.txt` ("WER: x\\nCER: y")."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot read the result file ({error.strerror})") from None
    match = RESULT_PATTERN.match(text)
    if not match:
        raise ConfigurationError(f"{path}: not an eval.py result file (expected 'WER: <number>' then 'CER: <number>')")
    try:
        return {"wer": float(match["wer"]), "cer": float(match["cer"])}
    except ValueError:
        raise ConfigurationError(f"{path}: WER/CER are not numbers") from None


def guess_role(path: str | os.PathLike) -> str | None:
    """The part of the score a result file is, from the dataset id in its name (challenge datasets only)."""
    name = Path(path).name.lower()
    if COMMON_VOICE_RESULT.search(name) and "_test_" in name:
        return "cv_test"
    if "dev_data" in name:
        return "real_dev"
    if "eval_data" in name or "test_data" in name:
        return "real_test"
    return None


def final_score(files: dict[str, str | os.PathLike]) -> dict:
    """`files` maps roles to result files; the score is the mean WER of the roles given."""
    unknown = set(files) - set(ROLES)
    if unknown:
        raise ConfigurationError(f"unknown score parts {sorted(unknown)}: use {', '.join(ROLES)}")
    if not files:
        raise ConfigurationError("no result files: give eval.py's *_eval_results.txt files")
    parts = {role: {"file": str(path), **read_results_file(path)} for role, path in files.items()}
    score = sum(part["wer"] for part in parts.values()) / len(parts)
    return {"final_score": score, "parts": parts, "missing": [role for role in ROLES if role not in parts]}


def assign_roles(positional: list[str], explicit: dict[str, str | None]) -> dict[str, str]:
    files = {role: path for role, path in explicit.items() if path}
    for path in positional:
        role = guess_role(path)
        if role is None:
            raise ConfigurationError(f"{path}: cannot tell which part of the score this is; pass it as "
                                     "--cv_test, --real_dev or --real_test")
        if role in files:
            raise ConfigurationError(f"two result files for {ROLE_NAMES[role]}: {files[role]} and {path}")
        files[role] = path
    return files
