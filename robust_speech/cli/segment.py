"""`robust-speech segment`: a long recording and its text (or a table of many) cut into a training dataset folder."""

from __future__ import annotations

import argparse

from robust_speech.cli.arguments import add_device_argument, add_loading_arguments, add_model_id_argument, load_options
from robust_speech.cli.values import default_of
from robust_speech.found.segment_options import SegmentOptions
from robust_speech.found.transcripts import TEXT_FORMATS

NAME = "segment"
HELP = "cut long transcribed recordings into clips + metadata.csv by CTC segmentation"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Align a long recording's text (plain text, paragraphs, SRT/VTT) to its audio with a trained CTC "
        "model folder and write a dataset folder (clips/ + metadata.csv + skipped.tsv) that training and eval.py read; "
        "join it with other data with '+'.")
    parser.add_argument("audio", nargs="?", help="the recording (any format, any length)")
    parser.add_argument("text", nargs="?", help="its text: one utterance per line, paragraphs, .srt or .vtt")
    parser.add_argument("--table", default=None, help="instead of AUDIO TEXT: a CSV/TSV with a recording column "
                        "(file_name, path, ...) and a text_file column, paths relative to the table")
    add_model_id_argument(parser)
    parser.add_argument("--output_dir", required=True, help="the dataset folder to write (must not exist or be empty)")
    parser.add_argument("--text_format", choices=TEXT_FORMATS, default=default_of(SegmentOptions, "text_format"),
                        help="auto: subtitles by suffix, paragraphs cut into sentences, else a line each")
    parser.add_argument("--language", default=None, help="sentence rules for paragraphs (pysbd's languages; unset: "
                        "the model's normalizer language, else en)")
    parser.add_argument("--max_duration_in_seconds", type=float,
                        default=default_of(SegmentOptions, "max_duration_in_seconds"),
                        help="longer utterances are skipped (recorded in skipped.tsv)")
    parser.add_argument("--min_score", type=float, default=default_of(SegmentOptions, "min_score"),
                        help="utterances aligned with a lower confidence (a mean log-probability) are skipped")
    parser.add_argument("--chunk_length_s", type=float, default=default_of(SegmentOptions, "chunk_length_s"),
                        help="the model hears the recording in chunks of this many seconds")
    parser.add_argument("--batch_size", type=int, default=default_of(SegmentOptions, "batch_size"),
                        help="chunks per forward pass")
    add_device_argument(parser)
    parser.add_argument("--bf16", action="store_true", help="bf16 inference (see eval.py's --bf16)")
    add_loading_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.found.segment import segment

    segment(SegmentOptions(
        model_id=args.model_id, output_dir=args.output_dir, audio=args.audio, text=args.text, table=args.table,
        text_format=args.text_format, language=args.language, max_duration_in_seconds=args.max_duration_in_seconds,
        min_score=args.min_score, chunk_length_s=args.chunk_length_s, batch_size=args.batch_size,
        load=load_options(args)))
    return 0
