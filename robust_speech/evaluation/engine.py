"""The engine behind eval.py: any dataset the data layer loads, batched (chunked) inference, LM decoding when
the model folder has one, then the challenge's `log_results` and our extra report.

eval.py keeps the challenge's fixed parts (arguments, `normalize_text`, `log_results`) in its own file so
participants can edit them; everything else is here. `evaluate(options)` is eval.py as a function: the model
folder's own normalizer (the rules eval.py's `normalize_text` applies) and `write_challenge_results`, which
writes the files `log_results` writes, under the same names, byte for byte.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from robust_speech.core.errors import AudioError, ConfigurationError, output_errors
from robust_speech.core.files import atomic_write, safe_filename
from robust_speech.core.logs import LOGGER, progress_bar
from robust_speech.data.sources import EVAL_FLAGS, TEXT_COLUMN, load_speech_split, parse_sources
from robust_speech.evaluation.groups import STREAM_OVER_S, LongRecording, iter_groups
from robust_speech.evaluation.options import EvalOptions
from robust_speech.inference.loading import load_for_inference, resolve_model_dir
from robust_speech.inference.transcribe import AudioProgress, long_audio_progress
from robust_speech.lm.ngram import language_model_binary, read_lm_attrs
from robust_speech.reports.calibration import confidence_summary
from robust_speech.reports.metrics import empty_references
from robust_speech.reports.result_files import evaluation_report, write_json
from robust_speech.text.normalizer import model_normalizer

RESULTS_SUFFIX = "_eval_results.txt"


@dataclass(frozen=True)
class EvalResult:
    """One evaluated split: the challenge's figures, the file they were written to, and the JSON report."""

    wer: float
    cer: float
    results_file: Path
    report: dict


def dataset_id(args) -> str:
    """The challenge's `"_".join(dataset.split("/") + [config, split])`, with "/" in the config or split (and
    NUL) replaced too: the reference would write outside the working folder for `--config ../../x`. A split
    without a config (a local folder scored from Python; eval.py requires one) leaves it out."""
    return safe_filename("_".join(part for part in (args.dataset, args.config, args.split) if part is not None))


def unwritable_note(targets: list[str], processor) -> str:
    """A note when references use characters the model cannot write. They are scored as they are (the
    challenge's references are never edited beyond normalize_text): each such word counts as an error."""
    from robust_speech.lm.ngram import model_alphabet, prepare_lm_text

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


def empty_reference_note(targets: list[str]) -> str:
    """A note when references are empty after normalize_text: they are scored, not dropped (as jiwer does)."""
    empty = empty_references(targets)
    if not empty:
        return ""
    return (f"note: {empty} of {len(targets)} references are empty after normalize_text; every word predicted for "
            "them counts as an insertion (as jiwer counts it)")


def evaluate(options: EvalOptions) -> EvalResult:
    """eval.py as a function: transcribe the split and write the challenge's result files (and the logs with
    `log_outputs`) into `options.output_dir`, the targets normalized by the rules the model was trained with."""
    normalizer = model_normalizer(resolve_model_dir(options.model_id, options.token))
    Path(options.output_dir).mkdir(parents=True, exist_ok=True)
    report = run_evaluation(options, normalize_text=normalizer, log_results=write_challenge_results)
    return EvalResult(report["wer"], report["cer"], Path(options.output_dir) / f"{dataset_id(options)}{RESULTS_SUFFIX}",
                      report)


def write_challenge_results(result, args: EvalOptions) -> None:
    """What the challenge's `log_results` writes (eval.py keeps that function verbatim), in `args.output_dir`:
    `{dataset_id}_eval_results.txt` with jiwer's WER and CER, and with `log_outputs` the numbered predictions
    and targets."""
    import jiwer

    folder, result_id = Path(args.output_dir), dataset_id(args)
    wer_result = jiwer.wer(list(result["target"]), list(result["prediction"]))
    cer_result = jiwer.cer(list(result["target"]), list(result["prediction"]))
    result_str = f"WER: {wer_result}\nCER: {cer_result}"
    LOGGER.info(result_str)
    with atomic_write(folder / f"{result_id}{RESULTS_SUFFIX}") as file:
        file.write(result_str)
    if args.log_outputs:
        with (atomic_write(folder / f"log_{result_id}_predictions.txt") as predictions,
              atomic_write(folder / f"log_{result_id}_targets.txt") as targets):
            for i, (prediction, target) in enumerate(zip(result["prediction"], result["target"])):
                predictions.write(f"{i}\n{prediction}\n")
                targets.write(f"{i}\n{target}\n")


def run_evaluation(args: EvalOptions, *, normalize_text: Callable[[str], str], log_results: Callable) -> dict:
    """Transcribe the split, hand predictions and normalized targets to `log_results`, write the report.

    `log_results` gets `args` itself, as in the challenge's eval.py (it reads dataset, config, split and
    log_outputs)."""
    with output_errors():  # a full disk or an unwritable folder: one line (exit 2), not a traceback
        return _run_evaluation(args, normalize_text, log_results)


