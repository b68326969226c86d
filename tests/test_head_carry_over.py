"""A fine-tuned checkpoint trained further on another vocabulary: its CTC head rows follow the characters."""

import json

import pytest
import torch
from log_records import logged
from model_folders import save_random_model
from transformers import AutoModelForCTC, Wav2Vec2CTCTokenizer

from robust_speech.data.arguments import DataTrainingArguments
from robust_speech.model.arguments import ModelArguments
from robust_speech.model.building import build_model, load_config
from robust_speech.model.head_carry_over import HeadCarryOver, TokenSet

# The checkpoint's vocabulary, and a new language's: other special-token spellings, other order, other letters.
OLD = {"[PAD]": 0, "[UNK]": 1, "|": 2, "a": 3, "b": 4, "c": 5, "d": 6, "e": 7}
NEW = {"<pad>": 0, "e": 1, "<unk>": 2, "|": 3, "ą": 4, "a": 5, "ł": 6, "d": 7, "b": 8, "ż": 9}
SHARED = {"<pad>": "[PAD]", "<unk>": "[UNK]", "|": "|", "a": "a", "b": "b", "d": "d", "e": "e"}


def tokenizer_of(vocabulary, folder, pad="<pad>", unk="<unk>"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    return Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), pad_token=pad, unk_token=unk, bos_token=None, eos_token=None)


def fine_tune_setup(checkpoint, tokenizer):
    model_args = ModelArguments(model_name_or_path=str(checkpoint))
    data_args = DataTrainingArguments(dataset_name="unused")
    return build_model(model_args, data_args, load_config(model_args, data_args), tokenizer)


def head(model):
    return model.lm_head.weight.detach().clone(), model.lm_head.bias.detach().clone()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = save_random_model(tmp_path_factory.mktemp("carry") / "old", OLD)
    model = AutoModelForCTC.from_pretrained(folder)
    with torch.no_grad():  # a trained head's bias is not zero: make it tell its rows apart too
        model.lm_head.bias.copy_(torch.arange(len(OLD), dtype=torch.float32) + 1)
    model.save_pretrained(folder)
    return folder, *head(model)


def test_the_shared_characters_keep_their_rows_and_the_new_ones_start_afresh(checkpoint, tmp_path):
    folder, old_weight, old_bias = checkpoint
    with logged() as said:
        model = fine_tune_setup(folder, tokenizer_of(NEW, tmp_path / "new"))
    weight, bias = head(model)
    assert weight.shape == (len(NEW), old_weight.shape[1]) and model.config.vocab_size == len(NEW)
    for token, old_token in SHARED.items():
        torch.testing.assert_close(weight[NEW[token]], old_weight[OLD[old_token]], rtol=0, atol=0, msg=token)
        assert bias[NEW[token]] == old_bias[OLD[old_token]], token
    fresh = [NEW[token] for token in ("ą", "ł", "ż")]
    assert torch.all(bias[fresh] == 0)  # transformers' initialization of a new Linear: zero bias, normal weights
    assert 0 < weight[fresh].std() < 5 * model.config.initializer_range
    line = next(line for line in said if line.startswith("CTC head carried over"))
    assert "kept the rows of 7 of 10 tokens (<pad> e <unk> | a d b); 3 new, initialized afresh (ą ł ż)" in line
    assert "1 of the checkpoint's left out (c)" in line


def test_an_equal_size_vocabulary_in_another_order_moves_the_rows_with_their_characters(checkpoint, tmp_path):
    folder, old_weight, old_bias = checkpoint
    permuted = {token: len(OLD) - 1 - index for token, index in OLD.items()}  # same tokens, same size
    model = fine_tune_setup(folder, tokenizer_of(permuted, tmp_path / "permuted", pad="[PAD]", unk="[UNK]"))
    weight, bias = head(model)
    for token, index in permuted.items():
        torch.testing.assert_close(weight[index], old_weight[OLD[token]], rtol=0, atol=0, msg=token)
        assert bias[index] == old_bias[OLD[token]]


def test_the_same_vocabulary_loads_the_checkpoint_unchanged(checkpoint, tmp_path):
    folder, old_weight, old_bias = checkpoint
    with logged() as said:
        model = fine_tune_setup(folder, tokenizer_of(OLD, tmp_path / "same", pad="[PAD]", unk="[UNK]"))
    torch.testing.assert_close(head(model), (old_weight, old_bias), rtol=0, atol=0)
    assert not any("CTC head" in line for line in said)


def test_a_checkpoint_without_a_tokenizer_gets_a_fresh_head_as_before(tmp_path):
    folder = save_random_model(tmp_path / "bare", OLD, processor=False)
    model = fine_tune_setup(folder, tokenizer_of(NEW, tmp_path / "new"))
    assert model.lm_head.weight.shape[0] == len(NEW) and torch.all(model.lm_head.bias == 0)


def test_the_carried_over_model_saves_as_a_plain_ctc_model(checkpoint, tmp_path):
    folder, old_weight, _ = checkpoint
    model = fine_tune_setup(folder, tokenizer_of(NEW, tmp_path / "new"))
    model.save_pretrained(tmp_path / "saved")
    reloaded = AutoModelForCTC.from_pretrained(tmp_path / "saved")
    assert reloaded.config.vocab_size == len(NEW)
    torch.testing.assert_close(reloaded.lm_head.weight[NEW["a"]], old_weight[OLD["a"]])


def test_rows_past_the_checkpoints_head_are_not_read():
    old = TokenSet({"[PAD]": 0, "a": 1, "<s>": 2}, {"pad_token": "[PAD]"})  # <s>: an added token the head lacks
    new = TokenSet({"<pad>": 0, "<s>": 1, "a": 2}, {"pad_token": "<pad>"})
    plan = HeadCarryOver.between(old, new, old_rows=2)
    assert plan.rows == {0: 0, 2: 1} and plan.fresh == ("<s>",)


def test_the_training_script_carries_the_head_over_and_saves_it(checkpoint, small_corpus, tmp_path):
    from safetensors.torch import load_file
    from test_training import train_argv

    import robust_speech.training.run as training

    folder, old_weight, old_bias = checkpoint
    output_dir = tmp_path / "model"
    argv = train_argv(small_corpus, "{}", output_dir, "--max_steps", "1", "--eval_strategy", "no",
                      "--learning_rate", "0", "--warmup_steps", "0", "--report_to", "none")
    at = argv.index("--model_config_json")  # a checkpoint this time, not a config
    argv[at:at + 2] = ["--model_name_or_path", str(folder)]
    with logged() as said:
        assert training.main(argv, script="test") == 0
    assert any(line.startswith(f"CTC head carried over from {folder}: kept the rows of ") for line in said)
    vocabulary = json.loads((output_dir / "vocab.json").read_text(encoding="utf-8"))
    weights = load_file(output_dir / "model.safetensors")
    assert weights["lm_head.weight"].shape[0] == len(vocabulary)
    for token in ("[PAD]", "|", "a", "e"):  # learning rate 0: the rows are still the checkpoint's
        torch.testing.assert_close(weights["lm_head.weight"][vocabulary[token]], old_weight[OLD[token]], msg=token)
        assert weights["lm_head.bias"][vocabulary[token]] == old_bias[OLD[token]]
