"""LoRA (--lora_rank, peft): only the LoRA matrices and the CTC head train, and the folder holds the merged model,
a plain AutoModelForCTC that loads and evaluates without peft."""

import json
import shutil

import pytest
import torch
from model_folders import save_random_model
from safetensors.torch import load_file, save_file
from test_adapters import adapter_argv, eval_both_paths

import robust_speech.training.run as training
from robust_speech.core.errors import ConfigurationError
from robust_speech.model.arguments import ModelArguments
from robust_speech.training.lora import PROJECTIONS, add_lora, merged, refuse_lora_flags, target_modules


@pytest.fixture(scope="module")
def trained(small_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    base = save_random_model(root / "base")
    output_dir = root / "out"
    plan = training.parse_plan(adapter_argv(small_corpus, base, output_dir, "--lora_rank", "2", "--do_eval"))
    return base, output_dir, training.train(plan)


def is_projection(name: str) -> bool:
    return any(f".{projection}." in name for projection in PROJECTIONS)


def test_lora_trains_few_parameters_and_saves_a_plain_merged_model(trained):
    from transformers import AutoModelForCTC

    base, output_dir, result = trained
    assert not (output_dir / "adapter_config.json").exists() and not (output_dir / "adapter_model.safetensors").exists()
    model = AutoModelForCTC.from_pretrained(output_dir)
    assert type(model).__name__ == "Wav2Vec2ForCTC"
    assert not any("lora" in name or "modules_to_save" in name for name in model.state_dict())
    before, after = load_file(base / "model.safetensors"), load_file(output_dir / "model.safetensors")
    assert set(after) <= set(before)  # (no masked_spec_embed: --mask_time_prob 0)
    changed = {name for name in after if after[name].shape != before[name].shape or not torch.equal(after[name], before[name])}
    # The merged updates of the projections' weights (LoRA leaves their biases) and the retrained head, nothing else.
    assert changed == {name for name in after if (is_projection(name) and name.endswith(".weight"))
                       or name.startswith("lm_head.")}
    assert 0 < result.parameters.fraction < 0.5 and result.steps == 3
    assert {"wer", "cer"} <= set(result.eval_metrics)  # the Trainer found the labels through peft's wrapper


def test_the_lora_folder_scores_the_same_with_and_without_robust_speech(trained, small_corpus, tmp_path, monkeypatch):
    _base, output_dir, _result = trained
    # As in tests/model_folders.py, [UNK] never wins (tests/test_unknown_token.py is the test of that case).
    folder = tmp_path / "model"
    shutil.copytree(output_dir, folder)
    weights = load_file(folder / "model.safetensors")
    weights["lm_head.bias"][json.loads((folder / "vocab.json").read_text(encoding="utf-8"))["[UNK]"]] = -100.0
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    written = eval_both_paths(folder, small_corpus, tmp_path, monkeypatch)
    assert written["engine"] == written["pipeline"] and len(written["engine"]) == 3


def test_the_merged_model_computes_what_the_peft_model_computed(tmp_path):
    from transformers import AutoModelForCTC

    model = AutoModelForCTC.from_pretrained(save_random_model(tmp_path / "base")).eval()
    wrapped = add_lora(model, ModelArguments(lora_rank=4, lora_dropout=0.0))
    torch.manual_seed(3)
    with torch.no_grad():
        for name, parameter in wrapped.named_parameters():
            if "lora_B" in name:  # peft starts B at zero (no change); a trained B is not
                parameter.normal_(0, 0.5)
    audio = torch.randn(2, 8000)
    with torch.no_grad():
        expected = wrapped(input_values=audio).logits
        unwrapped = model.__class__.from_pretrained(save_random_model(tmp_path / "plain"))(input_values=audio).logits
    assert not torch.allclose(expected, unwrapped, atol=1e-3)  # LoRA changed the output
    merged(wrapped).save_pretrained(tmp_path / "merged")
    reloaded = AutoModelForCTC.from_pretrained(tmp_path / "merged").eval()
    assert not any(type(module).__module__.startswith("peft") for module in reloaded.modules())
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_values=audio).logits, expected, rtol=1e-4, atol=1e-4)


def test_default_targets_are_the_attention_and_feed_forward_projections(tmp_path):
    from transformers import AutoModelForCTC, Wav2Vec2BertConfig, Wav2Vec2BertForCTC

    wav2vec2 = AutoModelForCTC.from_pretrained(save_random_model(tmp_path / "base"))
    assert target_modules(wav2vec2, ModelArguments(lora_rank=4)) == [
        "q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense"]
    bert = Wav2Vec2BertForCTC(Wav2Vec2BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=32, vocab_size=5))
    assert target_modules(bert, ModelArguments(lora_rank=4)) == [
        "linear_q", "linear_k", "linear_v", "linear_out", "intermediate_dense", "output_dense"]
    assert target_modules(wav2vec2, ModelArguments(lora_rank=4, lora_target_modules="q_proj, v_proj")) == [
        "q_proj", "v_proj"]
    with pytest.raises(ConfigurationError, match="linear_q: not a Linear layer"):
        target_modules(wav2vec2, ModelArguments(lora_rank=4, lora_target_modules="q_proj,linear_q"))


@pytest.mark.parametrize("given, fields, do_train, message", [
    ({"lora_alpha"}, {"lora_alpha": 8.0}, True, "give --lora_rank too"),
    ({"lora_target_modules"}, {"lora_target_modules": "q_proj"}, True, "give --lora_rank too"),
    ({"lora_rank"}, {"lora_rank": 0}, True, "positive rank"),
    ({"lora_rank", "lora_dropout"}, {"lora_rank": 4, "lora_dropout": 1.0}, True, "below 1"),
    ({"lora_rank"}, {"lora_rank": 4}, False, "add --do_train"),
])
def test_lora_flags_that_cannot_work_are_one_line(given, fields, do_train, message):
    with pytest.raises(ConfigurationError, match=message):
        refuse_lora_flags(given, ModelArguments(**fields), do_train)


def test_lora_flags_that_work_pass():
    refuse_lora_flags({"lora_rank", "lora_alpha"}, ModelArguments(lora_rank=8, lora_alpha=32.0), True)
    refuse_lora_flags(set(), ModelArguments(), False)


@pytest.mark.slow
def test_a_killed_lora_run_resumes_from_peft_checkpoints_to_the_same_weights(small_corpus, tmp_path):
    """Checkpoints of a LoRA run are peft's (LoRA matrices and head only): resuming from one ends where an
    uninterrupted run ends."""
    from test_training import StopAfterSave

    base = save_random_model(tmp_path / "base")
    common = ("--max_steps", "6", "--save_steps", "3", "--dataloader_num_workers", "0", "--lora_rank", "2")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    training.train(training.parse_plan(adapter_argv(small_corpus, base, straight, *common)))
    with pytest.raises(KeyboardInterrupt):
        training.train(training.parse_plan(adapter_argv(small_corpus, base, resumed, *common),
                                           callbacks=[StopAfterSave(3)]))
    assert (resumed / "checkpoint-3" / "adapter_model.safetensors").is_file()
    training.train(training.parse_plan(adapter_argv(small_corpus, base, resumed, *common)))
    expected, actual = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)
    halfway = load_file(resumed / "checkpoint-3" / "adapter_model.safetensors")
    assert any("lora_B" in name and bool(weight.abs().sum() > 0) for name, weight in halfway.items())
