"""Accept the challenge guide's flag spellings that transformers 5 renamed or removed.

Users paste the guide's `run.sh`; `TrainingArguments` in transformers 5 rejects `--evaluation_strategy`,
`--group_by_length` and friends. The command line is rewritten to today's names before parsing, with one
logged line per renamed flag, so the old command trains exactly as it used to.
"""

from __future__ import annotations

from typing import Sequence

from robust_speech.core.logs import LOGGER

_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}

# Boolean flags that only changed name (a bare flag means true, as before).
RENAMED_BOOLEANS = {
    "--gradient_checkpointing": "--activation_checkpointing",
    "--freeze_feature_extractor": "--freeze_feature_encoder",
}


def translate_legacy_flags(argv: Sequence[str]) -> list[str]:
    """`argv` with the guide's old spellings replaced by transformers 5's; each replacement is logged once."""
    out: list[str] = []
    announced: set[str] = set()
    args = list(argv)
    index = 0

    def announce(old: str, new: str) -> None:
        if old not in announced:
            announced.add(old)
            LOGGER.info(f"note: {old} is spelled {new} since transformers 5; using {new}")

    while index < len(args):
        arg = args[index]
        flag, equals, inline = arg.partition("=")
        following = args[index + 1] if index + 1 < len(args) else None
        if flag == "--evaluation_strategy":
            value = inline if equals else following
            announce(flag, "--eval_strategy")
            out += ["--eval_strategy", value] if value is not None else ["--eval_strategy"]
            index += 1 if equals else 2
            continue
        if flag == "--group_by_length":
            value, used = _boolean_value(inline if equals else following, bool(equals))
            announce(flag, "--train_sampling_strategy group_by_length")
            if value:
                out += ["--train_sampling_strategy", "group_by_length"]
            index += 1 + used
            continue
        if flag in RENAMED_BOOLEANS:
            new = RENAMED_BOOLEANS[flag]
            value, used = _boolean_value(inline if equals else following, bool(equals))
            announce(flag, new)
            out += [new, "true" if value else "false"]
            index += 1 + used
            continue
        out.append(arg)
        index += 1
    return out


def _boolean_value(candidate: str | None, inline: bool) -> tuple[bool, int]:
    """The flag's value and how many extra argv items it used (a bare flag means true)."""
    if candidate is not None and candidate.lower() in _TRUE | _FALSE:
        return candidate.lower() in _TRUE, 0 if inline else 1
    return True, 0
