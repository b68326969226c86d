#!/usr/bin/env python
"""Peak memory of eval.py on one long recording, chunked, against the size of that recording decoded whole.

    python benchmarks/eval_memory.py                  # a 3-hour recording, tiny random-init model, 20 s chunks
    python benchmarks/eval_memory.py --hours 1

Runs ./eval.py as a participant does (a subprocess on a local audio folder) twice in the same run: on a
6-minute recording (the reference: importing torch and transformers, the model, and one batch of chunks in the
forward pass, which cost the same at any length) and on the long recording; each peak RSS comes from that
process's own rusage. The ratio is the long run's peak above the reference run's, over the long recording's
decoded size at 16 kHz float32 (691 MB for three hours): what grows with the length. Goal: under 0.25. The
whole process's peak over the decoded size is printed too. A tiny model keeps the forward pass cheap; what
grows with the recording is the audio and the log-probs, whatever the model.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
from common import ROOT, markdown_table, print_machine, save

from robust_speech.model.random_models import save_random_model

RATE = 16000


def write_recording(path: Path, seconds: float) -> None:
    """Tone plus noise written a minute at a time (the benchmark itself never holds the recording)."""
    rng = np.random.default_rng(0)
    minute = np.arange(RATE * 60) / RATE
    with soundfile.SoundFile(path, "w", RATE, 1, format="FLAC") as file:
        written = 0.0
        while written < seconds:
            length = min(60.0, seconds - written)
            samples = minute[: int(length * RATE)]
            file.write((0.2 * np.sin(2 * np.pi * 220 * samples) + rng.normal(0, 0.02, samples.size)).astype(np.float32))
            written += length


def measured_eval(folder: Path, model: Path, work: Path, chunk_length_s: float) -> tuple[float, float, str]:
    """(peak RSS MB, wall seconds, stderr tail) of one eval.py run over `folder`."""
    command = [sys.executable, str(ROOT / "eval.py"), "--model_id", str(model), "--dataset", str(folder),
               "--config", "default", "--split", "train", "--chunk_length_s", str(chunk_length_s), "--report", "none"]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=stderr, env=environment)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        stderr.seek(0)
        tail = stderr.read()[-2000:]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"eval.py failed on {folder}:\n{tail}")
    return usage.ru_maxrss / 1024, wall, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--chunk_length_s", type=float, default=20.0)
    args = parser.parse_args()
    print_machine()
    letters = "abcdefghijklmnopqrstuvwxyz'"
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "|": 2, **{c: 3 + i for i, c in enumerate(letters)}}
    with tempfile.TemporaryDirectory(prefix="bench-eval-memory-") as scratch:
        scratch = Path(scratch)
        model = save_random_model(scratch / "model", vocabulary, "tiny")
        rows, results = [], {}
        runs = (("reference: a 6-minute recording", 360.0), (f"a {args.hours:g}-hour recording", args.hours * 3600))
        for name, seconds in runs:
            folder = scratch / name.split(":")[0].replace(" ", "_")
            folder.mkdir()
            write_recording(folder / "audio.flac", seconds)
            (folder / "metadata.csv").write_text("file_name,sentence\naudio.flac,a recording\n", encoding="utf-8")
            work = scratch / f"{folder.name}_work"
            work.mkdir()
            peak_mb, wall, _tail = measured_eval(folder, model, work, args.chunk_length_s)
            decoded_mb = seconds * RATE * 4 / 2**20
            results[name] = {"audio_seconds": seconds, "decoded_mb": decoded_mb, "peak_rss_mb": peak_mb, "wall_s": wall,
                             "file_mb": (folder / "audio.flac").stat().st_size / 2**20}
            print(f"{name}: peak RSS {peak_mb:.0f} MB, {wall:.0f} s", flush=True)
        reference, long = results["reference: a 6-minute recording"], results[f"a {args.hours:g}-hour recording"]
        growth = long["peak_rss_mb"] - reference["peak_rss_mb"]
        ratio = growth / long["decoded_mb"]
        for name, result in results.items():
            rows.append([name, f"{result['audio_seconds']:.0f}", f"{result['file_mb']:.0f}", f"{result['decoded_mb']:.0f}",
                         f"{result['peak_rss_mb']:.0f}", f"{result['wall_s']:.0f}"])
    table = markdown_table(["eval.py on", "audio s", "file MB (FLAC)", "decoded MB", "peak RSS MB", "wall s"], rows)
    print(table)
    print(f"peak above the reference run: {growth:.0f} MB = {ratio:.3f}x the decoded recording (goal < 0.25x); "
          f"whole process: {long['peak_rss_mb'] / long['decoded_mb']:.3f}x")
    save("eval_memory", {"hours": args.hours, "chunk_length_s": args.chunk_length_s, "results": results,
                         "growth_mb": growth, "ratio": ratio, "table": table})


if __name__ == "__main__":
    main()
