"""The engine behind eval.py: any dataset the data layer loads, batched (chunked) inference, LM decoding when
the model folder has one, then the challenge's `log_results` and our extra report.

eval.py keeps the challenge's fixed parts (arguments, `normalize_text`, `log_results`) in its own file so
participants can edit them; everything else is here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from robust_speech.arguments import add_loading_arguments
from robust_speech.data import AUDIO_COLUMN, TEXT_COLUMN, load_speech_split, parse_sources
from robust_speech.decoding import ENGINES, load_decoder
from robust_speech.errors import AudioError, ConfigurationError, output_errors
from robust_speech.files import safe_filename
from robust_speech.lm import language_model_binary, read_lm_attrs
from robust_speech.lm_tuning import tuned_beam_width
from robust_speech.preprocess import decode_audio
from robust_speech.reporting import evaluation_report, write_json
from robust_speech.transcribe import Transcriber, load_acoustic_model

DEFAULT_BEAM_WIDTH = 100
# Inference runs over groups of this much audio at a time, so memory stays bounded on any dataset size.
GROUP_SECONDS = 600.0


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Options beyond the challenge's: none of them changes the fixed result files' names or format."""
    group = parser.add_argument_group("robust-speech options (not in the reference eval.py)")
    group.add_argument("--text_column_name", default=None,
                       help="transcript column (default: 'sentence', else auto-detected like training)")
    group.add_argument("--decoder", choices=("auto", *ENGINES), default="auto",
                       help="auto: beam search with the model's language_model/ when it has one, else greedy")
    group.add_argument("--no_lm", action="store_true", help="ignore the model folder's language_model/ (greedy)")
    group.add_argument("--beam_width", type=int, default=None,
                       help="beam width of the LM decoders (default: the one tune-lm chose, else 100)")
    group.add_argument("--batch_size", type=int, default=16, help="utterances (or chunks) per forward pass")
    group.add_argument("--vad", action="store_true", help="cut long audio at pauses found by silero-vad instead of "
                       "fixed chunks")
    group.add_argument("--bf16", action="store_true", help="bf16 inference: bf16 weights on a GPU, bf16 autocast on "
                       "a CPU (fast where the CPU has bf16 units); numerics change slightly, so compare WER")
    group.add_argument("--max_eval_samples", type=int, default=None, help="only the first N examples")
    group.add_argument("--token", default=None, help="Hugging Face token for gated models/datasets")
    add_loading_arguments(group)
    group.add_argument("--report", default=None,
                       help="extra JSON report (CI, error counts, worst utterances, RTFx); default "
                       "{dataset_id}_eval_report.json, 'none' to skip")


def parse_device(value: str) -> int | str:
    """The reference's integer `--device` (-1 CPU, 0.. GPU), also accepting torch names like `cpu`/`cuda:0`."""
    return int(value) if value.lstrip("-").isdigit() else value


def dataset_id(args) -> str:
    """The challenge's `"_".join(dataset.split("/") + [config, split])`, with "/" in the config or split (and
    NUL) replaced too: the reference would write outside the working folder for `--config ../../x`."""
    return safe_filename("_".join([args.dataset, args.config, args.split]))


def resolve_model_dir(model_id: str, token=None) -> Path:
    """A local folder as given; a Hub id downloaded (so its language_model/ is found like a local one's)."""
    if os.path.isdir(model_id):
        return Path(model_id)
    if model_id.startswith((".", "/", "~")) or os.path.exists(model_id) or model_id.count("/") > 1:
        raise ConfigurationError(f"--model_id {model_id}: no such model folder; give the folder "
                                 "run_speech_recognition_ctc.py wrote (--output_dir) or a Hub model id")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, token=token))
    except Exception as error:  # the Hub client raises many types; the user needs one line
        raise ConfigurationError(f"--model_id {model_id}: not a local folder and not downloadable from the Hub "
                                 f"({type(error).__name__}: {str(error).splitlines()[0][:160]})") from None


def choose_decoder(model_dir: Path, args):
    has_lm = language_model_binary(model_dir) is not None
    engine = args.decoder
    if engine == "auto":
        engine = "pyctcdecode" if has_lm and not args.no_lm else "greedy"
    if args.no_lm and engine != "greedy":
        engine = "greedy"
    if engine == "flashlight" and not has_lm:
        raise ConfigurationError(f"--decoder flashlight needs {model_dir}/language_model/: build it with build_ngram.py")
    if engine == "greedy":
        return load_decoder(model_dir, engine)
    beam_width = args.beam_width or tuned_beam_width(model_dir) or DEFAULT_BEAM_WIDTH
    return load_decoder(model_dir, engine, beam_width=beam_width)


def iter_groups(dataset, sampling_rate: int, text_column: str, limit: int | None) -> Iterator[list[tuple[int, np.ndarray, str]]]:
    group: list[tuple[int, np.ndarray, str]] = []
    seconds = 0.0
    for index, example in enumerate(dataset):
        if limit is not None and index >= limit:
            break
        audio = example[AUDIO_COLUMN]
        try:
            array = decode_audio(audio, sampling_rate)
        except AudioError as error:
            # Skipping it would change the score: every example of an evaluation split counts.
            raise AudioError(f"example {index} of the evaluation split: {error} (eval.py scores every example, "
                             "it never skips one)") from None
        group.append((index, array, example[text_column] or ""))
        seconds += array.size / sampling_rate
        if seconds >= GROUP_SECONDS:
            yield group
            group, seconds = [], 0.0
    if group:
        yield group


