#!/usr/bin/env python
"""How many utterances `robust-speech segment` recovers from long noisy recordings whose true boundaries are known.

    python benchmarks/segment_accuracy.py --model_id demo_output/models/en
    python benchmarks/segment_accuracy.py --model_id DIR --recordings 3 --minutes 10 --snr_db 15 --rt60_s 0.4
    python benchmarks/segment_accuracy.py --model_id DIR --seed 13 --posteriors_cache /tmp/segment-cache

The data layer's synthetic long recordings (data/synth.py: one espeak-ng voice each, held out of training,
sentences with 0.3-1.5 s pauses, reverberation then noise over the whole recording) of at least `--minutes`
each, several voices. Each sentence is spoken again by the same voice to find where its speech starts and ends
inside the span synth.py records (espeak-ng pads its output with silence). Each recording's text is one
sentence per line, with a planted paragraph of sentences that no recording speaks in the middle; all the
recordings go through one `segment()` call as a table.

An utterance is recovered when it becomes a clip and both of its boundaries lie in the pause to its neighbour
(from the end of the previous sentence's speech to the start of its own, for the start; from the end of its own
to the start of the next one's, for the end), or within `--tolerance_s` of the speech. Reported: the share of
the spoken utterances recovered, the share of clips with both boundaries right, what became of the planted
paragraph, the skip reasons, what became of each spoken utterance (a clip right, a skip reason, or which
boundary is wrong and how; the misses are listed in the JSON), and the same shares had `--min_score` been other
values (a clip's and a skipped utterance's score, start and end are all in the output). `--seed` picks other
sentences and voices (a set to report on, apart from the one choices were tuned on); `--posteriors_cache`
keeps the model's log-posteriors and the true boundaries between runs, so that a run after the first re-runs
only the alignment. Writes benchmarks/results/segment_accuracy.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import RESULTS, ROOT, markdown_table, print_machine, save

from robust_speech.data.synth import Speaker, SynthConfig, cached_corpus, read_tsv, speak
from robust_speech.found.segment import segment
from robust_speech.found.segment_options import DEFAULT_MIN_SCORE, SegmentOptions

RATE = 16000
PLANTED_SENTENCES = 5
SILENCE = 1e-3  # espeak-ng's padding is digital silence: speech starts at the first sample above this


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """The synthetic recordings' flags (segment_memory.py reads the same corpus)."""
    parser.add_argument("--model_id", required=True, help="a trained English model folder")
    parser.add_argument("--recordings", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--snr_db", type=float, default=15.0)
    parser.add_argument("--rt60_s", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=11)


def corpus(args) -> tuple[Path, SynthConfig]:
    minutes = args.minutes * 60
    config = SynthConfig(languages=("en",), train_size=0, dev_size=0, test_size=0, lm_sentences=40, speakers=6,
                         long_recordings=args.recordings, long_duration_s=(minutes, minutes + 30), audio_format="flac",
                         sampling_rate=RATE, voices="wide", noise_snr_db=args.snr_db, reverb_rt60_s=args.rt60_s,
                         seed=args.seed)
    return cached_corpus(config, progress=True).root / "en", config


def cache_posteriors(folder: Path, model_id: str) -> None:
    """Have segment() read each recording's log-posteriors from `folder` (computed and saved the first time).
    The key is the model folder's weights and the recording's path, size and time."""
    from robust_speech.found import recording

    compute = recording._log_probs
    weights = next(Path(model_id).glob("*.safetensors"), Path(model_id) / "config.json")

    def cached(model, audio: str) -> np.ndarray:
        stamp = [(path.resolve(), path.stat().st_size, path.stat().st_mtime_ns) for path in (weights, Path(audio))]
        path = folder / f"{hashlib.sha1(repr(stamp).encode()).hexdigest()[:20]}.npy"
        if path.is_file():
            return np.load(path)
        log_probs = compute(model, audio)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(path, log_probs)
        return log_probs

    recording._log_probs = cached


def cached_truth(cache: Path, config: SynthConfig) -> dict[str, list[dict]]:
    """true_segments() of the corpus, kept in the posteriors' cache folder (it speaks every sentence again)."""
    folder = cached_corpus(config).root / "en"
    path = cache / f"truth-{config.key()}.json"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(true_segments(folder)), encoding="utf-8")
    return json.loads(path.read_text(encoding="utf-8"))


