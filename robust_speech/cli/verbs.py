"""`robust-speech <verb>`: the toolkit's command line.

Errors a user can cause (`RobustSpeechError`) print one line and exit 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from robust_speech.cli.arguments import (
    add_decoder_arguments,
    add_normalizer_arguments,
    decoder_choice,
    eval_split,
    load_options,
    normalizer_from_args,
)
from robust_speech.core.errors import ConfigurationError, RobustSpeechError, output_errors
from robust_speech.core.model_folder import ATTRS_FILE, DECODING_FILE, LM_DIRECTORY, VOCAB_FILE
from robust_speech.demo.recipe import AUGMENT as DEMO_AUGMENT
from robust_speech.demo.recipe import AUGMENT_COPIES as DEMO_AUGMENT_COPIES
from robust_speech.demo.recipe import CLEAN_BASELINE as DEMO_BASELINE
from robust_speech.evaluation.options import (
    DEFAULT_ALPHAS,
    DEFAULT_BABBLE_SNR_DB,
    DEFAULT_BEAM_WIDTHS,
    DEFAULT_BETAS,
    DEFAULT_CODECS,
    DEFAULT_RT60_S,
    DEFAULT_SNR_DB,
)


def _add_split_arguments(parser: argparse.ArgumentParser, split: str, what: str) -> None:
    parser.add_argument("--dataset", required=True, help=f"Hub id or local path of the {what} data")
    parser.add_argument("--config", default=None)
    parser.add_argument("--split", default=split)
    parser.add_argument("--text_column_name", default=None)


def _text_lines(paths: Sequence[str]):
    from robust_speech.text.lines import read_text_lines

    for path in paths:
        yield from read_text_lines(path)


def cmd_audit(args: argparse.Namespace) -> int:
    from robust_speech.text.collisions import audit_collisions

    report = audit_collisions(_text_lines(args.text), normalizer_from_args(args))
    print(report.format(top=args.top))
    return 1 if (args.fail_on_collision and report.collisions) else 0


def cmd_vocab(args: argparse.Namespace) -> int:
    from robust_speech.text.vocabulary import build_vocabulary

    normalize = normalizer_from_args(args)
    vocabulary = build_vocabulary((normalize(line) for line in _text_lines(args.text)), min_count=args.min_count)
    vocabulary.save(args.output)
    print(f"wrote {args.output}: {len(vocabulary.tokens)} tokens ({len(vocabulary.char_counts)} characters + [PAD], [UNK], |)")
    print(vocabulary.format_rare())
    if vocabulary.symbols:
        print(vocabulary.format_symbols())
    return 0


def _comma_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _count_or_all(value: str) -> int | None:
    """A count, or None for 'all'."""
    if value.strip().lower() == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'all', not {value!r}") from None


def refuse_flags_without(args: argparse.Namespace, needs: dict[str, tuple[str, bool]]) -> None:
    """One line for a flag given (not None) while the feature it tunes is off: {flag: (what turns it on, on?)}."""
    for flag, (needed, on) in needs.items():
        if getattr(args, flag) is not None and not on:
            raise ConfigurationError(f"--{flag} needs {needed}: without it the flag changes nothing")


SYNTH_DEFAULTS = {"noise_color": "pink", "degraded_splits": "dev,test,long", "long_min_s": 60.0, "long_max_s": 300.0}


def _synth_config(args: argparse.Namespace):
    from robust_speech.data.synth import SynthConfig

    refuse_flags_without(args, {
        "noise_color": ("--noise_snr_db", args.noise_snr_db is not None),
        "degraded_splits": ("--noise_snr_db or --reverb_rt60_s", args.noise_snr_db is not None or args.reverb_rt60_s is not None),
        "long_min_s": ("--long_recordings", args.long_recordings > 0),
        "long_max_s": ("--long_recordings", args.long_recordings > 0),
    })
    value = {name: default if getattr(args, name) is None else getattr(args, name) for name, default in SYNTH_DEFAULTS.items()}
    return SynthConfig(
        languages=_comma_list(args.languages),
        train_size=args.train_size, dev_size=args.dev_size, test_size=args.test_size,
        lm_sentences=args.lm_sentences, long_recordings=args.long_recordings,
        long_duration_s=(value["long_min_s"], value["long_max_s"]), audio_format=args.format,
        sampling_rate=args.sampling_rate, speakers=args.speakers, hold_out_voices=not args.share_voices,
        noise_snr_db=args.noise_snr_db, noise_color=value["noise_color"], reverb_rt60_s=args.reverb_rt60_s,
        degraded_splits=_comma_list(value["degraded_splits"]),
        seed=args.seed,
    )


def cmd_synth(args: argparse.Namespace) -> int:
    from robust_speech.data.synth import synthesize_corpus

    corpus = synthesize_corpus(_synth_config(args), args.output_dir)
    _print_corpus(corpus)
    return 0


def _print_corpus(corpus) -> None:
    print(f"corpus in {corpus.root} (Common Voice layout, key {corpus.manifest['key']})")
    for language, summary in corpus.manifest["languages"].items():
        counts = ", ".join(f"{split} {count}" for split, count in summary["utterances"].items())
        extra = f", long-form {summary['long_recordings']}" if summary.get("long_recordings") else ""
        print(f"  {language}: {counts}{extra}; lm_text.txt {summary['lm_sentences']} sentences")
    print(corpus.manifest["notes"])


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole challenge workflow on the embedded default (see robust_speech/demo/pipeline.py)."""
    from robust_speech.demo.pipeline import DemoPlan, run_demo

    augment = None if args.augment.strip().lower() in ("", "none") else args.augment
    baseline = None if args.baseline.strip().lower() in ("", "none") else Path(args.baseline)
    run_demo(DemoPlan(languages=_comma_list(args.languages), minutes=args.minutes, output=Path(args.output_dir).resolve(),
                      seed=args.seed, force=args.force, augment=augment, augment_copies=args.augment_copies,
                      baseline=baseline))
    return 0


