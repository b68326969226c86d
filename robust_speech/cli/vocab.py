"""`robust-speech vocab`: a CTC vocab.json from normalized text."""

from __future__ import annotations

import argparse

from robust_speech.cli.arguments import add_normalizer_arguments, normalizer_from_args, text_lines
from robust_speech.cli.values import default_of
from robust_speech.core.model_folder import VOCAB_FILE
from robust_speech.text.vocabulary import build_vocabulary

NAME = "vocab"
HELP = "build a CTC vocab.json from text"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(NAME, help=HELP, description="Build a CTC vocab.json ([PAD]=0, [UNK]=1, |=2, then "
                                   "characters) from normalized text; report rare characters.")
    parser.add_argument("--text", nargs="+", required=True, metavar="FILE", help="UTF-8 text files, one sentence per line")
    parser.add_argument("--output", default=VOCAB_FILE, help="the vocab.json to write")
    parser.add_argument("--min_count", type=int, default=default_of(build_vocabulary, "min_count"),
                        help="report characters seen fewer times")
    add_normalizer_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    normalize = normalizer_from_args(args)
    vocabulary = build_vocabulary((normalize(line) for line in text_lines(args.text)), min_count=args.min_count)
    vocabulary.save(args.output)
    # The command's output: what was written and the characters worth a look.
    print(f"wrote {args.output}: {len(vocabulary.tokens)} tokens ({len(vocabulary.char_counts)} characters + [PAD], [UNK], |)")
    print(vocabulary.format_rare())
    if vocabulary.symbols:
        print(vocabulary.format_symbols())
    return 0
