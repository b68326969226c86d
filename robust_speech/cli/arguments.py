"""argparse groups shared by the command-line fronts, and their conversion to the library's typed options.

Flag names follow one spelling per concept (docs/flags.md): the training script's for data
(`--dataset_name`, `--dataset_config_name`, `--train_split_name`, `--eval_split_name`, `--max_eval_samples`) and
eval.py's for the model to run (`--model_id`); the other spelling a verb used before stays as an alias.
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from typing import Sequence

from robust_speech.cli.values import default_of, string_to_bool
from robust_speech.core.errors import ConfigurationError
from robust_speech.core.logs import LOGGER, configure_logging
from robust_speech.evaluation.options import EvalOptions, EvalSplit
from robust_speech.inference.options import (
    DECODER_CHOICES,
    DEFAULT_BEAM_WIDTH,
    DecoderChoice,
    LoadOptions,
    TranscriberOptions,
)
from robust_speech.text.normalizer import DEFAULT_CHARS_TO_IGNORE, TextNormalizer, build_normalizer


def add_verbosity_arguments(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """-q/-v. On a verb's parser (`suppress`) they leave the values of the main parser alone when not given, so
    both `robust-speech -q VERB` and `robust-speech VERB -q` work."""
    default = argparse.SUPPRESS if suppress else 0
    group = parser.add_argument_group("output")
    group.add_argument("-q", "--quiet", action="count", default=default,
                       help="print warnings only (the command's own results still print)")
    group.add_argument("-v", "--verbose", action="count", default=default, help="also print debug lines")


@contextmanager
def verbosity(args: argparse.Namespace):
    """The `robust_speech` logger set up as -q/-v ask while a command runs, and as it was afterwards: an entry point
    called in-process (tests, a notebook) leaves no handler behind bound to a stream that may since be closed."""
    saved = (LOGGER.level, list(LOGGER.handlers), LOGGER.propagate)
    LOGGER.handlers[:] = []  # a handler from an earlier in-process run may hold a stream closed since
    configure_logging(getattr(args, "verbose", 0) - getattr(args, "quiet", 0))
    try:
        yield
    finally:
        LOGGER.setLevel(saved[0])
        LOGGER.handlers[:] = saved[1]
        LOGGER.propagate = saved[2]


def add_loading_arguments(group) -> None:
    """Opt-ins to loading that can run code from the model folder (eval.py and robust-speech transcribe)."""
    group.add_argument("--trust_remote_code", action="store_true",
                       help="run the model's own Python code from its folder or the Hub (off: safer)")
    group.add_argument("--allow_pickle_weights", action="store_true",
                       help="load pytorch_model.bin when there are no safetensors (torch.load weights_only=True)")


BEAM_WIDTH_HELP = f"beam width of the LM decoders (unset: the one tune-lm chose, else {DEFAULT_BEAM_WIDTH})"


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Options beyond the challenge's: none of them changes the fixed result files' names or format."""
    group = parser.add_argument_group("robust-speech options (not in the reference eval.py)")
    group.add_argument("--text_column_name", default=None,
                       help="transcript column (unset: 'sentence', else auto-detected like training)")
    group.add_argument("--decoder", choices=DECODER_CHOICES, default=default_of(DecoderChoice, "engine"),
                       help="auto: beam search with the model's language_model/ when it has one, else greedy")
    group.add_argument("--no_lm", action="store_true", help="ignore the model folder's language_model/ (greedy)")
    group.add_argument("--beam_width", type=int, default=None, help=BEAM_WIDTH_HELP)
    add_hotword_arguments(group)
    add_batch_size_argument(group)
    group.add_argument("--vad", action="store_true", help="cut long audio at pauses found by silero-vad instead of "
                       "fixed chunks")
    group.add_argument("--bf16", action="store_true", help="bf16 inference: bf16 weights on a GPU, bf16 autocast on "
                       "a CPU (fast where the CPU has AMX or AVX512-BF16; elsewhere a note says bf16 is emulated); "
                       "numerics change slightly, so compare WER")
    group.add_argument("--max_eval_samples", type=int, default=None, help="only the first N examples")
    group.add_argument("--token", default=None, help="Hugging Face token for gated models/datasets")
    add_loading_arguments(group)
    group.add_argument("--report", default=None,
                       help="extra JSON report (CI, error counts, worst utterances, RTFx); unset: "
                       "{dataset_id}_eval_report.json, 'none' to skip")
    group.add_argument("--confidence", action="store_true",
                       help="the report gets each utterance's confidence, their mean and the WER per confidence "
                       "quarter (computed only with this flag; the result files do not change)")


def add_batch_size_argument(group) -> None:
    group.add_argument("--batch_size", type=int, default=default_of(TranscriberOptions, "batch_size"),
                       help="utterances (or chunks) per forward pass")


def parse_device(value: str) -> int | str:
    """The reference's integer `--device` (-1 CPU, 0.. GPU), also accepting torch names like `cpu`/`cuda:0`."""
    return int(value) if value.lstrip("-").isdigit() else value