def unwritable_note(targets: list[str], processor) -> str:
    """A note when references use characters the model cannot write. They are scored as they are (the
    challenge's references are never edited beyond normalize_text): each such word counts as an error."""
    from robust_speech.lm import model_alphabet, prepare_lm_text

    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        return ""
    # The references are already normalized by eval.py's normalize_text: check them as they are.
    checked = prepare_lm_text(targets, lambda text: text, model_alphabet(tokenizer.get_vocab()))
    if not checked.outside_alphabet:
        return ""
    return (f"note: {checked.outside_alphabet} of {len(targets)} references use characters the model cannot write: "
            f"{checked.format_foreign()}; they are scored as written, so those words count as errors (map them in "
            "eval.py's normalize_text if they are spelling variants)")


def split_log_probs(transcriber, dataset, limit: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Log-probs of every example (model run once, in bounded groups) and its raw transcript, in order."""
    log_probs, texts = [], []
    for group in iter_groups(dataset, transcriber.acoustic.sampling_rate, TEXT_COLUMN, limit):
        log_probs.extend(transcriber.log_probs([array for _index, array, _text in group]))
        texts.extend(text for _index, _array, text in group)
    return log_probs, texts


def run_evaluation(args, *, normalize_text: Callable[[str], str], log_results: Callable) -> dict:
    """Transcribe the split, hand predictions and normalized targets to `log_results`, write the report."""
    with output_errors():  # a full disk or an unwritable folder: one line (exit 2), not a traceback
        return _run_evaluation(args, normalize_text, log_results)


def _run_evaluation(args, normalize_text: Callable[[str], str], log_results: Callable) -> dict:
    import datasets as hf_datasets
    from tqdm.auto import tqdm

    started = time.perf_counter()
    model_dir = resolve_model_dir(args.model_id, args.token)
    acoustic = load_acoustic_model(model_dir, args.device, bf16=args.bf16, token=args.token,
                                   trust_remote_code=args.trust_remote_code, allow_pickle_weights=args.allow_pickle_weights)
    decoder = choose_decoder(model_dir, args)
    transcriber = Transcriber(acoustic, decoder, chunk_length_s=args.chunk_length_s,
                              stride_length_s=args.stride_length_s, batch_size=args.batch_size, vad=args.vad)
    sources = parse_sources(args.dataset, args.config, args.text_column_name)
    notes: list[str] = []
    dataset = load_speech_split(sources, args.split, token=args.token, notes=notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    total = len(dataset) if hasattr(dataset, "__len__") else None
    if total is not None and args.max_eval_samples is not None:
        total = min(total, args.max_eval_samples)
    if total == 0:
        raise ConfigurationError(f"{args.dataset} {args.config} {args.split}: the split has no examples")

    predictions: list[str] = []
    targets: list[str] = []
    audio_seconds = inference_seconds = 0.0
    progress = tqdm(total=total, desc="eval", unit="utt", disable=None, file=sys.stderr)
    for group in iter_groups(dataset, acoustic.sampling_rate, TEXT_COLUMN, args.max_eval_samples):
        audios = [array for _index, array, _text in group]
        tick = time.perf_counter()
        transcripts = transcriber.transcribe(audios)
        inference_seconds += time.perf_counter() - tick
        audio_seconds += sum(a.size for a in audios) / acoustic.sampling_rate
        predictions.extend(t.text for t in transcripts)
        targets.extend(normalize_text(text) for _index, _array, text in group)
        progress.update(len(group))
    progress.close()
    if not predictions:
        raise ConfigurationError(f"{args.dataset} {args.config} {args.split}: the split has no examples")

    note = unwritable_note(targets, acoustic.processor)
    if note:
        print(note, file=sys.stderr)
    result = hf_datasets.Dataset.from_dict({"target": targets, "prediction": predictions})
    log_results(result, args)

    settings = {
        "model_id": args.model_id, "dataset": args.dataset, "config": args.config, "split": args.split,
        "chunk_length_s": args.chunk_length_s, "stride_length_s": args.stride_length_s, "vad": args.vad,
        "decoder": decoder.engine, "beam_width": getattr(decoder, "beam_width", None),
        "lm": read_lm_attrs(model_dir) if decoder.engine != "greedy" else None, "device": str(acoustic.device),
        "bf16": bool(args.bf16),
    }
    report = evaluation_report(targets, predictions, audio_seconds=audio_seconds, inference_seconds=inference_seconds,
                               wall_seconds=time.perf_counter() - started, settings=settings)
    if (args.report or "").lower() != "none":
        path = write_json(args.report or f"{dataset_id(args)}_eval_report.json", report)
        print(f"report: {path} (WER 95% CI {report['wer_ci95'][0]:.4f}-{report['wer_ci95'][1]:.4f}, "
              f"RTFx {report['rtfx']}, decoder {decoder.engine})", file=sys.stderr)
    return report
