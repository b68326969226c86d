"""Faults: a training run killed mid-step or mid-checkpoint, eval.py killed mid-write, a full or unwritable disk.

Each kill happens at a chosen point (a hook in a launcher that runs the real script as `__main__` pauses
there and drops a marker file; the test then sends SIGKILL), so the tests are deterministic.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file
from test_eval import RATE, random_model_dir, run_eval, varied_audio  # noqa: F401 (fixture)
from test_training import ROOT, run_script, train_argv
from transformers.trainer_utils import get_last_checkpoint

import robust_speech.training.run as training

# Checkpoints at steps 2, 4, 6, 8; 6 training examples in batches of 3: every checkpoint is at an epoch boundary.
COMMON = ("--max_steps", "8", "--save_steps", "2", "--eval_strategy", "no", "--dataloader_num_workers", "0",
          "--do_eval", "false")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# Runs a script as `__main__` after `PATCH` (code that installs a pause or a fault) ran in the same process.
LAUNCHER = textwrap.dedent("""
    import os, runpy, sys, time
    marker, script, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    def pause_here():
        open(marker, "w").close()  # tells the test where we are; it sends SIGKILL
        time.sleep(600)
    {patch}
    sys.argv = [script, *argv]
    runpy.run_path(script, run_name="__main__")
""")

PAUSE_INSIDE_TRAINING_STEP = """
from transformers import TrainerCallback
import robust_speech.training.run as training
class PauseInsideStep(TrainerCallback):
    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        if state.global_step == 4:  # step 5's gradients are computed, not yet applied; checkpoint-4 is on disk
            pause_here()
init = training.CTCTrainer.__init__
def patched_init(self, *args, **kwargs):
    init(self, *args, **kwargs)
    self.add_callback(PauseInsideStep())
training.CTCTrainer.__init__ = patched_init
"""

# Wraps the files `wrap(path, mode)` picks so that `on_write(wrapper, text)` runs before each write.
WRAP_WRITES = """
import builtins, errno
real_open = builtins.open
class Wrapped:
    def __init__(self, file):
        self.file, self.writes = file, 0
    def write(self, text):
        self.writes += 1
        on_write(self, text)
        return self.file.write(text)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self.file.__exit__(*exc)
    def __getattr__(self, name):
        return getattr(self.file, name)
def patched_open(file, mode="r", *args, **kwargs):
    opened = real_open(file, mode, *args, **kwargs)
    return Wrapped(opened) if wrap(os.fspath(file), mode) else opened
builtins.open = patched_open
"""

# The predictions log is flushed to disk half-written, then the process waits to be killed.
PAUSE_HALFWAY_THROUGH_THE_PREDICTIONS_LOG = WRAP_WRITES + """
def wrap(path, mode):
    return "w" in mode and "predictions" in path
def on_write(wrapped, text):
    if wrapped.writes == 3:
        wrapped.file.flush()
        pause_here()
"""

# Every text write to a file in the working folder fails as on a full disk (write() errors carry no file name).
FULL_DISK = WRAP_WRITES + """
def wrap(path, mode):
    inside = os.path.abspath(path).startswith(os.getcwd() + os.sep)
    return inside and any(m in mode for m in "wax") and "b" not in mode
def on_write(wrapped, text):
    raise OSError(errno.ENOSPC, "No space left on device")
"""


def launch(patch, script, argv, cwd, marker):
    code = LAUNCHER.format(patch=patch)
    return subprocess.Popen([sys.executable, "-c", code, str(marker), str(script), *argv], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_at_marker(process, marker, timeout=180):
    """SIGKILL the process once it reached the marker; fails if it ended (or stalled) before."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"ended before the kill point: {process.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, "never reached the kill point"
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def assert_same_weights(actual_file, expected_file):
    expected, actual = load_file(expected_file), load_file(actual_file)
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)


def assert_complete_checkpoint(folder):
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"} <= names, names
    assert json.loads((folder / "trainer_state.json").read_text())["global_step"] == int(folder.name.split("-")[1])