def true_segments(folder: Path) -> dict[str, list[dict]]:
    """Per recording, its sentences with the recorded span and the speech inside it (seconds)."""
    speakers = {row["client_id"]: row for row in read_tsv(folder / "speakers.tsv")}
    voice_of = {row["path"]: speakers[row["client_id"]] for row in read_tsv(folder / "long.tsv")}
    segments: dict[str, list[dict]] = {}
    for row in read_tsv(folder / "long_segments.tsv"):
        voice = voice_of[row["path"]]
        speaker = Speaker(voice["client_id"], voice["voice"], voice["variant"], int(voice["speed"]), int(voice["pitch"]),
                          int(voice.get("word_gap") or 0))
        audio = speak(row["sentence"], speaker, "en", RATE)
        loud = np.flatnonzero(np.abs(audio) > SILENCE)
        start = float(row["start"])
        segments.setdefault(row["path"], []).append({
            "sentence": row["sentence"], "start": start, "end": float(row["end"]),
            "speech_start": start + float(loud[0]) / RATE, "speech_end": start + float(loud[-1] + 1) / RATE})
    return segments


def write_inputs(folder: Path, segments: dict[str, list[dict]], planted: list[str], work: Path) -> Path:
    """Each recording's text (a sentence a line, the planted paragraph in the middle) and the table of them."""
    table = work / "recordings.csv"
    with open(table, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file_name", "text_file"])
        for name, sentences in segments.items():
            lines = [segment["sentence"] for segment in sentences]
            middle = len(lines) // 2
            lines[middle:middle] = ["", *planted, ""]
            text = work / f"{Path(name).stem}.txt"
            text.write_text("\n".join(lines) + "\n", encoding="utf-8")
            writer.writerow([str(folder / "long" / name), str(text)])
    return table


def judged(segments: dict[str, list[dict]], folder: Path, output: Path, tolerance: float) -> list[dict]:
    """Every spoken utterance with what segment made of it: a clip or a skip, its score, and whether its
    boundaries are right."""
    found = {}
    for row in _rows(output / "metadata.csv"):
        found[(Path(row["source"]).name, row["sentence"])] = {**row, "reason": ""}
    for row in _rows(output / "skipped.tsv", "\t"):
        found.setdefault((Path(row["source"]).name, row["sentence"]), row)
    judged_rows = []
    durations = {row["path"]: float(row["duration"]) for row in read_tsv(folder / "long.tsv")}
    for name, sentences in segments.items():
        duration = durations[name]
        for index, truth in enumerate(sentences):
            row = found.get((name, truth["sentence"]), {"reason": "missing"})
            previous_end = sentences[index - 1]["speech_end"] if index else 0.0
            next_start = sentences[index + 1]["speech_start"] if index + 1 < len(sentences) else duration
            bounds = (previous_end, truth["speech_start"], truth["speech_end"], next_start)
            kind = _kind(row, bounds, tolerance)
            judged_rows.append({"recording": name, "sentence": truth["sentence"], "reason": row["reason"],
                                "score": float(row["score"]) if row.get("score") else None, "right": kind == "right",
                                "kind": kind, "detail": row.get("detail", ""), "truth": bounds,
                                "placed": [float(row[key]) if row.get(key) else None for key in ("start", "end")]})
    return judged_rows


def _kind(row: dict, bounds: tuple[float, ...], tolerance: float) -> str:
    """What became of a spoken utterance: "right", its skip reason, or which boundary is wrong and how (a
    boundary inside a neighbour's speech holds part of it; one inside its own speech cuts a word)."""
    if row["reason"] or not row.get("start"):
        return row["reason"] or "missing"
    previous_end, speech_start, speech_end, next_start = bounds
    start, end = float(row["start"]), float(row["end"])
    wrong = []
    if start < previous_end - tolerance:
        wrong.append("start in the previous utterance")
    elif start > speech_start + tolerance:
        wrong.append("start cuts its speech")
    if end < speech_end - tolerance:
        wrong.append("end cuts its speech")
    elif end > next_start + tolerance:
        wrong.append("end in the next utterance")
    return ", ".join(wrong) or "right"


def _rows(path: Path, delimiter: str = ",") -> list[dict]:
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file, delimiter=delimiter))


