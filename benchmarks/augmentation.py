#!/usr/bin/env python
"""What multi-condition training costs: each condition's time per example, against the demo model's training
step on the same clips; and the step rate of clean training, on-the-fly augmentation and pre-rendered copies.

1. Per condition: `Augmenter` with that condition alone at probability 1 over the clips (demo-like espeak-ng
   speech, 16 kHz), in ms per example and per batch of 8, and that batch cost as a share of one clean training
   step of the demo's model (forward + backward + optimizer step, batch 8, measured here in the same run).
2. Step rate: the training script on the same clips, the demo's model and recipe, for --steps steps:
   clean (feature cache on), the recipe on the fly (in the collator: the cache cannot work), and the recipe
   pre-rendered (--augment_copies 3, rendered first and timed apart).

Writes benchmarks/results/augmentation_<device>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS, ROOT, markdown_table, print_machine, save, spread, timed

from robust_speech.audio.augment import AUGMENTATIONS, Augmenter, AugmentOptions
from robust_speech.demo.recipe import AUGMENT, AUGMENT_RANGES

CHILD = """
import json, sys, time
import robust_speech.training.run as training
started = time.perf_counter()
code = training.main(json.loads(sys.argv[1]), script="benchmark")
print(json.dumps({"code": code, "wall_s": time.perf_counter() - started}))
"""


def clips(count: int):
    from robust_speech.audio.decode import load_audio
    from robust_speech.data.synth import SynthConfig, cached_corpus

    corpus = cached_corpus(SynthConfig(languages=("en",), train_size=count, dev_size=2, test_size=2, lm_sentences=0,
                                       speakers=12, voices="wide", speed_wpm=(110, 220), pitch=(0, 99),
                                       word_gap=(0, 6), seed=9), progress=True)
    return corpus, [load_audio(corpus.clips_dir("en") / row["path"], 16000) for row in corpus.rows("en", "train")]


def clean_step_seconds(audios, repeats: int) -> dict:
    """One training step of the demo's model on a batch of 8 of `audios`, features precomputed (as the feature
    cache gives them)."""
    import torch
    from transformers import AutoConfig, AutoModelForCTC, SeamlessM4TFeatureExtractor

    from robust_speech.demo.pipeline import MODEL_CONFIG

    config = AutoConfig.for_model(**{**MODEL_CONFIG, "vocab_size": 40, "pad_token_id": 0, "ctc_loss_reduction": "mean"})
    model = AutoModelForCTC.from_config(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    extractor = SeamlessM4TFeatureExtractor()
    batch = extractor(audios[:8], sampling_rate=16000, padding=True, return_tensors="pt", return_attention_mask=True)
    labels = torch.randint(1, 40, (8, 30))

    def step():
        optimizer.zero_grad()
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()

    step()
    stats, _ = timed(step, repeats)
    return stats


def per_condition(audios, step: dict, repeats: int) -> tuple[list[list[str]], dict]:
    rows, results = [], {}
    mean_seconds = float(np.mean([audio.size for audio in audios])) / 16000
    for kind in AUGMENTATIONS:
        augmenter = Augmenter(AugmentOptions({kind: 1.0}, seed=1))
        augmenter.apply(audios[0], np.random.default_rng(0), audios[1:4])  # the room bank is simulated once, first

        def run_all(augmenter=augmenter):
            for index, audio in enumerate(audios):
                augmenter.apply(audio, np.random.default_rng(index), audios[:index] + audios[index + 1:index + 8])

        stats, _ = timed(run_all, repeats)
        per_example = stats["median_s"] / len(audios)
        results[kind] = {"per_example_ms": per_example * 1000, "per_batch_of_8_ms": 8 * per_example * 1000,
                         "share_of_clean_step": 8 * per_example / step["median_s"], "stats": stats}
        rows.append([kind, f"{per_example * 1000:.1f}", f"{8 * per_example * 1000:.0f}",
                     f"{8 * per_example / step['median_s']:.0%}"])
    return rows, {"mean_clip_s": mean_seconds, "conditions": results}


def step_rates(corpus, steps: int) -> dict:
    from robust_speech.demo.pipeline import MODEL_CONFIG

    with tempfile.TemporaryDirectory(prefix="bench-augment-") as work:
        config = Path(work) / "config.json"
        config.write_text(json.dumps(MODEL_CONFIG), encoding="utf-8")
        common = ["--dataset_name", str(corpus.root), "--dataset_config_name", "en", "--train_split_name", "train",
                  "--model_config_json", str(config), "--do_train", "--max_steps", str(steps), "--eval_strategy", "no",
                  "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--seed", "3",
                  "--per_device_train_batch_size", "8", "--learning_rate", "1e-3", "--dataloader_num_workers", "0",
                  "--freeze_feature_encoder", "false", "--overwrite_output_dir"]
        recipe = ["--augment", AUGMENT, *AUGMENT_RANGES]
        variants = {"clean (feature cache)": [], "recipe on the fly": recipe,
                    "recipe pre-rendered (3 copies)": [*recipe, "--augment_copies", "3"]}
        results = {}
        for name, flags in variants.items():
            output = Path(work) / f"run{len(results)}"
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, json.dumps([*common, "--output_dir", str(output), *flags])],
                                  capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                raise SystemExit(f"training failed:\n{done.stderr[-3000:]}")
            train = json.loads((output / "train_results.json").read_text())
            rendered = [line for line in done.stdout.splitlines() if line.startswith("multi-condition:")]
            results[name] = {"steps_per_s": steps / train["train_runtime"], "train_runtime_s": train["train_runtime"],
                             "process_wall_s": time.perf_counter() - started, "render_line": rendered[0] if rendered else None}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    print_machine()
    corpus, audios = clips(args.clips)
    step = clean_step_seconds(audios, args.repeats * 5)
    print(f"clean training step of the demo model, batch 8: {spread(step, 1000, 'ms')}")
    rows, costs = per_condition(audios, step, args.repeats)
    cost_table = markdown_table(["condition", "ms per example", "ms per batch of 8", "share of a clean step"], rows)
    print(cost_table)
    rates = step_rates(corpus, args.steps)
    clean = rates["clean (feature cache)"]["steps_per_s"]
    rate_rows = [[name, f"{result['steps_per_s']:.2f}", f"{result['steps_per_s'] / clean:.2f}x",
                  result["render_line"] or ""] for name, result in rates.items()]
    rate_table = markdown_table(["training data", "steps/s", "vs clean", "rendering"], rate_rows)
    print(rate_table)
    save("augmentation", {"clips": len(audios), "clean_step": step, **costs, "step_rates": rates,
                          "cost_table": cost_table, "rate_table": rate_table})
    from common import device_tag

    (RESULTS / f"augmentation_{device_tag()}.md").write_text(
        f"# Multi-condition training cost (`python benchmarks/augmentation.py`)\n\n{len(audios)} clips of "
        f"{costs['mean_clip_s']:.1f} s on average; clean training step of the demo model, batch 8: "
        f"{spread(step, 1000, 'ms')}.\n\n{cost_table}\n\nStep rate over {args.steps} steps of the demo model and "
        f"recipe (`{AUGMENT}`):\n\n{rate_table}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
