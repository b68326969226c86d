"""`--rerun N`: the result files in the folder match a re-run of the folder's eval.py on the first N examples of
each split they score (the split and settings from the `*_eval_report.json` beside them). The folder's eval.py
runs in a separate process, in a temporary folder; the checklist says so."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from robust_speech.core.errors import RobustSpeechError
from robust_speech.core.model_folder import EVAL_SCRIPT
from robust_speech.reports.scoring import read_results_file
from robust_speech.submission.checklist import CheckLine, failed, passed, warned

RESULTS_SUFFIX = "_eval_results.txt"
REPORT_SUFFIX = "_eval_report.json"
RUN_TIMEOUT_S = 3600


def read_log(path: Path) -> list[str]:
    """The texts of a `log_*_predictions.txt` / `log_*_targets.txt` ("index\\ntext\\n" per example)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return lines[1:-1:2] if len(lines) > 1 else []


def run_eval(folder: Path, settings: dict, samples: int, work: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, str((folder / EVAL_SCRIPT).resolve()), "--model_id", str(folder.resolve()),
            "--dataset", settings["dataset"], "--config", settings["config"], "--split", settings["split"],
            "--log_outputs", "--max_eval_samples", str(samples), "--report", "none"]
    for name in ("chunk_length_s", "stride_length_s"):
        if settings.get(name) is not None:
            argv += [f"--{name}", str(settings[name])]
    if settings.get("vad"):
        argv.append("--vad")
    return subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def check_rerun(folder: Path, samples: int) -> list[CheckLine]:
    results = sorted(folder.glob(f"*{RESULTS_SUFFIX}"))
    if not results:
        return [warned(f"--rerun {samples}: no *{RESULTS_SUFFIX} in the folder, nothing to compare")]
    return [_rerun_one(folder, path, samples) for path in results]


def _rerun_one(folder: Path, path: Path, samples: int) -> CheckLine:
    result_id = path.name[:-len(RESULTS_SUFFIX)]
    what = f"{path.name} matches a re-run of eval.py (the folder's code, run) on {samples} examples"
    report = folder / f"{result_id}{REPORT_SUFFIX}"
    if not report.is_file():
        return failed(what, "keep the *_eval_report.json eval.py writes beside the results", f"no {report.name}: the "
                      "dataset, config and split to re-run are unknown")
    settings = json.loads(report.read_text(encoding="utf-8"))["settings"]
    predictions_log, targets_log = folder / f"log_{result_id}_predictions.txt", folder / f"log_{result_id}_targets.txt"
    try:
        written = read_results_file(path)
    except RobustSpeechError as error:
        return failed(what, "write it with eval.py", str(error))
    with tempfile.TemporaryDirectory(prefix="check-rerun-") as work:
        done = run_eval(folder, settings, samples, Path(work))
        if done.returncode != 0:
            return failed(what, "make eval.py run on this split", (done.stderr.strip().splitlines() or ["no output"])[-1])
        rerun_predictions = read_log(next(Path(work).glob("log_*_predictions.txt")))
        rerun_targets = read_log(next(Path(work).glob("log_*_targets.txt")))
        rerun_results = read_results_file(next(Path(work).glob(f"*{RESULTS_SUFFIX}")))
    if predictions_log.is_file() and targets_log.is_file():
        return _compare_logs(what, written, read_log(predictions_log), read_log(targets_log), rerun_predictions,
                             rerun_targets)
    utterances = json.loads(report.read_text(encoding="utf-8")).get("utterances")
    if utterances is not None and utterances <= samples:
        same = all(math.isclose(written[key], rerun_results[key], abs_tol=1e-12) for key in ("wer", "cer"))
        return passed(what) if same else failed(what, "evaluate again with this eval.py and model",
                                                f"written {written}, re-run {rerun_results}")
    return failed(what, "evaluate with --log_outputs so a sample can be compared (or --rerun the whole split)",
                  f"no prediction/target logs beside {path.name}")


def _compare_logs(what: str, written: dict, predictions: list[str], targets: list[str], rerun_predictions: list[str],
                  rerun_targets: list[str]) -> CheckLine:
    import jiwer

    fix = "evaluate again with this eval.py and model (the results must come from what is pushed)"
    if targets and predictions and not math.isclose(written["wer"], jiwer.wer(targets, predictions), abs_tol=1e-12):
        return failed(what, fix, f"the written WER {written['wer']} is not the logs' {jiwer.wer(targets, predictions)}")
    count = len(rerun_predictions)
    differ = [i for i in range(count) if i >= len(predictions) or (predictions[i], targets[i])
              != (rerun_predictions[i], rerun_targets[i])]
    if differ:
        i = differ[0]
        shown = (f"example {i}: written {predictions[i]!r} / {targets[i]!r}" if i < len(predictions)
                 else f"example {i}: not logged")
        return failed(what, fix, f"{len(differ)} of {count} examples differ; {shown}, re-run {rerun_predictions[i]!r} / "
                      f"{rerun_targets[i]!r}")
    return passed(what, f"{count} examples: the same predictions and targets")
