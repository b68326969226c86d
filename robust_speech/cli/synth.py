"""`robust-speech synth`: a multilingual speech corpus in the Common Voice layout, spoken by espeak-ng."""

from __future__ import annotations

import argparse
from functools import partial

from robust_speech.cli.arguments import add_seed_argument, refuse_flags_without
from robust_speech.cli.values import comma_list, count_or_all, default_of, shown

NAME = "synth"
HELP = "synthesize a multilingual speech corpus in the Common Voice layout"


def add_parser(subparsers) -> argparse.ArgumentParser:
    from robust_speech.audio.effects import NOISE_COLORS
    from robust_speech.data.synth import AUDIO_FORMATS, SynthConfig

    default = partial(default_of, SynthConfig)

    parser = subparsers.add_parser(
        NAME, help=HELP, description="Speak real sentences with espeak-ng voices into <lang>/clips + "
        "train/dev/test.tsv; reused when the folder already holds the same corpus.")
    parser.add_argument("--output_dir", required=True, help="the corpus folder")
    parser.add_argument("--languages", default=shown(default("languages")), help="comma-separated: en, de, es, it, pl, cs")
    parser.add_argument("--train_size", type=int, default=default("train_size"), help="utterances per language")
    parser.add_argument("--dev_size", type=int, default=default("dev_size"), help="dev utterances per language")
    parser.add_argument("--test_size", type=int, default=default("test_size"), help="test utterances per language")
    parser.add_argument("--lm_sentences", type=count_or_all, default=default("lm_sentences"),
                        help="LM-only sentences per language (lm_text.txt), or 'all': every sentence no split speaks")
    parser.add_argument("--long_recordings", type=int, default=default("long_recordings"),
                        help="long-form recordings per language")
    low, high = default("long_duration_s")
    parser.add_argument("--long_min_s", type=float, default=None, help=f"with --long_recordings: shortest, s (unset: {low:g})")
    parser.add_argument("--long_max_s", type=float, default=None, help=f"with --long_recordings: longest, s (unset: {high:g})")
    parser.add_argument("--audio_format", "--format", dest="audio_format", default=default("audio_format"),
                        choices=list(AUDIO_FORMATS), help="audio file format of the clips")
    parser.add_argument("--sampling_rate", type=int, default=default("sampling_rate"), help="sampling rate of the clips")
    parser.add_argument("--speakers", type=int, default=default("speakers"), help="voices per language")
    parser.add_argument("--share_voices", action="store_true", help="let dev/test voices also speak in train")
    parser.add_argument("--noise_snr_db", type=float, default=None, help="add noise at this SNR to --degraded_splits")
    parser.add_argument("--noise_color", default=None, choices=NOISE_COLORS,
                        help=f"with --noise_snr_db (unset: {default('noise_color')})")
    parser.add_argument("--reverb_rt60_s", type=float, default=None, help="add reverberation with this RT60")
    parser.add_argument("--degraded_splits", default=None, help="with --noise_snr_db/--reverb_rt60_s: the splits "
                        f"degraded, comma-separated (unset: {shown(default('degraded_splits'))})")
    add_seed_argument(parser, SynthConfig)
    return parser


def synth_config(args: argparse.Namespace):
    from robust_speech.data.synth import SynthConfig

    refuse_flags_without(args, {
        "noise_color": ("--noise_snr_db", args.noise_snr_db is not None),
        "degraded_splits": ("--noise_snr_db or --reverb_rt60_s",
                            args.noise_snr_db is not None or args.reverb_rt60_s is not None),
        "long_min_s": ("--long_recordings", args.long_recordings > 0),
        "long_max_s": ("--long_recordings", args.long_recordings > 0),
    })
    low, high = default_of(SynthConfig, "long_duration_s")
    given = {}  # the flags whose unset value means "the library's default"
    if args.noise_color is not None:
        given["noise_color"] = args.noise_color
    if args.degraded_splits is not None:
        given["degraded_splits"] = comma_list(args.degraded_splits)
    return SynthConfig(
        languages=comma_list(args.languages),
        train_size=args.train_size, dev_size=args.dev_size, test_size=args.test_size,
        lm_sentences=args.lm_sentences, long_recordings=args.long_recordings,
        long_duration_s=(low if args.long_min_s is None else args.long_min_s,
                         high if args.long_max_s is None else args.long_max_s),
        audio_format=args.audio_format, sampling_rate=args.sampling_rate, speakers=args.speakers,
        hold_out_voices=not args.share_voices, noise_snr_db=args.noise_snr_db, reverb_rt60_s=args.reverb_rt60_s,
        seed=args.seed, **given,
    )


def run(args: argparse.Namespace) -> int:
    from robust_speech.data.synth import synthesize_corpus

    print_corpus(synthesize_corpus(synth_config(args), args.output_dir))
    return 0


def print_corpus(corpus) -> None:
    """The command's output: where the corpus is and what it holds."""
    print(f"corpus in {corpus.root} (Common Voice layout, key {corpus.manifest['key']})")
    for language, summary in corpus.manifest["languages"].items():
        counts = ", ".join(f"{split} {count}" for split, count in summary["utterances"].items())
        extra = f", long-form {summary['long_recordings']}" if summary.get("long_recordings") else ""
        print(f"  {language}: {counts}{extra}; lm_text.txt {summary['lm_sentences']} sentences")
    print(corpus.manifest["notes"])
