"""The demo's stages, each a call of the library as a user's command would make it: the real-world sets from the
corpus, training (`training.run.train`), the n-gram LM and its tuning (`lm.build.build`,
`evaluation.lm_tuning.tune_on_dataset`), eval.py's runs (`evaluation.engine.evaluate`) and robustness
(`evaluation.robustness.run_robustness`).

Each stage keeps what it wrote; a re-run reuses it unless the plan says `force`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.logs import LOGGER
from robust_speech.core.model_folder import DECODING_FILE
from robust_speech.demo.budget import TimeBudget
from robust_speech.demo.plan import DemoPlan
from robust_speech.demo.recipe import (
    AUGMENT_RANGE_FIELDS,
    CHUNK_LENGTH_S,
    ENGLISH_WEIGHT,
    FEATURE_CACHE_MB,
    LEARNING_RATE,
    LM_ALPHAS,
    LM_BEAM_WIDTHS,
    LM_BETAS,
    LM_ORDER,
    LM_TUNING_BUDGET_S,
    MAX_BATCH_DURATION_S,
    MODEL_CONFIG,
    ROBUSTNESS_RT60_S,
    ROBUSTNESS_SNR_DB,
    STRIDE_LENGTH_S,
    WARMUP_STEPS,
)
from robust_speech.evaluation.engine import evaluate
from robust_speech.evaluation.lm_tuning import TuneOptions, tune_on_dataset
from robust_speech.evaluation.options import EvalOptions, EvalSplit
from robust_speech.evaluation.robustness import ROBUSTNESS_FILE, RobustnessOptions, run_robustness
from robust_speech.inference.options import DecoderChoice
from robust_speech.lm.build import LMBuildOptions, build
from robust_speech.lm.ngram import NgramOptions
from robust_speech.training.model_card import set_card_language
from robust_speech.training.plan import TrainingPlan, plan_from_fields
from robust_speech.training.run import train as train_model

RESULTS_GLOB = "*_eval_results.txt"


def _stage(name: str, done: Path, force: bool) -> bool:
    """True when the stage must run (its marker is missing or --force)."""
    if done.exists() and not force:
        LOGGER.info(f"  {name}: done before ({done.parent}), reused")
        return False
    return True


@contextmanager
def warnings_only():
    """The library's information lines held back while a stage runs many steps of its own (the demo shows its
    own bar): what the stage writes to files is the record; warnings still show."""
    level = LOGGER.level
    LOGGER.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def real_world_sets(corpus, language: str, folder: Path) -> Path:
    """The long recordings as an audio folder `<folder>/<language>/{dev,test}/metadata.csv`: the first half
    of the recordings is the real-world dev set, the rest the test set."""
    rows = corpus.rows(language, "long")
    half = max(1, len(rows) // 2)
    for split, chosen in (("dev", rows[:half]), ("test", rows[half:] or rows[:half])):
        target = folder / language / split
        target.mkdir(parents=True, exist_ok=True)
        with open(target / "metadata.csv", "w", encoding="utf-8", newline="") as table:
            table.write("file_name,sentence\n")
            for row in chosen:
                source = corpus.root / language / "long" / row["path"]
                if not (target / row["path"]).exists():
                    if _same_device(source, target):
                        os.link(source, target / row["path"])
                    else:
                        shutil.copy(source, target)
                sentence = row["sentence"].replace('"', '""')
                table.write(f'{row["path"]},"{sentence}"\n')
    return folder


def real_world_sets_all(corpus, plan: DemoPlan) -> Path:
    folder = plan.output / "real_world"
    for language in plan.languages:
        real_world_sets(corpus, language, folder)
    return folder


def _same_device(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def train(plan: DemoPlan, corpus, model_dir: Path) -> dict:
    """Train the demo's model within its time budget; what training.json records of the run."""
    config = plan.output / "model_config.json"
    config.write_text(json.dumps(MODEL_CONFIG), encoding="utf-8")
    started = time.perf_counter()
    train_model(training_plan(plan, corpus, config, model_dir))
    return {"seconds": round(time.perf_counter() - started, 1)}


