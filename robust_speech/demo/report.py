"""What the demo shows: REPORT.md (every number read back from the files eval.py and robustness wrote), the
one-screen summary, results.json, and the stored clean-trained baseline beside the run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from robust_speech.demo.plan import DemoPlan
from robust_speech.demo.recipe import (
    CHUNK_LENGTH_S,
    COOLDOWN,
    EVAL_SETS,
    LEARNING_RATE,
    MAX_BATCH_DURATION_S,
    MODEL_CONFIG,
    STRIDE_LENGTH_S,
    TARGET_CER,
    TARGET_LM_GAIN,
    TARGET_NOISE_RATIO,
    TARGET_REAL_WORLD_WER,
    TARGET_REVERB_RATIO,
    WARMUP_STEPS,
)
from robust_speech.evaluation.robustness import RobustnessResult, relative_change
from robust_speech.reports.scoring import final_score, read_results_file

RESULTS_FILE = "results.json"
REPORT_FILE = "REPORT.md"


def collect(plan: DemoPlan, results: dict) -> dict:
    """Per language: WER/CER of every (set, decoder) read back from eval.py's files, the final score."""
    table = {}
    for language in plan.languages:
        rates = {key: read_results_file(path) for key, path in results[language].items()}
        score = final_score({name: results[language][(name, "lm")] for name in EVAL_SETS})["final_score"]
        table[language] = {"rates": rates, "final_score": score}
    return table


def _ratio(robust, label: str) -> float:
    rows = {row.label: row.wer for row in robust.rows}
    clean = rows.get("clean", 0.0)
    return rows[label] / clean if clean and label in rows else float("nan")


def write_report(plan: DemoPlan, table: dict, robust: dict, training: dict, summary: dict, figures: dict,
                 baseline: dict | None = None, baseline_line: str = "") -> Path:
    lines = _introduction(plan, table, training, summary)
    if baseline_line:
        lines += ["", "## Clean-trained vs multi-condition (WER with the LM)", "", baseline_line + ".", ""]
    if baseline is not None:
        lines += _baseline_tables(plan, table, robust, baseline)
    lines += _targets(plan, table, robust)
    lines += ["", "## Robustness: the CV-style test degraded by noise, babble, reverberation and codecs (WER with the LM)", "",
              f"![robustness curves]({figures['robustness'].name})", "",
              "| condition | " + " | ".join(plan.languages) + " |", "|---|" + "---|" * len(plan.languages)]
    first = robust[plan.languages[0]]
    for position, row in enumerate(first.rows):
        lines.append(f"| {row.label} | " + " | ".join(f"{robust[language].rows[position].wer:.4f}"
                                                       for language in plan.languages) + " |")
    lines += ["", "## Training", ""]
    if figures.get("training"):
        lines += [f"![training curve]({figures['training'].name})", ""]
    lines.append(f"{training.get('steps', '?')} steps in {training.get('seconds', '?')} s; model: "
                 f"{MODEL_CONFIG['model_type']}, hidden {MODEL_CONFIG['hidden_size']}, "
                 f"{MODEL_CONFIG['num_hidden_layers']} layers, trained from random initialization; batches "
                 f"of at most {MAX_BATCH_DURATION_S:g} s of padded audio, learning rate {LEARNING_RATE:g} after a "
                 f"{WARMUP_STEPS}-step warm-up, down linearly "
                 f"to 0 over the last {COOLDOWN:.0%} of the time budget.")
    path = plan.output / REPORT_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _introduction(plan: DemoPlan, table: dict, training: dict, summary: dict) -> list[str]:
    """The run in a paragraph, where its numbers come from, and the WER/CER table of every eval.py run."""
    recipe = (f"multi-condition: `--augment {plan.augment}`, {plan.augment_copies} pre-rendered degraded copies of the "
              "training set" if plan.augment else "clean: no augmentation")
    lines = ["# robust-speech demo report", "", f"Training data: {recipe}.", "",
             f"Languages: {', '.join(plan.languages)}; training budget {plan.minutes} min "
             f"({training.get('seconds', '?')} s in the training script, data preparation included; "
             f"{training.get('steps', '?')} steps); "
             f"corpus: {summary['train']} training utterances per language, CV-style test of {summary['test']} "
             "unseen sentences by voices not heard in training, real-world dev/test = long noisy reverberant recordings "
             "by unseen voices, chunked "
             f"{CHUNK_LENGTH_S:g} s / stride {STRIDE_LENGTH_S:g} s.", "",
             "Every WER/CER below is read from the `*_eval_results.txt` files eval.py wrote under `eval/`, every "
             "robustness number from `robustness/<language>/robustness.json`. The LM weights were tuned on the CV-style "
             "dev and the real-world dev together (the real-world dev is a tuning set, as the challenge's dev data "
             "was; the CV-style and real-world tests are never seen before evaluation).", "",
             "| language | set | WER greedy | WER with LM | CER greedy | CER with LM | LM WER change |",
             "|---|---|---|---|---|---|---|"]
    for language in plan.languages:
        rates = table[language]["rates"]
        for name in EVAL_SETS:
            greedy, with_lm = rates[(name, "greedy")], rates[(name, "lm")]
            lines.append(f"| {language} | {name} | {greedy['wer']:.4f} | {with_lm['wer']:.4f} | {greedy['cer']:.4f} | "
                         f"{with_lm['cer']:.4f} | {relative_change(with_lm['wer'], greedy['wer'])} |")
    return lines


