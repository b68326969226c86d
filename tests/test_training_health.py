"""Training health: sample predictions at each evaluation, a failing run stopped early with a one-line diagnosis,
and --layerdrop with several processes."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import TINY_XLSR_CONFIG
from log_records import logged
from test_training import ROOT, train_argv
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC
from transformers.integrations import TensorBoardCallback

import robust_speech.training.run as training
from robust_speech.core.errors import RobustSpeechError
from robust_speech.model.arguments import ModelArguments
from robust_speech.training.arguments import RecipeArguments
from robust_speech.training.flag_checks import _layerdrop, allow_layerdrop_processes
from robust_speech.training.health import TrainingFailedError, TrainingHealth, output_frames

UNK = 1


def error_line(stderr: str) -> str:
    """The script's one error line (the progress bar shares stderr, its last state left without a newline)."""
    [line] = [line for line in stderr.splitlines() if "test: error:" in line]
    return line[line.index("test: error:"):].strip()


def fake_args(learning_rate=3e-4, fp16=False, warmup_steps=4):
    return SimpleNamespace(learning_rate=learning_rate, fp16=fp16, get_warmup_steps=lambda max_steps: warmup_steps)


def fake_state(step, max_steps=100):
    return SimpleNamespace(global_step=step, max_steps=max_steps, is_world_process_zero=True)


def evaluate_at(health, step, hypotheses, args=None):
    health.observe_evaluation(["a reference", "another one"], hypotheses, np.array([[3, 4, -100], [5, 6, 7]]))
    health.on_evaluate(args or fake_args(), fake_state(step), None)


def test_empty_predictions_stop_the_run_only_past_the_warmup_and_after_n_evaluations_in_a_row():
    health = TrainingHealth(RecipeArguments(failing_evaluations=2), unk_token_id=UNK)
    health.on_train_begin(None, fake_state(0), None)
    evaluate_at(health, 2, ["", ""])  # within the warm-up (4 steps): not counted
    evaluate_at(health, 6, ["", " "])
    evaluate_at(health, 8, ["", "a"])  # something came out: the count starts again
    evaluate_at(health, 10, ["", ""])
    with pytest.raises(TrainingFailedError) as stopped:
        evaluate_at(health, 12, ["", ""])
    line = str(stopped.value)
    assert "\n" not in line and line.startswith("training stopped at step 12: every prediction is still empty after "
                                                "the warm-up and 2 evaluations")
    assert "CTC's blank plateau" in line and "--stop_when_failing false trains on regardless" in line
    assert isinstance(stopped.value, RobustSpeechError)  # the script prints it and exits 2


def test_without_stop_when_failing_and_after_training_nothing_stops():
    off = TrainingHealth(RecipeArguments(stop_when_failing=False, failing_evaluations=1))
    off.on_train_begin(None, fake_state(0), None)
    off.observe_step(torch.tensor(float("nan")), {})
    off.on_step_end(fake_args(), fake_state(1), None)
    for step in (10, 20, 30):
        evaluate_at(off, step, ["", ""])
    on = TrainingHealth(RecipeArguments(failing_evaluations=1))
    on.on_train_begin(None, fake_state(0), None)
    on.on_train_end(None, None, None)
    evaluate_at(on, 50, ["", ""])  # the evaluation after training: the run is over, nothing to stop


def test_a_nan_loss_stops_at_that_step_and_names_what_was_measured():
    health = TrainingHealth(RecipeArguments(), unk_token_id=UNK)
    labels = torch.tensor([[3, 4, 5, -100], [3, 3, 6, 7]])
    health.observe_step(torch.tensor(2.0), {"labels": labels})
    health.on_step_end(fake_args(), fake_state(1), None)
    for step, loss in ((2, "inf"), (3, "1.5"), (4, "nan"), (5, "nan")):  # one bad step (fp16 overflow) is not a failure
        health.observe_step(torch.tensor(float(loss)), {"labels": labels})
        health.on_step_end(fake_args(), fake_state(step), None)
    health.observe_step(torch.tensor(float("nan")), {"labels": labels})
    with pytest.raises(TrainingFailedError) as stopped:
        health.on_step_end(fake_args(learning_rate=5e-5, fp16=True), fake_state(6), None)
    line = str(stopped.value)
    assert line.startswith("training stopped at step 6: the training loss is NaN or infinite, 3 steps in a row. Likely "
                           "causes: ")
    assert "fp16 overflow (--fp16 is on" in line and "(--learning_rate 5e-05)" in line
    assert "Ruled out: a vocabulary that does not match the transcripts (0 of the 42 training transcript characters" in line


