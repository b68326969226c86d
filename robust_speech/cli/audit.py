"""`robust-speech audit`: distinct words that a normalization merges into one (it's/its)."""

from __future__ import annotations

import argparse

from robust_speech.cli.arguments import add_normalizer_arguments, normalizer_from_args, text_lines

NAME = "audit"
HELP = "list distinct words that a normalization merges into one (it's/its)"
# Collisions printed unless --top says otherwise: enough to judge a normalization, short enough to read.
TOP = 50


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Golden rule: never remove a character that changes a word into another word. Lists every "
        "normalized word that two or more distinct written words turn into, with counts.",
    )
    parser.add_argument("--text", nargs="+", required=True, metavar="FILE", help="UTF-8 text files, one sentence per line")
    add_normalizer_arguments(parser)
    parser.add_argument("--top", type=int, default=TOP, help="show at most this many collisions")
    parser.add_argument("--fail_on_collision", action="store_true", help="exit with status 1 when any collision is found")
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.text.collisions import audit_collisions

    report = audit_collisions(text_lines(args.text), normalizer_from_args(args))
    print(report.format(top=args.top))  # the command's output: the collision table
    return 1 if (args.fail_on_collision and report.collisions) else 0
