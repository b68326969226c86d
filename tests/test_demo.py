"""`robust-speech demo` (what `make demo` runs), shortened: 1 minute of training, 2 languages."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from robust_speech.reports.scoring import read_results_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_short_demo_runs_every_stage_and_reports_only_what_eval_wrote(tmp_path):
    out = tmp_path / "demo"
    # A relative --out, as `make demo` gives it: the stages run scripts in other folders.
    command = [sys.executable, "-m", "robust_speech", "demo", "--out", "demo", "--minutes", "1", "--languages",
               "en,de"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for stage in range(1, 7):
        assert f"[{stage}/6]" in result.stdout
    # Training shows its budget bar, not the trainer's step-cap bar or a dict per logging step.
    assert "training: " in result.stdout and "{'loss'" not in result.stdout
    assert (out / "acoustic_model" / "model.safetensors").is_file()
    for language in ("en", "de"):
        model = out / "models" / language
        assert (model / "language_model" / "attrs.json").is_file() and (model / "decoding.json").is_file()
        for split in ("dev", "test"):
            assert (out / "real_world" / language / split / "metadata.csv").is_file()
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    # Every WER/CER in the table is one eval.py wrote, for that language, set and decoder.
    rows = re.findall(r"^\| (en|de) \| (cv_test|real_dev|real_test) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|",
                      report, flags=re.M)
    assert len(rows) == 6
    for language, name, wer_greedy, wer_lm, cer_greedy, cer_lm in rows:
        for decoder, wer, cer in (("greedy", wer_greedy, cer_greedy), ("lm", wer_lm, cer_lm)):
            folder = out / "eval" / language / name / decoder
            written = read_results_file(next(folder.glob("*_eval_results.txt")))
            assert f"{written['wer']:.4f}" == wer and f"{written['cer']:.4f}" == cer
            assert next(folder.glob("log_*_predictions.txt")).is_file()
    scores = dict(re.findall(r"^\| (en|de) \| ([\d.]+) \|$", report, flags=re.M))
    for language, score in scores.items():
        parts = [read_results_file(next((out / "eval" / language / n / "lm").glob("*_eval_results.txt")))["wer"]
                 for n in ("cv_test", "real_dev", "real_test")]
        assert f"{sum(parts) / 3:.4f}" == score
    # The robustness table: clean and four SNRs and three RT60s per language, read from robustness.json.
    from robust_speech.evaluation.robustness import read_robustness

    robust = {language: read_robustness(out / "robustness" / language / "robustness.json") for language in ("en", "de")}
    section = report.split("## Robustness: ")[1].split("\n## ")[0]
    conditions = re.findall(r"^\| ([^|]+) \| ([\d.]+) \| ([\d.]+) \|$", section, flags=re.M)
    assert [c[0] for c in conditions] == [
        "clean", "20 dB SNR", "10 dB SNR", "5 dB SNR", "0 dB SNR", "10 dB SNR babble", "5 dB SNR babble",
        "0 dB SNR babble", "0.3 s RT60", "0.6 s RT60", "0.9 s RT60", "16 kbit/s mp3", "9 kbit/s opus",
        "13 kbit/s GSM telephone"]
    for position, (label, en, de) in enumerate(conditions):
        assert (f"{robust['en'].rows[position].wer:.4f}", f"{robust['de'].rows[position].wer:.4f}") == (en, de)
        assert robust["en"].rows[position].label == label
    for figure in ("robustness.png", "training_curve.png"):
        assert (out / figure).read_bytes().startswith(b"\x89PNG") and f"]({figure})" in report
    assert re.search(r"^\| en \| [\d.]+ \| (met|NOT met) \| [+-][\d.]+% \| (met|NOT met) \|$", report, flags=re.M)
    # The one-screen summary ends the output.
    assert "FINAL" in result.stdout and f"report: {out / 'REPORT.md'}" in result.stdout.splitlines()[-1]
    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert again.returncode == 0 and "training: done before" in again.stdout
    assert (out / "REPORT.md").read_text(encoding="utf-8") == report


def test_the_learning_rate_cools_down_to_zero_over_the_end_of_the_time_budget():
    import time

    import torch
    from transformers import get_constant_schedule_with_warmup

    from robust_speech.demo.pipeline import TimeBudget

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_constant_schedule_with_warmup(optimizer, num_warmup_steps=2)
    budget = TimeBudget(100.0, cooldown=0.25)
    budget.on_step_begin(None, None, None, lr_scheduler=scheduler)
    rates = []
    for spent in (0.0, 50.0, 75.0, 90.0, 100.0, 120.0):
        budget.started = time.perf_counter() - spent
        optimizer.step()
        scheduler.step()  # past the warm-up from the second step on
        rates.append(round(scheduler.get_last_lr()[0], 2))
    assert rates == [0.5, 1.0, 1.0, 0.4, 0.0, 0.0]


def test_the_training_bar_in_a_log_file_is_a_line_now_and_then_not_a_frame_per_step(monkeypatch):
    import io
    from types import SimpleNamespace

    from robust_speech.demo.pipeline import TimeBudget

    log = io.StringIO()  # `make demo > log`: standard output is a file
    monkeypatch.setattr(sys, "stdout", log)
    budget = TimeBudget(1000.0)
    budget.on_train_begin(None, None, None)
    control = SimpleNamespace(should_training_stop=False)
    for step in range(300):
        budget.on_log(None, SimpleNamespace(global_step=step), control, logs={"loss": 1.0})
        budget.on_step_end(None, SimpleNamespace(global_step=step), control)
    budget.on_train_end(None, None, None)
    frames = log.getvalue().replace("\r", "\n").split("\n")
    assert 1 <= len([frame for frame in frames if frame.startswith("training:")]) <= 3
    assert not control.should_training_stop


def _bar():
    from types import SimpleNamespace

    return SimpleNamespace(set_postfix_str=lambda text: None, update=lambda: None)


def test_eval_runs_are_eval_pys_settings_and_are_reused_on_a_rerun_and_redone_with_force(tmp_path, monkeypatch):
    from dataclasses import replace
    from types import SimpleNamespace

    import robust_speech.demo.stages as stages
    from robust_speech.demo.pipeline import CHUNK_LENGTH_S, EVAL_SETS, DemoPlan

    plan = DemoPlan(languages=("en",), minutes=1, output=tmp_path)
    runs = stages.eval_runs(plan, SimpleNamespace(root=tmp_path / "corpus"), tmp_path / "real", tmp_path / "model", "en")
    assert sorted((run.set_name, run.decoder) for run in runs) == sorted(
        (name, decoder) for name in EVAL_SETS for decoder in ("greedy", "lm"))
    for run in runs:
        options = run.options
        assert (options.model_id, options.config, options.log_outputs) == (str(tmp_path / "model"), "en", True)
        assert options.decoding.no_lm == (run.decoder == "greedy") and options.output_dir == str(run.folder)
        assert options.chunk_length_s == (None if run.set_name == "cv_test" else CHUNK_LENGTH_S)
        assert (options.dataset, options.split) == {"cv_test": (str(tmp_path / "corpus"), "test"),
                                                    "real_dev": (str(tmp_path / "real"), "dev"),
                                                    "real_test": (str(tmp_path / "real"), "test")}[run.set_name]
    calls = []

    def fake_evaluate(options):
        calls.append(Path(options.output_dir))
        (Path(options.output_dir) / "x_eval_results.txt").write_text(f"WER: 0.{len(calls)}\nCER: 0.1")

    monkeypatch.setattr(stages, "evaluate", fake_evaluate)
    first = stages.evaluate_all(plan, runs, _bar())
    assert calls == [run.folder for run in runs]
    assert stages.evaluate_all(plan, runs, _bar()) == first and len(calls) == 6  # finished runs are reused
    first["en"][("real_dev", "lm")].unlink()
    stages.evaluate_all(plan, runs, _bar())
    assert calls[6:] == [plan.output / "eval" / "en" / "real_dev" / "lm"]
    stages.evaluate_all(replace(plan, force=True), runs, _bar())
    assert len(calls) == 7 + 6


def test_the_report_sets_a_stored_clean_baseline_beside_the_multi_condition_run(tmp_path):
    import json

    import robust_speech.demo.pipeline as demo
    from robust_speech.evaluation.robustness import ConditionResult, RobustnessResult

    def robustness(clean, noisy, reverb):
        rows = [ConditionResult("clean", None, "clean", clean, clean / 3, 30),
                ConditionResult("noise", 10.0, "10 dB SNR", noisy, noisy / 3, 30),
                ConditionResult("reverb", 0.6, "0.6 s RT60", reverb, reverb / 3, 30)]
        return RobustnessResult("model", "corpus", "en", "test", "pyctcdecode", "pink", 0, rows)

    def table(cv, real_dev, real_test):
        rates = {}
        for name, wer in (("cv_test", cv), ("real_dev", real_dev), ("real_test", real_test)):
            rates[(name, "greedy")] = {"wer": wer + 0.1, "cer": wer / 3}
            rates[(name, "lm")] = {"wer": wer, "cer": wer / 4}
        return {"en": {"rates": rates, "final_score": (cv + real_dev + real_test) / 3}}

    clean_plan = demo.DemoPlan(languages=("en",), minutes=15, output=tmp_path / "clean", augment=None)
    clean_plan.output.mkdir()
    stored = demo.results_record(clean_plan, table(0.3, 0.9, 0.95), {"en": robustness(0.3, 0.9, 0.75)}, {"steps": 100},
                                 "corpus-key")
    baseline_file = tmp_path / "clean_baseline.json"
    baseline_file.write_text(json.dumps(stored), encoding="utf-8")

    plan = demo.DemoPlan(languages=("en",), minutes=15, output=tmp_path / "multi", baseline=baseline_file)
    plan.output.mkdir()
    baseline, line = demo.read_baseline(plan, "corpus-key")
    assert baseline is not None and f"at commit {stored['commit']}" in line
    figures = {"robustness": plan.output / "robustness.png", "training": None}
    report = demo.write_report(plan, table(0.25, 0.45, 0.5), {"en": robustness(0.25, 0.4, 0.3)}, {"steps": 90},
                               {"train": 100, "test": 30}, figures, baseline, line).read_text(encoding="utf-8")
    assert "| en | real_dev | 0.9000 | 0.4500 | -50.0% |" in report
    assert "| en | real_test | 0.9500 | 0.5000 | -47.4% |" in report
    assert "| en | 10 dB SNR | 0.9000 | 0.4000 |" in report
    assert "| en | 0.4500 | 0.5000 | 1.60x | 1.20x | met |" in report  # real-world, 10 dB and RT60 0.6 s targets
    assert f"`--augment {demo.AUGMENT}`" in report
    assert "tuned on the CV-style dev and the real-world dev together" in report  # which numbers tuning saw
    # Another corpus or budget is not a baseline for this run: said, and not compared.
    # A stored run whose LM and evaluation were redone later says at which commit each part ran.
    baseline_file.write_text(json.dumps({**stored, "training": {"steps": 100, "commit": "abc1234"}}), encoding="utf-8")
    assert (f"trained at commit abc1234, its LM tuned and evaluated at commit {stored['commit']}"
            in demo.read_baseline(plan, "corpus-key")[1])
    other, why = demo.read_baseline(plan, "another-corpus")
    assert other is None and "another corpus or budget" in why
    assert demo.read_baseline(demo.DemoPlan(languages=("en",), minutes=15, output=tmp_path, augment=None,
                                            baseline=baseline_file), "corpus-key") == (None, "")


def test_a_demo_folder_trained_with_another_recipe_is_not_reused_silently(tmp_path):
    import json

    import robust_speech.demo.pipeline as demo
    from robust_speech.core.errors import ConfigurationError

    batches = demo.MAX_BATCH_DURATION_S
    (tmp_path / "training.json").write_text(json.dumps({"seconds": 900, "augment": None, "augment_copies": 0,
                                                        "max_batch_duration_s": batches}))
    plan = demo.DemoPlan(languages=("en",), minutes=1, output=tmp_path)
    with pytest.raises(ConfigurationError, match="trained with --augment none"):
        demo.check_recipe(plan)
    clean = demo.DemoPlan(languages=("en",), minutes=1, output=tmp_path, augment=None)
    assert demo.check_recipe(clean)["max_batch_duration_s"] == batches
    # Trained before duration batches (its REPORT.md would state batches it was not trained with).
    (tmp_path / "training.json").write_text(json.dumps({"seconds": 900, "augment": None, "augment_copies": 0}))
    with pytest.raises(ConfigurationError, match="batches of 8 clips"):
        demo.check_recipe(clean)


def test_the_demo_corpus_gives_the_lm_every_unspoken_sentence_and_each_real_world_set_half_the_recordings(tmp_path):
    from types import SimpleNamespace

    import numpy as np

    import robust_speech.demo.pipeline as demo
    from robust_speech.data import synth
    from robust_speech.data.sentences import load_sentences
    from robust_speech.text.normalizer import TextNormalizer

    config = demo.DemoPlan(languages=("it",), minutes=15, output=tmp_path).synth_config
    pools = synth.split_sentences(config, "it", load_sentences("it"), np.random.default_rng(0))
    assert sum(len(pool) for pool in pools.values()) == len({TextNormalizer()(s) for s in load_sentences("it")})
    assert len(pools["lm"]) > 3000  # more than the fixed 3000 the demo's LM read before

    assert config.long_recordings == demo.REAL_WORLD_RECORDINGS
    names = [f"synth_it_long_{index:03d}.mp3" for index in range(config.long_recordings)]
    (tmp_path / "corpus" / "it" / "long").mkdir(parents=True)
    for name in names:
        (tmp_path / "corpus" / "it" / "long" / name).write_bytes(b"audio")
    corpus = SimpleNamespace(root=tmp_path / "corpus",
                             rows=lambda language, split: [{"path": name, "sentence": "una frase"} for name in names])
    folder = demo.real_world_sets(corpus, "it", tmp_path / "real_world")
    chosen = {split: [line.split(",")[0] for line in (folder / "it" / split / "metadata.csv").read_text().splitlines()[1:]]
              for split in ("dev", "test")}
    assert chosen == {"dev": names[:2], "test": names[2:]}


def test_the_demo_trains_on_duration_batches_and_its_run_sh_reruns_the_demo(tmp_path):
    from types import SimpleNamespace

    from robust_speech.cli.verbs import build_parser
    from robust_speech.demo.pipeline import MAX_BATCH_DURATION_S, DemoPlan, training_plan
    from robust_speech.demo.recipe import AUGMENT
    from robust_speech.training.flag_checks import refuse_ignored_flags

    corpus = SimpleNamespace(root=tmp_path / "corpus")
    for augment in (AUGMENT, None):
        plan = DemoPlan(languages=("en", "de"), minutes=1.5, output=tmp_path / "out dir", seed=3, augment=augment)
        trained = training_plan(plan, corpus, tmp_path / "model_config.json", tmp_path / "model")
        refuse_ignored_flags(set(trained.given), *trained.arguments)  # a fixed batch size beside duration batches
        # Batches by padded seconds: random fixed-size batches of the demo's clips were padded to 1.65x their audio.
        assert trained.recipe.max_batch_duration_s == MAX_BATCH_DURATION_S
        assert trained.recipe.augment == augment and trained.training.seed == 3
        # run.sh: the demo command that retrains this model (its time budget is no training flag).
        command = trained.run_command
        assert command[:2] == ["robust-speech", "demo"] and "--force" in command
        args = build_parser().parse_args(command[1:])
        assert (args.output_dir, args.minutes, args.languages, args.seed) == (str(plan.output), 1.5, "en,de", 3)
        assert args.augment == (augment or "none") and args.augment_copies == plan.augment_copies


def test_the_lm_stage_builds_and_tunes_through_the_library_reused_on_a_rerun_and_redone_with_force(
        tmp_path, monkeypatch, capsys):
    from dataclasses import replace
    from types import SimpleNamespace

    import robust_speech.demo.stages as stages
    from robust_speech.core.logs import configure_logging
    from robust_speech.demo.pipeline import CHUNK_LENGTH_S, LM_ALPHAS, DemoPlan

    configure_logging()
    acoustic = tmp_path / "acoustic_model"
    (acoustic / "checkpoint-5").mkdir(parents=True)
    (acoustic / "model.safetensors").write_bytes(b"weights")
    calls = []

    def fake_build(options):
        calls.append(options)
        (Path(options.model_dir) / "language_model").mkdir()

    def fake_tune(options):
        calls.append(options)
        (Path(options.model_dir) / "decoding.json").write_text('{"beam_width": 16}', encoding="utf-8")
        return SimpleNamespace(best=SimpleNamespace(alpha=0.3, beta=1.0, beam_width=16, wer=0.5))

    monkeypatch.setattr(stages, "build", fake_build)
    monkeypatch.setattr(stages, "tune_on_dataset", fake_tune)
    corpus = SimpleNamespace(root=tmp_path / "corpus", lm_text=lambda language: tmp_path / f"lm_{language}.txt")
    plan = DemoPlan(languages=("en",), minutes=1, output=tmp_path / "out")
    model = stages.language_model(plan, corpus, tmp_path / "real_world", acoustic, "en")
    assert model == plan.output / "models" / "en"
    built, tuned = calls
    assert (built.model_dir, tuple(built.text), built.ngram.order) == (str(model), (str(tmp_path / "lm_en.txt"),), 4)
    assert built.language == "en"  # recorded for check-submission
    # Tuned on both dev sets at once, the real-world one chunked as eval.py reads it.
    assert (tuned.split.dataset, tuned.split.config, tuned.split.split) == (
        f"{corpus.root}+{tmp_path / 'real_world'}", "en+en", "dev")
    assert tuned.chunk_length_s == CHUNK_LENGTH_S and tuple(tuned.alphas) == LM_ALPHAS
    assert (model / "model.safetensors").read_bytes() == b"weights" and not (model / "checkpoint-5").exists()
    (model / "edited_by_hand.txt").write_text("kept on a re-run", encoding="utf-8")
    capsys.readouterr()
    assert stages.language_model(plan, corpus, tmp_path / "real_world", acoustic, "en") == model
    assert len(calls) == 2 and (model / "edited_by_hand.txt").is_file()
    assert "en LM: done before" in capsys.readouterr().out
    stages.language_model(replace(plan, force=True), corpus, tmp_path / "real_world", acoustic, "en")
    assert len(calls) == 4 and not (model / "edited_by_hand.txt").exists()


def test_a_stage_runs_when_its_marker_is_missing_or_forced_and_logs_when_it_is_reused(tmp_path, capsys):
    from robust_speech.core.logs import configure_logging
    from robust_speech.demo.stages import _stage

    configure_logging()
    marker = tmp_path / "stage" / "done.json"
    assert _stage("training", marker, force=False)
    assert capsys.readouterr().out == ""
    marker.parent.mkdir()
    marker.write_text("{}", encoding="utf-8")
    assert not _stage("training", marker, force=False)
    assert capsys.readouterr().out == f"  training: done before ({marker.parent}), reused\n"
    assert _stage("training", marker, force=True)


def test_the_robustness_stage_is_reused_on_a_rerun_and_redone_with_force(tmp_path, monkeypatch):
    from dataclasses import replace
    from types import SimpleNamespace

    import robust_speech.demo.stages as stages
    from robust_speech.demo.pipeline import ROBUSTNESS_RT60_S, ROBUSTNESS_SNR_DB, DemoPlan

    measured = []

    def fake_robustness(options):
        measured.append(options)
        Path(options.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(options.output_dir) / "robustness.json").write_text(str(len(measured)), encoding="utf-8")

    monkeypatch.setattr(stages, "run_robustness", fake_robustness)
    plan = DemoPlan(languages=("en",), minutes=1, output=tmp_path)
    corpus = SimpleNamespace(root=tmp_path / "corpus")
    path = stages.robustness(plan, corpus, tmp_path / "model", "en")
    assert path == tmp_path / "robustness" / "en" / "robustness.json" and len(measured) == 1
    assert (measured[0].snr_db, measured[0].rt60_s) == (ROBUSTNESS_SNR_DB, ROBUSTNESS_RT60_S)
    assert stages.robustness(plan, corpus, tmp_path / "model", "en") == path and len(measured) == 1
    assert stages.robustness(replace(plan, force=True), corpus, tmp_path / "model", "en") == path
    assert len(measured) == 2 and path.read_text(encoding="utf-8") == "2"


@pytest.mark.slow
def test_the_demo_stages_call_the_library_and_run_no_script_of_the_repository(small_corpus, kenlm_programs, tmp_path,
                                                                              monkeypatch):
    """Training, the LM and its tuning, eval.py's runs and robustness, on a few seconds of training: in this
    process, with any python subprocess refused (KenLM's own programs may run); the report reads what they wrote."""
    import json
    import shlex
    import shutil
    import subprocess
    from types import SimpleNamespace

    import robust_speech.demo.stages as stages
    from robust_speech.cli.verbs import build_parser
    from robust_speech.demo.pipeline import DemoPlan, collect
    from robust_speech.evaluation.robustness import read_robustness

    real_popen = subprocess.Popen

    class NoPythonPopen(real_popen):
        def __init__(self, args, *rest, **options):
            words = [str(word) for word in ([args] if isinstance(args, (str, Path)) else args)]
            assert not any(word == sys.executable or word.endswith(".py") or "python" in Path(word).name
                           for word in words), f"a python subprocess: {words}"
            super().__init__(args, *rest, **options)

    monkeypatch.setattr(subprocess, "Popen", NoPythonPopen)
    plan = DemoPlan(languages=("en",), minutes=0.1, output=tmp_path / "demo", augment=None)
    plan.output.mkdir()
    real_world = tmp_path / "real_world"  # the CV-style dev and test clips stand in for the long recordings
    for split in ("dev", "test"):
        (real_world / "en" / split).mkdir(parents=True)
        rows = small_corpus.rows("en", split)
        for row in rows:
            shutil.copy(small_corpus.clips_dir("en") / row["path"], real_world / "en" / split)
        (real_world / "en" / split / "metadata.csv").write_text(
            "file_name,sentence\n" + "".join(f'{row["path"]},"{row["sentence"]}"\n' for row in rows), encoding="utf-8")

    model_dir = plan.output / "acoustic_model"
    assert stages.train(plan, small_corpus, model_dir)["seconds"] > 0
    assert (model_dir / "model.safetensors").is_file()
    command = shlex.split((model_dir / "run.sh").read_text(encoding="utf-8").splitlines()[-1])
    assert build_parser().parse_args(command[1:]).output_dir == str(plan.output)

    model = stages.language_model(plan, small_corpus, real_world, model_dir, "en")
    assert (model / "language_model" / "attrs.json").is_file()
    assert json.loads((model / "decoding.json").read_text())["beam_width"] in (16, 32)
    runs = stages.eval_runs(plan, small_corpus, real_world, model, "en")
    results = stages.evaluate_all(plan, runs, SimpleNamespace(set_postfix_str=lambda text: None, update=lambda: None))
    for run in runs:
        assert len(list(run.folder.glob("log_*_predictions.txt"))) == 1
        report = json.loads(next(run.folder.glob("*_eval_report.json")).read_text())
        assert report["settings"]["decoder"] == ("greedy" if run.decoder == "greedy" else "pyctcdecode")
    table = collect(plan, results)
    written, read = results["en"][("cv_test", "lm")].read_text(), table["en"]["rates"][("cv_test", "lm")]
    assert written == f"WER: {read['wer']}\nCER: {read['cer']}"
    robust = read_robustness(stages.robustness(plan, small_corpus, model, "en"))
    assert robust.rows[0].label == "clean" and len(robust.rows) > 8