def add_hotword_arguments(group) -> None:
    group.add_argument("--hotwords", nargs="+", default=default_of(DecoderChoice, "hotwords"), metavar="WORD_OR_PHRASE",
                       help="words or phrases to boost in beam search (quote a phrase: --hotwords 'new york' oslo), "
                       "written as the model writes them (normalized)")
    group.add_argument("--hotword_weight", type=float, default=default_of(DecoderChoice, "hotword_weight"),
                       help="log-score bonus per boosted word (pyctcdecode's)")


def add_decoder_arguments(parser: argparse.ArgumentParser) -> None:
    """The decoder and loading flags of the verbs that run a model (transcribe, robustness)."""
    parser.add_argument("--decoder", default=default_of(DecoderChoice, "engine"), choices=DECODER_CHOICES,
                        help="auto: beam search with the model's language_model/ when it has one, else greedy")
    parser.add_argument("--no_lm", action="store_true", help="ignore the model folder's language_model/ (greedy)")
    parser.add_argument("--beam_width", type=int, default=None, help=BEAM_WIDTH_HELP)
    add_hotword_arguments(parser)
    add_device_argument(parser)
    add_loading_arguments(parser)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="torch device (cpu, cuda:0; unset: a GPU if there is one)")


def add_token_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", default=None, help="Hugging Face token for gated or private models and datasets")


def add_seed_argument(parser: argparse.ArgumentParser, options) -> None:
    parser.add_argument("--seed", type=int, default=default_of(options, "seed"), help="seed of every random choice")


def add_model_id_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model_id", "--model", dest="model_id", required=True,
                        help="model folder or Hub id (as eval.py's --model_id)")


def decoder_choice(args: argparse.Namespace) -> DecoderChoice:
    return DecoderChoice(engine=args.decoder, no_lm=args.no_lm, beam_width=args.beam_width,
                         hotwords=tuple(args.hotwords), hotword_weight=args.hotword_weight,
                         confidence=getattr(args, "confidence", False))


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


def add_normalizer_arguments(parser: argparse.ArgumentParser, *, chars_help: str | None = None) -> None:
    """The normalization flags, named as in the training script (run_speech_recognition_ctc.py)."""
    parser.add_argument(
        "--chars_to_ignore", nargs="*", default=None, metavar="CHAR",
        help=chars_help or "characters to remove, as in the reference recipe (e.g. --chars_to_ignore , ? . ! - \\; "
        f"\\: \\\" ...); unset: {DEFAULT_CHARS_TO_IGNORE.replace('%', '%%')}; give the flag with no characters to "
        "remove none",
    )
    parser.add_argument("--do_lower_case", type=string_to_bool, nargs="?", const=True,
                        default=default_of(TextNormalizer, "lowercase"),
                        help="lowercase transcripts (--do_lower_case false keeps case)")
    parser.add_argument("--dashes_split_words", type=string_to_bool, nargs="?", const=True,
                        default=default_of(TextNormalizer, "dashes_split_words"),
                        help="dash-like characters of --chars_to_ignore break words instead of vanishing")
    parser.add_argument("--casing_language", default=None,
                        help="language whose casing rules apply (tr, az: dotted and dotless i)")


def normalizer_from_args(args: argparse.Namespace) -> TextNormalizer:
    return build_normalizer(args.chars_to_ignore, do_lower_case=args.do_lower_case,
                            casing_language=args.casing_language, dashes_split_words=args.dashes_split_words)


def add_split_arguments(parser: argparse.ArgumentParser, what: str, split: str) -> None:
    """The one split that tune-lm and robustness read, in the training script's spelling; eval.py's
    `--dataset/--config/--split` are accepted too."""
    parser.add_argument("--dataset_name", "--dataset", dest="dataset_name", required=True,
                        help=f"Hub id or local path of the {what} data; several joined with '+'")
    parser.add_argument("--dataset_config_name", "--config", dest="dataset_config_name", default=None,
                        help="its config (e.g. the language); one per dataset joined with '+', or one for all")
    parser.add_argument("--eval_split_name", "--split", dest="eval_split_name", default=split,
                        help="the split; join several with '+'")
    parser.add_argument("--text_column_name", default=None, help="transcript column (unset: auto-detected)")
    parser.add_argument("--max_eval_samples", "--max_samples", dest="max_eval_samples", type=int, default=None,
                        help="only the first N utterances")


def eval_split(args: argparse.Namespace) -> EvalSplit:
    """The split flags of tune-lm and robustness as the library's `EvalSplit`."""
    return EvalSplit(args.dataset_name, args.dataset_config_name, args.eval_split_name, args.text_column_name)


def refuse_flags_without(args: argparse.Namespace, needs: dict[str, tuple[str, bool]]) -> None:
    """One line for a flag given (not None) while the feature it tunes is off: {flag: (what turns it on, on?)}."""
    for flag, (needed, on) in needs.items():
        if getattr(args, flag) is not None and not on:
            raise ConfigurationError(f"--{flag} needs {needed}: without it the flag changes nothing")


def text_lines(paths: Sequence[str]):
    from robust_speech.text.lines import read_text_lines

    for path in paths:
        yield from read_text_lines(path)
