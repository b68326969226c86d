"""`robust-speech transcribe`: audio files to txt/srt/vtt/json with word times."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from robust_speech.cli.arguments import add_decoder_arguments, add_model_id_argument, decoder_choice, load_options
from robust_speech.cli.values import default_of
from robust_speech.core.errors import ConfigurationError
from robust_speech.core.paths import WORKING_DIRECTORY
from robust_speech.inference.options import TRANSCRIBE_CHUNK_S, DecoderChoice

NAME = "transcribe"
HELP = "transcribe audio files to txt/srt/vtt/json with word times (JSON: with confidences)"
ALL_FORMATS = "all"


def add_parser(subparsers) -> argparse.ArgumentParser:
    from robust_speech.inference.writers import FORMATS

    parser = subparsers.add_parser(NAME, help=HELP, description="Transcribe any audio files with a CTC model folder "
                                   "(or Hub id); long files are chunked (or cut at pauses with --vad).")
    parser.add_argument("files", nargs="+", help="audio files (any format, rate, channels)")
    add_model_id_argument(parser)
    parser.add_argument("--output_dir", default=WORKING_DIRECTORY, help="where the transcript files are written")
    parser.add_argument("--format", default=ALL_FORMATS, help=f"comma-separated: {','.join(FORMATS)}, or {ALL_FORMATS}")
    parser.add_argument("--chunk_length_s", type=float, default=None,
                        help=f"chunk length in seconds (unset: {TRANSCRIBE_CHUNK_S:g}; with --vad: none)")
    parser.add_argument("--stride_length_s", type=float, default=None, help="with --chunk_length_s: the stride")
    parser.add_argument("--vad", action="store_true", help="cut at pauses (silero-vad); a --chunk_length_s given "
                        "too cuts longer speech segments")
    parser.add_argument("--nbest", type=int, default=default_of(DecoderChoice, "nbest"),
                        help="the N best transcripts (text and beam score) as alternatives in the JSON; beam search "
                        "only, not with --vad")
    add_decoder_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.inference.loading import load_for_inference
    from robust_speech.inference.options import TranscriberOptions
    from robust_speech.inference.writers import FORMATS

    formats = FORMATS if args.format == ALL_FORMATS else tuple(args.format.split(","))
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise ConfigurationError(f"--format {','.join(unknown)}: choose from {', '.join(FORMATS)} or {ALL_FORMATS}")
    # Without --vad, long files are cut into fixed chunks; with --vad they are cut at pauses, and a
    # --chunk_length_s given as well cuts speech segments longer than it (as eval.py does).
    chunk_length_s = args.chunk_length_s if args.chunk_length_s is not None else (None if args.vad else TRANSCRIBE_CHUNK_S)
    if args.stride_length_s is not None and chunk_length_s is None:
        raise ConfigurationError("--stride_length_s needs --chunk_length_s")
    if args.nbest > 1 and args.vad:
        raise ConfigurationError("--nbest with --vad: alternatives would be per speech segment, not per file; drop "
                                 "one of them")
    if args.nbest > 1 and "json" not in formats:
        raise ConfigurationError("--nbest: the alternatives are written in the JSON; add json to --format")
    chunking = TranscriberOptions(chunk_length_s, args.stride_length_s, vad=args.vad)
    # The JSON carries word and utterance confidences: computed only when it is written.
    decoding = replace(decoder_choice(args), confidence="json" in formats, nbest=args.nbest)
    loaded = load_for_inference(args.model_id, load_options(args), decoding, chunking)
    # The long-audio note stays on standard error, just before the progress bar it explains; standard output
    # carries the transcripts.
    loaded.transcriber.note = lambda line: print(line, file=sys.stderr, flush=True)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for path in args.files:
        transcribe_file(loaded, path, output_dir, formats)
    return 0


def transcribe_file(loaded, path: str, output_dir: Path, formats) -> None:
    from robust_speech.audio.decode import load_audio
    from robust_speech.inference.transcribe import long_audio_progress
    from robust_speech.inference.writers import write_transcript

    transcriber, rate = loaded.transcriber, loaded.acoustic.sampling_rate
    audio = load_audio(path, rate)
    progress = long_audio_progress([audio], rate)
    transcript = transcriber.transcribe([audio], progress=progress)[0]
    if progress is not None:
        progress.close()
    written = write_transcript(output_dir / Path(path).stem, transcript, transcriber.seconds_per_frame, formats,
                               str(path), audio.size / rate)
    # The command's output: each file's transcript and the files written.
    print(f"{path}: {transcript.text}")
    print(f"  -> {', '.join(str(w) for w in written)}")
