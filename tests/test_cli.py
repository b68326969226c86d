import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robust_speech.data.synth import read_tsv

SCRIPT = Path(sys.executable).with_name("robust-speech")


def run(*args, check=True):
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "robust_speech"]
    result = subprocess.run([*command, *args], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_console_script_is_installed():
    assert SCRIPT.exists(), "pip install -e . should install the robust-speech console script"


@pytest.mark.parametrize("verb", [None, "audit", "synth", "vocab", "prepare", "check-leakage", "demo"])
def test_help(verb):
    result = run(*([verb] if verb else []), "--help")
    assert "usage: robust-speech" in result.stdout


def test_audit_prints_collisions(tmp_path):
    corpus = tmp_path / "text.txt"
    corpus.write_text("It's late.\nIts colour fades.\nWe'll go, well then.\nThe cat.\n", encoding="utf-8")
    result = run("audit", "--text", str(corpus), "--chars_to_ignore", ",", ".", "'")
    assert "its   <-  it's (1), its (1)" in result.stdout
    assert "well  <-  we'll (1), well (1)" in result.stdout
    assert "cat" not in result.stdout
    strict = run("audit", "--text", str(corpus), "--chars_to_ignore", ",", ".", "'", "--fail_on_collision", check=False)
    assert strict.returncode == 1
    clean = run("audit", "--text", str(corpus), "--chars_to_ignore", ",", ".")
    assert "No collisions" in clean.stdout


def test_user_errors_are_one_line_and_exit_2(tmp_path):
    result = run("audit", "--text", str(tmp_path / "missing.txt"), check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing.txt" in result.stderr
    assert "Traceback" not in result.stderr
    bad = run("synth", "--output_dir", str(tmp_path / "c"), "--languages", "xx", check=False)
    assert bad.returncode == 2 and "no sentence source for language 'xx'" in bad.stderr


def test_vocab_command_writes_vocab_json(tmp_path):
    (tmp_path / "t.txt").write_text("Hello world.\nHola mundo.\n", encoding="utf-8")
    result = run("vocab", "--text", str(tmp_path / "t.txt"), "--output", str(tmp_path / "vocab.json"))
    assert f"wrote {tmp_path / 'vocab.json'}: 14 tokens" in result.stdout
    vocabulary = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    # [PAD]=0 (the CTC blank), [UNK]=1, |=2, then the normalized text's characters in code point order.
    assert vocabulary == {"[PAD]": 0, "[UNK]": 1, "|": 2, **{char: 3 + i for i, char in enumerate("adehlmnoruw")}}


def test_synth_command_writes_a_corpus(tmp_path):
    out = tmp_path / "corpus"
    result = run("synth", "--output_dir", str(out), "--languages", "pl,cs", "--train_size", "2", "--dev_size", "1",
                 "--test_size", "1", "--lm_sentences", "3", "--format", "wav", "--sampling_rate", "16000")
    assert "lm_text.txt" in result.stdout
    for language in ("pl", "cs"):
        rows = read_tsv(out / language / "train.tsv")
        assert len(rows) == 2 and (out / language / "clips" / rows[0]["path"]).is_file()
        assert len((out / language / "lm_text.txt").read_text(encoding="utf-8").splitlines()) == 3


def test_synth_lm_sentences_all_writes_every_unspoken_sentence(tmp_path):
    from robust_speech.data.sentences import load_sentences
    from robust_speech.text.normalizer import TextNormalizer

    out = tmp_path / "corpus"
    run("synth", "--output_dir", str(out), "--languages", "cs", "--train_size", "1", "--dev_size", "1",
        "--test_size", "1", "--lm_sentences", "all", "--format", "wav", "--sampling_rate", "16000")
    distinct = len({TextNormalizer()(sentence) for sentence in load_sentences("cs")})
    assert len((out / "cs" / "lm_text.txt").read_text(encoding="utf-8").splitlines()) == distinct - 3
    bad = run("synth", "--output_dir", str(tmp_path / "c"), "--lm_sentences", "most", check=False)
    assert bad.returncode != 0 and "expected a whole number or 'all'" in bad.stderr


def test_prepare_prints_skip_counts_that_match_skipped_tsv(tmp_path):
    from conftest import make_folder
    from test_preprocess import EXPECTED_REASONS, PLANTED_TRAIN

    folder = make_folder(tmp_path / "data", PLANTED_TRAIN)
    result = run("prepare", "--dataset_name", str(folder), "--train_split_name", "train", "--eval_split_name", "test",
                 "--min_duration_in_seconds", "0.1", "--preprocessing_num_workers", "2", "--output_dir", str(tmp_path / "out"),
                 "--cache_dir", str(tmp_path / "cache"))
    rows = read_tsv(tmp_path / "out" / "skipped.tsv")
    # Without a given vocabulary it is built from the training text, so the rare character stays in.
    assert len(rows) == len(EXPECTED_REASONS) - 1
    assert f"train: skipped {len(rows)} of {len(PLANTED_TRAIN)} examples" in result.stdout
    assert "2 workers" in result.stdout and "examples/s" in result.stdout
    vocabulary = json.loads((tmp_path / "out" / "vocab.json").read_text(encoding="utf-8"))
    assert "ǂ" in vocabulary and list(vocabulary)[:3] == ["[PAD]", "[UNK]", "|"]
    again = run("prepare", "--dataset_name", str(folder), "--train_split_name", "train", "--eval_split_name", "test",
                "--min_duration_in_seconds", "0.1", "--preprocessing_num_workers", "2", "--output_dir", str(tmp_path / "out"),
                "--cache_dir", str(tmp_path / "cache"))
    assert "read from the preprocessing cache" in again.stdout
