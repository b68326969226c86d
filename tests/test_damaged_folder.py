"""A model folder with a damaged file (cut short, overwritten in the middle, emptied) stops every entry point that
loads it with one line naming the file and what to do, never a traceback (or, for KenLM, a crash or garbage).

The bulk runs in-process: the library check (`find_damaged_files`, what check-submission lists), the loading every
inference entry point shares (`load_for_inference`: transcribe, robustness, tune-lm, the Python API), the
`robust-speech` and build_ngram.py command lines, and eval.py's own checks for when robust-speech is not installed.
eval.py itself runs as a subprocess, with and without robust-speech, on the two cases a new user met.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
from conftest import tone
from entry_points import ROOT
from model_folders import save_random_model

from robust_speech.core.folder_check import DamagedFileError, find_damaged_files

MODEL_FIX = "re-download the model folder"
LM_FIX = "build_ngram.py --model_dir"
TUNE_FIX = "tune-lm"
# Every file the folder holds, and the fix its message must give.
FILES = {
    "model.safetensors": MODEL_FIX, "config.json": MODEL_FIX, "processor_config.json": MODEL_FIX,
    "tokenizer_config.json": MODEL_FIX, "vocab.json": MODEL_FIX, "text_normalizer.json": MODEL_FIX,
    "alphabet.json": LM_FIX, "language_model/2gram.bin": LM_FIX, "language_model/unigrams.txt": LM_FIX,
    "language_model/attrs.json": LM_FIX, "flashlight_lm.bin": LM_FIX, "decoding.json": TUNE_FIX,
}
DAMAGES = ("truncated", "overwritten", "empty")
CASES = [(name, damage) for name in FILES for damage in DAMAGES]
IDS = [f"{name}-{damage}" for name, damage in CASES]
# The two a new user met: a partly overwritten LM binary, weights cut short.
USER_CASES = [("language_model/2gram.bin", "overwritten"), ("model.safetensors", "truncated")]


def damage(path: Path, kind: str) -> None:
    data = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":  # an interrupted copy or download
        path.write_bytes(data[: len(data) // 2])
    else:  # garbage over a stretch in the middle, the size unchanged
        start, span = len(data) // 2, max(4, min(len(data) // 4, 4096))
        garbage = random.Random(path.name).randbytes(span)
        path.write_bytes(data[:start] + garbage + data[start + span :])


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory, kenlm_programs):
    """The tiny random model with a 2-gram LM (build_ngram.py's library call) and a tune-lm decoding.json."""
    from robust_speech.core.model_folder import TRAINING_TEXT_FILE
    from robust_speech.core.space import APP_FILE, REQUIREMENTS_FILE
    from robust_speech.lm.build import LMBuildOptions, build
    from robust_speech.lm.ngram import NgramOptions

    root = tmp_path_factory.mktemp("damaged")
    folder = save_random_model(root / "model")
    text = root / "lm.txt"
    text.write_text("the cat sat on the mat\na cat sat on a hat\nwe like the cat\n", encoding="utf-8")
    build(LMBuildOptions(model_dir=str(folder), text=(str(text),), ngram=NgramOptions(order=2)))
    (folder / "decoding.json").write_text(json.dumps({"beam_width": 8}) + "\n", encoding="utf-8")
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted(
        # the web demo's files are code, not data; data.training_text reads the text record with its own one-line error
        [*FILES, "checksums.json", APP_FILE, REQUIREMENTS_FILE, TRAINING_TEXT_FILE])
    return folder


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """One clip, and an audio folder holding it (a split for eval.py, tune-lm and robustness)."""
    folder = tmp_path_factory.mktemp("audio")
    soundfile.write(folder / "clip.wav", tone(300, 1.0, 16000), 16000)
    (folder / "metadata.csv").write_text("file_name,sentence\nclip.wav,the cat\n", encoding="utf-8")
    return folder


def damaged_copy(lm_folder: Path, tmp_path: Path, name: str, kind: str) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(lm_folder, folder)
    damage(folder / name, kind)
    return folder


def assert_names(line: str, folder: Path, name: str) -> None:
    assert "\n" not in line and line.startswith(f"{folder / name}: "), line
    assert FILES[name] in line, line


def test_an_intact_folder_has_no_damaged_file(lm_folder):
    assert find_damaged_files(lm_folder, scan_weights=True) == []


@pytest.mark.parametrize("name,kind", CASES, ids=IDS)
def test_the_check_names_the_damaged_file_and_the_fix(lm_folder, tmp_path, name, kind):
    """What check-submission lists: every damaged file, each with its fix (weights read whole)."""
    folder = damaged_copy(lm_folder, tmp_path, name, kind)
    damaged = find_damaged_files(folder, scan_weights=True)
    assert [found.path for found in damaged] == [folder / name]
    assert_names(str(damaged[0]), folder, name)


@pytest.mark.parametrize("name,kind", CASES, ids=IDS)
def test_loading_for_inference_stops_with_one_line(lm_folder, tmp_path, name, kind):
    """transcribe, robustness, tune-lm, the Python API and eval.py's engine all load through here."""
    from robust_speech.inference.loading import load_for_inference
    from robust_speech.inference.options import LoadOptions

    folder = damaged_copy(lm_folder, tmp_path, name, kind)
    with pytest.raises(DamagedFileError) as raised:
        load_for_inference(folder, LoadOptions(device="cpu"))
    assert_names(str(raised.value), folder, name)


@pytest.mark.parametrize("name,kind", CASES, ids=IDS)
def test_transcribe_stops_with_one_line(lm_folder, audio, tmp_path, capsys, name, kind):
    from robust_speech.cli.verbs import main

    folder = damaged_copy(lm_folder, tmp_path, name, kind)
    code = main(["transcribe", str(audio / "clip.wav"), "--model_id", str(folder), "--output_dir", str(tmp_path / "out"),
                 "--device", "-1"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and error.startswith("robust-speech: error: ")
    assert_names(error.removeprefix("robust-speech: error: "), folder, name)


@pytest.mark.parametrize("name,kind", USER_CASES)
@pytest.mark.parametrize("verb", ["tune-lm", "robustness"])
def test_tune_lm_and_robustness_stop_with_one_line(lm_folder, audio, tmp_path, capsys, verb, name, kind):
    from robust_speech.cli.verbs import main

    folder = damaged_copy(lm_folder, tmp_path, name, kind)
    command = (["tune-lm", "--model_dir", str(folder), "--alphas", "0.5"] if verb == "tune-lm"
               else ["robustness", "--model_id", str(folder), "--snr_db", "10", "--output_dir", str(tmp_path / "out")])
    code = main([*command, "--dataset", str(audio), "--split", "train", "--device", "-1"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and error.startswith("robust-speech: error: ")
    assert_names(error.removeprefix("robust-speech: error: "), folder, name)


@pytest.mark.parametrize("name,kind", USER_CASES)
def test_the_python_api_raises_the_one_line_error(lm_folder, tmp_path, name, kind):
    import robust_speech

    folder = damaged_copy(lm_folder, tmp_path, name, kind)
    with pytest.raises(DamagedFileError) as raised:
        robust_speech.load(folder, device="cpu")
    assert_names(str(raised.value), folder, name)


READ_BY_BUILD_NGRAM = ["model.safetensors", "config.json", "processor_config.json", "tokenizer_config.json",
                       "vocab.json", "text_normalizer.json"]
REPLACED_BY_BUILD_NGRAM = ["alphabet.json", "language_model/2gram.bin", "language_model/unigrams.txt",
                           "language_model/attrs.json", "flashlight_lm.bin"]


def build_ngram(folder: Path) -> int:
    from robust_speech.cli.build_ngram import main

    text = folder.parent / "lm.txt"
    text.write_text("the cat sat\nthe dog sat\n", encoding="utf-8")
    return main(["--model_dir", str(folder), "--text", str(text), "--order", "2", "-q"])


# It reads no weight: weights overwritten in their data (only found by reading them) are left to the loaders.
@pytest.mark.parametrize("name,kind", [(n, k) for n in READ_BY_BUILD_NGRAM for k in DAMAGES
                                       if (n, k) != ("model.safetensors", "overwritten")])
def test_build_ngram_stops_with_one_line(lm_folder, tmp_path, capsys, name, kind):
    folder = damaged_copy(lm_folder, tmp_path, name, kind)
    code = build_ngram(folder)
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and error.startswith("build_ngram.py: error: ")
    assert_names(error.removeprefix("build_ngram.py: error: "), folder, name)


@pytest.mark.parametrize("name", REPLACED_BY_BUILD_NGRAM)
def test_build_ngram_repairs_a_damaged_lm_as_the_message_says(lm_folder, tmp_path, name):
    folder = damaged_copy(lm_folder, tmp_path, name, "overwritten")
    assert find_damaged_files(folder)
    assert build_ngram(folder) == 0
    assert find_damaged_files(folder) == []


def test_removing_the_lm_forgets_its_checksums(lm_folder, tmp_path):
    from robust_speech.lm.install import remove_language_model

    folder = tmp_path / "model"
    shutil.copytree(lm_folder, folder)
    remove_language_model(folder)
    assert not (folder / "checksums.json").exists() and find_damaged_files(folder) == []


# ---------------------------------------------------------------------------------------------------------
# The LM's checksums: hashed on load only when the size or modification time changed; always by check-submission

LM_BINARY = "language_model/2gram.bin"


def set_back_mtime(folder: Path, name: str) -> None:
    """The modification time recorded at install, put back (as `touch -d` or a careful copy would)."""
    recorded = json.loads((folder / "checksums.json").read_text(encoding="utf-8"))[name]
    os.utime(folder / name, ns=(recorded["mtime_ns"], recorded["mtime_ns"]))


@pytest.fixture
def hashed(monkeypatch):
    """The files the check hashes, in order."""
    import robust_speech.core.folder_check as folder_check

    calls = []
    real = folder_check.file_sha256
    monkeypatch.setattr(folder_check, "file_sha256", lambda path: calls.append(path) or real(path))
    return calls


def test_a_load_hashes_only_files_changed_since_install(lm_folder, tmp_path, hashed):
    folder = tmp_path / "model"
    shutil.copytree(lm_folder, folder)  # copy2 keeps the modification times
    assert find_damaged_files(folder) == [] and hashed == []
    assert find_damaged_files(folder, hash_all=True) == [] and len(hashed) == 3  # binary, unigrams, flashlight
    (folder / LM_BINARY).write_bytes((folder / LM_BINARY).read_bytes())  # rewritten: same bytes, a new time
    hashed.clear()
    assert find_damaged_files(folder) == [] and hashed == [folder / LM_BINARY]


def test_a_truncation_is_caught_by_the_quick_path(lm_folder, tmp_path, hashed):
    folder = damaged_copy(lm_folder, tmp_path, LM_BINARY, "truncated")
    set_back_mtime(folder, LM_BINARY)
    [found] = find_damaged_files(folder)
    assert found.path == folder / LM_BINARY and "cut short" in found.problem and hashed == []


def test_a_same_size_overwrite_with_its_time_set_back_is_caught_by_check_submission_only(lm_folder, tmp_path):
    from robust_speech.submission.check_loading import check_damaged

    folder = damaged_copy(lm_folder, tmp_path, LM_BINARY, "overwritten")
    set_back_mtime(folder, LM_BINARY)
    assert find_damaged_files(folder) == []  # the quick path's blind spot: nothing it reads changed
    [line, *_] = check_damaged(folder)
    assert not line.ok and line.detail.startswith(f"{folder / LM_BINARY}: is damaged (its SHA-256 differs")
    assert [line.ok for line in check_damaged(lm_folder)] == [True]


def test_check_submission_warns_when_the_lm_has_no_checksums(lm_folder, tmp_path):
    from robust_speech.submission.check_loading import check_damaged

    folder = tmp_path / "model"
    shutil.copytree(lm_folder, folder)
    (folder / "checksums.json").unlink()
    assert [(line.ok, line.warning) for line in check_damaged(folder)] == [(True, False), (True, True)]


def test_recorded_weights_checksums_find_an_overwrite_the_value_scan_cannot(lm_folder, tmp_path):
    """Zeros written over the end of the weights read as finite, small values: only a recorded checksum sees them.
    `record_folder_checksums` records them on request (training does not: docs/reliability.md says why)."""
    from robust_speech.core.folder_check import read_checksums, record_folder_checksums
    from robust_speech.lm.install import remove_language_model

    folder = tmp_path / "model"
    shutil.copytree(lm_folder, folder)
    lm_entries = read_checksums(folder)
    record_folder_checksums(folder)
    recorded = read_checksums(folder)
    assert set(recorded) == {*lm_entries, "model.safetensors"} and find_damaged_files(folder, hash_all=True) == []
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-4096] + bytes(4096))
    [found] = find_damaged_files(folder, language_model=False, scan_weights=True)
    assert found.path == weights and "SHA-256 differs" in found.problem and MODEL_FIX in found.fix
    remove_language_model(folder)  # the LM's entries go with the LM; the weights' stay
    assert set(read_checksums(folder)) == {"model.safetensors"}
    (folder / "checksums.json").unlink()
    assert find_damaged_files(folder, scan_weights=True) == []  # what a folder without the record gets


# ---------------------------------------------------------------------------------------------------------
# eval.py


def load_eval_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("challenge_eval_damaged", ROOT / "eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,kind", [case for case in CASES if case != ("model.safetensors", "overwritten")],
                         ids=[i for case, i in zip(CASES, IDS) if case != ("model.safetensors", "overwritten")])
def test_eval_py_finds_damaged_files_without_robust_speech(lm_folder, tmp_path, name, kind):
    """eval.py's own checks (it cannot import robust-speech there): the same file, the same fix. Weights
    overwritten in their data are found once loaded (the subprocess test below)."""
    folder = damaged_copy(lm_folder, tmp_path, name, kind)
    assert_names(load_eval_module().damaged_file(str(folder)), folder, name)
    assert load_eval_module().damaged_file(str(lm_folder)) is None


def run_eval(folder: Path, audio: Path, cwd: Path, without_robust_speech: bool) -> subprocess.CompletedProcess:
    argv = [str(ROOT / "eval.py"), "--model_id", str(folder), "--dataset", str(audio), "--config", "default",
            "--split", "train", "--device", "-1"]
    command = [sys.executable, *argv]
    if without_robust_speech:  # as the challenge runs it: only its packages importable
        command = [sys.executable, "-c", "import runpy, sys; sys.modules['robust_speech'] = None; "
                   f"sys.argv = {argv!r}; runpy.run_path(sys.argv[0], run_name='__main__')"]
    cwd.mkdir()
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_eval_py_refuses_weights_that_hold_nan_or_absurd_values(tmp_path):
    """What eval.py checks once the pipeline has loaded the weights (garbage in their data passes the header)."""
    import torch

    layer = torch.nn.Linear(4, 4)
    check = load_eval_module().check_weight_values
    check(layer, str(tmp_path))
    for value in (float("nan"), float("inf"), 3e20):
        with torch.no_grad():
            layer.weight[1, 2] = value
        with pytest.raises(Exception, match=r"model.safetensors: is damaged: weight weight holds NaN") as raised:
            check(layer, str(tmp_path))
        assert MODEL_FIX in str(raised.value) and type(raised.value).__name__ == "RobustSpeechError"


# Weights overwritten in their data are found only once loaded, the longest runs here: slow.
@pytest.mark.parametrize("name,kind", [*USER_CASES, pytest.param("model.safetensors", "overwritten",
                                                                 marks=pytest.mark.slow)])
@pytest.mark.parametrize("without_robust_speech", [False, True], ids=["robust-speech", "without-robust-speech"])
def test_eval_py_stops_with_one_line(lm_folder, audio, tmp_path, name, kind, without_robust_speech):
    folder = damaged_copy(lm_folder, tmp_path, name, kind)
    result = run_eval(folder, audio, tmp_path / "run", without_robust_speech)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("eval.py: error: ")
    assert_names(line.removeprefix("eval.py: error: "), folder, name)


def test_a_greedy_run_does_not_read_the_damaged_lm(lm_folder, audio, tmp_path, capsys):
    """--no_lm reads no LM file, so a damaged one does not stop it."""
    from robust_speech.cli.verbs import main

    folder = damaged_copy(lm_folder, tmp_path, "language_model/2gram.bin", "overwritten")
    assert main(["transcribe", str(audio / "clip.wav"), "--model_id", str(folder), "--output_dir", str(tmp_path / "out"),
                 "--device", "-1", "--no_lm"]) == 0


# Written by other transformers versions, absent from the test folder: planted, then damaged.
OPTIONAL_FILES = {"preprocessor_config.json": lambda folder: json.loads(
    (folder / "processor_config.json").read_text(encoding="utf-8"))["feature_extractor"],
                  "special_tokens_map.json": lambda folder: {"pad_token": "[PAD]", "unk_token": "[UNK]"}}


@pytest.mark.parametrize("kind", DAMAGES)
@pytest.mark.parametrize("name", OPTIONAL_FILES)
def test_files_of_other_transformers_versions_are_checked_too(lm_folder, tmp_path, name, kind):
    folder = tmp_path / "model"
    shutil.copytree(lm_folder, folder)
    (folder / name).write_text(json.dumps(OPTIONAL_FILES[name](folder), indent=2), encoding="utf-8")
    assert find_damaged_files(folder) == []
    damage(folder / name, kind)
    found = find_damaged_files(folder)
    assert [damaged.path for damaged in found] == [folder / name] and MODEL_FIX in str(found[0])
    line = load_eval_module().damaged_file(str(folder))
    assert line.startswith(f"{folder / name}: ") and MODEL_FIX in line


@pytest.mark.parametrize("without_robust_speech", [None, False, True], ids=["library", "eval.py", "eval.py-alone"])
def test_a_cut_lm_binary_without_recorded_checksums_is_one_line_too(lm_folder, audio, tmp_path,
                                                                     without_robust_speech):
    """A folder whose LM was not installed by build_ngram.py has no checksums.json: KenLM's own refusal of the
    cut binary is what names it."""
    from robust_speech.inference.loading import load_for_inference
    from robust_speech.inference.options import LoadOptions

    folder = damaged_copy(lm_folder, tmp_path, "language_model/2gram.bin", "truncated")
    (folder / "checksums.json").unlink()
    if without_robust_speech is None:
        with pytest.raises(DamagedFileError) as raised:
            load_for_inference(folder, LoadOptions(device="cpu"))
        line = str(raised.value)
    else:
        result = run_eval(folder, audio, tmp_path / "run", without_robust_speech)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
        line = result.stderr.strip().splitlines()[-1].removeprefix("eval.py: error: ")
    assert line.startswith(f"{folder / 'language_model/2gram.bin'}: cannot be read by KenLM (Binary file has size ")
    assert LM_FIX in line, line


def test_eval_py_hashes_only_changed_lm_files_and_leaves_the_weights_entries_to_robust_speech(lm_folder, tmp_path,
                                                                                              monkeypatch):
    """eval.py without robust-speech: the LM's quick path as robust-speech's (a multi-gigabyte LM is not hashed on
    every run), and recorded weights are never blamed on the LM nor hashed there."""
    from robust_speech.core.folder_check import record_folder_checksums

    module = load_eval_module()
    hashed = []
    real = module.sha256.__wrapped__
    monkeypatch.setattr(module, "sha256", lambda path: hashed.append(path) or real(path))
    folder = tmp_path / "model"
    shutil.copytree(lm_folder, folder)
    record_folder_checksums(folder)
    assert module.damaged_lm_file(folder, "fix") is None and hashed == []
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4096] + bytes(4096))
    assert module.damaged_lm_file(folder, "fix") is None and hashed == []
    binary = folder / LM_BINARY
    binary.write_bytes(binary.read_bytes())  # rewritten with the same bytes: hashed once, and intact
    assert module.damaged_lm_file(folder, "fix") is None and hashed == [binary]
    data = bytearray(binary.read_bytes())
    data[len(data) // 2] ^= 0xFF
    binary.write_bytes(bytes(data))
    assert "SHA-256 differs" in module.damaged_lm_file(folder, "fix")
    binary.write_bytes(bytes(data[:-10]))
    assert "cut short" in module.damaged_lm_file(folder, "fix")
