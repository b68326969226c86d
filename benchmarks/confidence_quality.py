"""Does word confidence mean something? On labelled speech the model never trained on, how well each engine's word
confidence separates right words from wrong ones (ROC AUC), how close it is to the accuracy it claims
(reliability table, expected calibration error), and what computing it costs.

The speech: the demo corpus's held-out voices in one language — its CV-style test and dev clips, and its
real-world recordings (noise, reverberation) cut at their true utterance boundaries. The acoustic model runs once;
each engine decodes the same log-probs with and without confidences. A hypothesis word is right when jiwer's
alignment to the normalized reference (the one WER counts) matches it.

    python benchmarks/confidence_quality.py --model_dir demo_output/models/en
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from common import markdown_table, print_machine, save

from robust_speech.audio.decode import load_audio
from robust_speech.cli.demo import MINUTES
from robust_speech.cli.values import default_of
from robust_speech.data.synth import SynthConfig, cached_corpus, read_tsv
from robust_speech.demo.plan import DemoPlan
from robust_speech.inference.decoding import load_decoder
from robust_speech.inference.loading import load_for_inference
from robust_speech.inference.options import DEFAULT_BEAM_WIDTH, ENGINES, LoadOptions
from robust_speech.reports.calibration import (
    confidence_summary,
    expected_calibration_error,
    hypothesis_words_correct,
    reliability_table,
    roc_auc,
)
from robust_speech.reports.metrics import word_error_rate
from robust_speech.text.normalizer import model_normalizer


def parse_arguments(description: str, name: str) -> argparse.Namespace:
    """The flags both quality benchmarks take: the model folder, which demo corpus, the results file name."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model_dir", required=True, help="a trained model folder with its LM, e.g. demo_output/models/en")
    parser.add_argument("--name", default=name, help="results file name (without the device tag)")
    parser.add_argument("--language", default="en", help="the demo corpus language the model transcribes")
    parser.add_argument("--demo_languages", default=",".join(default_of(SynthConfig, "languages")),
                        help="the demo's --languages when it trained the model (they choose its corpus)")
    parser.add_argument("--demo_minutes", type=float, default=MINUTES, help="the demo's --minutes, likewise")
    args = parser.parse_args()
    print_machine()
    return args


def demo_corpus(args: argparse.Namespace):
    """The corpus the demo trained the model on (from the cache, synthesized if missing)."""
    return cached_corpus(DemoPlan(tuple(args.demo_languages.split(",")), args.demo_minutes, Path(".")).synth_config)


