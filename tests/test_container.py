"""The image of docker/Dockerfile, built and run for real (`make test-container`; not part of `make test`).

Builds the CPU variant with `make image` (torch 2.13.0 from a local wheel folder when there is one), with
docker when its daemon answers, else podman, which is installed and given a locally made debian:bookworm base
image when missing (docker/podman_setup.sh). Then, in containers of that image: the user is not root and no
token is inside, the tools are there, a shortened `robust-speech demo` and `eval.py` on its output finish, and
JupyterLab, the default command, answers HTTP on a published port."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import TINY_XLSR_CONFIG

from robust_speech.demo.pipeline import CHUNK_LENGTH_S, STRIDE_LENGTH_S
from robust_speech.reports.scoring import read_results_file

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("ROBUST_SPEECH_TEST_IMAGE", "localhost/robust-speech:cpu-test")
USER_ID = "42420"


class Engine:
    def __init__(self, name: str, env: dict):
        self.name, self.env = name, env

    def __call__(self, *args, timeout=120, check=True) -> subprocess.CompletedProcess:
        result = subprocess.run([self.name, *map(str, args)], capture_output=True, text=True, env=self.env,
                                timeout=timeout)
        if check:
            assert result.returncode == 0, (f"{self.name} {' '.join(map(str, args))}:\n{result.stdout[-3000:]}\n"
                                            f"{result.stderr[-3000:]}")
        return result

    def run(self, *args, timeout=120, check=True) -> subprocess.CompletedProcess:
        """A throwaway container of the image (no Hub access attempted)."""
        return self("run", "--rm", "-e", "HF_HUB_OFFLINE=1", *args, timeout=timeout, check=check)

    def shell(self, script: str, *options, timeout=120, check=True) -> subprocess.CompletedProcess:
        return self.run(*options, IMAGE, "bash", "-c", script, timeout=timeout, check=check)


@pytest.fixture(scope="module")
def engine() -> Engine:
    env = dict(os.environ)
    docker = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    if docker:
        return Engine("docker", env)
    setup = subprocess.run(["bash", ROOT / "docker" / "podman_setup.sh"], capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, setup.stderr[-3000:]
    env["CONTAINERS_CONF"] = setup.stdout.strip().splitlines()[-1]
    return Engine("podman", env)


@pytest.fixture(scope="module")
def image(engine) -> str:
    """`make image TORCH_VARIANT=cpu`, timed; its size from the engine."""
    started = time.monotonic()
    build = subprocess.run(["make", "--no-print-directory", "image", "TORCH_VARIANT=cpu", f"IMAGE={IMAGE}"], cwd=ROOT,
                           capture_output=True, text=True, env={**engine.env, "ENGINE": engine.name}, timeout=3000)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    size = int(engine("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    print(f"image {IMAGE}: built in {time.monotonic() - started:.0f} s with {engine.name}, {size / 1e9:.2f} GB")
    return IMAGE


def inspect(engine, image) -> dict:
    return json.loads(engine("image", "inspect", image).stdout)[0]


def test_the_image_runs_as_a_non_root_user_and_holds_no_token(engine, image):
    assert engine.shell("id -u; id -g").stdout.split() == [USER_ID, USER_ID]
    config = inspect(engine, image)["Config"]
    environment = dict(entry.split("=", 1) for entry in config["Env"])
    assert not [name for name in environment if "TOKEN" in name.upper()]
    assert environment["HF_HOME"] == "/workspace/.cache/huggingface" and environment["HOME"] == "/workspace"
    assert "/workspace/.cache/huggingface" in config["Volumes"] and "8888/tcp" in config["ExposedPorts"]
    # Neither the Hub nor Jupyter finds a token anywhere in a fresh container.
    script = ('test ! -e "$HF_HOME/token" && test -w "$HF_HOME" && test -w /workspace'
              ' && python -c "from huggingface_hub import get_token; assert get_token() is None, get_token()"'
              ' && ! grep -rqs token ~/.jupyter /etc/jupyter /opt/venv/etc/jupyter')
    engine.shell(script)


def test_the_image_has_the_toolkit_kenlm_speech_and_hub_tools(engine, image):
    script = r"""set -e
