"""`robust-speech robustness`: WER/CER of a model on a test set degraded at several levels of each condition."""

from __future__ import annotations

import argparse
from functools import partial

from robust_speech.cli.arguments import (
    add_batch_size_argument,
    add_decoder_arguments,
    add_model_id_argument,
    add_seed_argument,
    add_split_arguments,
    add_token_argument,
    decoder_choice,
    eval_split,
    load_options,
    refuse_flags_without,
)
from robust_speech.cli.values import comma_list, default_of, number_list
from robust_speech.evaluation.options import EvalSplit

NAME = "robustness"
HELP = "WER/CER of a model on a test set degraded by noise, babble, reverberation, speed, band limits and codecs"


def add_parser(subparsers) -> argparse.ArgumentParser:
    from robust_speech.audio.effects import NOISE_COLORS
    from robust_speech.evaluation.robustness import RobustnessOptions

    default = partial(default_of, RobustnessOptions)

    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Degrades every utterance of the split at each level (noise at --snr_db, babble at "
        "--babble_snr_db, reverberation at --rt60_s, --speeds, --bandwidths_hz, --codecs; seeded), transcribes it as "
        "eval.py does (chunking, the model's LM) and writes robustness.json, robustness.md and robustness.png (WER "
        "against each perturbation's levels).",
    )
    add_model_id_argument(parser)
    add_split_arguments(parser, "test", default_of(EvalSplit, "split"))
    parser.add_argument("--output_dir", default=default("output_dir"), help="where the JSON, table and plot go")
    parser.add_argument("--snr_db", type=number_list, default=default("snr_db"),
                        help="noise levels, comma-separated ('' for none)")
    parser.add_argument("--noise_color", default=None, choices=NOISE_COLORS,
                        help=f"with --snr_db levels (unset: {default('noise_color')})")
    parser.add_argument("--rt60_s", type=number_list, default=default("rt60_s"),
                        help="reverberation times in seconds ('' for none)")
    parser.add_argument("--speeds", type=number_list, default=default("speeds"), help="speed factors, e.g. 0.9,1.1")
    parser.add_argument("--bandwidths_hz", type=number_list, default=default("bandwidths_hz"),
                        help="band limits, e.g. 4000 for telephone speech")
    parser.add_argument("--babble_snr_db", type=number_list, default=default("babble_snr_db"),
                        help="levels of babble (other utterances of the split talking at once), comma-separated "
                        "('' for none)")
    parser.add_argument("--codecs", type=comma_list, default=default("codecs"),
                        help="lossy channels, comma-separated: mp3:8/16/24/32, opus:9/20/33 (kbit/s), telephone "
                        "(GSM); '' for none")
    parser.add_argument("--chunk_length_s", type=float, default=None, help="chunk long audio as eval.py does")
    parser.add_argument("--stride_length_s", type=float, default=None, help="with --chunk_length_s: the stride")
    add_decoder_arguments(parser)
    add_batch_size_argument(parser)
    add_token_argument(parser)
    add_seed_argument(parser, RobustnessOptions)
    return parser


def run(args: argparse.Namespace) -> int:
    from robust_speech.evaluation.robustness import RobustnessOptions, run_robustness

    refuse_flags_without(args, {"noise_color": ("--snr_db levels", bool(args.snr_db))})
    color = {} if args.noise_color is None else {"noise_color": args.noise_color}
    result = run_robustness(RobustnessOptions(
        model=args.model_id, split=eval_split(args), output_dir=args.output_dir, snr_db=args.snr_db,
        rt60_s=args.rt60_s, speeds=args.speeds, bandwidths_hz=args.bandwidths_hz,
        babble_snr_db=args.babble_snr_db, codecs=args.codecs, chunk_length_s=args.chunk_length_s,
        stride_length_s=args.stride_length_s, decoding=decoder_choice(args),
        load=load_options(args), batch_size=args.batch_size, max_samples=args.max_eval_samples, seed=args.seed, **color,
    ))
    print(result.table())  # the command's output: the WER table
    print(f"wrote {args.output_dir}/robustness.json, robustness.md and robustness.png")
    return 0
