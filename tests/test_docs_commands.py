"""Every command block of README.md and docs/*.md runs as a user would paste it.

The fenced `bash` (and `python`) blocks of each page run in order, in a fresh copy of a sandbox that stands in for
the repository root after `make demo`: the top-level scripts and `.venv` linked in, the corpus that the docs'
`robust-speech synth` command writes (`corpus`), and the demo's layout with a tiny random-init model
(`demo_output/acoustic_model`, `demo_output/models/en` with a 4-gram, `demo_output/real_world/en/{dev,test}`).

Only two things change a block before it runs, and both are visible in the docs:
- a substitution of SUBSTITUTIONS, applied to a page only where the page states it in its prose (the `stated`
  sentence, compared without backticks, case or line breaks);
- a marker `<!-- not run by tests: why -->` on the line above a block skips it, and the reason is reported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = ("bash", "python")
MARKER = re.compile(r"<!--\s*not run by tests:\s*(?P<why>.+?)\s*-->")
FENCE = re.compile(r"^```(?P<language>[\w-]*)\s*$")
BLOCK_TIMEOUT_S = 900
# What the sandbox holds, named as the docs name it.
TINY_MODEL = "tiny-model"
SYNTH_COMMAND = ("robust-speech synth --output_dir corpus --languages en,de --train_size 20 --dev_size 5 --test_size 5 "
                 "--long_recordings 2 --long_min_s 10 --long_max_s 15 --noise_snr_db 10 --reverb_rt60_s 0.4")
LETTERS = "abcdefghijklmnopqrstuvwxyz'"
LINKED = ("eval.py", "build_ngram.py", "run_speech_recognition_ctc.py", "run_speech_recognition_ctc_bnb.py", "run.sh",
          "configs", "benchmarks", ".venv")


@dataclass(frozen=True)
class Substitution:
    stated: str  # the sentence a page must hold for `replace` to apply to its blocks
    replace: dict[str, str]


SUBSTITUTIONS = (
    Substitution("put your Common Voice release folder and language in place of cv-corpus-8.0-2022-01-19 and sv-SE",
                 {"cv-corpus-8.0-2022-01-19": "corpus", "sv-SE": "en"}),
    Substitution("put a local model folder in place of facebook/wav2vec2-xls-r-300m",
                 {"facebook/wav2vec2-xls-r-300m": TINY_MODEL}),
    Substitution("replace --num_train_epochs 30 by --max_steps 2", {"--num_train_epochs 30": "--max_steps 2"}),
    Substitution("--max_steps 20000 by --max_steps 2", {"--max_steps 20000": "--max_steps 2"}),
)


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    skip: str | None = None  # the marker's reason
    substituted: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


class BlockFailed(AssertionError):
    pass


def _plain(text: str) -> str:
    return " ".join(text.replace("`", "").split()).lower()


def extract_blocks(path: Path, markdown: str | None = None) -> list[Block]:
    """The fenced blocks of RUN_LANGUAGES in `markdown` (default: the file), each with the marker of the last
    non-blank line before its fence, if that line is one."""
    lines = (markdown if markdown is not None else path.read_text(encoding="utf-8")).splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening or not opening["language"]:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{path.name}:{index + 1}: a code block that never closes")
        if opening["language"] in RUN_LANGUAGES:
            before = next((line for line in reversed(lines[:index]) if line.strip()), "")
            marker = MARKER.fullmatch(before.strip())
            blocks.append(Block(path, index + 1, opening["language"], "\n".join(lines[index + 1:end]) + "\n",
                                marker["why"] if marker else None))
        index = end + 1
    return blocks


def stated_substitutions(markdown: str) -> list[Substitution]:
    """The substitutions whose sentence the page states in its prose (code blocks left out)."""
    prose = _plain(re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M))
    return [substitution for substitution in SUBSTITUTIONS if _plain(substitution.stated) in prose]


def substitute(block: Block, substitutions: list[Substitution]) -> Block:
    text, done = block.text, []
    for substitution in substitutions:
        for old, new in substitution.replace.items():
            if old in text:
                text, done = text.replace(old, new), [*done, f"{old} -> {new}"]
    return Block(block.path, block.line, block.language, text, block.skip, done)


def block_environment() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def run_block(block: Block, cwd: Path, timeout: float = BLOCK_TIMEOUT_S) -> str:
    """Run one block in `cwd`; a failing command (bash -e, pipefail) raises BlockFailed with its output."""
    argv = (["bash", "-e", "-o", "pipefail", "-c", block.text] if block.language == "bash"
            else [sys.executable, "-c", block.text])
    try:
        result = subprocess.run(argv, cwd=cwd, env=block_environment(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise BlockFailed(f"{block.where} ran past {timeout:g} s:\n{block.text}") from error
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        raise BlockFailed(f"{block.where} failed (exit {result.returncode}); substitutions: "
                          f"{block.substituted or 'none'}\n--- block ---\n{block.text}--- output (tail) ---\n{tail}")
    return output


def run_page(path: Path, cwd: Path, markdown: str | None = None) -> list[str]:
    """Run every block of a page in order; returns what was skipped and why."""
    markdown = markdown if markdown is not None else path.read_text(encoding="utf-8")
    substitutions, skipped = stated_substitutions(markdown), []
    for block in extract_blocks(path, markdown):
        if block.skip:
            skipped.append(f"{block.where}: {block.skip}")
            continue
        started = time.perf_counter()
        run_block(substitute(block, substitutions), cwd)
        print(f"ran {block.where} in {time.perf_counter() - started:.0f} s")
    return skipped


# ---------------------------------------------------------------------------------------------------------
# The extractor, the markers and the substitutions (fast)

PAGE = """# A page

