"""`make mutate [MODULE=reports/metrics.py]`: mutation testing (mutmut 3) of the modules whose bugs change a
user's numbers, each against the tests that cover it.

mutmut reads one configuration per folder, so each module runs in a copy of the tree of its own
(build/mutate/<module>/): the shared settings of pyproject.toml's [tool.mutmut], plus `only_mutate` (the module)
and `pytest_add_cli_args_test_selection` (its tests, from MODULES below). PYTHONPATH points at the copy's
mutants/ so the entry points the tests run as subprocesses import the mutated code too. A summary line per module
is printed and written to build/mutate/<module>/summary.json; `cd build/mutate/<module> && mutmut results` lists
the survivors, `mutmut show NAME` shows one. Results are recorded in benchmarks/results/mutation.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Module (under robust_speech/) -> the tests that cover it. A mutant is run against the tests of this list that
# call the mutated function (mutmut's own coverage map), so these lists bound a module's run time.
MODULES = {
    "reports/metrics.py": ["tests/test_metrics.py", "tests/test_bootstrap_confidence.py", "tests/test_metric_contracts.py"],
    "inference/chunking.py": ["tests/reliability/test_properties.py", "tests/test_chunk_plans.py"],
    "text/normalizer.py": ["tests/test_text.py", "tests/test_casing_languages.py", "tests/test_normalizer_settings.py",
                           "tests/reliability/test_properties.py"],
    "inference/decoding.py": ["tests/test_decoding_contracts.py", "tests/test_lm.py", "tests/test_lm_weights.py"],
    "inference/confidence.py": ["tests/test_confidence_contracts.py", "tests/test_decoding_contracts.py",
                                "tests/test_confidence.py"],
    "data/preprocess.py": ["tests/test_preprocess_contracts.py", "tests/test_preprocess.py", "tests/test_ctc_frame_filter.py"],
    "data/leakage.py": ["tests/test_leakage_contracts.py", "tests/test_leakage.py"],
    "lm/install.py": ["tests/test_install_contracts.py", "tests/test_lm.py"],
    "audio/decode.py": ["tests/test_audio.py", "tests/test_decode_contracts.py"],
    "training/batching.py": ["tests/test_batching.py", "tests/test_batching_contracts.py"],
    "training/long_clips.py": ["tests/test_long_clip_advice.py"],
}


def prepare(module: str, work: Path) -> None:
    """A fresh copy of the tree (tracked and untracked, not ignored files) with the module's mutmut settings."""
    if work.exists():
        shutil.rmtree(work)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    # The module's own settings join the shared [tool.mutmut] table of the copy's pyproject.toml.
    own = {"only_mutate": [f"robust_speech/{module}"], "pytest_add_cli_args_test_selection": MODULES[module]}
    pyproject = work / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in own.items())
    pyproject.write_text(text.replace("[tool.mutmut]\n", "[tool.mutmut]\n" + lines, 1), encoding="utf-8")


def run(module: str, children: int) -> dict:
    work = ROOT / "build" / "mutate" / module.replace("/", "_").removesuffix(".py")
    prepare(module, work)
    # PYTHONPATH names mutants/ before mutmut creates it: made now, or Python would remember at start-up that the
    # folder is missing and the tests would import the unmutated copy (mutmut then finds no test for any mutant).
    (work / "mutants").mkdir()
    env = {**os.environ, "PYTHONPATH": str(work / "mutants"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    # The console script, not `python -m mutmut`: -m would put the copy itself (unmutated) first on sys.path.
    mutmut = [str(Path(sys.executable).with_name("mutmut"))]
    started = time.monotonic()
    subprocess.run([*mutmut, "run", "--max-children", str(children)], cwd=work, env=env, check=True)
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, env=env, check=True, capture_output=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    stats = {"module": module, "tests": MODULES[module], "minutes": round((time.monotonic() - started) / 60, 1), **stats}
    survivors = subprocess.run([*mutmut, "results"], cwd=work, env=env, capture_output=True, text=True).stdout
    stats["not_killed"] = [line.strip() for line in survivors.splitlines() if line.strip()]
    (work / "summary.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    print(f"{module}: {stats['total']} mutants, {stats['killed']} killed, {stats['survived']} survived, "
          f"{stats['no_tests']} without tests, {stats['timeout']} timed out ({stats['minutes']} min); {work}")
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", help=f"one of {', '.join(MODULES)}; all of them when left out")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    args = parser.parse_args(argv)
    module = args.module.removeprefix("robust_speech/") if args.module else None
    if module is not None and module not in MODULES:
        parser.error(f"MODULE={args.module}: choose one of {', '.join(MODULES)}")
    for name in [module] if module else MODULES:
        run(name, args.children)
    return 0


if __name__ == "__main__":
    sys.exit(main())