def test_a_loss_that_stays_high_stops_the_run_naming_a_learning_rate_too_high_first():
    health = TrainingHealth(RecipeArguments(loss_divergence_factor=4.0))
    health.on_train_begin(None, fake_state(0), None)
    health.observe_step(torch.tensor(5.0), {})
    health.on_step_end(fake_args(), fake_state(1), None)
    for step, loss in enumerate((21.0, 19.0, 22.0), start=1):  # above 4 times 5, below it, above it: not yet
        health.on_log(fake_args(), fake_state(step), None, logs={"loss": loss})
    with pytest.raises(TrainingFailedError) as stopped:
        health.on_log(fake_args(learning_rate=1.0), fake_state(4), None, logs={"loss": 25.0})
    assert "the training loss rose to 25, 5.0 times the untrained model's 5, 2 logs in a row" in str(stopped.value)
    assert "Likely causes: --learning_rate 1 is too high" in str(stopped.value)


def test_a_zero_loss_stops_the_run_only_when_every_step_since_the_last_log_was_zero():
    health = TrainingHealth(RecipeArguments())
    health.on_train_begin(None, fake_state(0), None)
    for _ in range(2):
        health.observe_step(torch.tensor(float("nan")), {})
    health.on_log(fake_args(), fake_state(2), None, logs={"loss": 0.0})  # NaN steps, logged as 0 by transformers
    for _ in range(2):
        health.observe_step(torch.tensor(0.0), {})
    with pytest.raises(TrainingFailedError, match="^training stopped at step 4: the training loss is 0: every batch's "
                                                  "CTC loss was infinite"):
        health.on_log(fake_args(), fake_state(4), None, logs={"loss": 0.0})


def test_a_resumed_run_has_no_untrained_loss_to_compare_with():
    health = TrainingHealth(RecipeArguments(loss_divergence_factor=4.0))
    health.on_train_begin(None, fake_state(500), None)
    health.observe_step(torch.tensor(0.1), {})
    health.on_step_end(fake_args(), fake_state(501), None)
    for step in (502, 503, 504):
        health.on_log(fake_args(), fake_state(step), None, logs={"loss": 0.9})


def test_evaluation_transcripts_outside_the_vocabulary_are_measured():
    health = TrainingHealth(RecipeArguments(failing_evaluations=1), unk_token_id=UNK)
    health.on_train_begin(None, fake_state(0), None)
    health.observe_evaluation(["[UNK][UNK]", "[UNK]"], ["", ""], np.array([[UNK, UNK], [UNK, -100]]))
    with pytest.raises(TrainingFailedError) as stopped:
        health.on_evaluate(fake_args(), fake_state(10), None)
    assert ("Likely causes: a vocabulary that does not match the transcripts (3 of the 3 evaluation transcript "
            "characters seen are not in the vocabulary ([UNK])") in str(stopped.value)


def test_clips_too_short_for_their_text_are_counted_from_the_model_frames():
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**TINY_XLSR_CONFIG, vocab_size=10))
    inputs = {"input_values": torch.zeros(2, 16000), "attention_mask": torch.tensor([[1] * 16000, [1] * 1600 + [0] * 14400])}
    frames = output_frames(model, inputs)
    assert frames.tolist() == [49, 4]  # wav2vec2's 20 ms frames: 1 s and 0.1 s
    health = TrainingHealth(RecipeArguments())
    health.observe_step(torch.tensor(0.0), {**inputs, "labels": torch.full((2, 10), 3)}, model)
    assert health.counts.totals()["too_short"] == 1


