#!/usr/bin/env python
"""Where the time goes: one eval.py run and a few training steps under cProfile, for the tiny and base shapes,
split into the stages issue-sized work is about.

eval.py (as a participant runs it, on a Common-Voice-style folder of mp3 clips at 48 kHz): start-up imports,
model and decoder loading, dataset loading, audio decoding and resampling, feature extraction and padding,
the forward pass, CTC decoding, writing the result files. Training (the script, fixed batches of 8): data
preparation before the first step, then per step the collator (feature extraction, padding, labels), forward,
backward and the optimizer.

Each stage is the cumulative time of the functions that do it (cProfile counts a recursive call once);
"other" is the rest of the wall time. Writes benchmarks/results/profile_<device>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, device_tag, markdown_table, print_machine, save

from robust_speech.model.random_models import MODEL_SHAPES, save_random_model

# stage -> (file part, function name) pairs whose cumulative times add up to it (none of them inside another).
EVAL_STAGES = {
    "model + decoder loading": [("inference/loading.py", "load_for_inference")],
    "dataset loading": [("data/sources.py", "load_speech_split")],
    "audio decoding + resampling": [("data/preprocess.py", "decode_audio")],
    "feature extraction + padding": [("feature_extraction_wav2vec2.py", "__call__"),
                                     ("feature_extraction_seamless_m4t.py", "__call__"),
                                     ("model/waveform_inputs.py", "waveform_inputs")],
    "forward pass": [("torch/nn/modules/module.py", "_wrapped_call_impl")],
    "CTC decoding": [("inference/decoding.py", "decode_batch")],
    "writing result files": [("eval.py", "log_results")],
}
TRAIN_STAGES = {
    "data preparation (before step 1)": [("data/prepare.py", "prepare_datasets")],
    "collator: features, padding, labels": [("training/batching.py", "__call__")],
    "forward": [("torch/nn/modules/module.py", "_wrapped_call_impl")],
    "backward": [("torch/_tensor.py", "backward")],
    "optimizer step": [("torch/optim/optimizer.py", "wrapper")],
}


def stage_times(profile: Path, stages: dict, wall: float) -> dict[str, float]:
    stats = pstats.Stats(str(profile)).stats
    times = {}
    for stage, functions in stages.items():
        total = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
            if any(filename.replace("\\", "/").endswith(part) and name == function for part, function in functions):
                total += cumulative
        times[stage] = total
    times["other (imports, start-up, Python overhead)"] = max(0.0, wall - sum(times.values()))
    return times


def profiled(argv: list[str], output: Path, cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(output), *argv], cwd=cwd, capture_output=True,
                            text=True, env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                                            "PATH": f"{Path(sys.executable).parent}", "HOME": str(Path.home())})
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def table(times: dict[str, float], wall: float) -> str:
    rows = [[stage, f"{seconds:.2f}", f"{seconds / wall:.0%}"] for stage, seconds in times.items()]
    return markdown_table(["stage", "seconds", "share"], rows + [["wall", f"{wall:.2f}", "100%"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="tiny,base")
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print_machine()
    from robust_speech.audio.decode import audio_info
    from robust_speech.data.synth import SynthConfig, cached_corpus

    corpus = cached_corpus(SynthConfig(languages=("en",), train_size=args.clips, dev_size=2, test_size=args.clips,
                                       lm_sentences=0, speakers=6, seed=7), progress=True)
    audio_seconds = sum(audio_info(str(corpus.clips_dir("en") / row["path"])).duration
                        for row in corpus.rows("en", "test"))
    letters = "abcdefghijklmnopqrstuvwxyz'"
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "|": 2, **{c: 3 + i for i, c in enumerate(letters)}}
    results, sections = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as work:
        work = Path(work)
        for shape in args.shapes.split(","):
            model = save_random_model(work / f"model_{shape}", vocabulary, shape)
            out = work / f"eval_{shape}"
            out.mkdir()
            wall = profiled([str(ROOT / "eval.py"), "--model_id", str(model), "--dataset", str(corpus.root), "--config",
                             "en", "--split", "test"], work / f"eval_{shape}.prof", out)
            eval_times = stage_times(work / f"eval_{shape}.prof", EVAL_STAGES, wall)
            config = work / f"config_{shape}.json"
            config.write_text(json.dumps(MODEL_SHAPES[shape]), encoding="utf-8")
            train_argv = [str(ROOT / "run_speech_recognition_ctc.py"), "--dataset_name", str(corpus.root),
                          "--dataset_config_name", "en", "--train_split_name", "train", "--model_config_json", str(config),
                          "--output_dir", str(work / f"train_{shape}"), "--do_train", "--max_steps", str(args.steps),
                          "--per_device_train_batch_size", "8", "--eval_strategy", "no", "--save_strategy", "no",
                          "--report_to", "none", "--disable_tqdm", "true", "--mask_time_prob", "0.0",
                          "--freeze_feature_encoder", "false", "--overwrite_output_dir", "--dataloader_num_workers", "0"]
            train_wall = profiled(train_argv, work / f"train_{shape}.prof", work)
            train_times = stage_times(work / f"train_{shape}.prof", TRAIN_STAGES, train_wall)
            results[shape] = {"eval": {"wall_s": wall, "audio_s": audio_seconds, "stages_s": eval_times},
                              "train": {"wall_s": train_wall, "steps": args.steps, "stages_s": train_times}}
            section = (f"## {shape} shape\n\neval.py over {len(corpus.rows('en', 'test'))} clips ({audio_seconds:.0f} s of "
                       f"48 kHz mp3), greedy:\n\n{table(eval_times, wall)}\n\nTraining, {args.steps} steps of 8 clips:\n\n"
                       f"{table(train_times, train_wall)}\n")
            print(section)
            sections.append(section)
    save("profile", {"clips": args.clips, "results": results})
    (RESULTS / f"profile_{device_tag()}.md").write_text(
        "# Where the time goes (`python benchmarks/profile_stages.py`)\n\n" + "\n".join(sections), encoding="utf-8")


if __name__ == "__main__":
    main()
