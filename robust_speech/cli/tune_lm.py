"""`robust-speech tune-lm`: the LM weight, word bonus and beam width tuned on a dev set, written into the model."""

from __future__ import annotations

import argparse
from functools import partial

from robust_speech.cli.arguments import (
    add_device_argument,
    add_seed_argument,
    add_split_arguments,
    add_token_argument,
    eval_split,
)
from robust_speech.cli.values import default_of, int_list, number_list
from robust_speech.core.model_folder import ATTRS_FILE, DECODING_FILE, LM_DIRECTORY
from robust_speech.evaluation.options import DEV_SPLIT

NAME = "tune-lm"
HELP = "tune the LM weight, word bonus and beam width on a dev set; write the best into the model"


def add_parser(subparsers) -> argparse.ArgumentParser:
    from robust_speech.evaluation.lm_tuning import TUNABLE_ENGINES, TuneOptions

    default = partial(default_of, TuneOptions)

    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Runs the acoustic model once over the dev split, then decodes its log-probs with every "
        "(alpha, beta) of the grid (seeded random order, stopped by --time_budget_s), then the best pair at each "
        "beam width. Writes alpha/beta into language_model/attrs.json and the beam width into decoding.json.",
    )
    parser.add_argument("--model_dir", required=True, help="model folder with language_model/ (build_ngram.py)")
    add_split_arguments(parser, "dev", DEV_SPLIT)
    parser.add_argument("--decoder", "--engine", dest="decoder", choices=TUNABLE_ENGINES, default=default("engine"),
                        help="the LM decoder to tune")
    parser.add_argument("--alphas", type=number_list, default=default("alphas"), help="LM weights to try")
    parser.add_argument("--betas", type=number_list, default=default("betas"), help="word insertion bonuses to try")
    parser.add_argument("--beam_widths", type=int_list, default=default("beam_widths"),
                        help="the grid runs at the smallest; the best weights are then tried at each")
    parser.add_argument("--time_budget_s", type=float, default=None, help="stop searching after this many seconds")
    parser.add_argument("--chunk_length_s", type=float, default=None, help="chunk long audio as eval.py does")
    parser.add_argument("--stride_length_s", type=float, default=None, help="with --chunk_length_s: the stride")
    add_device_argument(parser)
    add_token_argument(parser)
    add_seed_argument(parser, TuneOptions)
    parser.add_argument("--dry_run", action="store_true", help="print the table, change nothing")
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.evaluation.lm_tuning import TuneOptions, tune_on_dataset

    result = tune_on_dataset(TuneOptions(
        model_dir=args.model_dir, split=eval_split(args), engine=args.decoder, alphas=args.alphas, betas=args.betas,
        beam_widths=args.beam_widths, time_budget_s=args.time_budget_s, max_samples=args.max_eval_samples,
        chunk_length_s=args.chunk_length_s, stride_length_s=args.stride_length_s, device=args.device,
        token=args.token, seed=args.seed, dry_run=args.dry_run,
    ))
    # The command's output: the grid's table and the choice.
    print(result.table())
    best = result.best
    where = ("not written (--dry_run)" if args.dry_run
             else f"written to {args.model_dir}/{LM_DIRECTORY}/{ATTRS_FILE} and {DECODING_FILE}")
    print(f"best: alpha={best.alpha} beta={best.beta} beam={best.beam_width} dev WER {best.wer:.4f}; {where}")
    return 0