command -v lmplz build_binary espeak-ng git-lfs hf jupyter robust-speech eval.py run.sh >/dev/null
lmplz --help 2>&1 | grep -q discount_fallback
espeak-ng -w /tmp/hello.wav "hello" && test -s /tmp/hello.wav
ls /usr/share/games/fortunes/de >/dev/null
git lfs version
hf auth login --help >/dev/null
python - <<'EOF'
import flashlight.lib.text.decoder, kenlm, pyctcdecode, torch, robust_speech
assert torch.version.cuda is None, torch.version.cuda          # the CPU variant was asked for
assert robust_speech.__file__.startswith("/opt/venv/lib/"), robust_speech.__file__   # installed, not a checkout
print("torch", torch.__version__)
EOF
pip show robust-speech | grep -c "Editable project location" || true
"""
    output = engine.shell(script).stdout
    assert "git-lfs/" in output and "torch 2.13.0+cpu" in output
    assert output.strip().splitlines()[-1] == "0"  # not an editable install


def test_a_short_demo_and_eval_py_on_its_output_finish_in_the_container(engine, image, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, int(USER_ID), int(USER_ID))  # the container's user writes here (rootful: the same uid)
    # The real-world test set is in the demo's output; eval.py with the chunking the demo used.
    script = f"""set -e
cd /workspace/out
robust-speech demo --out demo --minutes 1 --languages en
mkdir again && cd again
eval.py --model_id ../demo/models/en --dataset ../demo/real_world --config en --split test \\
    --chunk_length_s {CHUNK_LENGTH_S} --stride_length_s {STRIDE_LENGTH_S} --log_outputs
"""
    started = time.monotonic()
    result = engine.shell(script, "-v", f"{work}:/workspace/out", timeout=1500, check=False)
    print(f"demo (1 minute, en) + eval.py in the container: {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    demo = work / "demo"
    assert "FINAL" in result.stdout and (demo / "REPORT.md").is_file()
    # eval.py run by hand on the demo's model and real-world test agrees with the demo's own eval.py run (LM).
    ours = read_results_file(next((work / "again").glob("*_eval_results.txt")))
    demos = read_results_file(next((demo / "eval" / "en" / "real_test" / "lm").glob("*_eval_results.txt")))
    assert (ours["wer"], ours["cer"]) == (demos["wer"], demos["cer"])
    assert next((work / "again").glob("log_*_predictions.txt")).stat().st_size > 0


def test_run_sh_trains_builds_the_lm_and_evaluates_into_a_mounted_output_folder(engine, image, tmp_path):
    """The README's in-job command (`cd /workspace/output && run.sh`), on a tiny local model and corpus."""
    output = tmp_path / "output"
    output.mkdir()
    os.chown(output, int(USER_ID), int(USER_ID))
    script = f"""set -e
cd /workspace/output
robust-speech synth --output_dir corpus --languages en --train_size 6 --dev_size 2 --test_size 2 --lm_sentences 40 \\
    --speakers 6 --format wav >/dev/null
python - <<'PYTHON'
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC
Wav2Vec2ForCTC(Wav2Vec2Config(**{TINY_XLSR_CONFIG!r})).save_pretrained("pretrained")
Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained("pretrained")
PYTHON
MODEL=./pretrained DATASET=./corpus LANGUAGE=en OUTPUT_DIR=./model EPOCHS=1 \\
EXTRA_TRAIN_FLAGS="--max_steps 2 --eval_steps 2 --save_steps 2 --mask_time_prob 0.0 --mask_feature_prob 0.0" run.sh
"""
    started = time.monotonic()
    result = engine.shell(script, "-v", f"{output}:/workspace/output", timeout=900, check=False)
    print(f"run.sh (tiny model, 2 steps) in the container: {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    model = output / "model"
    assert (model / "model.safetensors").is_file() and (model / "language_model" / "attrs.json").is_file()
    [results] = model.glob("*_en_test_eval_results.txt")
    assert results.read_text().startswith("WER: ")
    report = json.loads(next(model.glob("*_en_test_eval_report.json")).read_text())
    assert report["settings"]["decoder"] == "pyctcdecode" and report["utterances"] == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_jupyterlab_is_the_default_command_and_answers_http_with_a_fresh_token(engine, image):
    port = free_port()
    name = f"robust-speech-jupyter-{port}"
    engine("run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8888", image)
    try:
        token, deadline = None, time.monotonic() + 90
        while token is None and time.monotonic() < deadline:
            logs = engine("logs", name, check=False)
            found = re.search(r"http://127\.0\.0\.1:8888/lab\?token=([0-9a-f]+)", logs.stdout + logs.stderr)
            token = found and found.group(1)
            time.sleep(1)
        assert token and len(token) >= 32, "JupyterLab printed no token in 90 s:\n" + logs.stderr[-2000:]
        base = f"http://127.0.0.1:{port}"
        status, body = http_get(f"{base}/api/status?token={token}")
        assert status == 200 and "started" in json.loads(body)
        assert http_get(f"{base}/api/status")[0] == 403  # without the token: refused
        status, body = http_get(f"{base}/lab?token={token}")
        assert status == 200 and "JupyterLab" in body
        assert "/workspace" in engine("exec", name, "pwd").stdout
    finally:
        engine("rm", "-f", "-v", name, check=False)  # and its anonymous HF_HOME volume