Put your Common Voice release folder and language in place of `cv-corpus-8.0-2022-01-19`
and `sv-SE`.

```bash
echo cv-corpus-8.0-2022-01-19 sv-SE > seen.txt
```

<!-- not run by tests: needs a GPU -->
```bash
nvidia-smi
```

```
a layout tree, not a command
```

```python
print("hello")
```
"""


def test_extract_blocks_finds_each_command_block_its_line_and_its_marker():
    blocks = extract_blocks(Path("page.md"), PAGE)
    assert [(block.line, block.language, block.skip) for block in blocks] == [
        (6, "bash", None), (11, "bash", "needs a GPU"), (19, "python", None)]
    assert blocks[1].text == "nvidia-smi\n"


def test_a_substitution_applies_only_where_the_page_states_it():
    assert stated_substitutions(PAGE) == [SUBSTITUTIONS[0]]
    assert stated_substitutions(PAGE.replace("Put your", "Use your")) == []
    block = substitute(extract_blocks(Path("page.md"), PAGE)[0], stated_substitutions(PAGE))
    assert block.text == "echo corpus en > seen.txt\n"


def test_run_page_runs_the_blocks_in_order_and_reports_the_skipped(tmp_path):
    skipped = run_page(Path("page.md"), tmp_path, PAGE)
    assert skipped == ["page.md:11: needs a GPU"]
    assert (tmp_path / "seen.txt").read_text() == "corpus en\n"


def test_a_broken_command_in_a_copy_of_the_readme_fails_the_page(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    planted = readme.replace("```bash\n. .venv/bin/activate\n", "```bash\nrobust-speech no-such-verb\n. .venv/bin/activate\n", 1)
    assert planted != readme
    broken = next(block for block in extract_blocks(tmp_path / "README.md", planted) if "no-such-verb" in block.text)
    with pytest.raises(BlockFailed, match=r"README.md:\d+ failed \(exit 2\)"):
        run_block(broken, tmp_path)
    # And a failure in the middle of a block is not hidden by the commands after it, nor by a pipe.
    for text in ("false\necho after\n", "false | cat\n"):
        with pytest.raises(BlockFailed):
            run_block(Block(tmp_path / "x.md", 1, "bash", text), tmp_path)


def test_every_substitution_is_stated_by_some_page_and_every_marker_gives_a_reason():
    pages = {path: path.read_text(encoding="utf-8") for path in DOCS}
    for substitution in SUBSTITUTIONS:
        assert any(substitution in stated_substitutions(text) for text in pages.values()), substitution.stated
    for path, text in pages.items():
        markers = [MARKER.fullmatch(line.strip())["why"] for line in text.splitlines() if MARKER.fullmatch(line.strip())]
        blocks = extract_blocks(path, text)
        assert len(markers) == sum(1 for block in blocks if block.skip), f"{path.name}: a marker not above a block"
        assert all(len(why) > 5 for why in markers)


def test_the_readme_is_short_starts_with_commands_and_its_links_and_make_targets_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert len(lines) < 200
    first = extract_blocks(ROOT / "README.md", readme)[0]
    assert first.line < 30 and "make demo" in first.text and "make test" in first.text
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M))
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for block in extract_blocks(path, text):
            for target in re.findall(r"^make ([\w-]+)", block.text, flags=re.M):
                assert target in targets, f"{block.where}: make {target} is not a Makefile target"
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not re.match(r"https?://", link):
                assert (path.parent / link).exists(), f"{path.name}: link to {link}, which does not exist"


def test_the_docs_synthesize_the_corpus_the_sandbox_holds():
    for name in ("README.md", "docs/data.md"):
        commands = [" ".join(block.text.replace("\\\n", " ").split()) for block in extract_blocks(ROOT / name)]
        assert any(SYNTH_COMMAND in command for command in commands), name


# ---------------------------------------------------------------------------------------------------------
# Every page, run


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """The repository root after `make demo`, as the docs use it, with a tiny model in the demo's places."""
    from robust_speech.data.synth import Corpus
    from robust_speech.demo.pipeline import real_world_sets
    from robust_speech.model import random_models

    root = tmp_path_factory.mktemp("docs-sandbox")
    for name in LINKED:
        if (ROOT / name).exists():
            (root / name).symlink_to(ROOT / name)
    subprocess.run(["bash", "-e", "-c", SYNTH_COMMAND], cwd=root, env=block_environment(), check=True,
                   capture_output=True)
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "|": 2, **{char: 3 + index for index, char in enumerate(LETTERS)}}
    random_models.save_random_model(root / TINY_MODEL, vocabulary, "tiny", logit_scale=8.0)
    demo = root / "demo_output"
    shutil.copytree(root / TINY_MODEL, demo / "acoustic_model")
    shutil.copytree(root / TINY_MODEL, demo / "models" / "en")
    subprocess.run([sys.executable, str(ROOT / "build_ngram.py"), "--model_dir", str(demo / "models" / "en"), "--text",
                    str(root / "corpus" / "en" / "lm_text.txt"), "--order", "4"], cwd=root, env=block_environment(),
                   check=True, capture_output=True)
    manifest = json.loads((root / "corpus" / "corpus.json").read_text(encoding="utf-8"))
    real_world_sets(Corpus(root / "corpus", manifest), "en", demo / "real_world")
    # The demo's folders hold tuned weights and beam width (decoding.json) too; one point of its grid here.
    subprocess.run([sys.executable, "-m", "robust_speech", "tune-lm", "--model_dir", str(demo / "models" / "en"),
                    "--dataset", str(root / "corpus"), "--config", "en", "--split", "dev", "--alphas", "0.5",
                    "--betas", "1", "--beam_widths", "16"], cwd=root, env=block_environment(), check=True,
                   capture_output=True)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("page", DOCS, ids=lambda path: path.name)
def test_every_command_block_of_the_page_runs(page, sandbox, tmp_path):
    cwd = tmp_path / "repository"
    shutil.copytree(sandbox, cwd, symlinks=True)
    skipped = run_page(page, cwd)
    for line in skipped:  # visible with -rA / -s: what this page leaves to a GPU, the Hub or make demo
        print(f"not run: {line}")