class FakeWriter:
    def __init__(self):
        self.texts = []

    def add_text(self, tag, text, step):
        self.texts.append((tag, text, step))


def test_each_evaluation_logs_reference_prediction_pairs_and_writes_them_to_tensorboard():
    health = TrainingHealth(RecipeArguments(sample_predictions=2))
    writer = FakeWriter()
    health.callbacks = [SimpleNamespace(tb_writer=FakeWriter()), TensorBoardCallback(tb_writer=writer)]
    with logged() as said:
        health.observe_evaluation(["one ref", "two | ref", "three"], ["one", "", "three"])
        health.on_evaluate(fake_args(), fake_state(7), None)
    assert said == ["evaluation at step 7: 2 of 3 predictions", "  reference:  'one ref'", "  prediction: 'one'",
                    "  reference:  'two | ref'", "  prediction: ''"]
    [(tag, text, step)] = writer.texts
    assert (tag, step) == ("eval/predictions", 7) and "| 'two \\| ref' | '' |" in text


# Whole runs, as users run them.

def test_learning_rate_one_stops_within_the_first_evaluations(small_corpus, tiny_config_json, tmp_path, capsys):
    output_dir = tmp_path / "lr1"
    argv = train_argv(small_corpus, tiny_config_json, output_dir, "--learning_rate", "1.0", "--max_steps", "40",
                      "--eval_strategy", "steps", "--eval_steps", "4", "--logging_steps", "1", "--save_strategy", "no",
                      "--report_to", "none")
    assert training.main(argv, script="test") == 2
    err = error_line(capsys.readouterr().err)
    assert err.startswith("test: error: training stopped at step ")
    assert "the training loss rose to" in err and "Likely causes: --learning_rate 1 is too high" in err
    assert int(err.split("step ")[1].split(":")[0]) <= 8  # within the first two evaluations, not at step 40
    assert not (output_dir / "model.safetensors").exists()


