#!/usr/bin/env python
"""Peak memory of `robust-speech segment` on a two-hour recording, against the size of that recording decoded.

    python benchmarks/segment_memory.py --model_id demo_output/models/en
    python benchmarks/segment_memory.py --model_id DIR --hours 2

The recording is one of segment_accuracy.py's synthetic long recordings (the same corpus, cached) played over
and over to `--hours`, written a block at a time as FLAC, with its text repeated as often (a sentence a line).
`robust-speech segment` runs as a participant runs it (a subprocess) twice in the same run: on the recording
once (the reference: torch, the model, a batch of chunks in the forward pass and one alignment section, which
cost the same at any length) and on the long one; each peak RSS comes from that process's own rusage. The ratio
is the long run's peak above the reference run's, over the long recording's decoded size at 16 kHz float32
(460 MB, 439 MiB, for two hours; both sides in MiB): what grows with the length. Goal: under 0.25. The whole
process's peak over the decoded size is printed too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile
from common import RESULTS, ROOT, markdown_table, print_machine, save
from segment_accuracy import add_corpus_arguments, corpus

from robust_speech.audio.decode import load_audio
from robust_speech.data.synth import read_tsv

RATE = 16000


def measured_segment(audio: Path, text: Path, model: str, output: Path) -> tuple[float, float, str]:
    """(peak RSS MB, wall seconds, summary line) of one `robust-speech segment` run."""
    command = [sys.executable, "-m", "robust_speech", "segment", str(audio), str(text), "--model_id", model,
               "--output_dir", str(output), "--text_format", "lines", "--device", "cpu"]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=environment)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        summary, errors = stdout.read().strip().splitlines(), stderr.read()[-2000:]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"segment failed on {audio}:\n{errors}")
    return usage.ru_maxrss / 1024, wall, summary[-1] if summary else ""


def tiled(source: Path, sentences: list[str], hours: float, work: Path) -> tuple[Path, Path, float]:
    """`source` repeated to `hours` (FLAC, written a copy at a time) and its text as often."""
    audio = load_audio(source, RATE)
    copies = max(1, round(hours * 3600 / (audio.size / RATE)))
    path = work / "long.flac"
    with soundfile.SoundFile(path, "w", RATE, 1, format="FLAC") as file:
        for _ in range(copies):
            file.write(audio)
    text = work / "long.txt"
    text.write_text("\n".join(sentences * copies) + "\n", encoding="utf-8")
    return path, text, copies * audio.size / RATE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser)  # segment_accuracy.py's corpus (the same cache)
    parser.add_argument("--hours", type=float, default=2.0)
    args = parser.parse_args()
    print_machine()
    folder, _config = corpus(args)
    first = read_tsv(folder / "long.tsv")[0]
    sentences = [row["sentence"] for row in read_tsv(folder / "long_segments.tsv") if row["path"] == first["path"]]
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-segment-memory-") as scratch:
        work = Path(scratch)
        reference_text = work / "reference.txt"
        reference_text.write_text("\n".join(sentences) + "\n", encoding="utf-8")
        long_audio, long_text, long_seconds = tiled(folder / "long" / first["path"], sentences, args.hours, work)
        runs = (("reference: the recording once", folder / "long" / first["path"], reference_text,
                 float(first["duration"])), (f"the recording to {args.hours:g} h", long_audio, long_text, long_seconds))
        for name, audio, text, seconds in runs:
            peak_mb, wall, summary = measured_segment(audio, text, args.model_id, work / f"out-{len(results)}")
            results[name] = {"audio_seconds": seconds, "decoded_mb": seconds * RATE * 4 / 2**20, "peak_rss_mb": peak_mb,
                             "wall_s": wall, "summary": summary}
            print(f"{name}: peak RSS {peak_mb:.0f} MB, {wall:.0f} s; {summary}", flush=True)
    reference, long = results["reference: the recording once"], results[f"the recording to {args.hours:g} h"]
    growth = long["peak_rss_mb"] - reference["peak_rss_mb"]
    ratio = growth / long["decoded_mb"]
    table = markdown_table(["segment on", "audio s", "decoded MB", "peak RSS MB", "wall s"],
                           [[name, f"{r['audio_seconds']:.0f}", f"{r['decoded_mb']:.0f}", f"{r['peak_rss_mb']:.0f}",
                             f"{r['wall_s']:.0f}"] for name, r in results.items()])
    line = (f"peak above the reference run: {growth:.0f} MB = {ratio:.3f}x the decoded recording (goal < 0.25x); "
            f"whole process: {long['peak_rss_mb'] / long['decoded_mb']:.3f}x")
    print(table)
    print(line)
    command = f"python benchmarks/segment_memory.py --model_id {args.model_id} --hours {args.hours:g}"
    save("segment_memory", {"command": command, "hours": args.hours, "results": results, "growth_mb": growth,
                            "ratio": ratio, "table": table})
    (RESULTS / "segment_memory.md").write_text(f"# Segmentation memory\n\n`{command}`\n\n{table}\n\n{line}\n",
                                               encoding="utf-8")


if __name__ == "__main__":
    main()
