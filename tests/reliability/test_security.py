"""Security: no remote code unless asked, no pickle weights unless asked (and never arbitrary objects), tokens
never written or printed, and nothing a dataset or an argument names is written outside the output folder."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import soundfile as sf
import torch
import transformers
from test_eval import RATE, load_eval_module, random_model_dir, run_eval, varied_audio  # noqa: F401 (fixture)
from test_training import ROOT, run_script, train_argv

import robust_speech.training.run as training

TOKEN = "hf_PLANTEDtoken1234567890abcdef"
LOADERS = [(transformers.AutoConfig, "from_pretrained"), (transformers.AutoFeatureExtractor, "from_pretrained"),
           (transformers.AutoTokenizer, "from_pretrained"), (transformers.AutoProcessor, "from_pretrained"),
           (transformers.AutoModelForCTC, "from_pretrained"), (datasets, "load_dataset")]


@pytest.fixture
def loads(monkeypatch):
    """Every call of a transformers/datasets loader: (loader name, kwargs); the real loader still runs."""
    calls = []
    for owner, name in LOADERS:
        real = getattr(owner, name)

        def recording(*args, _real=real, _label=f"{getattr(owner, '__name__', owner)}.{name}", **kwargs):
            calls.append((_label, kwargs))
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, name, recording)
    return calls


def one_clip_dataset(folder: Path) -> Path:
    """An audio folder dataset with one 1 s clip."""
    folder.mkdir()
    sf.write(folder / "a.wav", varied_audio(1.0, 0), RATE)
    (folder / "metadata.csv").write_text("file_name,sentence\na.wav,hello\n")
    return folder


class LoadedEverything(Exception):
    """Raised instead of building the Trainer: every load of the training run has happened by then."""


def training_loads(argv, monkeypatch):
    def stop(*args, **kwargs):
        raise LoadedEverything

    monkeypatch.setattr(training, "CTCTrainer", stop)
    with pytest.raises(LoadedEverything):
        training.main(argv, script="test")


@pytest.mark.parametrize("flag", [[], ["--trust_remote_code"]])
def test_remote_code_runs_only_when_asked(flag, loads, random_model_dir, small_corpus, tiny_config_json, tmp_path,
                                          monkeypatch):
    expected = bool(flag)
    argv = train_argv(small_corpus, tiny_config_json, tmp_path / "out", "--max_steps", "1", *flag)
    argv[argv.index("--model_config_json"):argv.index("--model_config_json") + 2] = [
        "--model_name_or_path", str(random_model_dir), "--tokenizer_name_or_path", str(random_model_dir)]
    training_loads(argv, monkeypatch)
    trained = {label for label, _ in loads}
    assert {"AutoConfig.from_pretrained", "AutoFeatureExtractor.from_pretrained", "AutoTokenizer.from_pretrained",
            "AutoModelForCTC.from_pretrained"} <= trained
    assert all(kwargs.get("trust_remote_code") is expected for _label, kwargs in loads), loads

    loads.clear()
    module = load_eval_module()
    folder = one_clip_dataset(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    module.main(module.build_parser().parse_args(["--model_id", str(random_model_dir), "--dataset", str(folder),
                                                  "--config", "default", "--split", "train", *flag]))
    assert {label for label, _ in loads} >= {"AutoProcessor.from_pretrained", "AutoModelForCTC.from_pretrained"}
    assert all(kwargs.get("trust_remote_code") is expected for _label, kwargs in loads), loads


def test_hub_datasets_never_get_remote_code(monkeypatch):
    """datasets 5 runs no loading scripts at all; the Hub path must not ask for them either."""
    from robust_speech.data.sources import SourceSpec, load_speech_split

    calls = []
    table = datasets.Dataset.from_dict({"audio": [{"bytes": None, "path": "a.wav"}], "sentence": ["hi"]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: calls.append(kwargs) or table)
    load_speech_split([SourceSpec("someone/speech", "en")], "train", token=TOKEN)
    assert len(calls) == 1 and not calls[0].get("trust_remote_code")


# ---------------------------------------------------------------------------------------------------------
# Pickle weights


class Payload:
    """Unpickled by a plain torch.load, it runs a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def pickle_models(random_model_dir, tmp_path):
    """The same model with only a pytorch_model.bin: one holding tensors, one holding the payload too."""
    from safetensors.torch import load_file

    weights = load_file(random_model_dir / "model.safetensors")
    marker = tmp_path / "PAYLOAD_RAN"
    models = {}
    for kind, content in (("tensors", weights), ("payload", {**weights, "extra": Payload(marker)})):
        folder = tmp_path / kind
        shutil.copytree(random_model_dir, folder)
        (folder / "model.safetensors").unlink()
        torch.save(content, folder / "pytorch_model.bin")
        models[kind] = folder
    return models, marker


def eval_args(model_dir, folder, *extra):
    return ["--model_id", str(model_dir), "--dataset", str(folder), "--config", "default", "--split", "train", *extra]