def training_plan(plan: DemoPlan, corpus, model_config: Path, model_dir: Path) -> TrainingPlan:
    """The demo's training run: all its languages in one model, multi-condition unless `plan.augment` is None,
    ended by TimeBudget rather than by max_steps. The folder's run.sh is the demo command that retrains it."""
    roots = "+".join([str(corpus.root)] * len(plan.languages))
    weights = [ENGLISH_WEIGHT if language == "en" else 1.0 for language in plan.languages]
    data = {"dataset_name": roots, "dataset_config_name": "+".join(plan.languages), "train_split_name": "train",
            "eval_split_name": "dev", "interleave_probabilities": ",".join(f"{w / sum(weights):.4f}" for w in weights),
            # Decoding, rendering and the feature cache's warm-up (features computed before the budget starts)
            # use every core, clean or not: the two recipes differ only in their data.
            "preprocessing_num_workers": os.cpu_count() or 1}
    model = {"model_config_json": str(model_config), "mask_time_prob": 0.05, "freeze_feature_encoder": False}
    training = {"output_dir": str(model_dir), "do_train": True, "do_eval": True, "learning_rate": LEARNING_RATE,
                "warmup_steps": WARMUP_STEPS, "lr_scheduler_type": "constant_with_warmup", "max_steps": 100000,
                "seed": plan.seed, "eval_strategy": "no", "save_strategy": "no", "logging_steps": 25,
                "dataloader_num_workers": 0, "report_to": "tensorboard", "disable_tqdm": True}
    recipe = {"overwrite_output_dir": True, "max_batch_duration_s": MAX_BATCH_DURATION_S}
    if plan.augment:
        recipe.update(augment=plan.augment, **AUGMENT_RANGE_FIELDS, augment_copies=plan.augment_copies)
    if not plan.augment or plan.augment_copies:  # degraded on the fly, nothing is cached
        recipe["feature_cache_mb"] = FEATURE_CACHE_MB
    return plan_from_fields(model=model, data=data, training=training, recipe=recipe, rerun=plan.command(),
                            callbacks=[TimeBudget(plan.minutes * 60)])


def language_model(plan: DemoPlan, corpus, real_world: Path, acoustic_dir: Path, language: str) -> Path:
    """A copy of the acoustic model with an n-gram LM of the language's LM text, its weights tuned on both dev
    sets (build_ngram.py, then robust-speech tune-lm)."""
    model = plan.output / "models" / language
    if _stage(f"{language} LM", model / DECODING_FILE, plan.force):
        if model.exists():
            shutil.rmtree(model)
        shutil.copytree(acoustic_dir, model, ignore=shutil.ignore_patterns("checkpoint-*", "runs"))
        with warnings_only():
            build(LMBuildOptions(model_dir=str(model), text=(str(corpus.lm_text(language)),),
                                 ngram=NgramOptions(order=LM_ORDER), language=language))
            set_card_language(model, language)  # this copy is the language's submission
            tuned = tune_on_dataset(TuneOptions(
                model_dir=str(model), split=lm_tuning_split(corpus, real_world, language), alphas=LM_ALPHAS,
                betas=LM_BETAS, beam_widths=LM_BEAM_WIDTHS, time_budget_s=LM_TUNING_BUDGET_S,
                chunk_length_s=CHUNK_LENGTH_S, stride_length_s=STRIDE_LENGTH_S))
        LOGGER.debug(f"{language} LM weights: alpha {tuned.best.alpha}, beta {tuned.best.beta}, "
                     f"beam {tuned.best.beam_width} (dev WER {tuned.best.wer:.4f})")
    return model


def lm_tuning_split(corpus, real_world: Path, language: str) -> EvalSplit:
    """Both dev sets at once, the CV-style dev and the real-world dev (chunked as eval.py reads it; a clip shorter
    than a chunk is one chunk), their WER pooled over all their words.

    Weights tuned on the clean CV-style dev alone suit clean speech: on the noisy recordings the acoustic model
    is less sure, and the best LM weight is lower (tuned on both, the real-world test WER fell in every language:
    benchmarks/results/demo_history.md). The real-world dev set is then a tuning set, as the challenge's dev data
    was."""
    return EvalSplit(f"{corpus.root}+{real_world}", f"{language}+{language}", "dev")


