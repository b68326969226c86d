"""`build_ngram.py`: text files and/or a dataset's transcripts -> KenLM n-gram -> installed in a model folder.

One command for the blog recipe (compile KenLM, run lmplz, add `</s>` by hand, build a binary, wire it into
the processor): text is normalized with the model's own normalizer (text_normalizer.json, written by
training) and restricted to its alphabet, with what was left out reported.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from robust_speech.data import TEXT_COLUMN, load_speech_split, parse_sources
from robust_speech.errors import ConfigurationError, RobustSpeechError
from robust_speech.leakage import refuse_common_voice_test
from robust_speech.lm import (
    DEFAULT_ATTRS,
    UNIGRAMS_FILE,
    NgramOptions,
    build_language_model,
    install_language_model,
    load_normalizer,
    model_alphabet,
    model_vocabulary,
    prepare_lm_text,
    write_unigrams,
)
from robust_speech.text import TextNormalizer, parse_chars_to_ignore, read_text_lines


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
    parser.add_argument("--dataset_config_name", default=None)
    parser.add_argument("--split", default="train", help="dataset split(s), '+'-joined (default train)")
    parser.add_argument("--text_column_name", default=None, help="transcript column (default: auto-detected)")
    parser.add_argument("--token", default=None, help="Hugging Face token for gated datasets")
    parser.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    parser.add_argument("--prune", type=int, nargs="*", default=[], help="lmplz --prune thresholds, e.g. 0 0 1")
    parser.add_argument("--memory", default="1G", help="lmplz/build_binary sorting memory (default 1G)")
    parser.add_argument("--binary_type", default="probing", choices=["probing", "trie"])
    parser.add_argument("--chars_to_ignore", nargs="*", default=None,
                        help="override the model's normalizer (default: its text_normalizer.json, else the reference set)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ATTRS["alpha"], help="LM weight (tune with robust-speech tune-lm)")
    parser.add_argument("--beta", type=float, default=DEFAULT_ATTRS["beta"], help="word insertion bonus")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        build(args)
    except RobustSpeechError as error:
        print(f"build_ngram.py: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def build(args: argparse.Namespace, say=print) -> Path:
    if not args.model_dir and not args.output_dir:
        raise ConfigurationError("give --model_dir (install into a model) or --output_dir (standalone LM files)")
    if not args.text and not args.dataset_name:
        raise ConfigurationError("no text: give --text FILE... and/or --dataset_name")
    normalizer = _normalizer(args)
    alphabet = model_alphabet(model_vocabulary(args.model_dir)) if args.model_dir else None
    started = time.perf_counter()
    prepared = prepare_lm_text(_sentences(args, say), normalizer, alphabet)
    say(prepared.report())
    options = NgramOptions(order=args.order, prune=tuple(args.prune), memory=args.memory, binary_type=args.binary_type)
    work = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="ngram-"))
    work.mkdir(parents=True, exist_ok=True)
    built = build_language_model(prepared.lines, work, options, progress=say)
    binary, unigrams = built.binary, built.unigrams
    if args.output_dir:
        write_unigrams(work / UNIGRAMS_FILE, unigrams)
    say(f"{args.order}-gram: {len(unigrams)} words, {binary.stat().st_size / 1e6:.1f} MB binary, "
        f"built in {time.perf_counter() - started:.1f} s")
    if args.model_dir:
        folder = install_language_model(args.model_dir, binary, unigrams, {"alpha": args.alpha, "beta": args.beta},
                                        built.flashlight_binary)
        say(f"installed in {folder} (alpha={args.alpha}, beta={args.beta}); Wav2Vec2ProcessorWithLM and "
            "robust-speech's decoders now use it")
        return folder
    return binary


def _normalizer(args: argparse.Namespace) -> TextNormalizer:
    if args.chars_to_ignore is not None:
        return TextNormalizer(parse_chars_to_ignore(args.chars_to_ignore))
    if args.model_dir:
        saved = load_normalizer(args.model_dir)
        if saved is not None:
            return saved
    return TextNormalizer()


def _sentences(args: argparse.Namespace, say):
    for path in args.text:
        yield from read_text_lines(path)
    if args.dataset_name:
        sources = parse_sources(args.dataset_name, args.dataset_config_name, args.text_column_name)
        # LM text is training data too: Common Voice test sentences must not reach it.
        refuse_common_voice_test(sources, args.split)
        notes: list[str] = []
        dataset = load_speech_split(sources, args.split, token=args.token, notes=notes)
        for note in notes:
            say(f"note: {note}")
        yield from dataset.select_columns([TEXT_COLUMN])[:][TEXT_COLUMN]
