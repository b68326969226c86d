"""The web demo in a model folder (app.py, requirements.txt) and `robust-speech serve`, tried in a real browser:
headless Chromium (Debian's chromium + chromium-driver, driven by selenium) uploads a WAV and the transcript on
the page must be the one the folder's eval.py writes for that file, with the folder's LM."""

from __future__ import annotations

import ast
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile
from entry_points import ROOT, robust_speech_command
from model_folders import save_random_model

from robust_speech.core.space import APP_FILE, REQUIREMENTS_FILE, TEMPLATE_DIR, write_space_app

# Words without one-letter ones, so the LM's beam search writes words a greedy path would not spell.
LM_SENTENCES = ["the cat sat on the mat", "the dog ate the bone", "we like the cat", "they like the dog"]
SERVE_START_S = 180  # loading gradio and the pipeline on a busy machine
TRANSCRIPT_WAIT_S = 120
WORD_CELLS = "#words [role=gridcell][data-col='0']"


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory, kenlm_programs):
    """A tiny random-init model folder as a participant has it after build_ngram.py (eval.py beside it), and a
    44.1 kHz stereo WAV (the demo and eval.py both mix it down and resample it)."""
    from robust_speech.lm.build import LMBuildOptions, build
    from robust_speech.lm.ngram import NgramOptions

    root = tmp_path_factory.mktemp("demo")
    folder = save_random_model(root / "model")
    shutil.copy(ROOT / "eval.py", folder)
    text = root / "lm.txt"
    text.write_text("\n".join(LM_SENTENCES * 3) + "\n", encoding="utf-8")
    build(LMBuildOptions(model_dir=str(folder), text=[str(text)], ngram=NgramOptions(order=3)))
    wav = root / "clip.wav"
    soundfile.write(wav, np.random.default_rng(3).normal(0, 0.2, (44100 * 2, 2)).astype(np.float32), 44100)
    return folder, wav


def eval_py_prediction(folder: Path, wav: Path, cwd: Path) -> str:
    """The folder's eval.py --log_outputs, run with robust-speech hidden (the challenge's packages only), on a
    Common Voice-style folder holding `wav`: its one prediction."""
    dataset = cwd / "cv"
    (dataset / "clips").mkdir(parents=True)
    shutil.copy(wav, dataset / "clips" / wav.name)
    (dataset / "test.tsv").write_text(f"path\tsentence\n{wav.name}\tanything\n", encoding="utf-8")
    argv = [str(folder / "eval.py"), "--model_id", str(folder), "--dataset", str(dataset), "--config", "xx",
            "--split", "test", "--log_outputs"]
    command = [sys.executable, "-c", "import runpy, sys; sys.modules['robust_speech'] = None; "
               f"sys.argv = {argv!r}; runpy.run_path(sys.argv[0], run_name='__main__')"]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = next(cwd.glob("log_*_predictions.txt")).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "0" and len(lines) == 2
    return lines[1]


