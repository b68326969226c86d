"""The model folder as a reproducible Hub repository: README.md model card with the challenge's tags,
`run.sh` with the exact command line, and copies of the scripts that produced it.

The card's YAML header is built with huggingface_hub's `ModelCardData`/`EvalResult`, so the Hub reads the
results into its model index exactly as for any other model.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Sequence

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from robust_speech.core.model_folder import EVAL_SCRIPT, MODEL_CARD, RUN_SCRIPT

EVENT_TAG = "robust-speech-event"
# What the folder's eval.py imports: it runs without robust-speech installed.
EVAL_REQUIREMENTS = ("torch", "transformers", "datasets", "pyctcdecode", "kenlm", "jiwer", "soundfile")
# The chunking the challenge's instructions pass for long real-world recordings.
LONG_FORM_CHUNKING = "--chunk_length_s 5.0 --stride_length_s 1.0"
# Flags whose value is a secret: run.sh (and the model card that quotes it) reads it from $HF_TOKEN instead.
TOKEN_FLAGS = ("--token", "--hub_token", "--push_to_hub_token")
TOKEN_REFERENCE = '"${HF_TOKEN}"'
TASK = "automatic-speech-recognition"
# The checkout's eval.py (the top of the repository), absent from an installed wheel.
CHECKOUT_EVAL_SCRIPT = Path(__file__).resolve().parents[2] / EVAL_SCRIPT
_LANGUAGE_CODE = re.compile(r"^([a-z]{2,3})(?:[-_][A-Za-z0-9]+)*$")


def language_code(language: str | None, dataset_config_name: str | None) -> str | None:
    """ISO 639 code: `--language`, else the primary subtag of a config such as `sv-SE` or `pt_BR`."""
    for candidate in (language, dataset_config_name):
        if candidate:
            match = _LANGUAGE_CODE.match(candidate.split("+")[0].strip())
            if match:
                return match.group(1)
    return None


def training_languages(language: str | None, dataset_config_name: str | None) -> list[str]:
    """Every ISO 639 code the training data is in: `--language`, else each of the '+'-joined configs'."""
    if language:
        return [code for code in [language_code(language, None)] if code]
    codes = (language_code(None, part) for part in (dataset_config_name or "").split("+"))
    return list(dict.fromkeys(code for code in codes if code))


def write_run_script(output_dir: str | os.PathLike, command: Sequence[str]) -> Path:
    """`run.sh`: the command that trains this model again (as typed, before any flag translation), shell-quoted
    and runnable from the folder; token values are read from $HF_TOKEN."""
    path = Path(output_dir) / RUN_SCRIPT
    path.write_text(f"#!/usr/bin/env bash\n# The command that trained this model.\n{' '.join(_quoted_without_tokens(command))}\n",
                    encoding="utf-8")
    path.chmod(0o755)
    return path


def _quoted_without_tokens(argv: Sequence[str]) -> list[str]:
    """Shell-quoted arguments with every token value replaced by a reference to $HF_TOKEN (never written)."""
    out, hide_next = [], False
    for arg in argv:
        flag, equals, _value = arg.partition("=")
        if hide_next:
            out.append(TOKEN_REFERENCE)
        elif flag in TOKEN_FLAGS and equals:
            out.append(f"{flag}={TOKEN_REFERENCE}")
        else:
            out.append(shlex.quote(arg))
        hide_next = not hide_next and arg in TOKEN_FLAGS
    return out


def copy_scripts(output_dir: str | os.PathLike, script: str) -> list[Path]:
    """Copy the training script, and eval.py: the one next to it (challenge repos hold both), else robust-speech's
    own when it runs from a checkout (a submission needs one; library callers such as the demo have no script)."""
    copied = []
    source = Path(script or "")
    beside = source.with_name(EVAL_SCRIPT) if script else CHECKOUT_EVAL_SCRIPT
    for candidate in (source, beside if beside.is_file() else CHECKOUT_EVAL_SCRIPT):
        if candidate.is_file() and candidate.suffix == ".py":
            target = Path(output_dir) / candidate.name
            if candidate.resolve() != target.resolve():
                shutil.copyfile(candidate, target)
            copied.append(target)
    return copied


