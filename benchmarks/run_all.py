#!/usr/bin/env python
"""`make bench`: every benchmark with the settings below, then one table of ratios
(benchmarks/results/summary_<cpu|gpu>.md). Each benchmark also writes its own JSON with the machine and spreads."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from common import RESULTS, device_tag, load_json, markdown_table, print_machine

HERE = Path(__file__).resolve().parent
RUNS = [
    ("training_speed.py", ["--model", "tiny", "--utterances", "64", "--repeats", "2"]),
    ("training_speed.py", ["--model", "base", "--utterances", "16", "--repeats", "1", "--no_bf16"]),
    ("optimizer_memory.py", ["--model", "base"]),
    ("eval_speed.py", ["--model", "tiny", "--short", "40", "--long", "2", "--repeats", "2"]),
    ("eval_speed.py", ["--model", "base", "--short", "40", "--long", "1", "--repeats", "1"]),
    ("decoding.py", ["--utterances", "100", "--repeats", "3"]),
    ("flops.py", ["--models", "base,tiny"]),
]


def main() -> None:
    print_machine()
    for script, args in RUNS:
        started = time.perf_counter()
        print(f"\n== {script} {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *args], check=True, cwd=HERE)
        print(f"({time.perf_counter() - started:.0f} s)", flush=True)
    tag = device_tag()
    rows = []
    for model in ("tiny", "base"):
        data = load_json(RESULTS / f"training_speed_{model}_{tag}.json")["results"]
        ours = data["ours (duration batches, fused AdamW, SDPA)"]
        rows.append([f"training throughput ({model})", "ours / reference audio s per s", f"{ours['speedup']:.2f}x",
                     ">= 1.5x", f"peak memory {ours['memory_ratio']:.2f}x"])
    memory = load_json(RESULTS / f"optimizer_memory_base_{tag}.json")
    rows.append(["optimizer state (base)", "AdamW8bit / AdamW bytes", f"{memory['state_ratio']:.2f}x", "<= 0.3x", ""])
    for model in ("tiny", "base"):
        data = load_json(RESULTS / f"eval_speed_{model}_{tag}.json")["results"]
        for subset, label in (("test", "short clips"), ("long", "long recordings")):
            if subset in data:
                r = data[subset]
                rows.append([f"eval RTFx ({model}, {label})", "ours / pipeline RTFx", f"{r['speedup']:.2f}x", ">= 3x",
                             f"identical texts {r['identical_texts']}/{r['utterances']}"])
    decoding = load_json(RESULTS / f"decoding_{tag}.json")["results"]
    for r in decoding:
        if r["engine"] == "flashlight":
            pyctc = next(p for p in decoding if p["engine"] == "pyctcdecode" and p["beam"] == r["beam"])
            rows.append([f"decoding (beam {r['beam']})", "flashlight / pyctcdecode speed", 
                         f"{r['speedup_vs_pyctcdecode']:.1f}x", ">= 3x at equal WER",
                         f"WER {r['wer']:.4f} vs {pyctc['wer']:.4f}"])
    flops = load_json(RESULTS / f"flops_{tag}.json")
    for model, r in flops["results"].items():
        rows.append([f"forward FLOP/s ({model})", "achieved / measured matmul peak", f"{r['fraction_of_matmul_peak']:.0%}",
                     "(the limit)", f"{r['achieved_gflops']:.1f} of {flops['matmul_peak_gflops']:.0f} GFLOP/s"])
    table = markdown_table(["benchmark", "ratio", "measured", "goal", "notes"], rows)
    (RESULTS / f"summary_{tag}.md").write_text(table + "\n", encoding="utf-8")
    print("\n" + table)


if __name__ == "__main__":
    main()
