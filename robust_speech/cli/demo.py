"""`robust-speech demo`: the whole challenge workflow on the embedded default (see robust_speech/demo/pipeline.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from robust_speech.cli.arguments import add_seed_argument
from robust_speech.cli.values import comma_list, default_of, shown
from robust_speech.demo.recipe import CLEAN_BASELINE

NAME = "demo"
HELP = "the whole challenge workflow on the embedded default (synthetic speech, CPU)"
# DemoPlan has no defaults for these (its callers always choose them): the command's own choices.
OUTPUT_DIR = "demo_output"
MINUTES = 15.0
NONE = ("", "none")


def add_parser(subparsers) -> argparse.ArgumentParser:
    from robust_speech.data.synth import SynthConfig
    from robust_speech.demo.pipeline import DemoPlan

    parser = subparsers.add_parser(NAME, help=HELP, description="Synthesize a multilingual corpus, train a model from "
                                   "scratch, build and tune n-gram LMs, run eval.py on CV-style and real-world sets, "
                                   "score, and write REPORT.md.")
    parser.add_argument("--output_dir", "--out", dest="output_dir", default=OUTPUT_DIR, help="where everything goes")
    parser.add_argument("--minutes", type=float, default=MINUTES, help="training budget in minutes")
    parser.add_argument("--languages", default=shown(default_of(SynthConfig, "languages")),
                        help="comma-separated: en, de, es, it, pl, cs")
    parser.add_argument("--force", action="store_true", help="redo every stage instead of reusing finished ones")
    add_seed_argument(parser, DemoPlan)
    parser.add_argument("--augment", default=default_of(DemoPlan, "augment"),
                        help="multi-condition training recipe, as the training script's --augment; none: train on "
                        "clean speech only")
    parser.add_argument("--augment_copies", type=int, default=default_of(DemoPlan, "augment_copies"),
                        help="degraded copies of the training set rendered before training; 0: degrade on the fly")
    parser.add_argument("--baseline", default=str(CLEAN_BASELINE),
                        help="a clean-trained demo's results.json to show side by side in REPORT.md (the default is "
                        "the one stored with robust-speech); none: no comparison")
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.demo.pipeline import DemoPlan, run_demo

    augment = None if args.augment.strip().lower() in NONE else args.augment
    baseline = None if args.baseline.strip().lower() in NONE else Path(args.baseline)
    run_demo(DemoPlan(languages=comma_list(args.languages), minutes=args.minutes, output=Path(args.output_dir).resolve(),
                      seed=args.seed, force=args.force, augment=augment, augment_copies=args.augment_copies,
                      baseline=baseline))
    return 0
