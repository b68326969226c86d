"""The model card's front matter: YAML that parses, the `robust-speech-event` tag and a valid ISO 639 code,
the language the folder's text was recorded in (training_text.json.gz) when it was."""

from __future__ import annotations

from pathlib import Path

from robust_speech.core.model_folder import MODEL_CARD
from robust_speech.data.training_text import LM_SET, TrainingText
from robust_speech.submission.checklist import CheckLine, failed, passed

EVENT_TAG = "robust-speech-event"


def iso_639(code: object) -> str | None:
    """The ISO 639 code (639-1, or 639-3 for languages without one) that `code` is, also as the primary subtag
    of a BCP 47 tag such as `sv-SE`; None when it is none. pycountry holds the ISO 639-3 table."""
    import pycountry

    if not isinstance(code, str) or not code:
        return None
    primary = code.replace("_", "-").split("-")[0].lower()
    if len(primary) == 2:
        found = pycountry.languages.get(alpha_2=primary)
    elif len(primary) == 3:
        found = pycountry.languages.get(alpha_3=primary)
    else:
        return None
    return (getattr(found, "alpha_2", None) or found.alpha_3) if found is not None else None


def front_matter(path: Path) -> dict:
    """The card's YAML header as a mapping; ValueError saying why when there is none or it does not parse."""
    import yaml

    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        raise ValueError("no front matter: the card must start with a YAML block between two '---' lines")
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as error:
        raise ValueError(f"the YAML does not parse: {' '.join(str(error).split())}") from None
    if not isinstance(data, dict):
        raise ValueError("the front matter is not a YAML mapping")
    return data


def as_list(value: object) -> list:
    return value if isinstance(value, list) else ([] if value is None else [value])


def check_card(folder: Path, recorded: TrainingText | None) -> list[CheckLine]:
    path = folder / MODEL_CARD
    if not path.is_file():
        return [failed(f"{MODEL_CARD}: the model card exists", "train with robust-speech (it writes the card) or write "
                       "one with `language:` and `tags: [robust-speech-event, <iso code>]` in its YAML header")]
    try:
        data = front_matter(path)
    except (ValueError, UnicodeDecodeError) as error:
        return [failed(f"{MODEL_CARD}: the front matter parses", "fix the YAML between the '---' lines", str(error))]
    lines = [passed(f"{MODEL_CARD}: the front matter parses")]
    tags = [str(tag) for tag in as_list(data.get("tags"))]
    if EVENT_TAG in tags:
        lines.append(passed(f"{MODEL_CARD}: tagged {EVENT_TAG}"))
    else:
        lines.append(failed(f"{MODEL_CARD}: tagged {EVENT_TAG}", f"add `- {EVENT_TAG}` under `tags:` (the "
                            "organizers find submissions by it)"))
    lines.append(_language_line(as_list(data.get("language")), tags, recorded))
    return lines


def _language_line(languages: list, tags: list[str], recorded: TrainingText | None) -> CheckLine:
    what = f"{MODEL_CARD}: a valid ISO 639 language code"
    declared = [str(code) for code in languages]
    invalid = [code for code in declared if iso_639(code) is None]
    if invalid:
        return failed(what, "write the language as its ISO 639-1 code (ISO 639-3 when it has none), e.g. `sv` or `sv-SE`",
                      f"not an ISO 639 code: {', '.join(repr(code) for code in invalid)}")
    codes = {iso_639(code) for code in declared} | {iso_639(tag) for tag in tags if iso_639(tag)}
    codes.discard(None)
    if not codes:
        return failed(what, "add `language: [<iso code>]` and the code under `tags:` in the card's YAML header")
    expected = recorded_language(recorded)
    if expected and not codes & expected:
        return failed(what, f"the card says {', '.join(sorted(codes))} but the folder's text is in "
                      f"{', '.join(sorted(expected))}: set `language:` and the tag to {sorted(expected)[0]}",
                      "as recorded in training_text.json.gz")
    where = f" (as recorded: {', '.join(sorted(expected))})" if expected else ""
    return passed(f"{what}: {', '.join(sorted(codes))}{where}")


def recorded_language(recorded: TrainingText | None) -> set[str]:
    """The language the folder is for: its LM's when the LM was built for one, else the training data's."""
    if recorded is None:
        return set()
    lm = recorded.sets.get(LM_SET)
    if lm is not None and iso_639(lm.language):
        return {iso_639(lm.language)}
    return {iso_639(code) for code in recorded.languages if iso_639(code)}
