"""`robust-speech check-submission DIR`: the model folder checked the way the organizers will (a checklist)."""

from __future__ import annotations

import argparse
from functools import partial

from robust_speech.cli.values import default_of
from robust_speech.submission.check import CheckOptions

NAME = "check-submission"
HELP = "check a model folder the way the challenge's organizers will, before pushing it"


def add_parser(subparsers) -> argparse.ArgumentParser:
    default = partial(default_of, CheckOptions)
    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="A checklist, each line ✓ or ✗ with its fix: the model card's tags and language, eval.py's fixed "
        "flags and log_results, the normalizer's golden rule, loading with plain transformers and the LM, "
        "safetensors, no pickles or credentials; optionally Common Voice test sentences in training and a re-run "
        "of eval.py. Exit status 1 when a check fails; warnings never fail.")
    parser.add_argument("folder", help="the model folder (the repository to push)")
    parser.add_argument("--text", nargs="+", default=list(default("text")), metavar="FILE",
                        help="audit the words of these text files (one sentence a line) instead of the training "
                        "text recorded in the folder")
    parser.add_argument("--common_voice", default=default("common_voice"), metavar="DIR",
                        help="a Common Voice release folder (or its language folder): fail if a sentence of its "
                        "test split is among the recorded training transcripts or LM text")
    parser.add_argument("--rerun", type=int, default=default("rerun"), metavar="N",
                        help="re-run the folder's eval.py on N examples of each result file's split and compare "
                        "(runs the folder's code); 0: no re-run")
    parser.add_argument("--no_run_code", dest="run_code", action="store_false", default=default("run_code"),
                        help="audit text_normalizer.json's rules instead of running eval.py's normalize_text in a "
                        "separate process")
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.submission.check import check_submission

    report = check_submission(CheckOptions(folder=args.folder, text=tuple(args.text), common_voice=args.common_voice,
                                           rerun=args.rerun, run_code=args.run_code))
    print(report.format())  # the command's output: the checklist
    return 1 if report.failures else 0
