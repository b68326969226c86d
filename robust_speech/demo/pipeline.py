"""`make demo` / `robust-speech demo`: the whole challenge workflow offline on a CPU, on synthetic speech.

Stages (each one's output is kept; a re-run skips what is done unless --force), each a function of
demo/stages.py calling the library as the user's command would:
1. corpus: per language a Common-Voice-style train/dev/test (test sentences never in training or LM text;
   dev/test voices never speak in training, as in Common Voice) and long "real-world" recordings with
   noise and reverberation from voices never heard in training, split into a real-world dev and test;
2. train: one multilingual CTC model from scratch (demo/recipe.py), stopped by the --minutes budget;
3. per language: the acoustic model + a 4-gram from the corpus's LM text (disjoint from every eval split),
   alpha/beta tuned as tune-lm does on the CV-style dev and the real-world dev together;
4. eval.py's evaluation, greedy (--no_lm) and with the LM, on the CV-style test and the real-world dev and
   test (chunked), then the final score;
5. robustness per language: the CV-style test with noise (20/10/5/0 dB SNR) and reverberation (RT60
   0.3/0.6/0.9 s), decoded with the LM;
6. REPORT.md (demo/report.py: tables from the files eval.py's evaluation and robustness wrote, the training
   curve, the robustness curves) and a one-screen summary.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.logs import LOGGER, configure_logging, progress_bar
from robust_speech.data.synth import cached_corpus
from robust_speech.demo.budget import TimeBudget  # noqa: F401 - importable from here as before
from robust_speech.demo.plan import DemoPlan
from robust_speech.demo.recipe import (  # noqa: F401 - the recipe's names, importable from here as before
    AUGMENT,
    AUGMENT_COPIES,
    CHUNK_LENGTH_S,
    EVAL_SETS,
    LM_ALPHAS,
    LM_BETAS,
    MAX_BATCH_DURATION_S,
    MODEL_CONFIG,
    REAL_WORLD_RECORDINGS,
    ROBUSTNESS_RT60_S,
    ROBUSTNESS_SNR_DB,
    STRIDE_LENGTH_S,
)
from robust_speech.demo.report import (  # noqa: F401 - as above
    RESULTS_FILE,
    baseline_robustness,
    collect,
    one_screen_summary,
    read_baseline,
    repository_commit,
    results_record,
    write_report,
)
from robust_speech.demo.stages import (  # noqa: F401 - as above
    _stage,
    check_recipe,
    eval_runs,
    evaluate_all,
    language_model,
    real_world_sets,
    real_world_sets_all,
    robustness,
    train,
    training_plan,
)
from robust_speech.evaluation.robustness import read_robustness
from robust_speech.reports.plots import plot_robustness, plot_training_curve

STAGES = 6


def run_demo(plan: DemoPlan) -> Path:
    """Every stage of the demo, top to bottom; REPORT.md's path."""
    if plan.minutes <= 0:
        raise ConfigurationError("--minutes must be positive")
    if not LOGGER.handlers:  # called as a function, not from the verb: the stages are what the demo shows
        configure_logging()
    plan.output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    LOGGER.info(f"[1/{STAGES}] corpus: {', '.join(plan.languages)} (synthetic speech, cached after the first run)")
    corpus = cached_corpus(plan.synth_config, progress=True)
    real_world = real_world_sets_all(corpus, plan)
    model_dir = plan.output / "acoustic_model"
    LOGGER.info(f"[2/{STAGES}] training a multilingual model for {plan.minutes:g} min")
    training_info = _trained(plan, corpus, model_dir)
    LOGGER.info(f"[3/{STAGES}] n-gram LMs from text disjoint from every eval set, weights tuned on the CV-style and "
                "real-world dev sets")
    models = {language: language_model(plan, corpus, real_world, model_dir, language)
              for language in progress_bar(plan.languages, desc="language models", unit="lang", file=sys.stdout)}
    LOGGER.info(f"[4/{STAGES}] eval.py on the CV-style test and the real-world dev/test, greedy and with the LM")
    runs = [run for language in plan.languages for run in eval_runs(plan, corpus, real_world, models[language], language)]
    with progress_bar(total=len(runs), desc="eval.py runs", unit="run", file=sys.stdout) as bar:
        results = evaluate_all(plan, runs, bar)
    LOGGER.info(f"[5/{STAGES}] robustness: the CV-style test with noise ({_levels(ROBUSTNESS_SNR_DB)} dB SNR) and "
                f"reverberation (RT60 {_levels(ROBUSTNESS_RT60_S)} s)")
    robust = {language: read_robustness(robustness(plan, corpus, models[language], language))
              for language in progress_bar(plan.languages, desc="robustness", unit="lang", file=sys.stdout)}
    LOGGER.info(f"[6/{STAGES}] report")
    report, table = _report(plan, corpus, results, robust, training_info, model_dir)
    LOGGER.info(one_screen_summary(plan, table, robust, training_info, (time.perf_counter() - started) / 60, report))
    return report


def _trained(plan: DemoPlan, corpus, model_dir: Path) -> dict:
    """Train unless a model of this recipe is there; what training.json holds, with the steps trained."""
    training_info = {}
    recipe = check_recipe(plan)
    if _stage("training", model_dir / "model.safetensors", plan.force):
        training_info = {**train(plan, corpus, model_dir), **recipe, "commit": repository_commit()}
        (plan.output / "training.json").write_text(json.dumps(training_info) + "\n", encoding="utf-8")
    elif (plan.output / "training.json").exists():
        training_info = json.loads((plan.output / "training.json").read_text(encoding="utf-8"))
    state = model_dir / "trainer_state.json"
    if state.exists():
        training_info["steps"] = json.loads(state.read_text(encoding="utf-8")).get("global_step")
    return training_info


def _report(plan: DemoPlan, corpus, results: dict, robust: dict, training_info: dict,
            model_dir: Path) -> tuple[Path, dict]:
    """REPORT.md with its figures, and results.json; the report's path and its table."""
    baseline, baseline_line = read_baseline(plan, corpus.manifest["key"])
    if baseline_line:
        LOGGER.info(f"  {baseline_line}")
    curves = dict(robust)
    if baseline is not None:
        curves.update({f"{language} clean-trained": baseline_robustness(baseline, language) for language in plan.languages})
    title = "CV-style test, with the LM" + (" (dashed: clean-trained)" if baseline else "")
    state = model_dir / "trainer_state.json"
    figures = {"robustness": plot_robustness(curves, plan.output / "robustness.png", title=title),
               "training": plot_training_curve(state, plan.output / "training_curve.png") if state.exists() else None}
    summary = {"train": plan.synth_config.train_size, "test": plan.synth_config.test_size}
    table = collect(plan, results)
    report = write_report(plan, table, robust, training_info, summary, figures, baseline, baseline_line)
    record = results_record(plan, table, robust, training_info, corpus.manifest["key"])
    (plan.output / RESULTS_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return report, table


def _levels(values) -> str:
    return ",".join(f"{value:g}" for value in values)


__all__ = ["DemoPlan", "run_demo", "STAGES"]
