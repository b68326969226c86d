"""MMS-style attention adapters (--adapter_attn_dim, --target_lang): the base frozen, the adapter and head saved
for their language, and every loader (plain transformers, robust-speech, eval.py without it) using that file."""

import json
import shutil

import pytest
import torch
from model_folders import save_random_model
from safetensors.torch import load_file, save_file
from test_training import train_argv

import robust_speech.training.run as training
from robust_speech.core.errors import ConfigurationError
from robust_speech.model.arguments import ModelArguments
from robust_speech.training.adapters import refuse_adapter_flags
from robust_speech.training.parameters import count_parameters

LANGUAGE = "xx"


def adapter_argv(corpus, base, output_dir, *extra):
    argv = train_argv(corpus, "{}", output_dir, "--max_steps", "3", "--eval_strategy", "no", *extra)
    at = argv.index("--model_config_json")
    return [*argv[:at], "--model_name_or_path", str(base), *argv[at + 2:]]


@pytest.fixture(scope="module")
def trained(small_corpus, tmp_path_factory):
    """A tiny random wav2vec2 folder (the 'pretrained' model) and the adapter run started from it."""
    root = tmp_path_factory.mktemp("adapters")
    base = save_random_model(root / "base")
    output_dir = root / "out"
    plan = training.parse_plan(adapter_argv(small_corpus, base, output_dir, "--adapter_attn_dim", "4",
                                            "--target_lang", LANGUAGE))
    return base, output_dir, training.train(plan)


def is_adapter_or_head(name: str) -> bool:
    return ".adapter_layer." in name or name.startswith("lm_head.")


def test_only_the_adapters_and_head_train_and_the_base_is_kept(trained):
    base, output_dir, result = trained
    before, after = load_file(base / "model.safetensors"), load_file(output_dir / "model.safetensors")
    adapters = {name for name in after if is_adapter_or_head(name)}
    assert any(".adapter_layer." in name for name in adapters) and not any(".adapter_layer." in name for name in before)
    for name in set(after) - adapters:
        assert torch.equal(after[name], before[name]), name  # the frozen base, bit for bit
    trainable = sum(after[name].numel() for name in adapters)
    assert result.parameters.trainable == trainable and result.parameters.fraction < 0.1
    assert result.steps == 3


def test_the_adapter_file_loads_in_plain_transformers_for_its_language(trained):
    from transformers import Wav2Vec2ForCTC

    _base, output_dir, _result = trained
    saved = load_file(output_dir / f"adapter.{LANGUAGE}.safetensors")
    whole = load_file(output_dir / "model.safetensors")
    assert set(saved) == {name for name in whole if is_adapter_or_head(name)}
    for name, weight in saved.items():
        assert torch.equal(weight, whole[name]), name
    planted = {name: weight + 1.0 for name, weight in saved.items()}  # differs from model.safetensors' copy
    save_file(planted, output_dir.parent / "planted.safetensors")
    folder = output_dir.parent / "planted"
    shutil.copytree(output_dir, folder)
    shutil.copy(output_dir.parent / "planted.safetensors", folder / f"adapter.{LANGUAGE}.safetensors")
    model = Wav2Vec2ForCTC.from_pretrained(folder, target_lang=LANGUAGE)
    assert model.config.adapter_attn_dim == 4
    assert torch.equal(model.lm_head.bias.detach(), planted["lm_head.bias"])


def dominant_adapter_folder(output_dir, folder, token_id):
    """The trained folder whose adapter file (only) makes one token win every frame."""
    shutil.copytree(output_dir, folder)
    path = folder / f"adapter.{LANGUAGE}.safetensors"
    weights = load_file(path)
    weights["lm_head.weight"] = torch.zeros_like(weights["lm_head.weight"])
    weights["lm_head.bias"] = torch.full_like(weights["lm_head.bias"], -10.0)
    weights["lm_head.bias"][token_id] = 10.0
    save_file(weights, path, metadata={"format": "pt"})
    return folder


def eval_both_paths(folder, corpus, tmp_path, monkeypatch) -> dict[str, dict[str, bytes]]:
    """The files eval.py writes for the English test split through robust-speech's engine and through the
    transformers pipeline (`--pipeline`: the path taken without robust-speech), by path."""
    from test_eval import load_eval_module

    module = load_eval_module()
    written = {}
    for path in ("engine", "pipeline"):
        (tmp_path / path).mkdir()
        monkeypatch.chdir(tmp_path / path)
        argv = ["--model_id", str(folder), "--dataset", str(corpus.root), "--config", "en", "--split", "test",
                "--log_outputs", "--report", "none", *(["--pipeline"] if path == "pipeline" else [])]
        module.main(module.build_parser().parse_args(argv))
        written[path] = {file.name: file.read_bytes() for file in (tmp_path / path).iterdir()}
    return written


