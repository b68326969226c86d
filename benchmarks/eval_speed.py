#!/usr/bin/env python
"""Evaluation speed: eval.py's engine against the transformers ASR pipeline as the reference eval.py drives it
(one example at a time, same chunking), on the same model and audio. Prints RTFx (audio seconds per wall
second) of both, the ratio, and whether the texts are equal (WER of each against the other and the targets).

    python benchmarks/eval_speed.py                       # tiny XLS-R-shaped random-init model
    python benchmarks/eval_speed.py --model base          # wav2vec2-base shape
    python benchmarks/eval_speed.py --model_dir M         # a trained model folder

Audio: short synthetic Common-Voice-style clips and long (5-minute) synthetic recordings, cached after the
first run. Speed does not depend on trained weights, so random-init models of the real shapes are fair;
their output is random text, compared word for word. Goal: >= 3x the pipeline's RTFx with equal WER.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import markdown_table, print_machine, save, spread, timed

from robust_speech.inference.decoding import GreedyDecoder
from robust_speech.model.random_models import MODEL_SHAPES, save_random_model
from robust_speech.reports.metrics import word_error_rate
from robust_speech.text.normalizer import TextNormalizer


def random_model(folder: Path, shape: str) -> Path:
    letters = "abcdefghijklmnopqrstuvwxyz'"
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "|": 2, **{c: 3 + i for i, c in enumerate(letters)}}
    return save_random_model(folder, vocabulary, shape)


def load_audio_set(short: int, long: int, long_seconds: float):
    from robust_speech.data.preprocess import decode_audio
    from robust_speech.data.synth import SynthConfig, cached_corpus

    config = SynthConfig(languages=("en",), train_size=0, dev_size=0, test_size=short, lm_sentences=0,
                         long_recordings=long, long_duration_s=(long_seconds, long_seconds), speakers=3, seed=1)
    corpus = cached_corpus(config, progress=True)
    normalizer = TextNormalizer()
    items = []
    for split in ("test", "long") if long else ("test",):
        for row in corpus.rows("en", split):
            folder = corpus.root / "en" / "long" if split == "long" else corpus.clips_dir("en")
            items.append((decode_audio(str(folder / row["path"]), 16000), normalizer(row["sentence"]), split))
    return items


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODEL_SHAPES), default="tiny")
    parser.add_argument("--model_dir", help="a trained model folder instead of a random-init shape")
    parser.add_argument("--short", type=int, default=40, help="short clips")
    parser.add_argument("--long", type=int, default=2, help="long recordings")
    parser.add_argument("--long_seconds", type=float, default=300.0)
    parser.add_argument("--chunk_length_s", type=float, default=5.0)
    parser.add_argument("--stride_length_s", type=float, default=1.0)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="also time ours with bf16 (autocast on CPU; its WER is "
                        "meaningful with --model_dir, a model that learned something)")
    return parser.parse_args()


def reference_pipeline(model_dir: Path, device: str):
    from transformers import AutoFeatureExtractor, AutoTokenizer, pipeline

    # The tokenizer and extractor given apart make the pipeline decode greedily, as ours does here, even where the
    # folder has a language_model/ (the pipeline alone would beam-search with it: another decoder, other texts).
    asr = pipeline("automatic-speech-recognition", model=str(model_dir), device=-1 if device == "cpu" else 0,
                   tokenizer=AutoTokenizer.from_pretrained(model_dir),
                   feature_extractor=AutoFeatureExtractor.from_pretrained(model_dir))
    assert asr.type == "ctc", asr.type
    return asr


def measure_subset(args, audios, targets, transcriber, fast, asr) -> dict:
    """Ours (and ours with bf16 when `fast` is given) against the pipeline on one set of recordings."""
    seconds = sum(a.size for a in audios) / 16000
    ours_stats, ours = timed(lambda: [t.text for t in transcriber.transcribe(audios)], args.repeats)
    reference_stats, reference = timed(
        lambda: [asr(a, chunk_length_s=args.chunk_length_s, stride_length_s=args.stride_length_s)["text"]
                 for a in audios], args.repeats)
    result = {
        "utterances": len(audios), "audio_seconds": seconds,
        "ours": {**ours_stats, "rtfx": seconds / ours_stats["median_s"], "wer": word_error_rate(targets, ours)},
        "pipeline": {**reference_stats, "rtfx": seconds / reference_stats["median_s"],
                     "wer": word_error_rate(targets, reference)},
        "identical_texts": sum(o.split() == r.split() for o, r in zip(ours, reference)),
        "wer_ours_vs_pipeline": word_error_rate([" ".join(r.split()) or "-" for r in reference], ours),
    }
    result["speedup"] = result["ours"]["rtfx"] / result["pipeline"]["rtfx"]
    if fast is not None:
        bf16_stats, bf16_texts = timed(lambda: [t.text for t in fast.transcribe(audios)], args.repeats)
        result["ours_bf16"] = {**bf16_stats, "rtfx": seconds / bf16_stats["median_s"],
                               "wer": word_error_rate(targets, bf16_texts),
                               "identical_texts": sum(b.split() == r.split() for b, r in zip(bf16_texts, reference))}
        result["speedup_bf16"] = result["ours_bf16"]["rtfx"] / result["pipeline"]["rtfx"]
    return result


def table_rows(name: str, result: dict) -> list[list[str]]:
    count, seconds = result["utterances"], result["audio_seconds"]
    rows = [[f"{name} x{count} ({seconds:.0f} s)", f"{result['pipeline']['rtfx']:.1f}", f"{result['ours']['rtfx']:.1f}",
             f"{result['speedup']:.2f}x", f"{result['identical_texts']}/{count}",
             f"{result['pipeline']['wer']:.4f} / {result['ours']['wer']:.4f}", spread(result["ours"])]]
    if "ours_bf16" in result:
        b = result["ours_bf16"]
        rows.append([f"{name}, ours with bf16", f"{result['pipeline']['rtfx']:.1f}", f"{b['rtfx']:.1f}",
                     f"{result['speedup_bf16']:.2f}x", f"{b['identical_texts']}/{count}",
                     f"{result['pipeline']['wer']:.4f} / {b['wer']:.4f}", spread(b)])
    return rows


def main() -> None:
    args = parse_arguments()
    print_machine()

    from robust_speech.inference.transcribe import Transcriber
    from robust_speech.model.acoustic import load_acoustic_model

    items = load_audio_set(args.short, args.long, args.long_seconds)
    chunking = {"chunk_length_s": args.chunk_length_s, "stride_length_s": args.stride_length_s,
                "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as work:
        model_dir = Path(args.model_dir) if args.model_dir else random_model(Path(work) / "model", args.model)
        acoustic = load_acoustic_model(model_dir, args.device)
        decoder = GreedyDecoder(json.loads((model_dir / "vocab.json").read_text(encoding="utf-8")))
        transcriber = Transcriber(acoustic, decoder, **chunking)
        fast = (Transcriber(load_acoustic_model(model_dir, args.device, bf16=True), decoder, **chunking)
                if args.bf16 else None)
        asr = reference_pipeline(model_dir, args.device)
        rows, results = [], {}
        for subset in ("test", "long"):
            chosen = [(audio, text) for audio, text, split in items if split == subset]
            if not chosen:
                continue
            results[subset] = measure_subset(args, [a for a, _ in chosen], [t for _, t in chosen], transcriber, fast,
                                             asr)
            name = "short clips" if subset == "test" else f"{args.long_seconds / 60:.0f}-min recordings"
            rows += table_rows(name, results[subset])
    table = markdown_table(["audio", "pipeline RTFx", "ours RTFx", "speed-up", "identical texts",
                            "WER pipeline / ours", "ours wall"], rows)
    print(f"model: {args.model_dir or args.model} ({sum(p.numel() for p in acoustic.model.parameters()) / 1e6:.2f}M "
          f"parameters), chunk {args.chunk_length_s} s, stride {args.stride_length_s} s, batch {args.batch_size}")
    print(table)
    # One file per shape, the bf16 rows beside the float32 ones: run_all.py's summary reads both from it.
    save(f"eval_speed_{args.model if not args.model_dir else 'trained'}",
         {"model": args.model_dir or args.model, "chunk_length_s": args.chunk_length_s,
          "stride_length_s": args.stride_length_s, "batch_size": args.batch_size, "results": results, "table": table})

if __name__ == "__main__":
    main()
