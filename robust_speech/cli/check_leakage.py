"""`robust-speech check-leakage`: training examples whose sentence or audio also occurs in an evaluation set."""

from __future__ import annotations

import argparse
from functools import partial

from robust_speech.cli.arguments import add_normalizer_arguments, add_token_argument
from robust_speech.cli.values import default_of
from robust_speech.data.arguments import DataTrainingArguments

NAME = "check-leakage"
HELP = "find training examples whose sentence or audio also occurs in an evaluation set"


def add_parser(subparsers) -> argparse.ArgumentParser:
    from robust_speech.data.leakage import OverlapReport

    default = partial(default_of, DataTrainingArguments)

    parser = subparsers.add_parser(
        NAME, help=HELP, description="Report training examples whose normalized sentence or decoded audio (hash of "
        "the samples) also occurs in the evaluation set. Exit status 1 when any is found.")
    parser.add_argument("--dataset_name", "--train", dest="dataset_name", required=True, metavar="DATASET",
                        help="Hub id or local path of the training data; several joined with '+'")
    parser.add_argument("--dataset_config_name", "--train_config", dest="dataset_config_name", default=None,
                        help="config of the training data")
    parser.add_argument("--train_split_name", "--train_split", dest="train_split_name",
                        default=default("train_split_name"), help="training split(s), '+'-joined")
    parser.add_argument("--eval_dataset_name", "--eval", dest="eval_dataset_name", required=True, metavar="DATASET",
                        help="Hub id or local path of the evaluation data")
    parser.add_argument("--eval_dataset_config_name", "--eval_config", dest="eval_dataset_config_name", default=None,
                        help="config of the evaluation data")
    parser.add_argument("--eval_split_name", "--eval_split", dest="eval_split_name", default=default("eval_split_name"),
                        help="evaluation split(s), '+'-joined")
    parser.add_argument("--text_column_name", default=None, help="transcript column (unset: auto-detected)")
    parser.add_argument("--audio_column_name", default=default("audio_column_name"), help="audio column")
    parser.add_argument("--text_only", action="store_true", help="compare sentences only (no audio decoding)")
    parser.add_argument("--output_dir", default=None, help="write leakage.tsv (and skipped.tsv) here")
    parser.add_argument("--preprocessing_num_workers", type=int, default=None, help="processes that decode audio")
    add_token_argument(parser)
    parser.add_argument("--top", "--show", dest="top", type=int, default=default_of(OverlapReport.format, "limit"),
                        help="print at most this many overlaps")
    add_normalizer_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.data.prepare import check_leakage

    data_args = DataTrainingArguments(
        dataset_name=args.dataset_name, dataset_config_name=args.dataset_config_name,
        train_split_name=args.train_split_name, eval_dataset_name=args.eval_dataset_name,
        eval_dataset_config_name=args.eval_dataset_config_name, eval_split_name=args.eval_split_name,
        text_column_name=args.text_column_name, audio_column_name=args.audio_column_name,
        chars_to_ignore=args.chars_to_ignore, do_lower_case=args.do_lower_case, casing_language=args.casing_language,
        dashes_split_words=args.dashes_split_words,
        preprocessing_num_workers=args.preprocessing_num_workers, token=args.token,
    )
    report = check_leakage(data_args, args.output_dir, decode_audio=not args.text_only)
    print(report.format(limit=args.top))  # the command's output: the overlap table
    return 1 if report else 0