def _baseline_tables(plan: DemoPlan, table: dict, robust: dict, baseline: dict) -> list[str]:
    lines = ["| language | set | clean-trained | multi-condition | change |", "|---|---|---|---|---|"]
    for language in plan.languages:
        before_rates = baseline["results"][language]["rates"]
        for name in EVAL_SETS:
            before, after = before_rates[f"{name}/lm"]["wer"], table[language]["rates"][(name, "lm")]["wer"]
            lines.append(f"| {language} | {name} | {before:.4f} | {after:.4f} | {relative_change(after, before)} |")
    lines += ["", "| language | condition | clean-trained | multi-condition |", "|---|---|---|---|"]
    for language in plan.languages:
        before = {row.label: row.wer for row in baseline_robustness(baseline, language).rows}
        for row in robust[language].rows:
            shown = f"{before[row.label]:.4f}" if row.label in before else "not measured"
            lines.append(f"| {language} | {row.label} | {shown} | {row.wer:.4f} |")
    return lines


def _targets(plan: DemoPlan, table: dict, robust: dict) -> list[str]:
    """The issue's targets, each said met or not: robustness, the final score, the CV-style test."""
    lines = ["", f"## Robustness targets (with the LM): real-world WER <= {TARGET_REAL_WORLD_WER:g}, WER at 10 dB SNR "
             f"<= {TARGET_NOISE_RATIO:g}x clean, at RT60 0.6 s <= {TARGET_REVERB_RATIO:g}x clean", "",
             "| language | real dev WER | real test WER | 10 dB / clean | RT60 0.6 s / clean | met |",
             "|---|---|---|---|---|---|"]
    for language in plan.languages:
        rates = table[language]["rates"]
        dev, test = rates[("real_dev", "lm")]["wer"], rates[("real_test", "lm")]["wer"]
        noise, reverb = _ratio(robust[language], "10 dB SNR"), _ratio(robust[language], "0.6 s RT60")
        met = (max(dev, test) <= TARGET_REAL_WORLD_WER and noise <= TARGET_NOISE_RATIO and reverb <= TARGET_REVERB_RATIO)
        lines.append(f"| {language} | {dev:.4f} | {test:.4f} | {noise:.2f}x | {reverb:.2f}x | {'met' if met else 'NOT met'} |")
    lines += ["", "## Final score (mean of CV test, real-world dev and real-world test WER, with the LM)", "",
              "| language | FINAL_SCORE |", "|---|---|"]
    lines += [f"| {language} | {table[language]['final_score']:.4f} |" for language in plan.languages]
    lines += ["", f"## Targets on the CV-style test (CER with the LM <= {TARGET_CER:.0%}, LM lowers WER by >= "
              f"{TARGET_LM_GAIN:.0%})", "", "| language | CER with LM | CER target | LM WER change | LM target |",
              "|---|---|---|---|---|"]
    for language in plan.languages:
        greedy, with_lm = table[language]["rates"][("cv_test", "greedy")], table[language]["rates"][("cv_test", "lm")]
        gain = (greedy["wer"] - with_lm["wer"]) / greedy["wer"] if greedy["wer"] else 0.0
        lines.append(f"| {language} | {with_lm['cer']:.4f} | {'met' if with_lm['cer'] <= TARGET_CER else 'NOT met'} | "
                     f"{relative_change(with_lm['wer'], greedy['wer'])} | {'met' if gain >= TARGET_LM_GAIN else 'NOT met'} |")
    return lines


