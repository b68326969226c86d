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


@pytest.mark.parametrize("verb", [None, "audit", "synth", "vocab", "prepare", "check-leakage", "tune-lm", "score",
                                  "transcribe", "robustness", "demo", "serve"])
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


@pytest.fixture
def logger_restored():
    """configure_logging changes the process's `robust_speech` logger: give the next test the one it had."""
    from robust_speech.core.logs import LOGGER

    state = (LOGGER.level, list(LOGGER.handlers), LOGGER.propagate)
    yield LOGGER
    LOGGER.setLevel(state[0])
    LOGGER.handlers[:] = state[1]
    LOGGER.propagate = state[2]


@pytest.mark.parametrize("flags, shown", [
    ([], {"an info line"}),
    (["-q"], set()),
    (["--quiet"], set()),
    (["-v"], {"an info line", "a debug line"}),
    (["--verbose"], {"an info line", "a debug line"}),
])
@pytest.mark.parametrize("where", ["before the verb", "after the verb"])
def test_quiet_and_verbose_set_what_the_library_says(flags, shown, where, monkeypatch, capsys, logger_restored):
    from robust_speech.cli import score, verbs

    def run(args):
        logger_restored.info("an info line")
        logger_restored.debug("a debug line")
        print("the result")  # the command's own output prints whatever the verbosity
        return 0

    monkeypatch.setattr(score, "run", run)
    argv = [*flags, "score"] if where == "before the verb" else ["score", *flags]
    assert verbs.main(argv) == 0
    lines = set(capsys.readouterr().out.splitlines())
    assert lines == {"the result", *shown}


def test_quiet_silences_build_ngram(tmp_path):
    from entry_points import run_build_ngram

    (tmp_path / "t.txt").write_text("one two three\ntwo three four\n", encoding="utf-8")
    loud = run_build_ngram("--output_dir", str(tmp_path / "a"), "--text", str(tmp_path / "t.txt"), "--order", "2")
    assert loud.returncode == 0 and "LM text: 2 of 2 sentences kept" in loud.stdout
    quiet = run_build_ngram("-q", "--output_dir", str(tmp_path / "b"), "--text", str(tmp_path / "t.txt"), "--order", "2")
    assert quiet.returncode == 0 and quiet.stdout == "" and (tmp_path / "b" / "unigrams.txt").is_file()


# The spelling every verb uses for a concept (docs/flags.md), and the ones verbs used before, kept as aliases.
CANONICAL = {"dataset_name": "--dataset_name", "dataset_config_name": "--dataset_config_name",
             "train_split_name": "--train_split_name", "eval_split_name": "--eval_split_name",
             "eval_dataset_name": "--eval_dataset_name", "eval_dataset_config_name": "--eval_dataset_config_name",
             "max_eval_samples": "--max_eval_samples", "model_id": "--model_id", "top": "--top", "decoder": "--decoder",
             "audio_format": "--audio_format", "output_dir": "--output_dir"}
ALIASES = {"--dataset": "--dataset_name", "--config": "--dataset_config_name", "--split": "--eval_split_name",
           "--train": "--dataset_name", "--train_config": "--dataset_config_name", "--train_split": "--train_split_name",
           "--eval": "--eval_dataset_name", "--eval_config": "--eval_dataset_config_name",
           "--eval_split": "--eval_split_name", "--max_samples": "--max_eval_samples", "--model": "--model_id",
           "--show": "--top", "--engine": "--decoder"}


def verb_parsers():
    import argparse

    from robust_speech.cli import verbs

    parser = verbs.build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_verb_spells_a_concept_alike():
    for verb, parser in verb_parsers().items():
        for action in parser._actions:
            if action.dest in CANONICAL:
                assert action.option_strings[0] == CANONICAL[action.dest], (verb, action.option_strings)
            for spelling in action.option_strings[1:]:
                # An alias stands for its canonical flag (synth's --format for --audio_format; demo's --out).
                assert ALIASES.get(spelling, action.option_strings[0]) == action.option_strings[0], (verb, spelling)
            assert action.option_strings[:1] == [] or action.option_strings[0] not in ALIASES, (verb, action)


