"""One training run as typed values: the four argument dataclasses, the fields set explicitly, and the command
that retrains the model (written to the folder's `run.sh`).

A `TrainingPlan` comes from the command line (`parse_plan`: the guide's old spellings translated once, then
`HfArgumentParser`) or from a caller that trains as a function (`plan_from_fields`: the demo). Either way
`training.run.train(plan)` runs it, and the plan keeps a command a shell can run to train the same model again.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import torch
from transformers import HfArgumentParser, TrainingArguments

from robust_speech.core.logs import LOGGER
from robust_speech.data.arguments import DataTrainingArguments
from robust_speech.model.arguments import ModelArguments
from robust_speech.training.arguments import RecipeArguments
from robust_speech.training.distributed import cpu_data_parallel_flags
from robust_speech.training.flag_checks import given_flags
from robust_speech.training.legacy_flags import translate_legacy_flags

# The script that trains from flags: what run.sh calls when a plan was built in Python rather than typed.
TRAINING_SCRIPT = "run_speech_recognition_ctc.py"
ARGUMENT_TYPES = (ModelArguments, DataTrainingArguments, TrainingArguments, RecipeArguments)
PARSER_DESCRIPTION = """Fine-tune a CTC speech recognizer (XLS-R, wav2vec2, w2v-BERT or a config of your own) on
Common Voice or any local dataset, and write a model folder that plain transformers loads: weights, processor,
text_normalizer.json, run.sh, a model card and eval.py. Takes the Robust Speech Challenge guide's flags unchanged.

example: python run_speech_recognition_ctc.py --dataset_name=mozilla-foundation/common_voice_8_0
  --dataset_config_name=sv-SE --model_name_or_path=facebook/wav2vec2-xls-r-300m --output_dir=./model
  --do_train --do_eval --num_train_epochs=50 --per_device_train_batch_size=8 --learning_rate=7.5e-5"""


@dataclass
class TrainingPlan:
    """What `train` needs: the parsed arguments, which of their fields were given, and how to run it again."""

    model: ModelArguments
    data: DataTrainingArguments
    training: TrainingArguments
    recipe: RecipeArguments
    # Field names set explicitly (on the command line or by the caller): checked against flags this run would
    # accept and ignore.
    given: frozenset[str] = frozenset()
    flags: tuple[str, ...] = ()  # run.sh's flags for `script`: as typed, or the equivalent of the given fields
    script: str = TRAINING_SCRIPT  # the training script, copied into the folder when it is a file
    # run.sh's whole command when another program retrains the model (the demo's verb, with its time budget).
    rerun: tuple[str, ...] | None = None
    callbacks: tuple = ()  # TrainerCallbacks; one with a `replaces` tuple removes those callbacks of the Trainer

    @property
    def arguments(self) -> tuple:
        return self.model, self.data, self.training, self.recipe

    @property
    def run_command(self) -> list[str]:
        """run.sh's command line."""
        return list(self.rerun) if self.rerun else ["python", os.path.basename(self.script), *self.flags]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown (as HfArgumentParser shows them), the description's example kept on its own lines."""


def build_parser(defaults: Mapping[str, object] | None = None) -> HfArgumentParser:
    """The training script's parser; `defaults` replace field defaults (the 8-bit Adam script's optimizer)."""
    parser = HfArgumentParser(ARGUMENT_TYPES, description=PARSER_DESCRIPTION, formatter_class=_HelpFormatter)
    if defaults:
        parser.set_defaults(**defaults)
    return parser


def parse_plan(argv: Sequence[str], *, script: str = TRAINING_SCRIPT, defaults: Mapping[str, object] | None = None,
               callbacks: Sequence = ()) -> TrainingPlan:
    """The command line as a plan: old spellings translated (once, with a note each), `--fp16` without CUDA and
    multi-process CPU launches adapted, then `HfArgumentParser`; run.sh repeats `argv` as typed. A single JSON
    file holds the fields instead of flags."""
    translated = translate_legacy_flags(argv)
    given = given_flags(translated)
    parser = build_parser(defaults)
    if len(translated) == 1 and translated[0].endswith(".json"):
        values = json.loads(Path(translated[0]).read_text(encoding="utf-8"))
        parsed = parser.parse_dict({**(defaults or {}), **values})
    else:
        adapted = cpu_data_parallel_flags(adapt_precision_flags(translated))
        if "report_to" not in given:
            adapted = [*adapted, "--report_to", "tensorboard"]  # transformers 5 logs nowhere by default
        parsed = parser.parse_args_into_dataclasses(args=adapted)
    return TrainingPlan(*parsed, given=frozenset(given), flags=tuple(argv), script=script, callbacks=tuple(callbacks))


def parse_arguments(argv: Sequence[str]) -> tuple:
    """The four argument dataclasses of a command line (`parse_plan(argv).arguments`)."""
    return parse_plan(argv).arguments


def plan_from_fields(*, model: Mapping[str, object], data: Mapping[str, object], training: Mapping[str, object],
                     recipe: Mapping[str, object] | None = None, rerun: Sequence[str] | None = None,
                     callbacks: Sequence = ()) -> TrainingPlan:
    """A plan from field values, as a Python caller trains: each mapping goes to its dataclass as keyword
    arguments (an unknown name is a TypeError). run.sh gets `rerun`, else the training script with the flags
    that parse into the same values."""
    recipe = dict(recipe or {})
    fields = {**model, **data, **training, **recipe}
    return TrainingPlan(ModelArguments(**model), DataTrainingArguments(**data), TrainingArguments(**training),
                        RecipeArguments(**recipe), given=frozenset(fields), flags=tuple(equivalent_flags(fields)),
                        rerun=tuple(rerun) if rerun else None, callbacks=tuple(callbacks))


def equivalent_flags(fields: Mapping[str, object]) -> list[str]:
    """Flags that the training script parses into these field values (None: left at its default)."""
    flags: list[str] = []
    for name, value in fields.items():
        value = getattr(value, "value", value)  # enums by their names
        if value is None:
            continue
        if isinstance(value, bool):
            flags += [f"--{name}", "true" if value else "false"]
        elif isinstance(value, (list, tuple)):
            flags += [f"--{name}", *(str(item) for item in value)]
        elif str(value).startswith("-"):
            flags.append(f"--{name}={value}")  # argparse would read a leading minus as a flag
        else:
            flags += [f"--{name}", str(value)]
    return flags


def adapt_precision_flags(argv: Sequence[str]) -> list[str]:
    """`--fp16` needs CUDA: on a machine without it, say so and train in fp32 instead of crashing."""
    if torch.cuda.is_available():
        return list(argv)
    out, index = [], 0
    while index < len(argv):
        flag, equals, value = argv[index].partition("=")
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if flag == "--fp16":
            explicit = value if equals else (following if following.lower() in ("true", "false") else "")
            index += 1 if equals or not explicit else 2
            if (explicit or "true").lower() == "true":
                LOGGER.info("note: --fp16 needs a CUDA GPU and none is visible: training in fp32")
            continue
        if flag == "--bf16" and "--use_cpu" not in argv:
            LOGGER.info("note: --bf16 without a GPU: using the CPU's bf16 autocast (--use_cpu)")
            out.append("--use_cpu")
        out.append(argv[index])
        index += 1
    return out
