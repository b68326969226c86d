#!/usr/bin/env python
"""Where an unchunked forward pass stops scaling with the length of the recording, for a model shape.

    python benchmarks/long_audio.py --model tiny --lengths 30,60,120,240,480,960,1920
    python benchmarks/long_audio.py --model base --lengths 15,30,60,120,240

One recording of each length goes through eval.py's inference without chunking (`log_probs_batch`, the path
`./eval.py` takes without `--chunk_length_s`) and, as the reference, through the same engine chunked
(`--chunk_length_s 20`, stride 20/6 s on each side) at the longest length measured. The encoder's attention is
quadratic in the number of frames, so the unchunked cost per audio second grows with the length while the
chunked one stays flat. Reported per length: seconds, milliseconds per audio second, the ratio to the chunked
cost per audio second, and the process's peak RSS so far (lengths run in increasing order). A fit
`t = c + a*L + b*L^2` gives `a/b`, the length at which the quadratic part equals the linear one (the cost per
audio second has doubled). Lengths stop once one forward takes longer than `--max_seconds`.

Costs are CPU seconds of this process (`time.process_time`, all threads): on a machine whose cores are shared
with other work, wall time measures the neighbours as much as the model. Wall seconds are recorded too.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from common import markdown_table, print_machine, save

from robust_speech.model.random_models import MODEL_SHAPES, save_random_model

RATE = 16000
CHUNK_S = 20.0


def random_model(folder: Path, shape: str) -> Path:
    letters = "abcdefghijklmnopqrstuvwxyz'"
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "|": 2, **{c: 3 + i for i, c in enumerate(letters)}}
    return save_random_model(folder, vocabulary, shape)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def recording(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise with a slow envelope: the model's cost does not depend on what is said, only on the length."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * RATE)
    envelope = 0.05 + 0.2 * (1 + np.sin(np.arange(samples) / RATE * 2 * np.pi / 3.0))
    return (rng.normal(0, 1, samples) * envelope).astype(np.float32)


def fit_crossover(lengths: list[float], seconds: list[float]) -> dict:
    """Least-squares t = c + a*L + b*L^2; crossover a/b (seconds of audio) where b*L^2 equals a*L."""
    if len(lengths) < 3:
        return {"a": None, "b": None, "c": None, "crossover_s": None}
    design = np.stack([np.ones(len(lengths)), lengths, np.square(lengths)], axis=1)
    (c, a, b), *_ = np.linalg.lstsq(design, np.asarray(seconds), rcond=None)
    crossover = float(a / b) if b > 0 and a > 0 else None
    return {"a": float(a), "b": float(b), "c": float(c), "crossover_s": crossover}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODEL_SHAPES), default="tiny")
    parser.add_argument("--lengths", default="30,60,120,240,480", help="recording lengths in seconds, increasing")
    parser.add_argument("--max_seconds", type=float, default=120.0, help="stop after a forward takes this long")
    parser.add_argument("--repeats", type=int, default=3, help="runs per length (the fastest counts)")
    parser.add_argument("--repeat_below_s", type=float, default=10.0, help="repeat only forwards faster than this")
    parser.add_argument("--chunked_at_s", type=float, default=120.0, help="length of the chunked reference run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--summarize", action="store_true", help="only rebuild the summary from the JSON results")
    args = parser.parse_args()
    if args.summarize:
        write_summary()
        return
    print_machine()

    import torch

    from robust_speech.inference.transcribe import Transcriber, log_probs_batch
    from robust_speech.model.acoustic import load_acoustic_model

    lengths = [float(part) for part in args.lengths.split(",") if part.strip()]
    with tempfile.TemporaryDirectory() as folder:
        acoustic = load_acoustic_model(random_model(Path(folder) / "model", args.model), args.device)
    attention = acoustic.model.config._attn_implementation
    print(f"model {args.model}: hidden {acoustic.model.config.hidden_size}, {acoustic.model.config.num_hidden_layers} "
          f"layers, attention {attention}, {torch.get_num_threads()} threads")
    log_probs_batch(acoustic, [recording(10.0)])  # warm-up

    rows = []
    for length in lengths:
        audio = recording(length)
        seconds, wall = measure(lambda: log_probs_batch(acoustic, [audio]), args.repeats, args.repeat_below_s)
        rows.append({"length_s": length, "cpu_seconds": round(seconds, 3), "wall_seconds": round(wall, 3),
                     "ms_per_audio_s": round(1000 * seconds / length, 3), "peak_rss_mb": round(peak_rss_mb())})
        print(f"unchunked {length:>6.0f} s: {seconds:7.2f} CPU s ({wall:.2f} wall), {1000 * seconds / length:6.2f} CPU ms "
              f"per audio second, peak RSS {peak_rss_mb():.0f} MB", flush=True)
        if wall > args.max_seconds:
            print(f"stopping: one forward took over {args.max_seconds:.0f} s")
            break

    # The chunked cost per audio second does not depend on the length: measured on one recording.
    reference_s = min(rows[-1]["length_s"], args.chunked_at_s)
    chunked = Transcriber(acoustic, None, chunk_length_s=CHUNK_S)
    audio = recording(reference_s)
    chunked_seconds, chunked_wall = measure(lambda: chunked.log_probs([audio]), args.repeats, args.repeat_below_s)
    chunked_ms = 1000 * chunked_seconds / reference_s
    print(f"chunked ({CHUNK_S:g} s) {reference_s:.0f} s: {chunked_seconds:.2f} CPU s ({chunked_wall:.2f} wall), "
          f"{chunked_ms:.2f} CPU ms per audio second")
    for row in rows:
        row["vs_chunked"] = round(row["ms_per_audio_s"] / chunked_ms, 2)
    fit = fit_crossover([r["length_s"] for r in rows], [r["cpu_seconds"] for r in rows])
    doubled = next((r["length_s"] for r in rows if r["vs_chunked"] >= 2.0), None)
    memory = np.polyfit([r["length_s"] for r in rows], [r["peak_rss_mb"] for r in rows], 1)[0] if len(rows) > 1 else None
    print(markdown_table(["length s", "CPU s", "wall s", "CPU ms / audio s", "x chunked", "peak RSS MB"],
                         [[r["length_s"], r["cpu_seconds"], r["wall_seconds"], r["ms_per_audio_s"], r["vs_chunked"],
                           r["peak_rss_mb"]] for r in rows]))
    crossover = fit["crossover_s"]
    print(f"fit t = {fit['c']:.3g} + {fit['a']:.3g} L + {fit['b']:.3g} L^2: the quadratic part equals the linear one "
          f"at {crossover:.0f} s" if crossover else "fit: no quadratic growth within these lengths")
    print(f"first measured length at >= 2x the chunked cost per audio second: {doubled}")
    if memory is not None:
        print(f"peak RSS grows by about {memory:.1f} MB per audio second")
    result = {
        "model": args.model, "hidden_size": acoustic.model.config.hidden_size,
        "layers": acoustic.model.config.num_hidden_layers, "attention": attention, "device": args.device,
        "cost": "CPU seconds of the process (time.process_time)", "chunk_length_s": CHUNK_S,
        "chunked_at_s": reference_s, "chunked_ms_per_audio_s": round(chunked_ms, 3), "unchunked": rows, "fit": fit,
        "first_length_at_2x_chunked_s": doubled,
        "rss_mb_per_audio_s": round(float(memory), 2) if memory is not None else None,
    }
    save(f"long_audio_{args.model}", {**result, **derived(result)})
    write_summary()


def derived(result: dict) -> dict:
    """From the fit: the length at which the unchunked cost per audio second (a + b*L) is twice the chunked one,
    and what a two-hour recording would cost unchunked and chunked."""
    fit, chunked = result["fit"], result["chunked_ms_per_audio_s"] / 1000
    a, b = fit["a"], fit["b"]
    at_2x = (2 * chunked - a) / b if a is not None and b and b > 0 else None
    hours = 2 * 3600.0
    unchunked = fit["c"] + a * hours + b * hours**2 if a is not None else None
    rss = result.get("rss_mb_per_audio_s")
    return {
        "length_at_2x_chunked_fit_s": round(max(at_2x, 0.0), 1) if at_2x is not None else None,
        "two_hours_unchunked_cpu_h": round(unchunked / 3600, 2) if unchunked is not None else None,
        "two_hours_chunked_cpu_h": round(chunked * hours / 3600, 2),
        "two_hours_unchunked_rss_gb": round(rss * hours / 1024, 1) if rss is not None else None,
    }


def write_summary() -> Path:
    """benchmarks/results/long_audio_<device>.md from every long_audio_<shape>_<device>.json there."""
    from common import RESULTS, device_tag, load_json

    tag = device_tag()
    lines = [f"# Unchunked forward cost against recording length ({tag})", "",
             "CPU seconds of one forward pass over a recording of each length, per audio second, against the same "
             f"engine in {CHUNK_S:g} s chunks (stride {CHUNK_S / 6:.1f} s each side). Written by "
             "`benchmarks/long_audio.py`.", ""]
    for path in sorted(RESULTS.glob(f"long_audio_*_{tag}.json")):
        result = load_json(path)
        extra = derived(result)
        lines += [f"## {result['model']} (hidden {result['hidden_size']}, {result['layers']} layers, "
                  f"attention {result['attention']})", "",
                  f"chunked: {result['chunked_ms_per_audio_s']:.1f} CPU ms per audio second (at any length)", "",
                  markdown_table(["length s", "CPU s", "CPU ms / audio s", "x chunked", "peak RSS MB"],
                                 [[r["length_s"], r["cpu_seconds"], r["ms_per_audio_s"], r["vs_chunked"], r["peak_rss_mb"]]
                                  for r in result["unchunked"]]), "",
                  f"- fit t = {result['fit']['c']:.3g} + {result['fit']['a']:.3g} L + {result['fit']['b']:.3g} L^2 (CPU s)",
                  f"- unchunked costs 2x the chunked cost per audio second at {extra['length_at_2x_chunked_fit_s']} s "
                  f"(fit); first measured length at 2x: {result['first_length_at_2x_chunked_s']}",
                  f"- a two-hour recording: about {extra['two_hours_unchunked_cpu_h']} CPU hours unchunked (fit) against "
                  f"{extra['two_hours_chunked_cpu_h']} chunked; peak RSS grows {result['rss_mb_per_audio_s']} MB per "
                  f"audio second, about {extra['two_hours_unchunked_rss_gb']} GB for two hours unchunked", ""]
    path = RESULTS / f"long_audio_{tag}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {path}")
    return path


def measure(run, repeats: int, repeat_below_s: float) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the cheapest of up to `repeats` runs (long runs are not repeated)."""
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        best_cpu, best_wall = min(best_cpu, time.process_time() - cpu), min(best_wall, time.perf_counter() - wall)
        if best_wall > repeat_below_s:
            break
    return best_cpu, best_wall


if __name__ == "__main__":
    main()