@pytest.mark.parametrize("old, new", [
    (["tune-lm", "--model_dir", "m", "--dataset", "d", "--config", "en", "--split", "dev", "--max_samples", "3",
      "--engine", "flashlight"],
     ["tune-lm", "--model_dir", "m", "--dataset_name", "d", "--dataset_config_name", "en", "--eval_split_name", "dev",
      "--max_eval_samples", "3", "--decoder", "flashlight"]),
    (["check-leakage", "--train", "a", "--train_config", "en", "--train_split", "train", "--eval", "b",
      "--eval_config", "de", "--eval_split", "dev", "--show", "5"],
     ["check-leakage", "--dataset_name", "a", "--dataset_config_name", "en", "--train_split_name", "train",
      "--eval_dataset_name", "b", "--eval_dataset_config_name", "de", "--eval_split_name", "dev", "--top", "5"]),
    (["robustness", "--model", "m", "--dataset", "d"], ["robustness", "--model_id", "m", "--dataset_name", "d"]),
    (["transcribe", "a.wav", "--model", "m"], ["transcribe", "a.wav", "--model_id", "m"]),
    (["synth", "--output_dir", "o", "--format", "wav"], ["synth", "--output_dir", "o", "--audio_format", "wav"]),
])
def test_the_old_spellings_still_work(old, new):
    from robust_speech.cli import verbs

    parser = verbs.build_parser([old[0]])
    assert vars(parser.parse_args(old)) == vars(parser.parse_args(new))


def flags_named(source: str) -> set[str]:
    """The `--flags` named in the strings of a module's raise statements."""
    import ast
    import re

    named = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise):
            for part in ast.walk(node):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    named |= set(re.findall(r"--[a-z][a-z0-9_]*", part.value))
    return named


def test_a_verbs_error_messages_name_only_its_own_flags():
    import importlib

    from robust_speech.cli import verbs

    for verb, parser in verb_parsers().items():
        module = verbs.BY_NAME[verb]
        own = {option for action in parser._actions for option in action.option_strings}
        if getattr(module, "RAW_ARGUMENTS", False):
            continue  # prepare: HfArgumentParser's flags, the training script's
        source = Path(importlib.import_module(module.__name__).__file__).read_text(encoding="utf-8")
        assert flags_named(source) <= own, verb
    assert flags_named("raise ConfigurationError('--beam_width needs --decoder')") == {"--beam_width", "--decoder"}


def test_tune_lm_builds_its_options_from_either_spelling(monkeypatch, tmp_path):
    """The demo runs tune-lm with eval.py's spellings (--dataset --config --split); both reach the same options."""
    import robust_speech.evaluation.lm_tuning as lm_tuning
    from robust_speech.cli import verbs
    from robust_speech.evaluation.options import EvalSplit

    seen = []

    def fake_tune(options):
        seen.append(options)
        raise lm_tuning.ConfigurationError("stop here")

    monkeypatch.setattr(lm_tuning, "tune_on_dataset", fake_tune)
    old = ["tune-lm", "--model_dir", str(tmp_path), "--dataset", "a+b", "--config", "en+en", "--split", "dev",
           "--max_samples", "4"]
    new = ["tune-lm", "--model_dir", str(tmp_path), "--dataset_name", "a+b", "--dataset_config_name", "en+en",
           "--eval_split_name", "dev", "--max_eval_samples", "4"]
    assert verbs.main(old) == 2 and verbs.main(new) == 2
    assert seen[0] == seen[1] and seen[0].split == EvalSplit("a+b", "en+en", "dev") and seen[0].max_samples == 4
    assert (seen[0].engine, seen[0].alphas) == (lm_tuning.TuneOptions.engine, lm_tuning.DEFAULT_ALPHAS)
    assert verbs.main(["tune-lm", "--model_dir", str(tmp_path), "--dataset_name", "a"]) == 2
    assert seen[2].split.split == "validation"  # a dev set unless told
