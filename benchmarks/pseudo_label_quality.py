"""What the pseudo-labeller's confidence threshold buys: on labelled speech used as if it were unlabelled, the WER of
the kept segments against that of all segments, at each threshold, with the share kept.

The speech: the demo corpus's held-out voices in one language, as files with no text — its real-world recordings
(a minute or more each, noise and reverberation) and its CV-style test and dev clips. `robust-speech pseudo-label`
runs over them once with --min_confidence 0 (so every segment is labelled and the keep decision at any threshold
is the comparison of its recorded confidence). A segment's reference is the text of the true utterances whose
middle falls inside it (known from the corpus); a segment cut inside an utterance is scored against that
utterance's text, so imperfect VAD cuts count as errors, as they would in training data.

    python benchmarks/pseudo_label_quality.py --model_dir demo_output/models/en
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from common import markdown_table, save
from confidence_quality import demo_corpus, parse_arguments, write_markdown

from robust_speech.audio.decode import audio_info
from robust_speech.data.synth import read_tsv
from robust_speech.found.pseudo_label import EMPTY, pseudo_label
from robust_speech.found.pseudo_label_options import PseudoLabelOptions
from robust_speech.inference.options import LoadOptions
from robust_speech.reports.metrics import word_error_rate
from robust_speech.text.normalizer import model_normalizer

THRESHOLDS = (0.0, 0.6, 0.7, 0.75, 0.8, 0.825, 0.85, 0.875, 0.9)


def unlabelled_inputs(corpus, language: str, folder: Path) -> dict[str, list[tuple[float, float, str]]]:
    """Link the held-out audio into `folder` (no text beside it); per linked file, its true utterances."""
    truth: dict[str, list[tuple[float, float, str]]] = {}
    segments = corpus.root / language / "long_segments.tsv"
    for row in read_tsv(segments) if segments.is_file() else []:
        truth.setdefault(str(folder / row["path"]), []).append((float(row["start"]), float(row["end"]), row["sentence"]))
        source = corpus.root / language / "long" / row["path"]
        if not (folder / row["path"]).exists():
            (folder / row["path"]).symlink_to(source)
    for split in ("test", "dev"):
        for row in corpus.rows(language, split):
            source = corpus.clips_dir(language) / row["path"]
            (folder / row["path"]).symlink_to(source)
            truth[str(folder / row["path"])] = [(0.0, audio_info(source).duration, row["sentence"])]
    return truth


def references(rows: list[dict], truth: dict, normalize) -> list[str]:
    """Each labelled segment's reference: the true utterances whose middle lies inside it."""
    texts = []
    for row in rows:
        start, end = float(row["start"]), float(row["end"])
        inside = [text for first, last, text in truth[row["source"]] if start <= (first + last) / 2 < end]
        texts.append(normalize(" ".join(inside)))
    return texts


def sweep(rows: list[dict], refs: list[str]) -> list[dict]:
    """The WER of every transcribed segment (those transcribed empty included: pseudo-label never keeps them),
    then of those kept at each threshold."""
    total_s = sum(float(row["end"]) - float(row["start"]) for row in rows)
    chosen = {"all transcribed": list(range(len(rows)))}
    for threshold in THRESHOLDS:
        chosen[threshold] = [i for i, row in enumerate(rows) if row["sentence"] and float(row["confidence"]) >= threshold]
    results = []
    for threshold, kept in chosen.items():
        seconds = sum(float(rows[i]["end"]) - float(rows[i]["start"]) for i in kept)
        results.append({"min_confidence": threshold, "kept": len(kept), "kept_share": round(len(kept) / len(rows), 3),
                        "kept_seconds_share": round(seconds / total_s, 3),
                        "wer": word_error_rate([refs[i] for i in kept], [rows[i]["sentence"] for i in kept])
                        if kept else None})
    return results


def labelled_rows(folder: Path) -> list[dict]:
    """metadata.csv's rows, and skipped.tsv's segments transcribed empty (as rows with an empty sentence)."""
    with open(folder / "metadata.csv", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    with open(folder / "skipped.tsv", encoding="utf-8", newline="") as file:
        empty = [row for row in csv.DictReader(file, delimiter="\t") if row["reason"] == EMPTY]
    return rows + [{**row, "sentence": ""} for row in empty]


def main() -> None:
    args = parse_arguments(__doc__.split("\n\n")[0], "pseudo_label_quality")
    normalize = model_normalizer(args.model_dir)
    with tempfile.TemporaryDirectory(prefix="pseudo-label-") as work:
        inputs = Path(work) / "unlabelled"
        inputs.mkdir()
        truth = unlabelled_inputs(demo_corpus(args), args.language, inputs)
        result = pseudo_label(PseudoLabelOptions(args.model_dir, str(inputs), str(Path(work) / "labelled"),
                                                 min_confidence=0.0, load=LoadOptions(device="cpu")))
        rows = labelled_rows(Path(work) / "labelled")
    refs = references(rows, truth, normalize)
    results = sweep(rows, refs)
    table = markdown_table(["--min_confidence", "segments kept", "share kept (segments)", "share kept (seconds)",
                            "WER of the kept"],
                           [[r["min_confidence"], r["kept"], r["kept_share"], r["kept_seconds_share"],
                             f"{r['wer']:.3f}" if r["wer"] is not None else "-"] for r in results])
    print(result.summary())
    print(table)
    path = save(args.name, {"model": args.model_dir, "language": args.language, "inputs": result.inputs,
                            "segments": len(rows), "skipped": dict(result.skipped), "results": results, "table": table})
    write_markdown(path, "Pseudo-label WER by confidence threshold",
                   f"Model {args.model_dir}; {result.inputs} held-out files labelled as if untranscribed, {len(rows)} "
                   f"speech segments transcribed ({result.summary()}).\n\n{table}")


if __name__ == "__main__":
    main()