def write_model_card(
    output_dir: str | os.PathLike,
    *,
    model_name: str,
    base_model: str | None,
    dataset_name: str,
    dataset_config_name: str | None,
    eval_split_name: str,
    language: str | None,
    metrics: dict[str, float],
    hyperparameters: dict[str, object],
    command: str,
    notes: Sequence[str] = (),
    scripts: Sequence[str] = (),
) -> Path:
    """README.md with YAML tags (task, event, language, dataset), the evaluation results, and how to run the
    scripts the folder holds (`scripts`: their file names)."""
    datasets = [name for name in dataset_name.split("+") if name and not os.path.exists(name)] or None
    tags = [TASK, EVENT_TAG] + ([language] if language else []) + [d for d in (datasets or [])]
    # A local dataset is named by its folder, not by this machine's path.
    dataset_type = dataset_name if datasets else Path(dataset_name).name
    results = [
        EvalResult(
            task_type=TASK, task_name="Automatic Speech Recognition", dataset_type=dataset_type,
            dataset_name=f"{dataset_type} {dataset_config_name or ''}".strip(), dataset_config=dataset_config_name,
            dataset_split=eval_split_name, metric_type=metric, metric_name=f"Eval {metric.upper()}", metric_value=round(value, 4),
        )
        for metric, value in metrics.items()
    ]
    data = ModelCardData(
        language=[language] if language else None, license="apache-2.0", tags=tags, datasets=datasets,
        base_model=base_model, model_name=model_name, eval_results=results or None, pipeline_tag=TASK,
        library_name="transformers",
    )
    rows = "\n".join(f"| {name} | {value} |" for name, value in hyperparameters.items())
    result_lines = "\n".join(f"- {metric.upper()}: {value:.4f}" for metric, value in metrics.items()) or "- not evaluated"
    body = f"""
# {model_name}

A CTC speech recognizer fine-tuned{f' from `{base_model}`' if base_model else ' from random initialization'} on
`{dataset_type}`{f' ({dataset_config_name})' if dataset_config_name else ''} with the robust-speech toolkit, for the
Robust Speech Challenge.

## Results on `{eval_split_name}`

{result_lines}

## Use

```python
from transformers import AutoModelForCTC, AutoProcessor

processor = AutoProcessor.from_pretrained("{model_name}")
model = AutoModelForCTC.from_pretrained("{model_name}")
```

To try it in a browser, run `python app.py` in this folder after `pip install -r requirements.txt` (a page to
upload or record audio, showing the transcript and word times with the folder's LM), or push the folder to a
Hugging Face Space with the Gradio SDK.

{_evaluation_section(dataset_name, dataset_type, datasets, dataset_config_name, eval_split_name, scripts)}
## Training

The exact command is in `run.sh`:

```bash
{command}
```

| hyper-parameter | value |
|---|---|
{rows}

{_training_requirements(scripts, command)}
""" + ("\n## Notes\n\n" + "\n".join(f"- {note}" for note in notes) + "\n" if notes else "")
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
    path = Path(output_dir) / MODEL_CARD
    card.save(path)
    return path


def set_card_language(output_dir: str | os.PathLike, language: str) -> Path | None:
    """The card's `language:` and language tag set to `language` (None when the folder has no card): a copy of a
    multilingual model given an LM for one of its languages is that language's submission."""
    path = Path(output_dir) / MODEL_CARD
    if not path.is_file():
        return None
    card = ModelCard.load(path)
    previous = set(card.data.language or []) if isinstance(card.data.language, list) else {card.data.language}
    card.data.language = [language]
    card.data.tags = [tag for tag in card.data.tags or [] if tag not in previous and tag != language] + [language]
    card.save(path)
    return path


def _evaluation_section(dataset_name: str, dataset_type: str, hub_datasets, config: str | None, split: str,
                        scripts: Sequence[str]) -> str:
    """How to score the model with the challenge's eval.py: what it needs installed and the exact command."""
    dataset = dataset_name if hub_datasets else f"path/to/{dataset_type}"
    command = f"python eval.py --model_id . --dataset {dataset} --config {config or 'default'} --split {split} --log_outputs"
    where = ("`eval.py` in this folder" if "eval.py" in scripts
             else "robust-speech's `eval.py` (not copied here: it was not next to the training script)")
    local = ("" if hub_datasets else f" `{dataset_type}` is a local dataset: give the path of its folder.")
    pip = " ".join(name for name in EVAL_REQUIREMENTS if name != "pyctcdecode")
    return f"""## Evaluation

{where} needs only {", ".join(f"`{name}`" for name in EVAL_REQUIREMENTS)} installed (not robust-speech):
`pip install {pip} pygtrie`, then `pip install --no-deps pyctcdecode` (pyctcdecode declares numpy<2, which
would break `datasets`; it runs with numpy 2). Run it in this folder to score the split the results above come
from:{local}

```bash
{command}
```

It writes `*_eval_results.txt` (WER and CER) and, with `--log_outputs`, the predictions and targets. For long
recordings (the challenge's real-world data) add `{LONG_FORM_CHUNKING}`.
"""


def _training_requirements(scripts: Sequence[str], command: str) -> str:
    words = command.split()
    if words and words[0] != "python":  # another program retrains the model (the demo's verb)
        program = " ".join(words[:2])
    else:
        program = next((name for name in scripts if name != "eval.py"), "run_speech_recognition_ctc.py")
    return (f"`run.sh` runs `{program}`, which needs the robust-speech package installed (`pip install .` in a "
            "checkout of robust-speech, with its requirements); run it from this folder.")
