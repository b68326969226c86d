"""`robust-speech pseudo-label`: untranscribed audio to a dataset folder of confidently transcribed clips."""

from __future__ import annotations

import argparse
from dataclasses import fields

from robust_speech.cli.arguments import add_decoder_arguments, add_model_id_argument, decoder_choice, load_options
from robust_speech.cli.values import default_of
from robust_speech.found.pseudo_label_options import PseudoLabelOptions

NAME = "pseudo-label"
HELP = "label untranscribed audio with a model: speech segments kept when the model is confident"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(NAME, help=HELP, description="Cut audio into speech segments (silero VAD), "
                                   "transcribe them with a model folder and its LM, and write those whose confidence "
                                   "is at least --min_confidence as a dataset folder (clips + metadata.csv); the rest "
                                   "go to skipped.tsv with their confidence.")
    parser.add_argument("inputs", help="a folder of audio files (searched recursively, any format) or a local dataset "
                        "(audio folder with metadata, CSV/TSV/JSONL table, Common Voice folder)")
    add_model_id_argument(parser)
    parser.add_argument("--output_dir", required=True, help="the dataset folder to write (absent or empty)")
    numbers = {"min_confidence": "keep a segment when its utterance confidence (0-1) is at least this",
               "min_segment_s": "skip speech segments shorter than this (seconds)",
               "max_segment_s": "cut longer speech into segments of at most this (seconds)"}
    for name, text in numbers.items():
        parser.add_argument(f"--{name}", type=float, default=default_of(PseudoLabelOptions, name), help=text)
    parser.add_argument("--eval_split_name", "--split", dest="split", default=default_of(PseudoLabelOptions, "split"),
                        help="with a dataset as input: the split whose audio is labelled")
    parser.add_argument("--dataset_config_name", "--config", dest="config", default=None,
                        help="with a Common Voice parent folder: the language")
    parser.add_argument("--batch_size", type=int, default=default_of(PseudoLabelOptions, "batch_size"),
                        help="speech segments per forward pass")
    add_decoder_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.found.pseudo_label import pseudo_label

    given = {field.name: getattr(args, field.name) for field in fields(PseudoLabelOptions) if hasattr(args, field.name)}
    options = PseudoLabelOptions(**{**given, "decoding": decoder_choice(args), "load": load_options(args)})
    result = pseudo_label(options)
    print(result.summary())  # the command's output: what was kept and skipped, and where
    return 0