def corpus_with_foreign_dev_transcripts(corpus, folder: Path) -> Path:
    """The English corpus whose dev transcripts are written in Greek letters: a vocabulary built from the training
    transcripts does not hold one of their letters."""
    shutil.copytree(corpus.root / "en", folder / "en")
    greek = str.maketrans("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                          "αβψδεφγηιξκλμνοπρστθωϋςχυζΑΒΨΔΕΦΓΗΙΞΚΛΜΝΟΠΡΣΤΘΩΫΣΧΥΖ")
    table = folder / "en" / "dev.tsv"
    with open(table, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    with open(table, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows({**row, "sentence": row["sentence"].translate(greek)} for row in rows)
    return folder


def test_transcripts_outside_the_vocabulary_stop_within_the_first_evaluations(small_corpus, tiny_config_json, tmp_path,
                                                                              capsys):
    dataset = corpus_with_foreign_dev_transcripts(small_corpus, tmp_path / "cv")
    output_dir = tmp_path / "foreign"
    argv = train_argv(SimpleNamespace(root=dataset), tiny_config_json, output_dir, "--max_steps", "40",
                      "--eval_strategy", "steps", "--eval_steps", "2", "--failing_evaluations", "2",
                      "--save_strategy", "no")
    assert training.main(argv, script="test") == 2
    captured = capsys.readouterr()
    err = error_line(captured.err)
    assert err.startswith("test: error: training stopped at step 6: every prediction is "
                                                   "still empty after the warm-up and 2 evaluations")
    assert "Likely causes: a vocabulary that does not match the transcripts (" in err
    assert "evaluation transcript characters seen are not in the vocabulary ([UNK])" in err
    assert "reference:  '[UNK][UNK][UNK]" in captured.out  # the pairs shown at each evaluation
    events = list(output_dir.glob("runs/*/events.out.tfevents.*"))
    assert events and any(b"eval/predictions" in path.read_bytes() for path in events)  # flushed before stopping


class PoisonWeights:
    """Sets the model's weights to NaN before step `step`, as an overflow would."""

    def __init__(self, step):
        self.step = step

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step + 1 == self.step:
            with torch.no_grad():
                model.lm_head.weight.fill_(float("nan"))


def test_a_nan_loss_stops_the_run_at_that_step(small_corpus, tiny_config_json, tmp_path):
    argv = train_argv(small_corpus, tiny_config_json, tmp_path / "nan", "--max_steps", "40", "--eval_strategy", "no",
                      "--save_strategy", "no", "--report_to", "none")
    with pytest.raises(TrainingFailedError, match="^training stopped at step 5: the training loss is NaN or infinite, "
                                                  "3 steps in a row. Likely causes: a learning rate too high"):
        training.train(training.parse_plan(argv, callbacks=[PoisonWeights(3)]))


@pytest.mark.parametrize("flags, message", [
    (["--stop_when_failing", "false", "--failing_evaluations", "3"],
     "--failing_evaluations is a threshold of --stop_when_failing, which is off: drop one of the two"),
    (["--stop_when_failing", "false", "--loss_divergence_factor", "8"], "--loss_divergence_factor is a threshold"),
    (["--failing_evaluations", "0"], "--failing_evaluations must be 1 or more, got 0"),
    (["--loss_divergence_factor", "0.5"], "--loss_divergence_factor must be above 1"),
    (["--sample_predictions", "-1"], "--sample_predictions must be 0 (none) or more"),
])
def test_health_flags_that_cannot_work_are_one_line(flags, message, tmp_path, capsys):
    argv = ["--dataset_name", str(tmp_path / "no_such_data"), "--output_dir", str(tmp_path / "out"), "--do_train",
            "--report_to", "none", *flags]
    assert training.main(argv, script="test") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("test: error: ") and message in err[0], err


def test_layerdrop_with_several_processes_finds_unused_parameters_or_is_refused():
    def args(world_size, find_unused=None):
        return SimpleNamespace(world_size=world_size, ddp_find_unused_parameters=find_unused)

    layerdrop = ModelArguments(layerdrop=0.1)
    two = args(2)
    said = []
    assert allow_layerdrop_processes(layerdrop, two, say=said.append)
    assert two.ddp_find_unused_parameters is True and said == [
        "note: --layerdrop 0.1 with 2 processes: DDP looks for the skipped layers' unused parameters "
        "(--ddp_find_unused_parameters true)"]
    for model_args, training_args in ((layerdrop, args(1)), (ModelArguments(), args(2)), (layerdrop, args(2, False))):
        assert not allow_layerdrop_processes(model_args, training_args)
        assert training_args.ddp_find_unused_parameters is not True
    refused = _layerdrop({"layerdrop"}, layerdrop, None, args(2, False), None)
    assert refused.startswith("--layerdrop 0.1 with 2 processes needs DDP to find the skipped layers' unused parameters")
    assert _layerdrop(set(), layerdrop, None, args(2, True), None) is None


@pytest.mark.slow
def test_layerdrop_trains_in_two_processes_with_activation_checkpointing(small_corpus, tiny_config_json, tmp_path):
    """DDP's "Expected to have finished reduction in the prior iteration" without the unused-parameter search:
    transformers turns that search off under activation checkpointing."""
    output_dir = tmp_path / "ddp"
    argv = train_argv(small_corpus, tiny_config_json, output_dir, "--max_steps", "4", "--eval_strategy", "no",
                      "--ddp_backend", "gloo", "--layerdrop", "0.5", "--activation_checkpointing", "--save_strategy", "no",
                      "--report_to", "none")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541"]
    result = subprocess.run([*torchrun, str(ROOT / "run_speech_recognition_ctc.py"), *argv], capture_output=True,
                            text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DDP looks for the skipped layers' unused parameters" in result.stdout + result.stderr
    assert json.loads((output_dir / "trainer_state.json").read_text())["global_step"] == 4
