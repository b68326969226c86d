"""`build_ngram.py`'s command line: its flags, parsed into `LMBuildOptions`."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import Sequence

from robust_speech.cli.arguments import add_normalizer_arguments, add_verbosity_arguments, normalizer_from_args, verbosity
from robust_speech.cli.values import DefaultsHelpFormatter, default_of
from robust_speech.core.errors import ConfigurationError, RobustSpeechError
from robust_speech.core.folder_check import verify_model_folder
from robust_speech.core.logs import LOGGER
from robust_speech.lm.build import LMBuildOptions, build
from robust_speech.lm.install import remove_language_model
from robust_speech.lm.ngram import NgramOptions
from robust_speech.submission.check_card import iso_639

PROG = "build_ngram.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=DefaultsHelpFormatter,
        description="Build a KenLM n-gram from text files and/or a dataset's transcripts (both together when both "
        "are given) and install it into a CTC model folder, where Wav2Vec2ProcessorWithLM, pyctcdecode and "
        "robust-speech's decoders find it.",
    )
    parser.add_argument("--model_dir", help="model folder to install the LM into (its language_model/ is replaced)")
    parser.add_argument("--output_dir", help="without --model_dir: where to write the ARPA, binary and unigrams")
    parser.add_argument("--text", nargs="*", default=default_of(LMBuildOptions, "text"), metavar="FILE",
                        help="UTF-8 text files, one sentence per line")
    parser.add_argument("--dataset_name", help="also take the transcripts of a dataset (Hub id or local path)")
    parser.add_argument("--dataset_config_name", default=None, help="with --dataset_name: its config")
    parser.add_argument("--split", "--train_split_name", dest="split", default=None,
                        help=f"with --dataset_name: split(s), '+'-joined (unset: {default_of(LMBuildOptions, 'split')})")
    parser.add_argument("--text_column_name", default=None,
                        help="with --dataset_name: transcript column (unset: auto-detected)")
    parser.add_argument("--token", default=None, help="with --dataset_name: Hugging Face token for gated datasets")
    parser.add_argument("--language", default=None, metavar="CODE",
                        help="with --model_dir: the ISO 639 code of the LM's text (e.g. de, sv-SE), recorded in the "
                        "folder's training_text.json.gz; check-submission expects it in the model card")
    add_ngram_arguments(parser)
    add_normalizer_arguments(parser, chars_help="override the model's normalizer (unset: its text_normalizer.json, "
                             "else the reference set)")
    parser.add_argument("--alpha", type=float, default=None,
                        help=f"with --model_dir: LM weight written to its attrs.json (unset: "
                        f"{default_of(LMBuildOptions, 'alpha')}; tune with robust-speech tune-lm)")
    parser.add_argument("--beta", type=float, default=None,
                        help=f"with --model_dir: word insertion bonus (unset: {default_of(LMBuildOptions, 'beta')})")
    parser.add_argument("--remove_lm", action="store_true",
                        help="instead: take the LM out of --model_dir (language_model/, alphabet.json, the flashlight "
                        "copy, decoding.json); its configs go back to the plain Wav2Vec2Processor")
    add_verbosity_arguments(parser)
    return parser


def add_ngram_arguments(parser: argparse.ArgumentParser) -> None:
    default = partial(default_of, NgramOptions)

    parser.add_argument("--order", type=int, default=default("order"), help="n-gram order")
    parser.add_argument("--prune", type=int, nargs="*", default=list(default("prune")),
                        help="lmplz --prune thresholds, e.g. 0 0 1")
    parser.add_argument("--memory", default=default("memory"), help="lmplz/build_binary sorting memory")
    parser.add_argument("--binary_type", default=default("binary_type"), choices=["probing", "trie"],
                        help="build_binary's data structure: probing (fast) or trie (small)")


# Flags that only take effect with another one; given without it they would change nothing.
_DATASET, _ATTRS = "it applies to the dataset's transcripts", "they are written into the model's language_model/attrs.json"
NEEDS = {"dataset_config_name": ("dataset_name", _DATASET), "split": ("dataset_name", _DATASET),
         "text_column_name": ("dataset_name", _DATASET), "token": ("dataset_name", _DATASET),
         "alpha": ("model_dir", _ATTRS), "beta": ("model_dir", _ATTRS),
         "language": ("model_dir", "it is recorded in the model folder's training_text.json.gz")}


def options_from_args(args: argparse.Namespace) -> LMBuildOptions:
    for flag, (needed, why) in NEEDS.items():
        if getattr(args, flag) is not None and not getattr(args, needed):
            raise ConfigurationError(f"--{flag} needs --{needed}: {why}")
    if args.language is not None and iso_639(args.language) is None:
        raise ConfigurationError(f"--language {args.language!r} is no ISO 639 code: give the language of the LM's text "
                                 "as the model card writes it, e.g. de or sv-SE")
    given = (args.chars_to_ignore is not None or not args.do_lower_case or args.casing_language is not None
             or args.dashes_split_words)
    # Unset flags leave the options' own defaults in place.
    chosen = {name: value for name, value in (("split", args.split), ("alpha", args.alpha),
                                              ("beta", args.beta)) if value is not None}
    return LMBuildOptions(
        model_dir=args.model_dir, output_dir=args.output_dir, text=tuple(args.text), dataset_name=args.dataset_name,
        dataset_config_name=args.dataset_config_name, text_column_name=args.text_column_name, token=args.token,
        ngram=NgramOptions(order=args.order, prune=tuple(args.prune), memory=args.memory, binary_type=args.binary_type),
        normalizer=normalizer_from_args(args) if given else None, language=args.language, **chosen,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with verbosity(args):
        return run(parser, args)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.remove_lm and (not args.model_dir or args.text or args.dataset_name):
        parser.error("--remove_lm takes only --model_dir")
    try:
        if args.model_dir:
            # The files it reads or rewrites (vocabulary, normalizer, processor configs); a damaged LM is replaced.
            verify_model_folder(args.model_dir, language_model=False)
        if args.remove_lm:
            removed = remove_language_model(args.model_dir)
            LOGGER.info(f"removed {', '.join(path.name for path in removed) or 'nothing (no LM)'} from "
                        f"{args.model_dir}; it now loads as a plain Wav2Vec2Processor (greedy decoding)")
            return 0
        build(options_from_args(args))
    except RobustSpeechError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0
