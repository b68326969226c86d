"""argparse groups shared by the command-line fronts, and their conversion to the library's typed options."""

from __future__ import annotations

import argparse

from robust_speech.evaluation.options import EvalOptions, EvalSplit
from robust_speech.inference.options import DECODER_CHOICES, DEFAULT_HOTWORD_WEIGHT, DecoderChoice, LoadOptions
from robust_speech.text.normalizer import DEFAULT_CHARS_TO_IGNORE, TextNormalizer, build_normalizer


def add_loading_arguments(group) -> None:
    """Opt-ins to loading that can run code from the model folder (eval.py and robust-speech transcribe)."""
    group.add_argument("--trust_remote_code", action="store_true",
                       help="run the model's own Python code from its folder or the Hub (off: safer)")
    group.add_argument("--allow_pickle_weights", action="store_true",
                       help="load pytorch_model.bin when there are no safetensors (torch.load weights_only=True)")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Options beyond the challenge's: none of them changes the fixed result files' names or format."""
    group = parser.add_argument_group("robust-speech options (not in the reference eval.py)")
    group.add_argument("--text_column_name", default=None,
                       help="transcript column (default: 'sentence', else auto-detected like training)")
    group.add_argument("--decoder", choices=DECODER_CHOICES, default="auto",
                       help="auto: beam search with the model's language_model/ when it has one, else greedy")
    group.add_argument("--no_lm", action="store_true", help="ignore the model folder's language_model/ (greedy)")
    group.add_argument("--beam_width", type=int, default=None,
                       help="beam width of the LM decoders (default: the one tune-lm chose, else 100)")
    add_hotword_arguments(group)
    group.add_argument("--batch_size", type=int, default=16, help="utterances (or chunks) per forward pass")
    group.add_argument("--vad", action="store_true", help="cut long audio at pauses found by silero-vad instead of "
                       "fixed chunks")
    group.add_argument("--bf16", action="store_true", help="bf16 inference: bf16 weights on a GPU, bf16 autocast on "
                       "a CPU (fast where the CPU has AMX or AVX512-BF16; elsewhere a note says bf16 is emulated); "
                       "numerics change slightly, so compare WER")
    group.add_argument("--max_eval_samples", type=int, default=None, help="only the first N examples")
    group.add_argument("--token", default=None, help="Hugging Face token for gated models/datasets")
    add_loading_arguments(group)
    group.add_argument("--report", default=None,
                       help="extra JSON report (CI, error counts, worst utterances, RTFx); default "
                       "{dataset_id}_eval_report.json, 'none' to skip")


def parse_device(value: str) -> int | str:
    """The reference's integer `--device` (-1 CPU, 0.. GPU), also accepting torch names like `cpu`/`cuda:0`."""
    return int(value) if value.lstrip("-").isdigit() else value


def add_hotword_arguments(group) -> None:
    group.add_argument("--hotwords", nargs="+", default=(), metavar="WORD_OR_PHRASE",
                       help="words or phrases to boost in beam search (quote a phrase: --hotwords 'new york' oslo), "
                       "written as the model writes them (normalized)")
    group.add_argument("--hotword_weight", type=float, default=DEFAULT_HOTWORD_WEIGHT,
                       help=f"log-score bonus per boosted word (default {DEFAULT_HOTWORD_WEIGHT:g}, pyctcdecode's)")


def add_decoder_arguments(parser: argparse.ArgumentParser) -> None:
    """The decoder and loading flags of the verbs that run a model (transcribe, robustness)."""
    parser.add_argument("--decoder", default="auto", choices=DECODER_CHOICES)
    parser.add_argument("--no_lm", action="store_true")
    parser.add_argument("--beam_width", type=int, default=None)
    add_hotword_arguments(parser)
    parser.add_argument("--device", default=None)
    add_loading_arguments(parser)


def decoder_choice(args: argparse.Namespace) -> DecoderChoice:
    return DecoderChoice(engine=args.decoder, no_lm=args.no_lm, beam_width=args.beam_width,
                         hotwords=tuple(args.hotwords), hotword_weight=args.hotword_weight)


def load_options(args: argparse.Namespace) -> LoadOptions:
    return LoadOptions(device=args.device, bf16=getattr(args, "bf16", False), token=getattr(args, "token", None),
                       trust_remote_code=getattr(args, "trust_remote_code", False),
                       allow_pickle_weights=getattr(args, "allow_pickle_weights", False))


def eval_options(args: argparse.Namespace) -> EvalOptions:
    """eval.py's parsed arguments as the engine's options."""
    return EvalOptions(
        model_id=args.model_id, dataset=args.dataset, config=args.config, split=args.split,
        chunk_length_s=args.chunk_length_s, stride_length_s=args.stride_length_s, log_outputs=args.log_outputs,
        text_column_name=args.text_column_name, max_eval_samples=args.max_eval_samples, report=args.report,
        load=load_options(args), decoding=decoder_choice(args), batch_size=args.batch_size, vad=args.vad,
    )


def string_to_bool(value: str | bool) -> bool:
    """`--flag true/false` as HfArgumentParser reads it, so every entry point spells booleans alike."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if value.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r}: give true or false")


def add_normalizer_arguments(parser: argparse.ArgumentParser, *, chars_help: str | None = None) -> None:
    """The normalization flags, named as in the training script (run_speech_recognition_ctc.py)."""
    parser.add_argument(
        "--chars_to_ignore", nargs="*", default=None, metavar="CHAR",
        help=chars_help or "characters to remove, as in the reference recipe (e.g. --chars_to_ignore , ? . ! - \\; "
        f"\\: \\\" ...); default: {DEFAULT_CHARS_TO_IGNORE.replace('%', '%%')}; give the flag with no characters to "
        "remove none",
    )
    parser.add_argument("--do_lower_case", type=string_to_bool, nargs="?", const=True, default=True,
                        help="lowercase transcripts (default true; --do_lower_case false keeps case)")
    parser.add_argument("--dashes_split_words", type=string_to_bool, nargs="?", const=True, default=False,
                        help="dash-like characters of --chars_to_ignore break words instead of vanishing (default false)")
    parser.add_argument("--casing_language", default=None,
                        help="language whose casing rules apply (tr, az: dotted and dotless i)")


def normalizer_from_args(args: argparse.Namespace) -> TextNormalizer:
    return build_normalizer(args.chars_to_ignore, do_lower_case=args.do_lower_case,
                            casing_language=args.casing_language, dashes_split_words=args.dashes_split_words)


def eval_split(args: argparse.Namespace) -> EvalSplit:
    """The `--dataset --config --split --text_column_name` of tune-lm and robustness."""
    return EvalSplit(args.dataset, args.config, args.split, args.text_column_name)
