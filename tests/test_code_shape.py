"""The code stays readable by a newcomer: short functions, and comments that say why instead of carrying
measurements (those live in benchmarks/results/ and docs/, where a comment points)."""

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 80
SOURCES = sorted([*ROOT.glob("robust_speech/**/*.py"), *ROOT.glob("*.py"), *ROOT.glob("benchmarks/*.py")])

# What a run-by-run measurement looks like in prose: a machine, or the word "measured", followed closely by a
# number with its unit; a before -> after figure; a speed-up; a WER or CER. A machine or a number alone is not one.
_NUMBER = r"\d+(?:\.\d+)?\s*(?:ms|s|x|%|GFLOP/s|MB|GiB)(?!\w)"
MEASUREMENT = re.compile(
    rf"(?:\b\d+-core\b|\bXeon\b|\bEPYC\b|\b[Mm]easured\b)[^.]{{0,120}}?{_NUMBER}"
    r"|\d+(?:\.\d+)?\s*[a-zA-Z%/]{0,6}\s*->\s*\d|\b\d+(?:\.\d+)?x (?:faster|slower)\b"
    r"|\b(?:WER|CER)\b[^.\n]{0,20}?\b0\.\d{2,}",
    re.DOTALL,
)


def long_functions(source: str) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append((node.name, length))
    return found


def prose(source: str) -> list[tuple[int, str]]:
    """Comments and docstrings with their first line number."""
    texts = [(token.start[0], token.string) for token in tokenize.generate_tokens(io.StringIO(source).readline)
             if token.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                texts.append((node.body[0].lineno, docstring))
    return texts


def measurements(source: str) -> list[tuple[int, str]]:
    return [(line, match.group(0)) for line, text in prose(source) for match in [MEASUREMENT.search(text)] if match]


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_function_is_over_80_lines(path):
    assert long_functions(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", [path for path in SOURCES if "robust_speech" in path.parts],
                         ids=lambda path: str(path.relative_to(ROOT)))
def test_no_comment_or_docstring_carries_a_measurement(path):
    assert measurements(path.read_text(encoding="utf-8")) == []


def test_the_checks_find_what_they_look_for():
    body = "\n".join(f"    x = {index}" for index in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def too_long():\n{body}\n") == [("too_long", MAX_FUNCTION_LINES + 1)]
    assert long_functions(f"def fits():\n{body[: body.rindex(chr(10))]}\n") == []
    planted = '"""Fast.\n\nMeasured on a 2-core Xeon: 82 -> 47 ms."""\n# tiny 13.0 -> 10.2 ms per batch\nx = 1\n'
    assert [line for line, _ in measurements(planted)] == [4, 1]
    assert measurements('"""Why: ATen pays a fixed cost per row (benchmarks/results/code_history.md)."""\n') == []
    assert measurements("# Two machines both named Xeon differ in these; on a 16-core machine 16 workers...\nx = 1\n") == []
    found = measurements("# measured on a 16-core machine, 3.5x the pipeline\nx = 1\n")
    assert found == [(1, "measured on a 16-core machine, 3.5x")]
