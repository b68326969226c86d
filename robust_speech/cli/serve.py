"""`robust-speech serve DIR`: try a model folder in the browser (its app.py, the page a Hugging Face Space serves)."""

from __future__ import annotations

import argparse

from robust_speech.cli.values import default_of
from robust_speech.submission.serve import ServeOptions, serve

NAME = "serve"
HELP = "serve a model folder's web demo (its app.py): upload or record audio, read the transcript"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(NAME, help=HELP, description="Run the model folder's app.py (a Gradio page that "
                                   "decodes with the folder's LM and shows word times) until Ctrl+C; app.py and its "
                                   "requirements.txt are written first where the folder has none.")
    parser.add_argument("model_dir", help="the model folder")
    parser.add_argument("--host", default=default_of(ServeOptions, "host"),
                        help="address to listen on (0.0.0.0: every network interface)")
    parser.add_argument("--port", type=int, default=default_of(ServeOptions, "port"), help="port to listen on")
    return parser


def run(args: argparse.Namespace) -> int:
    serve(ServeOptions(model_dir=args.model_dir, host=args.host, port=args.port))
    return 0