def _run_evaluation(args: EvalOptions, normalize_text: Callable[[str], str], log_results: Callable) -> dict:
    import datasets as hf_datasets
    started = time.perf_counter()
    loaded = load_for_inference(args.model_id, args.load, args.decoding, args.transcription)
    model_dir, acoustic, decoder, transcriber = loaded.model_dir, loaded.acoustic, loaded.decoder, loaded.transcriber
    transcriber.note = LOGGER.info
    sources = parse_sources(args.dataset, args.config, args.text_column_name, flags=EVAL_FLAGS)
    notes: list[str] = []
    dataset = load_speech_split(sources, args.split, token=args.token, notes=notes)
    for note in notes:
        LOGGER.info(f"note: {note}")
    total = len(dataset) if hasattr(dataset, "__len__") else None
    if total is not None and args.max_eval_samples is not None:
        total = min(total, args.max_eval_samples)
    if total == 0:
        raise ConfigurationError(f"{args.dataset} {args.config} {args.split}: the split has no examples")

    predictions: list[str] = []
    targets: list[str] = []
    confidences: list[float] = []
    audio_seconds = inference_seconds = 0.0
    progress = progress_bar(total=total, desc="eval", unit="utt", disable=None, file=sys.stderr)
    # Chunked, a long recording is transcribed while it is read (its chunks are the same as decoded whole).
    stream_over_s = STREAM_OVER_S if transcriber.chunking is not None and not transcriber.vad else None
    for group in iter_groups(dataset, acoustic.sampling_rate, TEXT_COLUMN, args.max_eval_samples, stream_over_s):
        tick = time.perf_counter()
        if isinstance(group[0][1], LongRecording):
            index, recording, _text = group[0]
            inner = AudioProgress(recording.seconds, "inference")
            try:
                transcript, samples = transcriber.transcribe_stream(recording.blocks(), recording.expected_samples, inner)
            except AudioError as error:
                raise AudioError(f"example {index} of the evaluation split: {error} (eval.py scores every example, "
                                 "it never skips one)") from None
            inner.close()
            transcripts = [transcript]
        else:
            audios = [array for _index, array, _text in group]
            inner = long_audio_progress(audios, acoustic.sampling_rate)
            transcripts = transcriber.transcribe(audios, progress=inner)
            if inner is not None:
                inner.close()
            samples = sum(a.size for a in audios)
        inference_seconds += time.perf_counter() - tick
        audio_seconds += samples / acoustic.sampling_rate
        predictions.extend(t.text for t in transcripts)
        confidences.extend(t.confidence for t in transcripts if t.confidence is not None)
        targets.extend(normalize_text(text) for _index, _array, text in group)
        progress.update(len(group))
    progress.close()
    if not predictions:
        raise ConfigurationError(f"{args.dataset} {args.config} {args.split}: the split has no examples")

    for note in (unwritable_note(targets, acoustic.processor), empty_reference_note(targets)):
        if note:
            LOGGER.info(note)
    result = hf_datasets.Dataset.from_dict({"target": targets, "prediction": predictions})
    log_results(result, args)

    report = evaluation_report(targets, predictions, audio_seconds=audio_seconds, inference_seconds=inference_seconds,
                               wall_seconds=time.perf_counter() - started,
                               settings=_settings(args, decoder, model_dir, acoustic))
    if confidences:  # only when asked (--confidence): the challenge's result files never change
        report["confidence"] = confidence_summary(confidences, targets, predictions)
    if (args.report or "").lower() != "none":
        path = write_json(args.report or Path(args.output_dir) / f"{dataset_id(args)}_eval_report.json", report)
        LOGGER.info(f"report: {path} (WER 95% CI {report['wer_ci95'][0]:.4f}-{report['wer_ci95'][1]:.4f}, "
                    f"RTFx {report['rtfx']}, decoder {decoder.engine})")
    return report


def _settings(args: EvalOptions, decoder, model_dir: Path, acoustic) -> dict:
    """How the split was transcribed, as the report records it."""
    return {
        "model_id": args.model_id, "dataset": args.dataset, "config": args.config, "split": args.split,
        "chunk_length_s": args.chunk_length_s, "stride_length_s": args.stride_length_s, "vad": args.vad,
        "decoder": decoder.engine, "beam_width": decoder.beam_width,
        "hotwords": list(args.decoding.hotwords),
        "hotword_weight": args.decoding.hotword_weight if args.decoding.hotwords else None,
        "lm": read_lm_attrs(model_dir) if decoder.engine != "greedy" and language_model_binary(model_dir) else None,
        "device": str(acoustic.device),
        "bf16": bool(args.bf16),
        "confidence": args.decoding.confidence,
    }
