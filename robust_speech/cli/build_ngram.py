"""`build_ngram.py`'s command line: its flags, parsed into `LMBuildOptions`."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from robust_speech.cli.arguments import add_normalizer_arguments, normalizer_from_args
from robust_speech.core.errors import ConfigurationError, RobustSpeechError
from robust_speech.lm.build import LMBuildOptions, build
from robust_speech.lm.install import remove_language_model
from robust_speech.lm.ngram import DEFAULT_ATTRS, NgramOptions

DEFAULT_SPLIT = "train"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build_ngram.py",
        description="Build a KenLM n-gram from text and install it into a CTC model folder, where "
        "Wav2Vec2ProcessorWithLM, pyctcdecode and robust-speech's decoders find it.",
    )
    parser.add_argument("--model_dir", help="model folder to install the LM into (its language_model/ is replaced)")
    parser.add_argument("--output_dir", help="without --model_dir: where to write the ARPA, binary and unigrams")
    parser.add_argument("--text", nargs="*", default=[], metavar="FILE", help="UTF-8 text files, one sentence per line")
    parser.add_argument("--dataset_name", help="also take the transcripts of a dataset (Hub id or local path)")
    parser.add_argument("--dataset_config_name", default=None, help="with --dataset_name: its config")
    parser.add_argument("--split", default=None, help=f"with --dataset_name: split(s), '+'-joined (default {DEFAULT_SPLIT})")
    parser.add_argument("--text_column_name", default=None,
                        help="with --dataset_name: transcript column (default: auto-detected)")
    parser.add_argument("--token", default=None, help="with --dataset_name: Hugging Face token for gated datasets")
    parser.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    parser.add_argument("--prune", type=int, nargs="*", default=[], help="lmplz --prune thresholds, e.g. 0 0 1")
    parser.add_argument("--memory", default="1G", help="lmplz/build_binary sorting memory (default 1G)")
    parser.add_argument("--binary_type", default="probing", choices=["probing", "trie"])
    add_normalizer_arguments(parser, chars_help="override the model's normalizer (default: its text_normalizer.json, "
                             "else the reference set)")
    parser.add_argument("--alpha", type=float, default=None,
                        help=f"with --model_dir: LM weight written to its attrs.json (default {DEFAULT_ATTRS['alpha']}; "
                        "tune with robust-speech tune-lm)")
    parser.add_argument("--beta", type=float, default=None,
                        help=f"with --model_dir: word insertion bonus (default {DEFAULT_ATTRS['beta']})")
    parser.add_argument("--remove_lm", action="store_true",
                        help="instead: take the LM out of --model_dir (language_model/, alphabet.json, the flashlight "
                        "copy, decoding.json); its configs go back to the plain Wav2Vec2Processor")
    return parser


# Flags that only take effect with another one; given without it they would change nothing.
NEEDS = {"dataset_config_name": "dataset_name", "split": "dataset_name", "text_column_name": "dataset_name",
         "token": "dataset_name", "alpha": "model_dir", "beta": "model_dir"}


def options_from_args(args: argparse.Namespace) -> LMBuildOptions:
    for flag, needed in NEEDS.items():
        if getattr(args, flag) is not None and not getattr(args, needed):
            where = ("they are written into the model's language_model/attrs.json" if needed == "model_dir"
                     else "it applies to the dataset's transcripts")
            raise ConfigurationError(f"--{flag} needs --{needed}: {where}")
    given = (args.chars_to_ignore is not None or not args.do_lower_case or args.casing_language is not None
             or args.dashes_split_words)
    return LMBuildOptions(
        model_dir=args.model_dir, output_dir=args.output_dir, text=tuple(args.text), dataset_name=args.dataset_name,
        dataset_config_name=args.dataset_config_name, split=args.split or DEFAULT_SPLIT,
        text_column_name=args.text_column_name, token=args.token,
        alpha=DEFAULT_ATTRS["alpha"] if args.alpha is None else args.alpha,
        beta=DEFAULT_ATTRS["beta"] if args.beta is None else args.beta,
        ngram=NgramOptions(order=args.order, prune=tuple(args.prune), memory=args.memory, binary_type=args.binary_type),
        normalizer=normalizer_from_args(args) if given else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.remove_lm:
        if not args.model_dir or args.text or args.dataset_name:
            parser.error("--remove_lm takes only --model_dir")
        removed = remove_language_model(args.model_dir)
        print(f"removed {', '.join(path.name for path in removed) or 'nothing (no LM)'} from {args.model_dir}; "
              "it now loads as a plain Wav2Vec2Processor (greedy decoding)")
        return 0
    try:
        options = options_from_args(args)
        build(options)
    except RobustSpeechError as error:
        print(f"build_ngram.py: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0