def test_pickle_weights_are_refused_unless_allowed_and_never_run_code(pickle_models, small_corpus, tiny_config_json,
                                                                      tmp_path, capsys):
    from robust_speech.cli.verbs import main as cli_main

    models, marker = pickle_models
    data = one_clip_dataset(tmp_path / "data")
    work = tmp_path / "work"
    work.mkdir()

    refused = run_eval(work, *eval_args(models["tensors"], data))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"eval.py: error: {models['tensors']} holds only pickle weights (pytorch_model.bin), which can run code when "
        "loaded: convert them to safetensors, or pass --allow_pickle_weights to load them with "
        "torch.load(weights_only=True)")
    allowed = run_eval(work, *eval_args(models["tensors"], data, "--allow_pickle_weights"))
    assert allowed.returncode == 0, allowed.stderr

    for extra in ([], ["--allow_pickle_weights"]):
        result = run_eval(work, *eval_args(models["payload"], data, *extra))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].endswith(
        "its pickle weights hold more than tensors and were refused (torch.load weights_only=True); get safetensors "
        "weights from a source you trust")
    assert cli_main(["transcribe", str(data / "a.wav"), "--model", str(models["payload"]), "--allow_pickle_weights",
                     "--output_dir", str(work)]) == 2
    for flags in ([], ["--allow_pickle_weights"]):
        argv = train_argv(small_corpus, tiny_config_json, tmp_path / "train", "--max_steps", "1", *flags)
        argv[argv.index("--model_config_json"):argv.index("--model_config_json") + 2] = [
            "--model_name_or_path", str(models["payload"])]
        assert training.main(argv, script="test") == 2
    assert "pickle" in capsys.readouterr().err
    assert not marker.exists()

    # The payload is live: a plain torch.load runs it (so the checks above can fail).
    subprocess.run([sys.executable, "-c", "import sys, torch; torch.load(sys.argv[1], weights_only=False)",
                    str(models["payload"] / "pytorch_model.bin")], check=True, capture_output=True, cwd=ROOT)
    assert marker.exists()


# ---------------------------------------------------------------------------------------------------------
# Tokens


def files_holding(folder: Path, secret: str) -> list[str]:
    return [str(p.relative_to(folder)) for p in sorted(folder.rglob("*")) if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_token_is_never_written_or_printed(small_corpus, tiny_config_json, random_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    output_dir = tmp_path / "model"
    result = run_script("run_speech_recognition_ctc.py", train_argv(
        small_corpus, tiny_config_json, output_dir, "--max_steps", "2", "--save_steps", "2", "--logging_steps", "1",
        "--token", TOKEN, f"--hub_token={TOKEN}", "--push_to_hub", "false", "--report_to", "tensorboard"))
    written = sorted(p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*") if p.is_file())
    for expected in ("README.md", "run.sh", "training_args.bin", "trainer_state.json", "skipped.tsv",
                     "checkpoint-2/training_args.bin", "all_results.json"):
        assert expected in written, written
    assert any("events.out.tfevents" in name for name in written)
    assert files_holding(output_dir, TOKEN) == []
    assert TOKEN not in result.stdout + result.stderr
    # The token flags stay in run.sh, reading the secret from the environment.
    assert '--token "${HF_TOKEN}" --hub_token="${HF_TOKEN}"' in (output_dir / "run.sh").read_text()
    assert torch.load(output_dir / "training_args.bin", weights_only=False).hub_token is None

    data = one_clip_dataset(tmp_path / "data")
    work = tmp_path / "work"
    work.mkdir()
    evaluated = run_eval(work, *eval_args(random_model_dir, data, "--token", TOKEN, "--log_outputs"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert len(list(work.iterdir())) == 4
    assert files_holding(work, TOKEN) == [] and TOKEN not in evaluated.stdout + evaluated.stderr


# ---------------------------------------------------------------------------------------------------------
# Paths


def tree(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")}


def test_dataset_paths_and_names_cannot_write_outside_the_output_folder(random_model_dir, tmp_path):
    from robust_speech.cli.verbs import main as cli_main

    data = tmp_path / "data"
    data.mkdir()
    sf.write(data / "a.wav", varied_audio(1.0, 0), RATE)
    outside = tmp_path / "outside.wav"
    sf.write(outside, varied_audio(1.0, 1), RATE)
    # Rows pointing out of the dataset folder: relative with "..", absolute; a missing one for prepare (skipped).
    (data / "metadata.csv").write_text(f"file_name,sentence\na.wav,hello\n../outside.wav,up\n{outside},absolute\n")
    table = tmp_path / "rows.csv"
    table.write_text(f"file_name,sentence\ndata/a.wav,hello\n{outside},absolute\n../../escape.wav,missing\n")
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    before = tree(tmp_path)
    # With the reference's dataset id, "--config ../../../escape" walks through this folder up to tmp_path/deep.
    trap = work / f"{'_'.join(str(data).split('/'))}_.."
    trap.mkdir()

    result = run_eval(work, *eval_args(random_model_dir, data, "--log_outputs"), "--config", "../../../escape")
    assert result.returncode == 0, result.stderr
    safe_id = f"{'_'.join(str(data).split('/'))}_.._.._.._escape_train"
    assert (work / f"{safe_id}_eval_results.txt").is_file() and (work / f"log_{safe_id}_predictions.txt").is_file()
    prepare_out = work / "prepared"
    assert cli_main(["prepare", "--dataset_name", str(table), "--train_split_name", "train", "--do_eval", "false",
                     "--output_dir", str(prepare_out)]) == 0
    assert "../../escape.wav" in (prepare_out / "skipped.tsv").read_text()
    assert cli_main(["transcribe", str(outside), str(data / ".." / "data" / "a.wav"), "--model", str(random_model_dir),
                     "--format", "txt", "--output_dir", str(work / "transcripts")]) == 0
    assert sorted(p.name for p in (work / "transcripts").iterdir()) == ["a.txt", "outside.txt"]

    escaped = sorted(path for path in tree(tmp_path) - before if not path.startswith(str(work) + os.sep))
    assert escaped == []
