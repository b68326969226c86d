#!/usr/bin/env python
"""A language the model has never heard, four ways, with the same small data and the same budget: full
fine-tuning (the CTC head carried over by character), MMS-style attention adapters, LoRA, and training from
scratch (random init, the same architecture). Side by side: WER/CER on the held-out test split, trainable
parameters, peak RSS of the training process (each way in a process of its own), step time and wall time.

Design choices:
- The budget is optimizer steps (`--steps`), the same for every way, never wall-clock: on a shared machine a
  time budget gives each way a different number of steps. Wall time is reported beside it.
- The data: `robust-speech synth`'s corpus for `--language` (Polish by default; none of the demo's languages),
  `--train_size` training clips, the test split (held-out voices, unseen sentences) scored once at the end.
- The recipe is the demo's (its learning rate, batches of padded audio seconds and constant-after-warm-up
  schedule, from robust_speech/demo/recipe.py), trained through `training.run.train(plan)`. The warm-up is the
  demo's, capped at a tenth of `--steps`; adapters and LoRA train few parameters and take `--few_parameter_lr`
  (the MMS adapter example's rate, as docs/new_language.md advises).
- The starting point is `--pretrained DIR`, any model folder (the demo's trained model, a w2v-BERT-style
  encoder, for instance). transformers has attention adapters for wav2vec2 only: when the pretrained model has
  none, the adapter row is trained on `--adapter_base DIR` (a wav2vec2 folder) if given, else on a tiny wav2vec2
  trained here for `--adapter_base_steps` on the corpus's English, and says that it stands on another base;
  with `--adapter_base none` the row says "not supported by this architecture".
- `--xlsr_steps N` adds the XLS-R 300M shape (random init, robust_speech/model/random_models.py): N steps of
  each way on a few clips, for the trainable-parameter and peak-memory ratios against full fine-tuning.
- Every stage keeps its result in `--output_dir` (`<way>/result.json`): a re-run reuses finished stages.

Results: benchmarks/results/new_language_cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, markdown_table, peak_memory, print_machine, save

from robust_speech.model.random_models import MODEL_SHAPES

WAYS = ("full", "adapters", "lora", "scratch")
TITLES = {"full": "full fine-tuning (head carried over)", "adapters": "attention adapters", "lora": "LoRA",
          "scratch": "from scratch (random init)"}
NOT_SUPPORTED = "not supported by this architecture"

# Trains one way in this process and prints its numbers; the parent reads the last line.
CHILD = """
import json, resource, sys, time, torch
from robust_speech.training.plan import plan_from_fields
from robust_speech.training.run import train
fields = json.loads(sys.argv[1])
started = time.perf_counter()
result = train(plan_from_fields(**fields))
print(json.dumps({"wall_s": time.perf_counter() - started, "steps": result.steps,
                  "train_runtime_s": result.train_metrics.get("train_runtime"), "eval": result.eval_metrics,
                  "trainable": result.parameters.trainable, "total": result.parameters.total,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None}))
