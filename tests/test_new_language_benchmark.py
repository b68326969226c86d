"""benchmarks/new_language.py: the four ways of teaching a model a new language, the same steps for each, each
row's trainable parameters, peak memory and test WER/CER; a row the architecture cannot train says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robust_speech.model.random_models import save_random_model
from robust_speech.text.vocabulary import PAD_TOKEN, UNK_TOKEN, WORD_DELIMITER

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
VOCABULARY = {PAD_TOKEN: 0, UNK_TOKEN: 1, WORD_DELIMITER: 2, **{c: 3 + i for i, c in enumerate("abcdefghij")}}


@pytest.fixture
def bench(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import common
    import new_language

    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")  # the repository's results stay as they are
    monkeypatch.setattr(common, "ROOT", tmp_path)  # save() names the file relative to ROOT
    return new_language


def test_every_way_gets_the_same_step_budget_and_scratch_starts_from_the_config_alone(bench, tmp_path):
    args = bench.parse_args(["--pretrained", "base", "--steps", "7", "--language", "pl"])
    fields = {way: bench.way_fields(way, "base", "corpus", "pl", tmp_path / way, args) for way in bench.WAYS}
    assert {f["training"]["max_steps"] for f in fields.values()} == {7}
    assert fields["scratch"]["model"] == {"config_name": "base"}  # random init: no weights loaded
    assert fields["full"]["model"] == {"model_name_or_path": "base"}
    assert fields["adapters"]["model"]["adapter_attn_dim"] == args.adapter_dim
    assert fields["adapters"]["model"]["target_lang"] == "pl"
    assert fields["lora"]["model"]["lora_rank"] == args.lora_rank
    assert {f["data"]["eval_split_name"] for f in fields.values()} == {"test"}
    assert fields["lora"]["training"]["learning_rate"] == args.few_parameter_lr
    assert fields["full"]["training"]["learning_rate"] != args.few_parameter_lr


def test_a_base_without_adapter_layers_gets_a_not_supported_row(bench, tmp_path):
    from transformers import Wav2Vec2BertConfig

    Wav2Vec2BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path / "bert")
    args = bench.parse_args(["--pretrained", str(tmp_path / "bert"), "--adapter_base", "none"])
    assert bench.adapter_base(args, tmp_path / "out") == (None, bench.NOT_SUPPORTED)
    row = {"trainable": 10, "total": 20, "peak_rss_mb": 100.0, "steps": 2, "train_runtime_s": 1.0, "wall_s": 2.0,
           "eval": {"wer": 0.5, "cer": 0.25}}
    table = bench.tables({"full": row, "adapters": {"not_supported": bench.NOT_SUPPORTED}, "lora": row,
                          "scratch": row}, None)
    assert f"| attention adapters | {bench.NOT_SUPPORTED} |" in table


@pytest.mark.slow
def test_the_four_ways_end_to_end_on_tiny_models(bench, tmp_path):
    # A tiny wav2vec2 (it has adapter layers). Its CTC head is a large share of so small a model: LoRA of rank 1
    # keeps it under a tenth of full fine-tuning's trainable parameters (wider models leave room for higher ranks).
    base = save_random_model(tmp_path / "base", VOCABULARY)
    data = bench.main(["--pretrained", str(base), "--steps", "3", "--train_size", "6", "--test_size", "2",
                       "--xlsr_steps", "0", "--adapter_dim", "4", "--lora_rank", "1",
                       "--output_dir", str(tmp_path / "work"), "--results_name", "new_language_test"])
    rows = data["rows"]
    assert set(rows) == set(bench.WAYS)
    for way, row in rows.items():
        assert row["steps"] == 3, way
        assert {"wer", "cer"} <= set(row["eval"]), way
        assert row["peak_rss_mb"] > 0
    full = rows["full"]["trainable"]
    assert rows["adapters"]["trainable"] <= 0.1 * full and rows["lora"]["trainable"] <= 0.1 * full
    assert rows["scratch"]["trainable"] == full
    saved = json.loads((tmp_path / "results" / "new_language_test_cpu.json").read_text(encoding="utf-8"))
    assert saved["budget"] == "3 optimizer steps for every way"
    # A second run reuses every stage, and adds the parameter and memory ratios of a model shape.
    again = bench.main(["--pretrained", str(base), "--steps", "3", "--train_size", "6", "--test_size", "2",
                        "--adapter_dim", "4", "--lora_rank", "1", "--output_dir", str(tmp_path / "work"),
                        "--results_name", "new_language_test", "--xlsr_steps", "1", "--xlsr_shape", "tiny"])
    assert again["rows"] == rows
    shape = again["xlsr300m"]
    assert set(shape) == {"full", "adapters", "lora"} and {row["steps"] for row in shape.values()} == {1}
    assert shape["adapters"]["trainable"] <= 0.1 * shape["full"]["trainable"]
    assert "The tiny shape" in again["table"]
