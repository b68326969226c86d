"""`robust-speech <verb>`: the registry of the toolkit's verbs, and the entry point that runs one.

A verb is a module of this package with `NAME`, `HELP`, `add_parser(subparsers)` (its flags) and `run(args)`
(its exit status); adding one is a new module and one line in `VERBS`. Only the verb being run builds its flags:
several read their defaults from option dataclasses whose modules import torch and datasets, which a
`robust-speech score` or `robust-speech --help` should not wait for.

Errors a user can cause (`RobustSpeechError`) print one line and exit 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Iterable, Sequence

from robust_speech.cli import (
    audit,
    check_leakage,
    check_submission,
    demo,
    prepare,
    pseudo_label,
    robustness,
    score,
    segment,
    serve,
    synth,
    transcribe,
    tune_lm,
    vocab,
)
from robust_speech.cli.arguments import add_verbosity_arguments, verbosity
from robust_speech.cli.values import DefaultsHelpFormatter
from robust_speech.core.errors import RobustSpeechError, output_errors

VERBS = (audit, vocab, synth, prepare, check_leakage, tune_lm, score, transcribe, segment, pseudo_label,
         robustness, demo, check_submission, serve)
BY_NAME = {verb.NAME: verb for verb in VERBS}
PROG = "robust-speech"


def build_parser(verbs: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The command line with the flags of `verbs` (None: of every verb); the others are listed by name."""
    built = set(BY_NAME) if verbs is None else set(verbs)
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=DefaultsHelpFormatter,
        description="Build a robust speech recognizer for any language and score it as the Robust Speech Challenge does.",
    )
    add_verbosity_arguments(parser)
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        if verb.NAME not in built:
            subparsers.add_parser(verb.NAME, help=verb.HELP)
            continue
        sub = verb.add_parser(subparsers)
        sub.formatter_class = DefaultsHelpFormatter
        add_verbosity_arguments(sub, suppress=True)
    return parser


def named_verb(argv: Sequence[str]) -> str | None:
    """The verb of a command line: its first word that is not a flag (the global flags take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with output_errors():  # a full disk or an unwritable output: one line, no traceback
            verb = named_verb(argv)
            parser = build_parser([verb] if verb in BY_NAME else [])
            args, rest = parser.parse_known_args(argv)
            module = BY_NAME[args.verb]
            if getattr(module, "RAW_ARGUMENTS", False):
                args.arguments = rest
            elif rest:
                parser.error(f"unrecognized arguments: {' '.join(rest)}")
            with verbosity(args):
                return module.run(args)
    except RobustSpeechError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