def one_screen_summary(plan: DemoPlan, table: dict, robust: dict, training: dict, minutes: float, report: Path) -> str:
    lines = [f"robust-speech demo: {len(plan.languages)} languages, {training.get('steps', '?')} training steps, "
             f"{minutes:.1f} min for this run (finished stages reused)",
             f"{'lang':<5}{'CV test CER':>16}{'CV test WER':>18}{'real dev':>10}{'real test':>10}{'FINAL':>8}"
             f"{'WER@0dB':>9}{'WER@RT60':>9}",
             f"{'':<5}{'greedy -> LM':>16}{'greedy -> LM':>18}{'WER':>10}{'WER':>10}{'score':>8}"
             f"{'':>9}{'0.9 s':>9}"]
    for language in plan.languages:
        rates = table[language]["rates"]
        greedy, with_lm = rates[("cv_test", "greedy")], rates[("cv_test", "lm")]
        rows = {row.label: row.wer for row in robust[language].rows}
        lines.append(f"{language:<5}{greedy['cer']:>8.3f} -> {with_lm['cer']:.3f}{greedy['wer']:>10.3f} -> "
                     f"{with_lm['wer']:.3f}{rates[('real_dev', 'lm')]['wer']:>10.3f}"
                     f"{rates[('real_test', 'lm')]['wer']:>10.3f}{table[language]['final_score']:>8.3f}"
                     f"{rows.get('0 dB SNR', float('nan')):>9.3f}{rows.get('0.9 s RT60', float('nan')):>9.3f}")
    lines.append(f"report: {report} (figures: training_curve.png, robustness.png; eval.py files under "
                 f"{plan.output / 'eval'})")
    return "\n".join(lines)


def results_record(plan: DemoPlan, table: dict, robust: dict, training: dict, corpus_key: str) -> dict:
    """What REPORT.md shows, as data: stored as results.json, and what a later run compares itself with."""
    return {
        "commit": repository_commit(), "corpus": corpus_key, "languages": list(plan.languages), "minutes": plan.minutes,
        "augment": plan.augment, "augment_copies": plan.augment_copies if plan.augment else 0,
        "training": training,
        "results": {language: {
            "rates": {f"{name}/{decoder}": rates for (name, decoder), rates in table[language]["rates"].items()},
            "final_score": table[language]["final_score"],
            "robustness": robust[language].to_json()} for language in plan.languages},
    }


def repository_commit() -> str:
    """The robust-speech checkout's commit (`unknown` for an installed copy): results say what code made them."""
    checkout = Path(__file__).resolve().parents[2]
    try:
        result = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def read_baseline(plan: DemoPlan, corpus_key: str) -> tuple[dict | None, str]:
    """The clean-trained run to compare with, and a line saying which it is (or why there is none)."""
    if plan.baseline is None or not plan.augment:
        return None, ""
    try:
        baseline = json.loads(Path(plan.baseline).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return None, f"no clean-trained baseline: {plan.baseline} could not be read ({error.__class__.__name__})"
    if baseline.get("corpus") != corpus_key or baseline.get("minutes") != plan.minutes:
        return None, (f"no clean-trained baseline: {plan.baseline} was trained on another corpus or budget "
                      f"({baseline.get('minutes')} min, corpus {baseline.get('corpus')}; this run: {plan.minutes} min, "
                      f"corpus {corpus_key})")
    missing = [language for language in plan.languages if language not in baseline.get("results", {})]
    if missing:
        return None, f"no clean-trained baseline: {plan.baseline} has no {', '.join(missing)}"
    trained_at = baseline.get("training", {}).get("commit")
    # A stored run's later stages (LM, eval, robustness) may be redone at a later commit on the same model.
    commit = (f"trained at commit {trained_at}, its LM tuned and evaluated at commit {baseline.get('commit')}"
              if trained_at and trained_at != baseline.get("commit") else f"at commit {baseline.get('commit')}")
    return baseline, (f"clean-trained baseline: the same demo with `--augment none` {commit} "
                      f"(same corpus and budget, {baseline.get('training', {}).get('steps', '?')} steps), stored in "
                      f"{Path(plan.baseline).name}")


def baseline_robustness(baseline: dict, language: str):
    result = RobustnessResult.from_json(baseline["results"][language]["robustness"])
    result.style = "--"
    return result
