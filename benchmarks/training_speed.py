#!/usr/bin/env python
"""Training throughput and peak memory: our recipe against the reference recipe's behaviour, same model, data,
effective batch and work (one epoch over the same utterances), each run in its own process.

- reference: fixed batches of --batch_size utterances padded to the longest, group_by_length, plain AdamW
  (`adamw_torch`), eager attention, transformers' Conv1d encoder — what the original run_speech_recognition_ctc.py
  does;
- ours: duration-bucketed batches of the same mean audio per batch (no padding waste), fused AdamW, SDPA
  attention, the channels-last conv encoder on the CPU; and ours + bf16 autocast (reported even when it is
  slower, as on CPUs without bf16 units).

Prints audio seconds trained per second (median/min/max over --repeats) and peak RSS, with the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, markdown_table, peak_memory, print_machine, save

from robust_speech.model.random_models import MODEL_SHAPES

# Runs one training in this process and prints its numbers; the parent reads the last line.
CHILD = """
import json, resource, sys, torch
import robust_speech.training.run as training
code = training.main(json.loads(sys.argv[1]), script="benchmark")
gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
print(json.dumps({"code": code, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_gpu_mb": gpu}))
"""


def run(argv: list[str]) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(argv)], capture_output=True, text=True,
                            cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"training failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODEL_SHAPES), default="tiny")
    parser.add_argument("--utterances", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no_bf16", action="store_true")
    args = parser.parse_args()
    print_machine()

    from robust_speech.data.synth import SynthConfig, cached_corpus

    corpus = cached_corpus(SynthConfig(languages=("en",), train_size=args.utterances, dev_size=2, test_size=2,
                                       lm_sentences=0, speakers=6, seed=5), progress=True)
    from robust_speech.audio.decode import audio_info

    durations = [audio_info(str(corpus.clips_dir("en") / row["path"])).duration for row in corpus.rows("en", "train")]
    audio_seconds = sum(durations)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as work:
        config = Path(work) / "config.json"
        config.write_text(json.dumps(MODEL_SHAPES[args.model]), encoding="utf-8")
        common = ["--dataset_name", str(corpus.root), "--dataset_config_name", "en", "--train_split_name", "train",
                  "--model_config_json", str(config), "--do_train", "--num_train_epochs", "1", "--eval_strategy", "no",
                  "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--seed", "3",
                  "--mask_time_prob", "0.0", "--dataloader_num_workers", "0", "--freeze_feature_encoder", "false",
                  "--learning_rate", "1e-4", "--overwrite_output_dir"]
        mean_batch_seconds = args.batch_size * audio_seconds / len(durations)
        variants = {
            "reference (fixed batches, group_by_length, adamw_torch, eager)": [
                "--per_device_train_batch_size", str(args.batch_size), "--group_by_length",
                "--length_column_name", "input_length", "--optim", "adamw_torch", "--attn_implementation", "eager",
                "--channels_last_encoder", "false"],
            "ours (duration batches, fused AdamW, SDPA)": [
                "--max_batch_duration_s", f"{mean_batch_seconds:.2f}"],
        }
        if not args.no_bf16:
            variants["ours + bf16"] = [*variants["ours (duration batches, fused AdamW, SDPA)"], "--bf16"]
        run([*common, "--output_dir", str(Path(work) / "warm"), "--max_steps", "1", *variants[next(iter(variants))]])
        results = {}
        for name, flags in variants.items():
            speeds, peaks = [], []
            for repeat in range(args.repeats):
                output = Path(work) / f"run{len(results)}_{repeat}"
                measured = run([*common, "--output_dir", str(output), *flags])
                runtime = json.loads((output / "train_results.json").read_text())["train_runtime"]
                speeds.append(audio_seconds / runtime)
                peaks.append(peak_memory(measured))
            results[name] = {"audio_s_per_s": statistics.median(speeds), "min": min(speeds), "max": max(speeds),
                             "peak_memory_mb": max(peaks), "repeats": args.repeats,
                             "memory": "GPU" if measured["peak_gpu_mb"] is not None else "RSS"}
    reference = results[next(iter(results))]
    rows = []
    for name, result in results.items():
        result["speedup"] = result["audio_s_per_s"] / reference["audio_s_per_s"]
        result["memory_ratio"] = result["peak_memory_mb"] / reference["peak_memory_mb"]
        rows.append([name, f"{result['audio_s_per_s']:.1f} (min {result['min']:.1f}, max {result['max']:.1f})",
                     f"{result['speedup']:.2f}x", f"{result['peak_memory_mb']:.0f} MB ({result['memory']})",
                     f"{result['memory_ratio']:.2f}x"])
    table = markdown_table(["recipe", "audio s trained / s", "speed-up", "peak memory", "memory"], rows)
    print(f"model: {args.model}, {len(durations)} utterances ({audio_seconds:.0f} s of audio), one epoch, "
          f"batch {args.batch_size} (ours: {mean_batch_seconds:.1f} s of audio per batch)")
    print(table)
    save(f"training_speed_{args.model}", {"model": args.model, "utterances": len(durations),
                                          "audio_seconds": audio_seconds, "results": results, "table": table})


if __name__ == "__main__":
    main()