@pytest.fixture(scope="module")
def uninterrupted(small_corpus, tiny_config_json, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("uninterrupted") / "model"
    assert training.main(train_argv(small_corpus, tiny_config_json, output_dir, *COMMON), script="test") == 0
    return output_dir


def test_training_killed_mid_step_resumes_to_the_same_weights(uninterrupted, small_corpus, tiny_config_json, tmp_path):
    output_dir = tmp_path / "model"
    argv = train_argv(small_corpus, tiny_config_json, output_dir, *COMMON)
    marker = tmp_path / "inside-step-5"
    killed = launch(PAUSE_INSIDE_TRAINING_STEP, ROOT / "run_speech_recognition_ctc.py", argv, ROOT, marker)
    kill_at_marker(killed, marker)
    assert sorted(p.name for p in output_dir.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not (output_dir / "model.safetensors").exists()

    resumed = run_script("run_speech_recognition_ctc.py", argv)  # the same command again
    assert f"resuming from {output_dir / 'checkpoint-4'}" in resumed.stdout
    assert json.loads((output_dir / "trainer_state.json").read_text())["global_step"] == 8
    assert_same_weights(output_dir / "model.safetensors", uninterrupted / "model.safetensors")
    # ... and the run did train after the checkpoint (so the comparison above can fail).
    before, after = load_file(output_dir / "checkpoint-4" / "model.safetensors"), load_file(output_dir / "model.safetensors")
    assert any(not torch.allclose(before[name], after[name]) for name in after)


class CrashWhileSaving(Exception):
    pass


def test_a_crash_while_writing_a_checkpoint_never_leaves_one_that_looks_complete(
        uninterrupted, small_corpus, tiny_config_json, tmp_path, monkeypatch, capsys):
    from transformers import Trainer

    save_optimizer = Trainer._save_optimizer_and_scheduler

    def crash_after_the_weights(self, output_dir):
        save_optimizer(self, output_dir)  # weights and optimizer written; RNG and trainer state not yet
        if self.state.global_step == 6:
            raise CrashWhileSaving(output_dir)

    monkeypatch.setattr(Trainer, "_save_optimizer_and_scheduler", crash_after_the_weights)
    output_dir = tmp_path / "model"
    argv = train_argv(small_corpus, tiny_config_json, output_dir, *COMMON)
    with pytest.raises(CrashWhileSaving):
        training.main(argv, script="test")
    monkeypatch.undo()

    # transformers alone leaves checkpoint-6 with weights but no trainer_state.json, and resumes from it.
    assert not (output_dir / "checkpoint-6").exists()
    assert (output_dir / "tmp-checkpoint-6" / "checkpoint-6" / "model.safetensors").is_file()
    assert get_last_checkpoint(str(output_dir)) == str(output_dir / "checkpoint-4")
    assert_complete_checkpoint(output_dir / "checkpoint-4")

    capsys.readouterr()
    assert training.main(argv, script="test") == 0
    printed = capsys.readouterr().out
    assert "removed tmp-checkpoint-6, a checkpoint whose writing was interrupted" in printed
    assert f"resuming from {output_dir / 'checkpoint-4'}" in printed
    assert not list(output_dir.glob("tmp-*"))
    for step in (2, 4, 6, 8):
        assert_complete_checkpoint(output_dir / f"checkpoint-{step}")
    assert_same_weights(output_dir / "model.safetensors", uninterrupted / "model.safetensors")


def test_a_full_disk_while_checkpointing_is_one_line(small_corpus, tiny_config_json, tmp_path, monkeypatch, capsys):
    from safetensors import SafetensorError
    from transformers import Trainer

    def disk_full(self, output_dir=None, state_dict=None):
        # What safetensors' writer raises when the disk fills (not an OSError).
        raise SafetensorError('Error while serializing: I/O error: No space left on device (os error 28)')

    monkeypatch.setattr(Trainer, "_save", disk_full)
    output_dir = tmp_path / "model"
    code = training.main(train_argv(small_corpus, tiny_config_json, output_dir, "--max_steps", "2", "--save_steps", "2",
                                    "--eval_strategy", "no", "--do_eval", "false"), script="train.py")
    assert code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error  # the last line may follow the training progress bar's carriage return
    assert error.strip().splitlines()[-1].endswith(
        f"train.py: error: cannot write {output_dir / 'checkpoint-2'}: no space left on the device; "
        "free some space or write elsewhere (e.g. another --output_dir)")
    assert not (output_dir / "checkpoint-2").exists()


@pytest.fixture(scope="module")
def short_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips") / "data"
    folder.mkdir()
    rows = ["file_name,sentence"]
    for index in range(6):
        sf.write(folder / f"clip{index}.wav", varied_audio(1.0 + 0.3 * index, 10 + index), RATE)
        rows.append(f"clip{index}.wav,sentence number {index}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def eval_argv(model_dir, dataset):
    return ["--model_id", str(model_dir), "--dataset", str(dataset), "--config", "default", "--split", "train",
            "--log_outputs", "--batch_size", "2"]


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def stable_report(path):
    report = json.loads(path.read_text())
    for volatile in ("wall_seconds", "inference_seconds", "rtfx", "machine"):
        report.pop(volatile)
    return report


def test_eval_killed_mid_write_then_rerun_gives_byte_identical_results(random_model_dir, short_clips, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    straight.mkdir(), interrupted.mkdir()
    argv = eval_argv(random_model_dir, short_clips)
    assert run_eval(straight, *argv).returncode == 0
    files = listing(straight)
    assert len(files) == 4  # results, predictions and targets logs, report

    marker = tmp_path / "halfway"
    kill_at_marker(launch(PAUSE_HALFWAY_THROUGH_THE_PREDICTIONS_LOG, ROOT / "eval.py", argv, interrupted, marker), marker)
    # log_results writes into a hidden staging folder whose files are renamed into place once all are complete:
    # killed halfway through the predictions log, no result file is under its name.
    visible = [name for name in listing(interrupted) if not name.startswith(".")]
    assert visible == [], visible

    rerun = run_eval(interrupted, *argv)
    assert rerun.returncode == 0, rerun.stderr
    assert listing(interrupted) == files  # no leftovers of the killed run
    for name in files:
        if name.endswith(".json"):
            assert stable_report(interrupted / name) == stable_report(straight / name)
        else:
            assert (interrupted / name).read_bytes() == (straight / name).read_bytes(), name


def test_eval_on_a_full_disk_is_one_line_and_leaves_no_partial_result(random_model_dir, short_clips, tmp_path):
    marker = tmp_path / "unused"
    process = launch(FULL_DISK, ROOT / "eval.py", eval_argv(random_model_dir, short_clips), tmp_path, marker)
    _out, err = process.communicate(timeout=180)
    assert process.returncode == 2 and "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("eval.py: error: cannot write ") and last.endswith(
        "_eval_results.txt: no space left on the device; free some space or write elsewhere (e.g. another --output_dir)")
    assert not [p for p in tmp_path.iterdir() if p.name != "unused" and p.is_file()]


def test_transcribe_into_an_unwritable_folder_or_a_full_disk_is_one_line(random_model_dir, short_clips, tmp_path,
                                                                         monkeypatch, capsys):
    import robust_speech.core.files as files
    from robust_speech.cli.verbs import main

    audio = str(short_clips / "clip0.wav")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    assert main(["transcribe", audio, "--model", str(random_model_dir), "--output_dir", str(blocked / "out")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"robust-speech: error: cannot use {blocked / 'out'}: part of the path is a file, not a folder; "
        "choose another folder")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    out = tmp_path / "out"
    assert main(["transcribe", audio, "--model", str(random_model_dir), "--output_dir", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == (f"robust-speech: error: cannot write {out / 'clip0.txt'}: no space left on the device; "
                         "free some space or write elsewhere (e.g. another --output_dir)")
    assert listing(out) == []  # neither the result nor its temporary file


def test_read_only_output_is_one_line(tmp_path, monkeypatch, capsys):
    from robust_speech.cli.verbs import main

    results = tmp_path / "cv_test_eval_results.txt"
    results.write_text("WER: 0.25\nCER: 0.1")
    real_replace = os.replace

    def read_only(source, target):
        raise OSError(errno.EROFS, "Read-only file system", str(target))

    monkeypatch.setattr(os, "replace", read_only)
    assert main(["score", "--cv_test", str(results), "--output", str(tmp_path / "score.json")]) == 2
    monkeypatch.setattr(os, "replace", real_replace)
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"robust-speech: error: cannot write {tmp_path / 'score.json'}: read-only file system; make it writable or "
        "write elsewhere (e.g. another --output_dir)")
    assert not list(tmp_path.glob("*score*"))


def test_processes_of_a_distributed_run_write_one_file_through_their_own_temporaries(tmp_path, monkeypatch):
    """torchrun runs one process per GPU, and each writes skipped.tsv: their temporaries must not collide."""
    from robust_speech.core.files import atomic_write

    target = tmp_path / "skipped.tsv"
    seen = {}
    for rank in ("0", "1", "7"):
        monkeypatch.setenv("RANK", rank)
        with atomic_write(target) as file:
            file.write(f"from rank {rank}\n")
            seen[rank] = sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("."))
    assert seen == {"0": [".skipped.tsv.tmp"], "1": [".skipped.tsv.rank1.tmp"], "7": [".skipped.tsv.rank7.tmp"]}
    assert target.read_text() == "from rank 7\n" and [path.name for path in tmp_path.iterdir()] == ["skipped.tsv"]
