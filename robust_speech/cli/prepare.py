"""`robust-speech prepare`: load, decode, filter and cache the data exactly as training does.

Its flags are the training script's, parsed by `HfArgumentParser` from the same dataclasses, character for
character; the main parser hands them over unparsed (`RAW_ARGUMENTS`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from robust_speech.cli.arguments import add_verbosity_arguments
from robust_speech.core.errors import ConfigurationError
from robust_speech.core.model_folder import VOCAB_FILE

NAME = "prepare"
HELP = "load, decode, filter and cache a dataset as training does; report skips"
DESCRIPTION = (
    "Load, check and decode the training and evaluation data exactly as run_speech_recognition_ctc.py does "
    "(same flags), cache the decoded audio, and report skipped examples (skipped.tsv) and train/eval overlap."
)
RAW_ARGUMENTS = True
# Data flags that `prepare` accepts (they are the training script's) but that only training uses: it evaluates
# no model, always stops after preprocessing, and loads no model code.
TRAINING_ONLY_DATA_FLAGS = ("eval_metrics", "preprocessing_only", "trust_remote_code")


@dataclass
class PrepareArguments:
    output_dir: str = field(metadata={"help": "where skipped.tsv, leakage.tsv and vocab.json are written"})
    do_train: bool = field(default=True, metadata={"help": "prepare the training split"})
    do_eval: bool = field(default=True, metadata={"help": "prepare the evaluation split"})


def add_parser(subparsers) -> argparse.ArgumentParser:
    # No help of its own and no abbreviations: every other argument, --help included, goes to HfArgumentParser.
    return subparsers.add_parser(NAME, help=HELP, description=DESCRIPTION, add_help=False, allow_abbrev=False)


def run(args: argparse.Namespace) -> int:
    from transformers import HfArgumentParser

    from robust_speech.data.arguments import DataTrainingArguments
    from robust_speech.data.prepare import prepare_datasets

    argv = list(args.arguments)
    parser = HfArgumentParser((DataTrainingArguments, PrepareArguments), prog="robust-speech prepare",
                              description=DESCRIPTION)
    add_verbosity_arguments(parser, suppress=True)  # parsed by the main parser; listed here for --help
    data_args, prepare_args = parser.parse_args_into_dataclasses(args=argv)
    given = {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}
    for flag in TRAINING_ONLY_DATA_FLAGS:
        if flag in given:
            raise ConfigurationError(f"--{flag} applies to training (run_speech_recognition_ctc.py); prepare only "
                                     "loads, decodes and checks the data (drop the flag)")
    prepared = prepare_datasets(data_args, prepare_args.output_dir, do_train=prepare_args.do_train,
                                do_eval=prepare_args.do_eval)
    if prepared.vocabulary is not None:
        path = Path(prepare_args.output_dir) / VOCAB_FILE
        prepared.vocabulary.save(path)
        print(f"wrote {path}: {len(prepared.vocabulary.tokens)} tokens")  # the command's output
    return 0