def threshold_table(rows: list[dict], thresholds: list[float]) -> tuple[str, list[dict]]:
    """Recovered share and clip precision (of the spoken utterances' clips) had --min_score been each threshold
    (other skips unchanged)."""
    table, data = [], []
    for threshold in thresholds:
        clips = [row for row in rows if row["reason"] in ("", "low alignment score") and row["score"] is not None
                 and row["score"] >= threshold]
        recovered = sum(row["right"] for row in clips)
        data.append({"min_score": threshold, "clips": len(clips), "recovered": recovered,
                     "recovered_share": recovered / len(rows), "precision": recovered / max(1, len(clips))})
        table.append([f"{threshold:g}", len(clips), f"{recovered / len(rows):.3f}", f"{recovered / max(1, len(clips)):.3f}"])
    return markdown_table(["min_score", "clips", "recovered share", "clips right"], table), data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser)
    parser.add_argument("--tolerance_s", type=float, default=0.1)
    parser.add_argument("--posteriors_cache", default=None,
                        help="a folder keeping the model's log-posteriors of each recording, so that a second run "
                             "with the same model and recordings re-runs only the alignment and what follows")
    args = parser.parse_args()
    print_machine()
    if args.posteriors_cache:
        cache_posteriors(Path(args.posteriors_cache), args.model_id)
    folder, config = corpus(args)
    segments = cached_truth(Path(args.posteriors_cache), config) if args.posteriors_cache else true_segments(folder)
    planted = (folder / "lm_text.txt").read_text(encoding="utf-8").splitlines()[:PLANTED_SENTENCES]
    with tempfile.TemporaryDirectory(prefix="bench-segment-") as scratch:
        work = Path(scratch)
        options = SegmentOptions(args.model_id, str(work / "out"), table=str(write_inputs(folder, segments, planted, work)),
                                 text_format="lines")
        options = replace(options, load=replace(options.load, device="cpu"))
        started = time.perf_counter()
        result = segment(options)
        wall = time.perf_counter() - started
        rows = judged(segments, folder, work / "out", args.tolerance_s)
        skipped = _rows(work / "out" / "skipped.tsv", "\t")
        planted_clips = [row for row in _rows(work / "out" / "metadata.csv") if row["sentence"] in planted]
    planted_rows = [row for row in skipped if row["sentence"] in planted]
    recovered = sum(row["right"] and row["reason"] == "" for row in rows)
    clips = sum(row["reason"] == "" for row in rows) + len(planted_clips)
    audio_s = sum(float(r["duration"]) for r in read_tsv(folder / "long.tsv"))
    table, by_threshold = threshold_table(rows, [-1.0, -1.5, -2.0, -2.5, -3.0, -4.0, -6.0, -1e9])
    summary = {
        "command": f"python benchmarks/segment_accuracy.py --model_id {args.model_id} --recordings {args.recordings} "
                   f"--minutes {args.minutes:g} --snr_db {args.snr_db:g} --rt60_s {args.rt60_s:g} --seed {args.seed}",
        "model_id": args.model_id, "synth_config": config.key(), "recordings": len(segments), "audio_s": audio_s,
        "utterances": len(rows), "clips": clips, "recovered": recovered, "recovered_share": recovered / len(rows),
        "clips_right_share": recovered / max(1, clips), "min_score": DEFAULT_MIN_SCORE,
        "planted": len(planted) * len(segments), "planted_reported": len(planted_rows),
        "planted_clips": [{"sentence": row["sentence"], "score": float(row["score"])} for row in planted_clips],
        "planted_reasons": sorted({row["reason"] for row in planted_rows}), "skip_reasons": dict(result.skipped),
        "wall_s": wall, "by_min_score": by_threshold, "tolerance_s": args.tolerance_s,
        "kinds": dict(Counter(row["kind"] for row in rows).most_common()),
        "misses": [row for row in rows if not row["right"]],
    }
    report(summary, table)


def report(summary: dict, table: str) -> None:
    lines = [
        f"{summary['recordings']} recordings, {summary['audio_s'] / 60:.1f} min, {summary['utterances']} spoken utterances; "
        f"segment took {summary['wall_s']:.0f} s",
        f"recovered (a clip with both boundaries in the pause or within {summary['tolerance_s']:g} s of the speech): "
        f"{summary['recovered']} = {summary['recovered_share']:.3f} of the utterances; "
        f"{summary['clips_right_share']:.3f} of the {summary['clips']} clips are right",
        f"planted paragraph: {summary['planted_reported']} of {summary['planted']} sentences in skipped.tsv "
        f"({', '.join(summary['planted_reasons']) or 'none'}), {len(summary['planted_clips'])} cut as clips",
        f"skipped: {json.dumps(summary['skip_reasons'])}",
        f"what became of the spoken utterances: {json.dumps(summary['kinds'])}",
    ]
    print("\n".join(lines))
    print(table)
    save("segment_accuracy", {**summary, "table": table})
    markdown = RESULTS / "segment_accuracy.md"
    markdown.write_text(f"# Segmentation accuracy\n\n`{summary['command']}`\n\n" + "\n\n".join(lines) +
                        "\n\nHad `--min_score` been:\n\n" + table + "\n", encoding="utf-8")
    print(f"wrote {markdown.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
