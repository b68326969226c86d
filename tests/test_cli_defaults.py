"""The command line's defaults are written once, in the options dataclasses, and every flag explains itself."""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

import pytest

import robust_speech.cli
from robust_speech.cli import build_ngram, verbs

CLI_DIR = Path(robust_speech.cli.__file__).parent
# Values too common to call a repetition on their own (switches, zero, empty): for them a literal counts as a
# duplicate only when the flag is named as the dataclass field. None is argparse's "not given", never a repetition.
COMMON_VALUES = (True, False, 0, 1, "", ())


def option_dataclasses() -> list[type]:
    """The options the command-line fronts build, as the library defines them."""
    from robust_speech.data.arguments import DataTrainingArguments
    from robust_speech.data.synth import SynthConfig
    from robust_speech.demo.pipeline import DemoPlan
    from robust_speech.evaluation.lm_tuning import TuneOptions
    from robust_speech.evaluation.options import EvalOptions, EvalSplit
    from robust_speech.evaluation.robustness import RobustnessOptions
    from robust_speech.inference.options import DecoderChoice, LoadOptions, TranscriberOptions
    from robust_speech.lm.build import LMBuildOptions
    from robust_speech.lm.ngram import NgramOptions
    from robust_speech.model.arguments import ModelArguments
    from robust_speech.submission.serve import ServeOptions
    from robust_speech.text.normalizer import TextNormalizer

    return [DataTrainingArguments, SynthConfig, DemoPlan, TuneOptions, EvalOptions, EvalSplit, RobustnessOptions,
            DecoderChoice, LoadOptions, TranscriberOptions, LMBuildOptions, NgramOptions, ModelArguments, ServeOptions,
            TextNormalizer]


def dataclass_defaults(classes) -> list[tuple[str, str, object]]:
    found = []
    for owner in classes:
        for field in dataclasses.fields(owner):
            if field.default is not dataclasses.MISSING:
                found.append((owner.__name__, field.name, field.default))
    return found


def _literal(node: ast.AST):
    try:
        return True, ast.literal_eval(node)
    except ValueError:
        return False, None


def _flag_names(call: ast.Call) -> set[str]:
    names = {arg.value.lstrip("-") for arg in call.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)}
    names |= {keyword.value.value for keyword in call.keywords
              if keyword.arg == "dest" and isinstance(keyword.value, ast.Constant)}
    return names


def duplicated_defaults(source: str, defaults) -> list[str]:
    """`default=<literal>` in `add_argument` calls of `source` that repeat an options dataclass default."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument"):
            continue
        for keyword in node.keywords:
            if keyword.arg != "default":
                continue
            is_literal, value = _literal(keyword.value)
            if not is_literal:
                continue
            value = tuple(value) if isinstance(value, list) else value
            if value is None:
                continue
            for owner, name, default in defaults:
                same = type(value) is type(default) and value == default
                if same and (name in _flag_names(node) or value not in COMMON_VALUES):
                    found.append(f"line {node.lineno}: default={value!r} repeats {owner}.{name}")
    return found


def test_no_cli_literal_repeats_an_options_default():
    defaults = dataclass_defaults(option_dataclasses())
    repeated = {path.name: duplicated_defaults(path.read_text(encoding="utf-8"), defaults)
                for path in sorted(CLI_DIR.glob("*.py"))}
    assert {name: lines for name, lines in repeated.items() if lines} == {}


def test_the_duplicate_finder_finds_a_planted_duplicate():
    from robust_speech.inference.options import TranscriberOptions
    from robust_speech.lm.ngram import NgramOptions

    defaults = dataclass_defaults([TranscriberOptions, NgramOptions])
    planted = (
        "def add(parser):\n"
        "    parser.add_argument('--batch_size', type=int, default=16)\n"  # the literal that TranscriberOptions holds
        "    parser.add_argument('--memory', default='1G')\n"  # a distinctive value, under any flag name
        "    parser.add_argument('--workers', type=int, default=0)\n"  # zero under another name: not a repetition
        "    parser.add_argument('--order', type=int, default=default_of(NgramOptions, 'order'))\n"  # read, not typed
    )
    assert duplicated_defaults(planted, defaults) == [
        "line 2: default=16 repeats TranscriberOptions.batch_size",
        "line 3: default='1G' repeats NgramOptions.memory",
    ]
    # Every cli module is parsed: a repetition planted in a real one is found too.
    source = (CLI_DIR / "robustness.py").read_text(encoding="utf-8").replace(
        "add_batch_size_argument(parser)\n", "parser.add_argument('--batch_size', type=int, default=16, help='x')\n", 1)
    assert duplicated_defaults(source, dataclass_defaults(option_dataclasses()))


def all_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = verbs.build_parser()
    subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return {"robust-speech": parser, **{f"robust-speech {name}": sub for name, sub in subparsers.choices.items()},
            "build_ngram.py": build_ngram.build_parser()}


def test_every_flag_of_every_verb_has_help():
    missing = [f"{program} {action.option_strings or action.dest}"
               for program, parser in all_parsers().items() for action in parser._actions
               if not (action.help or "").strip() and not isinstance(action, argparse._SubParsersAction)]
    assert missing == []
    # prepare's flags are the training script's dataclass fields, parsed by HfArgumentParser.
    from robust_speech.cli.prepare import PrepareArguments
    from robust_speech.data.arguments import DataTrainingArguments

    assert [f.name for c in (DataTrainingArguments, PrepareArguments) for f in dataclasses.fields(c)
            if not f.metadata.get("help")] == []


def test_help_shows_each_default_once_and_from_the_dataclass(capsys):
    from robust_speech.inference.options import TranscriberOptions

    for program, parser in all_parsers().items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            text = formatter._expand_help(action) if action.help else ""
            assert text.count("(default") <= 1 and "(default: None)" not in text, (program, action.option_strings)
    robustness = " ".join(all_parsers()["robust-speech robustness"].format_help().split())
    assert f"per forward pass (default: {TranscriberOptions.batch_size})" in robustness
    assert "levels, comma-separated ('' for none) (default: 20,10,5,0)" in robustness
    assert "(normalized) --hotword_weight" in robustness  # no default shown for a list flag given no values
    with pytest.raises(SystemExit):
        verbs.main(["prepare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "training split; join several with '+' (default: train+validation)" in text
    assert text.count("(default: train+validation)") == 1


def test_a_verb_with_no_flags_builds_the_library_defaults():
    from robust_speech.cli.synth import synth_config
    from robust_speech.data.synth import SynthConfig

    args = verbs.build_parser(["synth"]).parse_args(["synth", "--output_dir", "x"])
    assert synth_config(args) == SynthConfig()