def held_out_speech(corpus, language: str, rate: int) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Audio, reference and set name of every held-out utterance of the demo corpus in `language`: the test and
    dev clips, and the real-world recordings cut at their true utterance boundaries."""
    audios, texts, sets = [], [], []
    for split in ("test", "dev"):
        for row in corpus.rows(language, split):
            audios.append(load_audio(corpus.clips_dir(language) / row["path"], rate))
            texts.append(row["sentence"])
            sets.append(f"cv-{split}")
    segments = corpus.root / language / "long_segments.tsv"
    recordings: dict[str, np.ndarray] = {}
    for row in read_tsv(segments) if segments.is_file() else []:
        if row["path"] not in recordings:
            recordings[row["path"]] = load_audio(corpus.root / language / "long" / row["path"], rate)
        start, end = int(float(row["start"]) * rate), int(float(row["end"]) * rate)
        audios.append(recordings[row["path"]][start:end])
        texts.append(row["sentence"])
        sets.append("real-world")
    return audios, texts, sets


def measure(engine: str, model_dir: str, log_probs: list[np.ndarray], references: list[str], normalize) -> dict:
    options = {} if engine == "greedy" else {"beam_width": DEFAULT_BEAM_WIDTH}
    plain = load_decoder(model_dir, engine, **options)
    started = time.perf_counter()
    plain.decode_batch(log_probs)
    plain_s = time.perf_counter() - started
    decoder = load_decoder(model_dir, engine, confidence=True, **options)
    started = time.perf_counter()
    transcripts = decoder.decode_batch(log_probs)
    with_s = time.perf_counter() - started
    predictions = [normalize(t.text) for t in transcripts]
    correct = hypothesis_words_correct(references, predictions)
    scores, flags = [], []
    for transcript, prediction, right in zip(transcripts, predictions, correct):
        # normalize_text leaves the model's own words as they are, so the words and the alignment correspond
        if len(prediction.split()) == len(transcript.words):
            scores.extend(word.confidence for word in transcript.words)
            flags.extend(right)
    table = reliability_table(scores, flags)
    utterance = [t.confidence for t in transcripts]
    perfect = [all(right) and len(right) == len(reference.split()) for right, reference in zip(correct, references)]
    return {"engine": engine, "wer": word_error_rate(references, predictions), "words": len(scores),
            "wrong_words": int(len(flags) - sum(flags)), "word_auc": roc_auc(scores, flags),
            "ece": round(expected_calibration_error(table), 4), "reliability": table,
            "utterance_auc_error_free": roc_auc(utterance, perfect),
            "utterances": confidence_summary(utterance, references, predictions)["wer_by_quarter"],
            "decode_s": round(plain_s, 3), "decode_with_confidence_s": round(with_s, 3)}


def write_markdown(path: Path, title: str, body: str) -> None:
    """The results page beside the JSON: the title, the command that made it, the machine, the tables."""
    from robust_speech.reports.result_files import machine_info

    info = machine_info()
    machine = f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, GPU: {info['gpu'] or 'none'}."
    command = f"python benchmarks/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}"
    path.with_suffix(".md").write_text(f"# {title}\n\n`{command}`\n\n{machine}\n\n{body}\n", encoding="utf-8")


def main() -> None:
    args = parse_arguments(__doc__.split("\n\n")[0], "confidence_quality")
    normalize = model_normalizer(args.model_dir)
    loaded = load_for_inference(args.model_dir, LoadOptions(device="cpu"), decoding=None)
    audios, texts, sets = held_out_speech(demo_corpus(args), args.language, loaded.acoustic.sampling_rate)
    references = [normalize(text) for text in texts]
    started = time.perf_counter()
    log_probs = loaded.transcriber.log_probs(audios)
    acoustic_s = time.perf_counter() - started
    results = [measure(engine, args.model_dir, log_probs, references, normalize) for engine in ENGINES]
    rows = [[r["engine"], f"{r['wer']:.3f}", r["words"], r["wrong_words"], f"{r['word_auc']:.3f}", f"{r['ece']:.3f}",
             f"{r['utterance_auc_error_free']:.3f}" if r["utterance_auc_error_free"] is not None else "-",
             " / ".join(f"{q['wer']:.2f}" for q in r["utterances"]),
             f"{r['decode_s']:.2f} → {r['decode_with_confidence_s']:.2f}"] for r in results]
    table = markdown_table(["engine", "WER", "words", "wrong", "word AUC", "ECE", "utt. AUC (error-free)",
                            "WER by utterance-confidence quarter (low → high)", "decode s (plain → with confidence)"],
                           rows)
    reliability = {r["engine"]: markdown_table(["confidence", "words", "mean confidence", "accuracy"],
                                               [[f"{row['from']:.1f}-{row['to']:.1f}", row["words"],
                                                 row["mean_confidence"], row["accuracy"]] for row in r["reliability"]])
                   for r in results}
    counts = {name: sets.count(name) for name in dict.fromkeys(sets)}
    print(f"model: {args.model_dir}; {len(audios)} held-out utterances {counts}; acoustic model {acoustic_s:.1f} s")
    print(table)
    for engine, text in reliability.items():
        print(f"\nreliability, {engine}:\n{text}")
    path = save(args.name, {"model": args.model_dir, "language": args.language, "utterances": counts,
                            "acoustic_s": round(acoustic_s, 2), "results": results, "table": table})
    sections = "\n\n".join(f"Reliability, {engine}:\n\n{text}" for engine, text in reliability.items())
    write_markdown(path, "Word confidence on held-out speech",
                   f"Model {args.model_dir}; {len(audios)} utterances {counts}.\n\n{table}\n\n{sections}")


if __name__ == "__main__":
    main()