"""


def run_child(fields: dict, folder: Path) -> dict:
    """One training in a process of its own (its peak RSS is its own); kept as folder/result.json."""
    done = folder / "result.json"
    if done.exists():
        print(f"  {folder.name}: done before, reused")
        return json.loads(done.read_text(encoding="utf-8"))
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(fields)], capture_output=True, text=True,
                            cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{folder.name}: training failed:\n{result.stderr[-3000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    folder.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(measured, indent=2), encoding="utf-8")
    return measured


def way_fields(way: str, base: str, corpus_root: str, language: str, output: Path, args, *,
               evaluate: bool = True, max_train_samples: int | None = None) -> dict:
    """The training plan's fields for one way: the demo's recipe, `args.steps` optimizer steps."""
    from robust_speech.demo.recipe import LEARNING_RATE, MAX_BATCH_DURATION_S, WARMUP_STEPS

    steps = args.steps if max_train_samples is None else args.xlsr_steps
    model = {"model_name_or_path": base}
    if way == "scratch":
        model = {"config_name": base}  # the same architecture, randomly initialized
    elif way == "adapters":
        model.update(adapter_attn_dim=args.adapter_dim, target_lang=language)
    elif way == "lora":
        model["lora_rank"] = args.lora_rank
    few = way in ("adapters", "lora")
    data = {"dataset_name": corpus_root, "dataset_config_name": language, "train_split_name": "train",
            "max_train_samples": max_train_samples, "preprocessing_num_workers": 1}
    if evaluate:
        data["eval_split_name"] = "test"
    training = {"output_dir": str(output), "do_train": True, "do_eval": evaluate, "max_steps": steps,
                "learning_rate": args.few_parameter_lr if few else LEARNING_RATE,
                "warmup_steps": min(WARMUP_STEPS, steps // 10), "lr_scheduler_type": "constant_with_warmup",
                "seed": args.seed, "eval_strategy": "no", "save_strategy": "no", "report_to": "none",
                "disable_tqdm": True, "dataloader_num_workers": 0, "per_device_eval_batch_size": 4}
    recipe = {"overwrite_output_dir": True, "max_batch_duration_s": MAX_BATCH_DURATION_S}
    return {"model": model, "data": {k: v for k, v in data.items() if v is not None}, "training": training,
            "recipe": recipe}


def supports_adapters(folder: str) -> bool:
    from transformers import AutoConfig

    return hasattr(AutoConfig.from_pretrained(folder), "adapter_attn_dim")


def adapter_base(args, output: Path) -> tuple[str | None, str]:
    """The folder the adapter row starts from and what to say about it."""
    if supports_adapters(args.pretrained):
        return args.pretrained, "the same base as the other rows"
    if args.adapter_base == "none":
        return None, NOT_SUPPORTED
    if args.adapter_base:
        return args.adapter_base, f"another base: {args.adapter_base} (the pretrained model has no adapter layers)"
    folder = output / "adapter_base"
    if not (folder / "result.json").exists():
        from robust_speech.data.synth import SynthConfig, cached_corpus

        english = cached_corpus(SynthConfig(languages=("en",), train_size=args.adapter_base_clips, dev_size=2,
                                            test_size=2, lm_sentences=0, speakers=6, seed=args.seed))
        config = output / "adapter_base_config.json"
        output.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps(MODEL_SHAPES[args.adapter_base_shape]), encoding="utf-8")
        fields = way_fields("full", "", str(english.root), "en", folder, args, evaluate=False)
        fields["model"] = {"model_config_json": str(config)}
        fields["training"]["max_steps"] = args.adapter_base_steps
        run_child(fields, folder)
    return str(folder), (f"another base: a {args.adapter_base_shape} wav2vec2 trained {args.adapter_base_steps} "
                         f"steps on {args.adapter_base_clips} English clips here (the pretrained model has no "
                         "adapter layers)")


def new_language_rows(args, output: Path, corpus_root: str) -> dict:
    """The four ways on the new language, each from its starting point."""
    adapter_folder, adapter_note = adapter_base(args, output)
    rows = {}
    for way in WAYS:
        base = adapter_folder if way == "adapters" else args.pretrained
        if base is None:
            rows[way] = {"not_supported": NOT_SUPPORTED}
            continue
        print(f"{TITLES[way]}: {args.steps} steps from {base}")
        rows[way] = run_child(way_fields(way, base, corpus_root, args.language, output / way, args), output / way)
        rows[way]["base"] = base
    rows["adapters"]["note"] = adapter_note
    return rows


def xlsr_rows(args, output: Path, corpus_root: str) -> dict:
    """A few steps of each way on the XLS-R 300M shape (random init): trainable parameters and peak memory."""
    from robust_speech.model.random_models import save_random_model
    from robust_speech.text.vocabulary import PAD_TOKEN, UNK_TOKEN, WORD_DELIMITER

    base = output / f"{args.xlsr_shape}_base"
    if not (base / "config.json").exists():
        letters = "abcdefghijklmnopqrstuvwxyz'"
        vocabulary = {PAD_TOKEN: 0, UNK_TOKEN: 1, WORD_DELIMITER: 2, **{c: 3 + i for i, c in enumerate(letters)}}
        save_random_model(base, vocabulary, args.xlsr_shape, seed=args.seed)
    rows = {}
    for way in ("full", "adapters", "lora"):  # from scratch trains what full fine-tuning trains
        folder = output / f"{args.xlsr_shape}_{way}"
        print(f"{args.xlsr_shape} shape, {TITLES[way]}: {args.xlsr_steps} steps")
        rows[way] = run_child(way_fields(way, str(base), corpus_root, args.language, folder, args, evaluate=False,
                                         max_train_samples=args.xlsr_clips), folder)
    return rows


def tables(rows: dict, xlsr: dict | None, shape: str = "xlsr300m") -> str:
    full = rows["full"]
    lines = []
    for way in WAYS:
        row = rows[way]
        if "not_supported" in row:
            lines.append([TITLES[way], NOT_SUPPORTED, "", "", "", "", ""])
            continue
        step = (row["train_runtime_s"] or row["wall_s"]) / max(row["steps"], 1)
        lines.append([TITLES[way], f"{row['eval'].get('wer', float('nan')):.3f}",
                      f"{row['eval'].get('cer', float('nan')):.3f}",
                      f"{row['trainable']:,} ({row['trainable'] / full['trainable']:.3f}x)",
                      f"{peak_memory(row):.0f} MB ({peak_memory(row) / peak_memory(full):.2f}x)", f"{step:.2f} s",
                      f"{row['wall_s']:.0f} s ({row['steps']} steps)"])
    text = markdown_table(["way", "test WER", "test CER", "trainable parameters (x full)", "peak memory (x full)",
                           "step time", "wall time"], lines)
    if xlsr:
        xfull = xlsr["full"]
        text += f"\n\nThe {shape} shape (random init, a few steps on a few clips):\n\n" + markdown_table(
            ["way", "trainable parameters (x full)", "peak memory (x full)"],
            [[TITLES[way], f"{row['trainable']:,} ({row['trainable'] / xfull['trainable']:.4f}x)",
              f"{peak_memory(row):.0f} MB ({peak_memory(row) / peak_memory(xfull):.2f}x)"] for way, row in xlsr.items()])
    return text


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", required=True, help="the model folder every way starts from (e.g. the "
                        "demo's trained model, demo_output/models/en)")
    parser.add_argument("--adapter_base", default=None, help="a wav2vec2 folder for the adapter row when "
                        "--pretrained has no adapter layers (default: trained here); 'none': no adapter row")
    parser.add_argument("--adapter_base_shape", choices=sorted(MODEL_SHAPES), default="small",
                        help="the shape of the wav2vec2 trained here for the adapter row")
    parser.add_argument("--adapter_base_steps", type=int, default=4000, help="its training steps on English")
    parser.add_argument("--adapter_base_clips", type=int, default=1000, help="its English training clips")
    parser.add_argument("--language", default="pl", help="the new language (synth's pl or cs)")
    parser.add_argument("--steps", type=int, default=300, help="the budget: optimizer steps, the same for each way")
    parser.add_argument("--train_size", type=int, default=200, help="training clips of the new language")
    parser.add_argument("--test_size", type=int, default=40, help="held-out test clips")
    parser.add_argument("--few_parameter_lr", type=float, default=1e-3, help="learning rate of adapters and LoRA")
    parser.add_argument("--adapter_dim", type=int, default=16, help="attention adapter size (MMS's)")
    parser.add_argument("--lora_rank", type=int, default=8, help="LoRA rank")
    parser.add_argument("--xlsr_steps", type=int, default=0, help="steps of each way on the XLS-R 300M shape; 0: skip")
    parser.add_argument("--xlsr_shape", choices=sorted(MODEL_SHAPES), default="xlsr300m",
                        help="the shape of the --xlsr_steps rows (tiny: to check the stage quickly)")
    parser.add_argument("--xlsr_clips", type=int, default=2, help="training clips for the XLS-R 300M shape")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus and of training")
    parser.add_argument("--output_dir", default="new_language_work", help="stages kept here; a re-run reuses them")
    parser.add_argument("--results_name", default="new_language", help="results file name (benchmarks/results/)")
    return parser.parse_args(argv)


def markdown_report(args, rows: dict, table: str, argv) -> str:
    command = " ".join(["python benchmarks/new_language.py", *(sys.argv[1:] if argv is None else argv)])
    adapters = rows["adapters"].get("note") or rows["adapters"].get("not_supported")
    return (f"# A new language four ways ({args.language})\n\nBudget: {args.steps} optimizer steps for every way, "
            f"{args.train_size} training clips, {args.test_size} held-out test clips; the adapter row: {adapters}.\n"
            f"Machine: benchmarks/results/{args.results_name}_*.json `machine`.\n\n```\n{command}\n```\n\n{table}\n")


def main(argv=None) -> dict:
    args = parse_args(argv)
    print_machine()
    from robust_speech.data.synth import SynthConfig, cached_corpus

    output = Path(args.output_dir)
    corpus = cached_corpus(SynthConfig(languages=(args.language,), train_size=args.train_size, dev_size=2,
                                       test_size=args.test_size, lm_sentences=0, speakers=8, seed=args.seed))
    started = time.perf_counter()
    rows = new_language_rows(args, output, str(corpus.root))
    xlsr = xlsr_rows(args, output, str(corpus.root)) if args.xlsr_steps else None
    table = tables(rows, xlsr, args.xlsr_shape)
    print(table)
    data = {"settings": {k: v for k, v in vars(args).items() if k not in ("output_dir", "results_name")},
            "budget": f"{args.steps} optimizer steps for every way", "rows": rows, "xlsr300m": xlsr,
            "wall_s": time.perf_counter() - started, "table": table,
            "xlsr_shape": args.xlsr_shape}
    path = save(args.results_name, data)
    path.with_suffix(".md").write_text(markdown_report(args, rows, table, argv), encoding="utf-8")
    return data


if __name__ == "__main__":
    main()
