#!/usr/bin/env python
"""`make bench`: every benchmark with the settings below, then one table of ratios
(benchmarks/results/summary_<cpu|gpu>.md). Each benchmark also writes its own JSON with the machine and spreads.

`--device cuda` (what benchmarks/gpu.sh runs) measures the XLS-R 300M shape the challenge fine-tunes, with bf16,
instead of the tiny and base shapes a 2-core CPU can afford."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import RESULTS, device_tag, load_json, markdown_table, print_machine

HERE = Path(__file__).resolve().parent
RUNS = {
    "cpu": [
        ("training_speed.py", ["--model", "tiny", "--utterances", "64", "--repeats", "2"]),
        ("training_speed.py", ["--model", "base", "--utterances", "16", "--repeats", "1", "--no_bf16"]),
        ("optimizer_memory.py", ["--model", "base"]),
        ("eval_speed.py", ["--model", "tiny", "--short", "40", "--long", "2", "--repeats", "5"]),
        # bf16 beside float32: where the CPU has bf16 units (AMX, AVX512-BF16) it is the fast path for this shape.
        ("eval_speed.py", ["--model", "base", "--short", "40", "--long", "1", "--repeats", "3", "--bf16"]),
        ("decoding.py", ["--utterances", "100", "--repeats", "3"]),
        ("flops.py", ["--models", "base,tiny"]),
        ("eval_memory.py", ["--hours", "3"]),
    ],
    "cuda": [
        ("training_speed.py", ["--model", "base", "--utterances", "128", "--batch_size", "16", "--repeats", "2"]),
        ("training_speed.py", ["--model", "xlsr300m", "--utterances", "128", "--batch_size", "16", "--repeats", "2"]),
        ("optimizer_memory.py", ["--model", "xlsr300m", "--device", "cuda"]),
        ("eval_speed.py", ["--model", "base", "--short", "200", "--long", "4", "--repeats", "2", "--device", "cuda",
                           "--bf16"]),
        ("eval_speed.py", ["--model", "xlsr300m", "--short", "200", "--long", "4", "--repeats", "2", "--device",
                           "cuda", "--bf16"]),
        ("decoding.py", ["--utterances", "100", "--repeats", "3"]),
        ("flops.py", ["--models", "xlsr300m,base", "--device", "cuda"]),
    ],
}
MODELS = {"cpu": {"training": ("tiny", "base"), "optimizer": "base", "eval": ("tiny", "base"), "eval_memory": True},
          "cuda": {"training": ("base", "xlsr300m"), "optimizer": "xlsr300m", "eval": ("base", "xlsr300m"),
                   "eval_memory": False}}


HEADER = ["benchmark", "ratio", "measured", "goal", "notes"]


def summary_rows(device: str, tag: str, results: Path = RESULTS) -> list[list[str]]:
    """The summary's rows, read from the JSON the benchmarks wrote into `results` (`tag`: cpu or gpu): each
    ratio as the benchmark measured it, its goal, and the numbers that qualify it."""
    models = MODELS[device]
    rows = []
    for model in models["training"]:
        data = load_json(results / f"training_speed_{model}_{tag}.json")["results"]
        for name, label in (("ours (duration batches, fused AdamW, SDPA)", ""), ("ours + bf16", ", bf16")):
            if name in data:
                ours = data[name]
                rows.append([f"training throughput ({model}{label})", "ours / reference audio s per s",
                             f"{ours['speedup']:.2f}x", ">= 1.5x", f"peak memory {ours['memory_ratio']:.2f}x"])
    memory = load_json(results / f"optimizer_memory_{models['optimizer']}_{tag}.json")
    rows.append([f"optimizer state ({models['optimizer']})", "AdamW8bit / AdamW bytes", f"{memory['state_ratio']:.2f}x",
                     "<= 0.3x", ""])
    for model in models["eval"]:
        data = load_json(results / f"eval_speed_{model}_{tag}.json")["results"]
        for subset, label in (("test", "short clips"), ("long", "long recordings")):
            if subset in data:
                r = data[subset]
                rows.append([f"eval RTFx ({model}, {label})", "ours / pipeline RTFx", f"{r['speedup']:.2f}x", ">= 3x",
                             f"identical texts {r['identical_texts']}/{r['utterances']}"])
                if "ours_bf16" in r:
                    rows.append([f"eval RTFx ({model}, {label}, bf16)", "ours bf16 / pipeline RTFx",
                                 f"{r['speedup_bf16']:.2f}x", ">= 3x", f"identical texts "
                                 f"{r['ours_bf16']['identical_texts']}/{r['utterances']}; WER {r['ours_bf16']['wer']:.4f} "
                                 f"vs {r['pipeline']['wer']:.4f}"])
    decoding = load_json(results / f"decoding_{tag}.json")["results"]
    for r in decoding:
        if r["engine"] == "flashlight":
            pyctc = next(p for p in decoding if p["engine"] == "pyctcdecode" and p["beam"] == r["beam"])
            rows.append([f"decoding (beam {r['beam']})", "flashlight / pyctcdecode speed",
                         f"{r['speedup_vs_pyctcdecode']:.1f}x", ">= 3x at equal WER",
                         f"WER {r['wer']:.4f} vs {pyctc['wer']:.4f}"])
    flops = load_json(results / f"flops_{tag}.json")
    for model, r in flops["results"].items():
        rows.append([f"forward FLOP/s ({model})", "achieved / measured matmul peak", f"{r['fraction_of_matmul_peak']:.0%}",
                     "(the limit)", f"{r['achieved_gflops']:.1f} of {flops['matmul_peak_gflops']:.0f} GFLOP/s"])
    if models["eval_memory"]:
        memory = load_json(results / f"eval_memory_{tag}.json")
        reference, long = memory["results"].values()
        rows.append([f"eval.py peak memory ({memory['hours']:g}-hour recording, chunked)",
                     "peak RSS above a 6-minute run / decoded size", f"{memory['ratio']:.2f}x", "< 0.25x",
                     f"{long['peak_rss_mb']:.0f} vs {reference['peak_rss_mb']:.0f} MB; whole process "
                     f"{long['peak_rss_mb'] / long['decoded_mb']:.2f}x"])
    return rows


def write_summary(device: str, tag: str, results: Path = RESULTS) -> str:
    """`results/summary_<tag>.md`: the rows as one markdown table (returned too)."""
    table = markdown_table(HEADER, summary_rows(device, tag, results))
    (results / f"summary_{tag}.md").write_text(table + "\n", encoding="utf-8")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=sorted(RUNS), default="cpu")
    parser.add_argument("--summary_only", action="store_true", help="rebuild the table from the JSON already there")
    args = parser.parse_args()
    device = args.device
    print_machine()
    if device == "cuda" and device_tag() != "gpu":
        raise SystemExit("--device cuda: torch sees no GPU here (torch.cuda.is_available() is False)")
    for script, flags in [] if args.summary_only else RUNS[device]:
        started = time.perf_counter()
        print(f"\n== {script} {' '.join(flags)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *flags], check=True, cwd=HERE)
        print(f"({time.perf_counter() - started:.0f} s)", flush=True)
    table = write_summary(device, device_tag())
    print("\n" + table)


if __name__ == "__main__":
    main()