def cmd_prepare(argv: Sequence[str]) -> int:
    """Parsed by HfArgumentParser so the flags are the training script's, character for character."""
    from dataclasses import dataclass, field

    from transformers import HfArgumentParser

    from robust_speech.data.arguments import DataTrainingArguments
    from robust_speech.data.prepare import prepare_datasets

    @dataclass
    class PrepareArguments:
        output_dir: str = field(metadata={"help": "where skipped.tsv, leakage.tsv and vocab.json are written"})
        do_train: bool = field(default=True, metadata={"help": "prepare the training split"})
        do_eval: bool = field(default=True, metadata={"help": "prepare the evaluation split"})

    parser = HfArgumentParser((DataTrainingArguments, PrepareArguments), prog="robust-speech prepare",
                              description=PREPARE_DESCRIPTION)
    data_args, prepare_args = parser.parse_args_into_dataclasses(args=list(argv))
    given = {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}
    for flag in TRAINING_ONLY_DATA_FLAGS:
        if flag in given:
            raise ConfigurationError(f"--{flag} applies to training (run_speech_recognition_ctc.py); prepare only "
                                     "loads, decodes and checks the data (drop the flag)")
    prepared = prepare_datasets(data_args, prepare_args.output_dir, do_train=prepare_args.do_train,
                                do_eval=prepare_args.do_eval)
    if prepared.vocabulary is not None:
        path = Path(prepare_args.output_dir) / VOCAB_FILE
        prepared.vocabulary.save(path)
        print(f"wrote {path}: {len(prepared.vocabulary.tokens)} tokens")
    return 0


def cmd_check_leakage(args: argparse.Namespace) -> int:
    from robust_speech.data.arguments import DataTrainingArguments
    from robust_speech.data.prepare import check_leakage

    data_args = DataTrainingArguments(
        dataset_name=args.train, dataset_config_name=args.train_config, train_split_name=args.train_split,
        eval_dataset_name=args.eval, eval_dataset_config_name=args.eval_config, eval_split_name=args.eval_split,
        text_column_name=args.text_column_name, audio_column_name=args.audio_column_name,
        chars_to_ignore=args.chars_to_ignore, do_lower_case=args.do_lower_case, casing_language=args.casing_language,
        dashes_split_words=args.dashes_split_words,
        preprocessing_num_workers=args.preprocessing_num_workers, token=args.token,
    )
    report = check_leakage(data_args, args.output_dir, decode_audio=not args.text_only)
    print(report.format(limit=args.show))
    return 1 if report else 0