def app_transcript(folder: Path, wav: Path) -> dict:
    """app.py's `transcribe` in a process where robust_speech cannot be imported."""
    code = ("import importlib.util, json, sys; sys.modules['robust_speech'] = None; "
            f"spec = importlib.util.spec_from_file_location('app', {str(folder / APP_FILE)!r}); "
            "app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app); "
            f"text, words = app.transcribe({str(wav)!r}); print(json.dumps({{'text': text, 'words': words}}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.slow  # tens of seconds: make test-slow keeps make test under its budget
def test_the_folders_app_runs_without_robust_speech_and_transcribes_as_eval_py(demo_folder, tmp_path):
    folder, wav = demo_folder
    shown = app_transcript(folder, wav)
    expected = eval_py_prediction(folder, wav, tmp_path)
    assert shown["text"] == expected and expected  # the LM's words, as eval.py scores them
    assert set(expected.split()) <= {word for sentence in LM_SENTENCES for word in sentence.split()}
    assert [word for word, _start, _end in shown["words"]] == expected.split()
    times = [time for _word, start, end in shown["words"] for time in (start, end)]
    assert times == sorted(times) and 0 <= times[0] and times[-1] <= 2.0


def test_building_an_lm_or_training_puts_the_demo_in_the_folder_and_keeps_an_edited_one(demo_folder, tmp_path):
    folder, _wav = demo_folder
    for name in (APP_FILE, REQUIREMENTS_FILE):
        assert (folder / name).read_bytes() == (TEMPLATE_DIR / name).read_bytes()  # written by the LM build
    (tmp_path / APP_FILE).write_text("# my own demo\n", encoding="utf-8")
    assert write_space_app(tmp_path) == [tmp_path / REQUIREMENTS_FILE]
    assert (tmp_path / APP_FILE).read_text(encoding="utf-8") == "# my own demo\n"
    # The training run writes it beside eval.py (tests/test_training.py trains a folder and checks it is there).
    assert "write_space_app(output_dir)" in (ROOT / "robust_speech" / "training" / "run.py").read_text(encoding="utf-8")


def test_the_demos_requirements_name_every_package_it_imports_and_the_lm_decoder():
    source = (TEMPLATE_DIR / APP_FILE).read_text(encoding="utf-8")
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ImportFrom) and node.module}
    third_party = imported - set(sys.stdlib_module_names)
    lines = (TEMPLATE_DIR / REQUIREMENTS_FILE).read_text(encoding="utf-8").splitlines()
    required = {line.split("=")[0].split(">")[0].split("<")[0].strip() for line in lines if line and line[0] != "#"}
    assert third_party == {"gradio", "numpy", "soundfile", "soxr", "torch", "transformers"}
    assert third_party | {"pyctcdecode", "kenlm"} == required
    assert "robust_speech" not in source


def test_serve_refuses_a_missing_folder_in_one_line(tmp_path):
    result = subprocess.run(robust_speech_command("serve", str(tmp_path / "nowhere")), capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"robust-speech: error: {tmp_path / 'nowhere'}: no such model folder"


def test_serve_writes_the_demo_into_a_folder_without_one_and_names_a_missing_gradio(tmp_path):
    code = ("import sys; sys.modules['gradio'] = None; from robust_speech.cli.verbs import main; "
            f"sys.exit(main(['serve', {str(tmp_path)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"robust-speech: error: {tmp_path / APP_FILE} needs gradio: pip install "
                                     f"'robust-speech[serve]' (or pip install -r {tmp_path / REQUIREMENTS_FILE})")
    assert (tmp_path / APP_FILE).read_bytes() == (TEMPLATE_DIR / APP_FILE).read_bytes()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_page(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVE_START_S
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(encoding="utf-8")[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"nothing served at {url} after {SERVE_START_S} s")


def headless_chromium():
    from selenium import webdriver  # the test extra installs it
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("Debian's chromium and chromium-driver are missing: make system-deps installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))


@pytest.mark.slow  # tens of seconds: make test-slow keeps make test under its budget
def test_the_served_page_transcribes_an_uploaded_wav_as_eval_py_does(demo_folder, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    folder, wav = demo_folder
    expected = eval_py_prediction(folder, wav, tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w", encoding="utf-8") as output:
        server = subprocess.Popen(robust_speech_command("serve", str(folder), "--port", str(port)), stdout=output,
                                  stderr=subprocess.STDOUT)
    browser = None
    try:
        wait_for_page(f"http://127.0.0.1:{port}/", server, log)
        browser = headless_chromium()
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, TRANSCRIPT_WAIT_S)
        upload = wait.until(lambda page: page.find_element(By.CSS_SELECTOR, "#audio input[type=file]"))
        upload.send_keys(str(wav))
        wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#audio audio"))  # uploaded: a player shows it
        browser.find_element(By.CSS_SELECTOR, "#transcribe").click()
        box = browser.find_element(By.CSS_SELECTOR, "#transcript textarea")
        shown = wait.until(lambda page: box.get_attribute("value"))
        # The word table: one grid row per word, its first column the word.
        words = wait.until(lambda page: [cell.text for cell in page.find_elements(By.CSS_SELECTOR, WORD_CELLS)])
    finally:
        if browser is not None:
            browser.quit()
        server.terminate()
        server.wait(timeout=60)
    assert shown == expected and expected
    assert words == expected.split()