def test_every_loader_uses_the_folders_adapter(trained, small_corpus, tmp_path, monkeypatch):
    """robust-speech's loader and eval.py on both its paths (robust-speech's engine; the transformers pipeline,
    the path without robust-speech) load adapter.<lang>.safetensors, not model.safetensors' copy, and agree."""
    from robust_speech.inference.loading import load_for_inference

    _base, output_dir, _result = trained
    vocabulary = json.loads((output_dir / "vocab.json").read_text(encoding="utf-8"))
    folder = dominant_adapter_folder(output_dir, tmp_path / "model", vocabulary["a"])
    acoustic = load_for_inference(folder).acoustic  # as transcribe, robustness, tune-lm, segment load it
    assert acoustic.model.lm_head.bias[vocabulary["a"]] == 10.0
    written = eval_both_paths(folder, small_corpus, tmp_path, monkeypatch)
    assert written["engine"] == written["pipeline"]
    predictions = next(data for name, data in written["engine"].items() if name.endswith("_predictions.txt"))
    assert predictions.decode().splitlines()[1::2] == ["a"] * len(small_corpus.rows("en", "test"))


@pytest.mark.parametrize("given, fields, config_type, message", [
    ({"adapter_attn_dim"}, {"adapter_attn_dim": 8}, "wav2vec2-bert", "no attention adapters; transformers has them "
     "for wav2vec2 models"),
    ({"adapter_attn_dim"}, {"adapter_attn_dim": 8}, "wav2vec2", "needs --target_lang"),
    ({"target_lang"}, {"target_lang": "pol"}, "wav2vec2", "give --adapter_attn_dim too"),
    ({"adapter_attn_dim", "target_lang"}, {"adapter_attn_dim": 0, "target_lang": "pol"}, "wav2vec2", "positive"),
    ({"adapter_attn_dim", "target_lang"}, {"adapter_attn_dim": 8, "target_lang": "../x"}, "wav2vec2", "letters"),
    ({"adapter_attn_dim", "target_lang", "lora_rank"}, {"adapter_attn_dim": 8, "target_lang": "pol", "lora_rank": 4},
     "wav2vec2", "give one"),
])
def test_adapter_flags_that_cannot_work_are_one_line(given, fields, config_type, message):
    from transformers import AutoConfig

    with pytest.raises(ConfigurationError, match=message):
        refuse_adapter_flags(given, AutoConfig.for_model(config_type), ModelArguments(**fields), do_train=True)


def test_an_adapter_for_a_run_that_does_not_train_is_refused():
    from transformers import Wav2Vec2Config

    fields = ModelArguments(adapter_attn_dim=8, target_lang="pol")
    with pytest.raises(ConfigurationError, match="add --do_train"):
        refuse_adapter_flags({"adapter_attn_dim", "target_lang"}, Wav2Vec2Config(), fields, do_train=False)
    refuse_adapter_flags({"adapter_attn_dim", "target_lang"}, Wav2Vec2Config(), fields, do_train=True)


def test_the_training_script_refuses_adapters_for_a_w2v_bert_model_before_reading_data(tmp_path, capsys):
    config = json.dumps({"model_type": "wav2vec2-bert", "hidden_size": 32, "num_hidden_layers": 1})
    argv = ["--dataset_name", str(tmp_path / "nowhere"), "--model_config_json", config, "--output_dir",
            str(tmp_path / "out"), "--do_train", "--adapter_attn_dim", "8", "--target_lang", "pol"]
    assert training.main(argv, script="run_speech_recognition_ctc.py") == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "wav2vec2-bert model has no attention adapters" in error


def test_parameter_count_tells_frozen_from_trained():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    model[0].requires_grad_(False)
    counted = count_parameters(model)
    assert (counted.trainable, counted.total) == (3 * 2 + 2, 4 * 3 + 3 + 3 * 2 + 2)
    assert counted.line() == "trainable parameters: 8 of 23 (34.78%)"


@pytest.mark.parametrize("files, language", [
    ([], None), (["adapter.pol.safetensors"], "pol"), (["adapter.pol.safetensors", "adapter.ces.safetensors"], None),
    (["adapter.pol.bin", "model.safetensors"], None),
])
def test_eval_py_finds_the_adapter_language_as_robust_speech_does(tmp_path, files, language):
    from test_eval import load_eval_module

    from robust_speech.model.acoustic import adapter_language

    for name in files:
        (tmp_path / name).write_bytes(b"")
    assert adapter_language(tmp_path) == load_eval_module().adapter_language(str(tmp_path)) == language
    assert adapter_language(tmp_path / "absent") is None and adapter_language("someone/model") is None