def _number_list(value: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give comma-separated numbers") from None


def _int_list(value: str) -> tuple[int, ...]:
    return tuple(int(number) for number in _number_list(value))


def cmd_tune_lm(args: argparse.Namespace) -> int:
    from robust_speech.evaluation.lm_tuning import TuneOptions, tune_on_dataset

    result = tune_on_dataset(TuneOptions(
        model_dir=args.model_dir, split=eval_split(args), engine=args.engine, alphas=args.alphas, betas=args.betas,
        beam_widths=args.beam_widths, time_budget_s=args.time_budget_s, max_samples=args.max_samples,
        chunk_length_s=args.chunk_length_s, stride_length_s=args.stride_length_s, device=args.device,
        token=args.token, seed=args.seed, dry_run=args.dry_run,
    ))
    print(result.table())
    best = result.best
    where = ("not written (--dry_run)" if args.dry_run
             else f"written to {args.model_dir}/{LM_DIRECTORY}/{ATTRS_FILE} and {DECODING_FILE}")
    print(f"best: alpha={best.alpha} beta={best.beta} beam={best.beam_width} dev WER {best.wer:.4f}; {where}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from robust_speech.reports.result_files import write_json
    from robust_speech.reports.scoring import ROLE_NAMES, assign_roles, final_score

    files = assign_roles(args.results, {"cv_test": args.cv_test, "real_dev": args.real_dev, "real_test": args.real_test})
    score = final_score(files)
    for role, part in score["parts"].items():
        print(f"{ROLE_NAMES[role]:>18}: WER {part['wer']:.4f}  ({part['file']})")
    if score["missing"]:
        print(f"missing: {', '.join(ROLE_NAMES[r] for r in score['missing'])}; the score is the mean of the parts given")
    print(f"FINAL_SCORE: {score['final_score']}")
    if args.output:
        write_json(args.output, score)
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from robust_speech.audio.decode import load_audio
    from robust_speech.inference.loading import load_for_inference
    from robust_speech.inference.options import TranscriberOptions
    from robust_speech.inference.transcribe import long_audio_progress
    from robust_speech.inference.writers import FORMATS, write_transcript

    formats = FORMATS if args.format == "all" else tuple(args.format.split(","))
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise ConfigurationError(f"--format {','.join(unknown)}: choose from {', '.join(FORMATS)} or all")
    # Without --vad, long files are cut into fixed chunks (10 s unless asked otherwise); with --vad they are cut at
    # pauses, and a --chunk_length_s given as well cuts speech segments longer than it (as eval.py does).
    chunk_length_s = args.chunk_length_s if args.chunk_length_s is not None else (None if args.vad else TRANSCRIBE_CHUNK_S)
    if args.stride_length_s is not None and chunk_length_s is None:
        raise ConfigurationError("--stride_length_s needs --chunk_length_s")
    chunking = TranscriberOptions(chunk_length_s, args.stride_length_s, vad=args.vad)
    loaded = load_for_inference(args.model, load_options(args), decoder_choice(args), chunking)
    transcriber, rate = loaded.transcriber, loaded.acoustic.sampling_rate
    transcriber.note = lambda line: print(line, file=sys.stderr, flush=True)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for path in args.files:
        audio = load_audio(path, rate)
        progress = long_audio_progress([audio], rate)
        transcript = transcriber.transcribe([audio], progress=progress)[0]
        if progress is not None:
            progress.close()
        written = write_transcript(output_dir / Path(path).stem, transcript, transcriber.seconds_per_frame, formats,
                                   str(path), audio.size / rate)
        print(f"{path}: {transcript.text}")
        print(f"  -> {', '.join(str(w) for w in written)}")
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    from robust_speech.evaluation.robustness import RobustnessOptions, run_robustness

    refuse_flags_without(args, {"noise_color": ("--snr_db levels", bool(args.snr_db))})
    result = run_robustness(RobustnessOptions(
        model=args.model, split=eval_split(args), output_dir=args.output_dir, snr_db=args.snr_db,
        noise_color=args.noise_color or "pink", rt60_s=args.rt60_s, speeds=args.speeds, bandwidths_hz=args.bandwidths_hz,
        babble_snr_db=args.babble_snr_db, codecs=args.codecs, chunk_length_s=args.chunk_length_s,
        stride_length_s=args.stride_length_s, decoding=decoder_choice(args),
        load=load_options(args), batch_size=args.batch_size, max_samples=args.max_samples, seed=args.seed,
    ))
    print(result.table())
    print(f"wrote {args.output_dir}/robustness.json, robustness.md and robustness.png")
    return 0


TRANSCRIBE_CHUNK_S = 10.0
PREPARE_DESCRIPTION = (
    "Load, check and decode the training and evaluation data exactly as run_speech_recognition_ctc.py does "
    "(same flags), cache the decoded audio, and report skipped examples (skipped.tsv) and train/eval overlap."
)
# Data flags that `prepare` accepts (they are the training script's) but that only training uses: it evaluates
# no model, always stops after preprocessing, and loads no model code.
TRAINING_ONLY_DATA_FLAGS = ("eval_metrics", "preprocessing_only", "trust_remote_code")
# Verbs whose flags are parsed by HfArgumentParser from the dataclasses the training script uses.
DATACLASS_VERBS = {"prepare": cmd_prepare}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robust-speech",
        description="Build a robust speech recognizer for any language and score it as the Robust Speech Challenge does.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    audit = verbs.add_parser(
        "audit", help="list distinct words that a normalization merges into one (it's/its)",
        description="Golden rule: never remove a character that changes a word into another word. Lists every "
        "normalized word that two or more distinct written words turn into, with counts.",
    )
    audit.add_argument("--text", nargs="+", required=True, metavar="FILE", help="UTF-8 text files, one sentence per line")
    add_normalizer_arguments(audit)
    audit.add_argument("--top", type=int, default=50, help="show at most this many collisions (default 50)")
    audit.add_argument("--fail_on_collision", action="store_true", help="exit with status 1 when any collision is found")
    audit.set_defaults(run=cmd_audit)

    vocab = verbs.add_parser("vocab", help="build a CTC vocab.json from text", description="Build a CTC vocab.json "
                             "([PAD]=0, [UNK]=1, |=2, then characters) from normalized text; report rare characters.")
    vocab.add_argument("--text", nargs="+", required=True, metavar="FILE")
    vocab.add_argument("--output", default=VOCAB_FILE)
    vocab.add_argument("--min_count", type=int, default=3, help="report characters seen fewer times (default 3)")
    add_normalizer_arguments(vocab)
    vocab.set_defaults(run=cmd_vocab)

    synth = verbs.add_parser("synth", help="synthesize a multilingual speech corpus in the Common Voice layout",
                             description="Speak real sentences with espeak-ng voices into <lang>/clips + train/dev/test.tsv; "
                             "reused when the folder already holds the same corpus.")
    synth.add_argument("--output_dir", required=True)
    synth.add_argument("--languages", default="en,de,es,it", help="comma-separated: en, de, es, it, pl, cs")
    synth.add_argument("--train_size", type=int, default=40, help="utterances per language")
    synth.add_argument("--dev_size", type=int, default=10)
    synth.add_argument("--test_size", type=int, default=10)
    synth.add_argument("--lm_sentences", type=_count_or_all, default=1000,
                       help="LM-only sentences per language (lm_text.txt), or 'all': every sentence no split speaks")
    synth.add_argument("--long_recordings", type=int, default=0, help="long-form recordings per language")
    synth.add_argument("--long_min_s", type=float, default=None, help="with --long_recordings: shortest, s (default 60)")
    synth.add_argument("--long_max_s", type=float, default=None, help="with --long_recordings: longest, s (default 300)")
    synth.add_argument("--format", default="mp3", choices=["mp3", "wav", "flac", "ogg"])
    synth.add_argument("--sampling_rate", type=int, default=48_000)
    synth.add_argument("--speakers", type=int, default=12, help="voices per language")
    synth.add_argument("--share_voices", action="store_true", help="let dev/test voices also speak in train")
    synth.add_argument("--noise_snr_db", type=float, default=None, help="add noise at this SNR to --degraded_splits")
    synth.add_argument("--noise_color", default=None, choices=["white", "pink", "brown"],
                       help="with --noise_snr_db (default pink)")
    synth.add_argument("--reverb_rt60_s", type=float, default=None, help="add reverberation with this RT60")
    synth.add_argument("--degraded_splits", default=None,
                       help="with --noise_snr_db/--reverb_rt60_s: the splits degraded (default dev,test,long)")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(run=cmd_synth)

    verbs.add_parser("prepare", help="load, decode, filter and cache a dataset as training does; report skips",
                     description=PREPARE_DESCRIPTION)

    leakage = verbs.add_parser(
        "check-leakage", help="find training examples whose sentence or audio also occurs in an evaluation set",
        description="Report training examples whose normalized sentence or decoded audio (hash of the samples) "
        "also occurs in the evaluation set. Exit status 1 when any is found.",
    )
    leakage.add_argument("--train", required=True, metavar="DATASET", help="Hub id or local path of the training data")
    leakage.add_argument("--train_config", default=None)
    leakage.add_argument("--train_split", default="train+validation")
    leakage.add_argument("--eval", required=True, metavar="DATASET", help="Hub id or local path of the evaluation data")
    leakage.add_argument("--eval_config", default=None)
    leakage.add_argument("--eval_split", default="test")
    leakage.add_argument("--text_column_name", default=None)
    leakage.add_argument("--audio_column_name", default="audio")
    leakage.add_argument("--text_only", action="store_true", help="compare sentences only (no audio decoding)")
    leakage.add_argument("--output_dir", default=None, help="write leakage.tsv (and skipped.tsv) here")
    leakage.add_argument("--preprocessing_num_workers", type=int, default=None)
    leakage.add_argument("--token", default=None)
    leakage.add_argument("--show", type=int, default=20, help="print at most this many overlaps")
    add_normalizer_arguments(leakage)
    leakage.set_defaults(run=cmd_check_leakage)

    tune = verbs.add_parser(
        "tune-lm", help="tune the LM weight, word bonus and beam width on a dev set; write the best into the model",
        description="Runs the acoustic model once over the dev split, then decodes its log-probs with every "
        "(alpha, beta) of the grid (seeded random order, stopped by --time_budget_s), then the best pair at each "
        "beam width. Writes alpha/beta into language_model/attrs.json and the beam width into decoding.json.",
    )
    tune.add_argument("--model_dir", required=True, help="model folder with language_model/ (build_ngram.py)")
    _add_split_arguments(tune, "validation", "dev")
    tune.add_argument("--engine", choices=["pyctcdecode", "flashlight"], default="pyctcdecode")
    tune.add_argument("--alphas", type=_number_list, default=DEFAULT_ALPHAS)
    tune.add_argument("--betas", type=_number_list, default=DEFAULT_BETAS)
    tune.add_argument("--beam_widths", type=_int_list, default=DEFAULT_BEAM_WIDTHS,
                      help="the grid runs at the smallest; the best weights are then tried at each")
    tune.add_argument("--time_budget_s", type=float, default=None, help="stop searching after this many seconds")
    tune.add_argument("--max_samples", type=int, default=None, help="tune on the first N utterances")
    tune.add_argument("--chunk_length_s", type=float, default=None)
    tune.add_argument("--stride_length_s", type=float, default=None)
    tune.add_argument("--device", default=None)
    tune.add_argument("--token", default=None)
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--dry_run", action="store_true", help="print the table, change nothing")
    tune.set_defaults(run=cmd_tune_lm)

    score = verbs.add_parser(
        "score", help="the challenge's final score from eval.py result files",
        description="FINAL_SCORE = mean of the WERs of Common Voice test, real-world dev and real-world test "
        "(of those given). Files named after the challenge's datasets are recognized; others need a flag.",
    )
    score.add_argument("results", nargs="*", help="*_eval_results.txt files named after the challenge datasets")
    score.add_argument("--cv_test", default=None, help="result file of the Common Voice test split")
    score.add_argument("--real_dev", default=None, help="result file of the real-world dev data")
    score.add_argument("--real_test", default=None, help="result file of the real-world test data")
    score.add_argument("--output", default="final_score.json", help="JSON with the score and its parts ('' to skip)")
    score.set_defaults(run=cmd_score)

    transcribe = verbs.add_parser("transcribe", help="transcribe audio files to txt/srt/vtt/json with word times",
                                  description="Transcribe any audio files with a CTC model folder (or Hub id); "
                                  "long files are chunked (or cut at pauses with --vad).")
    transcribe.add_argument("files", nargs="+", help="audio files (any format, rate, channels)")
    transcribe.add_argument("--model", required=True, help="model folder or Hub id")
    transcribe.add_argument("--output_dir", default=".")
    transcribe.add_argument("--format", default="all", help="comma-separated: txt,srt,vtt,json, or all")
    transcribe.add_argument("--chunk_length_s", type=float, default=None,
                            help=f"chunk length in seconds (default {TRANSCRIBE_CHUNK_S:g}; with --vad: none)")
    transcribe.add_argument("--stride_length_s", type=float, default=None)
    transcribe.add_argument("--vad", action="store_true", help="cut at pauses (silero-vad); a --chunk_length_s given "
                            "too cuts longer speech segments")
    add_decoder_arguments(transcribe)
    transcribe.set_defaults(run=cmd_transcribe)

    robustness = verbs.add_parser(
        "robustness", help="WER/CER of a model on a test set degraded by noise, babble, reverberation, speed, band "
        "limits and codecs",
        description="Degrades every utterance of the split at each level (noise at --snr_db, babble at "
        "--babble_snr_db, reverberation at --rt60_s, --speeds, --bandwidths_hz, --codecs; seeded), transcribes it as "
        "eval.py does (chunking, the model's LM) and writes robustness.json, robustness.md and robustness.png (WER "
        "against each perturbation's levels).",
    )
    robustness.add_argument("--model", required=True, help="model folder or Hub id")
    _add_split_arguments(robustness, "test", "test")
    robustness.add_argument("--output_dir", default="robustness")
    robustness.add_argument("--snr_db", type=_number_list, default=DEFAULT_SNR_DB,
                            help="noise levels, comma-separated ('' for none; default 20,10,5,0)")
    robustness.add_argument("--noise_color", default=None, choices=["white", "pink", "brown"],
                            help="with --snr_db levels (default pink)")
    robustness.add_argument("--rt60_s", type=_number_list, default=DEFAULT_RT60_S,
                            help="reverberation times in seconds ('' for none; default 0.3,0.6,0.9)")
    robustness.add_argument("--speeds", type=_number_list, default=(), help="speed factors, e.g. 0.9,1.1 (default none)")
    robustness.add_argument("--bandwidths_hz", type=_number_list, default=(),
                            help="band limits, e.g. 4000 for telephone speech (default none)")
    robustness.add_argument("--babble_snr_db", type=_number_list, default=DEFAULT_BABBLE_SNR_DB,
                            help="levels of babble (other utterances of the split talking at once), comma-separated "
                            "('' for none; default 10,5,0)")
    robustness.add_argument("--codecs", type=_comma_list, default=DEFAULT_CODECS,
                            help="lossy channels, comma-separated: mp3:8/16/24/32, opus:9/20/33 (kbit/s), telephone "
                            "(GSM); '' for none; default mp3:16,opus:9,telephone")
    robustness.add_argument("--chunk_length_s", type=float, default=None)
    robustness.add_argument("--stride_length_s", type=float, default=None)
    add_decoder_arguments(robustness)
    robustness.add_argument("--batch_size", type=int, default=16)
    robustness.add_argument("--max_samples", type=int, default=None, help="only the first N utterances")
    robustness.add_argument("--token", default=None)
    robustness.add_argument("--seed", type=int, default=0)
    robustness.set_defaults(run=cmd_robustness)

    demo = verbs.add_parser("demo", help="the whole challenge workflow on the embedded default (synthetic speech, CPU)",
                            description="Synthesize a multilingual corpus, train a model from scratch, build and tune "
                            "n-gram LMs, run eval.py on CV-style and real-world sets, score, and write REPORT.md.")
    demo.add_argument("--output_dir", "--out", default="demo_output")
    demo.add_argument("--minutes", type=float, default=15.0, help="training budget in minutes (default 15)")
    demo.add_argument("--languages", default="en,de,es,it", help="comma-separated: en, de, es, it, pl, cs")
    demo.add_argument("--force", action="store_true", help="redo every stage instead of reusing finished ones")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--augment", default=DEMO_AUGMENT,
                      help=f"multi-condition training recipe, as the training script's --augment (default {DEMO_AUGMENT}); "
                      "none: train on clean speech only")
    demo.add_argument("--augment_copies", type=int, default=DEMO_AUGMENT_COPIES,
                      help=f"degraded copies of the training set rendered before training (default {DEMO_AUGMENT_COPIES}); "
                      "0: degrade on the fly")
    demo.add_argument("--baseline", default=str(DEMO_BASELINE),
                      help="a clean-trained demo's results.json to show side by side in REPORT.md (default: the one "
                      "stored with robust-speech); none: no comparison")
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with output_errors():  # a full disk or an unwritable output: one line, no traceback
            if argv and argv[0] in DATACLASS_VERBS:
                return DATACLASS_VERBS[argv[0]](argv[1:])
            args = build_parser().parse_args(argv)
            return args.run(args)
    except RobustSpeechError as error:
        print(f"robust-speech: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
