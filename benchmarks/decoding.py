#!/usr/bin/env python
"""CTC decoding speed and WER: greedy, pyctcdecode (the reference behaviour) and the flashlight-text engine,
on the same log-probs with the same KenLM model and the same alpha/beta, at several beam widths.

    python benchmarks/decoding.py                         # synthetic emissions of held-out synthetic sentences
    python benchmarks/decoding.py --model_dir M --dataset D --config en --split test   # a trained model's logits

The synthetic emissions imitate a mediocre acoustic model: 1-3 frames per character, 0-2 blank frames between,
and 15% of the characters heard as another letter (the wrong letter wins the frame), so greedy decoding
misspells words and the LM has something to fix. The LM (4-gram) is built from the corpus's LM text, which
never contains a test sentence. Prints ms/utterance (median, min, max over --repeats runs) and WER, and the
speed ratio flashlight / pyctcdecode at each beam width. Goal: flashlight >= 3x faster at equal WER.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from common import markdown_table, print_machine, save, spread, timed

from robust_speech.inference.decoding import FlashlightDecoder, GreedyDecoder, PyctcdecodeDecoder
from robust_speech.lm.install import install_language_model
from robust_speech.lm.ngram import NgramOptions, build_language_model, model_alphabet, prepare_lm_text
from robust_speech.reports.metrics import word_error_rate
from robust_speech.text.lines import read_text_lines
from robust_speech.text.normalizer import TextNormalizer
from robust_speech.text.vocabulary import PAD_TOKEN, UNK_TOKEN, WORD_DELIMITER


def synthetic_emissions(text: str, vocabulary: dict[str, int], rng: np.random.Generator,
                        confusion_rate: float = 0.15) -> np.ndarray:
    letters = [token for token in vocabulary if len(token) == 1 and token != WORD_DELIMITER]
    size = max(vocabulary.values()) + 1
    rows = []

    def frame(token: int, other: int | None = None) -> np.ndarray:
        logits = rng.normal(0.0, 1.0, size)
        if other is None:
            logits[token] += rng.uniform(4.0, 7.0)
        else:  # heard wrong: the other letter wins, the right one is close behind
            logits[other] += rng.uniform(4.0, 6.0)
            logits[token] += rng.uniform(2.5, 4.0)
        return logits

    blank = vocabulary[PAD_TOKEN]
    for char in text:
        token = vocabulary[WORD_DELIMITER if char == " " else char]
        other = None
        if char != " " and rng.random() < confusion_rate:
            other = vocabulary[letters[rng.integers(len(letters))]]
        for _ in range(rng.integers(1, 4)):
            rows.append(frame(token, other))
        for _ in range(rng.integers(0, 3)):
            rows.append(frame(blank))
    logits = np.array(rows, dtype=np.float32)
    return logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)


def synthetic_setup(work: Path, utterances: int, order: int, seed: int):
    """A model folder (vocab + LM from the corpus's LM text) and emissions of held-out test sentences."""
    from robust_speech.data.synth import SynthConfig, cached_corpus

    config = SynthConfig(languages=("en",), train_size=0, dev_size=0, test_size=utterances, lm_sentences=6000,
                         speakers=2, seed=seed)
    corpus = cached_corpus(config, progress=True)
    normalizer = TextNormalizer()
    references = [normalizer(row["sentence"]) for row in corpus.rows("en", "test")][:utterances]
    lm_lines = [normalizer(line) for line in read_text_lines(corpus.lm_text("en"))]
    chars = sorted({c for line in lm_lines + references for c in line if c != " "})
    vocabulary = {PAD_TOKEN: 0, UNK_TOKEN: 1, WORD_DELIMITER: 2, **{c: 3 + i for i, c in enumerate(chars)}}
    model_dir = work / "model"
    model_dir.mkdir()
    (model_dir / "vocab.json").write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    install_lm(model_dir, lm_lines, vocabulary, order)
    rng = np.random.default_rng(seed)
    log_probs = [synthetic_emissions(text, vocabulary, rng) for text in references]
    return model_dir, log_probs, references, f"synthetic emissions of {len(references)} held-out sentences"


def install_lm(model_dir: Path, lines: list[str], vocabulary: dict[str, int], order: int) -> None:
    prepared = prepare_lm_text(lines, TextNormalizer(), model_alphabet(vocabulary))
    with tempfile.TemporaryDirectory(prefix="lm-") as work:
        built = build_language_model(prepared.lines, Path(work), NgramOptions(order=order))
        install_language_model(model_dir, built.binary, built.unigrams, flashlight_binary=built.flashlight_binary)


def model_setup(args):
    """Log-probs of a trained model (with its language_model/) on a dataset split."""
    from robust_speech.data.sources import load_speech_split, parse_sources
    from robust_speech.evaluation.groups import split_log_probs
    from robust_speech.inference.transcribe import Transcriber
    from robust_speech.model.acoustic import load_acoustic_model
    from robust_speech.text.normalizer import load_normalizer

    acoustic = load_acoustic_model(args.model_dir, "cpu")
    transcriber = Transcriber(acoustic, None)
    normalizer = load_normalizer(args.model_dir) or TextNormalizer()
    dataset = load_speech_split(parse_sources(args.dataset, args.config), args.split)
    log_probs, texts = split_log_probs(transcriber, dataset, args.utterances)
    references = [normalizer(text) for text in texts]
    return Path(args.model_dir), log_probs, references, f"{args.model_dir} on {args.dataset} {args.config} {args.split}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--beams", default="20,50,100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--order", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model_dir", help="use this trained model's log-probs instead of synthetic emissions")
    parser.add_argument("--dataset")
    parser.add_argument("--config")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    print_machine()
    beams = [int(b) for b in args.beams.split(",")]
    processes = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="bench-decoding-") as work:
        if args.model_dir:
            model_dir, log_probs, references, source = model_setup(args)
        else:
            model_dir, log_probs, references, source = synthetic_setup(Path(work), args.utterances, args.order, args.seed)
        frames = sum(len(x) for x in log_probs) / len(log_probs)
        print(f"{source}: {len(log_probs)} utterances, {frames:.0f} frames each on average")

        rows, results = [], []
        vocabulary = json.loads((model_dir / "vocab.json").read_text(encoding="utf-8"))
        greedy = GreedyDecoder(vocabulary)
        stats, texts = timed(lambda: [t.text for t in greedy.decode_batch(log_probs)], args.repeats)
        results.append({"engine": "greedy", "beam": None, **stats, "wer": word_error_rate(references, texts)})
        for beam in beams:
            pyctc = PyctcdecodeDecoder(model_dir, beam_width=beam, processes=processes)
            stats, texts = timed(lambda: [pyctc.decode(x).text for x in log_probs], args.repeats)
            results.append({"engine": "pyctcdecode", "beam": beam, **stats, "wer": word_error_rate(references, texts)})
            stats, texts = timed(lambda: [t.text for t in pyctc.decode_batch(log_probs)], args.repeats)
            results.append({"engine": f"pyctcdecode pool({processes})", "beam": beam, **stats,
                            "wer": word_error_rate(references, texts)})
            pyctc.close()
            fast = FlashlightDecoder(model_dir, beam_width=beam)
            stats, texts = timed(lambda: [t.text for t in fast.decode_batch(log_probs)], args.repeats)
            results.append({"engine": "flashlight", "beam": beam, **stats, "wer": word_error_rate(references, texts)})

    count = len(log_probs)
    for result in results:
        result["ms_per_utterance"] = 1000 * result["median_s"] / count
    by_key = {(r["engine"], r["beam"]): r for r in results}
    for result in results:
        ratio = ""
        if result["engine"] == "flashlight":
            single = by_key[("pyctcdecode", result["beam"])]
            pooled = by_key[(f"pyctcdecode pool({processes})", result["beam"])]
            result["speedup_vs_pyctcdecode"] = single["median_s"] / result["median_s"]
            result["speedup_vs_pyctcdecode_pool"] = pooled["median_s"] / result["median_s"]
            ratio = (f"{result['speedup_vs_pyctcdecode']:.1f}x (vs pool {result['speedup_vs_pyctcdecode_pool']:.1f}x)")
        rows.append([result["engine"], result["beam"] or "-", spread(result, 1000 / count, "ms"),
                     f"{result['wer']:.4f}", ratio])
    table = markdown_table(["engine", "beam", "ms/utterance", "WER", "flashlight speed-up"], rows)
    print(table)
    save("decoding", {"source": source, "utterances": count, "mean_frames": frames, "results": results,
                      "table": table})


if __name__ == "__main__":
    main()
