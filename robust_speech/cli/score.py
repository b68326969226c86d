"""`robust-speech score`: the challenge's final score from eval.py result files."""

from __future__ import annotations

import argparse

from robust_speech.reports.scoring import SCORE_FILE

NAME = "score"
HELP = "the challenge's final score from eval.py result files"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="FINAL_SCORE = mean of the WERs of Common Voice test, real-world dev and real-world test "
        "(of those given). Files named after the challenge's datasets (or a Common Voice release folder) are "
        "recognized; others need a flag.",
    )
    parser.add_argument("results", nargs="*", help="*_eval_results.txt files named after the challenge datasets")
    parser.add_argument("--cv_test", default=None, help="result file of the Common Voice test split")
    parser.add_argument("--real_dev", default=None, help="result file of the real-world dev data")
    parser.add_argument("--real_test", default=None, help="result file of the real-world test data")
    parser.add_argument("--output", default=SCORE_FILE, help="JSON with the score and its parts ('' to skip)")
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.reports.result_files import write_json
    from robust_speech.reports.scoring import ROLE_NAMES, assign_roles, final_score

    files = assign_roles(args.results, {"cv_test": args.cv_test, "real_dev": args.real_dev, "real_test": args.real_test})
    score = final_score(files)
    # The command's output: the parts and the score, FINAL_SCORE on a line of its own.
    for role, part in score["parts"].items():
        print(f"{ROLE_NAMES[role]:>18}: WER {part['wer']:.4f}  ({part['file']})")
    if score["missing"]:
        print(f"missing: {', '.join(ROLE_NAMES[r] for r in score['missing'])}; the score is the mean of the parts given")
    print(f"FINAL_SCORE: {score['final_score']}")
    if args.output:
        write_json(args.output, score)
    return 0