class EvalRun(NamedTuple):
    language: str
    set_name: str  # one of recipe.EVAL_SETS
    decoder: str  # greedy or lm
    folder: Path  # where its result files go
    options: EvalOptions


def eval_runs(plan: DemoPlan, corpus, real_world: Path, model: Path, language: str) -> list[EvalRun]:
    """eval.py greedy (--no_lm) and with the LM on the three sets, as a participant runs it."""
    sets = {"cv_test": (str(corpus.root), "test", None), "real_dev": (str(real_world), "dev", CHUNK_LENGTH_S),
            "real_test": (str(real_world), "test", CHUNK_LENGTH_S)}
    runs = []
    for name, (dataset, split, chunk) in sets.items():
        for decoder, no_lm in (("greedy", True), ("lm", False)):
            folder = plan.output / "eval" / language / name / decoder
            options = EvalOptions(str(model), dataset, language, split, chunk_length_s=chunk,
                                  stride_length_s=STRIDE_LENGTH_S if chunk else None, log_outputs=True,
                                  decoding=DecoderChoice(no_lm=no_lm), output_dir=str(folder))
            runs.append(EvalRun(language, name, decoder, folder, options))
    return runs


def evaluate_all(plan: DemoPlan, runs: list[EvalRun], bar) -> dict:
    """Evaluates every run not done before, in this process; returns the result-file paths by language, then
    (set, decoder)."""
    for run in runs:
        run.folder.mkdir(parents=True, exist_ok=True)
        if not list(run.folder.glob(RESULTS_GLOB)) or plan.force:
            with warnings_only():
                evaluate(run.options)
        bar.set_postfix_str(f"{run.language} {run.set_name} {run.decoder}")
        bar.update()
    files: dict[str, dict] = {}
    for run in runs:
        files.setdefault(run.language, {})[(run.set_name, run.decoder)] = next(run.folder.glob(RESULTS_GLOB))
    return files


def robustness(plan: DemoPlan, corpus, model: Path, language: str) -> Path:
    """`robust-speech robustness` on the CV-style test (in-domain voices and unseen sentences), with the LM,
    decoded like eval.py (pyctcdecode with the tuned weights), so the clean row is eval.py's CV-test setting."""
    folder = plan.output / "robustness" / language
    if not (folder / ROBUSTNESS_FILE).exists() or plan.force:
        with warnings_only():
            run_robustness(RobustnessOptions(model=str(model), split=EvalSplit(str(corpus.root), language, "test"),
                                             output_dir=str(folder), snr_db=ROBUSTNESS_SNR_DB, rt60_s=ROBUSTNESS_RT60_S,
                                             seed=plan.seed))
    return folder / ROBUSTNESS_FILE


def check_recipe(plan: DemoPlan) -> dict:
    """The training recipe of `plan`; refuses a folder whose model was trained with another one (its stages
    would be reused as they are)."""
    recipe = {"augment": plan.augment, "augment_copies": plan.augment_copies if plan.augment else 0,
              "max_batch_duration_s": MAX_BATCH_DURATION_S}
    if (plan.output / "training.json").exists() and not plan.force:
        before = json.loads((plan.output / "training.json").read_text(encoding="utf-8"))
        # A training.json without batch durations comes from before them: batches of 8 random clips.
        trained = {"augment": before.get("augment"), "augment_copies": before.get("augment_copies", 0),
                   "max_batch_duration_s": before.get("max_batch_duration_s")}
        if trained != recipe:
            batches = (f"batches of at most {trained['max_batch_duration_s']:g} s" if trained["max_batch_duration_s"]
                       else "batches of 8 clips")
            raise ConfigurationError(
                f"{plan.output} holds a model trained with --augment {trained['augment'] or 'none'} "
                f"(--augment_copies {trained['augment_copies']}, {batches}), not the recipe asked for; choose "
                "another --output_dir, or --force to retrain there")
    return recipe
