#!/usr/bin/env python
"""Growing a training set from found data, end to end and measured: a small labelled set, long transcribed
recordings and untranscribed audio by other speech engines, a first model (A), its segmentation and
pseudo-labels, a second model (B) on everything, both scored side by side at the same training budget.

    python benchmarks/found_data_recipe.py --output_dir found_recipe --minutes 8
    python benchmarks/found_data_recipe.py --output_dir found_recipe --minutes 1 --labelled 200
    python benchmarks/found_data_recipe.py --output_dir found_recipe --minutes 8 --steps 4000

The labelled set is the demo corpus's CV-style train split of one language (espeak-ng voices; `--labelled N`
keeps its first N clips). The found data is unlike it, as found data is: Debian's other speech engines (flite's
and festival's voices, none an espeak-ng variant) read sentences of the corpus's LM text (disjoint, after
normalization, from every split it evaluates on: checked), each recording in its own simulated room
(audio/rooms.py) with noise at its own level. `--transcribed_minutes` of it come with their text, one sentence a
line (`robust-speech segment` cuts them with model A); `--untranscribed_minutes` come without
(`robust-speech pseudo-label` labels them with model A, keeping what it is confident of).

Both models are the demo's (demo/recipe.py: model, multi-condition training, batches, learning-rate schedule)
trained for `--minutes` of wall-clock time each, or with `--steps N` for exactly N optimizer steps each (the
same budget whatever else runs on the machine; the cool-down is then scheduled in steps, transformers'
warmup-stable-decay, and `--minutes` only sizes the corpus as the demo's), on the data concatenated ('+'-joined
dataset folders), and scored as the demo scores (eval.py's evaluation, LM-free greedy decoding) on the demo's
real-world dev and test sets of the language and its CV-style test (and on the transcribed found recordings, to
show how each model hears the found voices). Every stage writes into `--output_dir` and is skipped when its
output is there, so an interrupted run goes on where it stopped. Results: benchmarks/results/found_data_recipe_cpu.json
and .md (or `--results_dir`).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from common import ROOT, markdown_table
from other_voices import VOICES, speak

from robust_speech.audio.decode import TARGET_SAMPLING_RATE, audio_info, load_audio
from robust_speech.audio.effects import NOISE_COLORS, add_noise, convolve
from robust_speech.audio.rooms import RoomBankSpec, room_bank
from robust_speech.cli.values import default_of
from robust_speech.core.errors import ConfigurationError, RobustSpeechError
from robust_speech.core.logs import LOGGER, configure_logging, progress_bar
from robust_speech.data.skips import SKIPPED_FILE, read_skip_log
from robust_speech.data.synth import SynthConfig, cached_corpus, read_tsv
from robust_speech.demo.budget import TimeBudget
from robust_speech.demo.plan import DemoPlan
from robust_speech.demo.recipe import (
    CHUNK_LENGTH_S,
    COOLDOWN,
    EVAL_SETS,
    MODEL_CONFIG,
    STRIDE_LENGTH_S,
    WARMUP_STEPS,
)
from robust_speech.demo.stages import (
    EvalRun,
    eval_runs,
    evaluate_all,
    real_world_sets,
    training_plan,
    warnings_only,
)
from robust_speech.found.pseudo_label import pseudo_label
from robust_speech.found.pseudo_label_options import PseudoLabelOptions
from robust_speech.found.segment import segment
from robust_speech.found.segment_options import SegmentOptions
from robust_speech.reports.result_files import machine_info, write_json
from robust_speech.reports.scoring import read_results_file
from robust_speech.text.normalizer import TextNormalizer
from robust_speech.training.plan import TrainingPlan
from robust_speech.training.run import train

RESULTS_NAME = "found_data_recipe"
# The engines that make the found data, and the language their installed voices speak (benchmarks/other_voices.py
# lists them); espeak-ng is left out: it speaks the labelled set and every evaluation set.
FOUND_ENGINES, FOUND_LANGUAGE = ("flite", "festival"), "en"
SENTENCES_PER_CALL = 10  # one engine call reads this many sentences (festival's start-up dominates a single one)
PAUSE_S = (0.5, 2.0)  # silence between two calls' speech, drawn per pause
# Each recording is heard in a room drawn from a bank of simulated rooms other than the one training draws from
# (its seed is the training seed), with noise of its own colour and level.
FOUND_ROOMS = RoomBankSpec(count=8, rt60_s=(0.2, 0.9), seed=1_000_003)
NOISE_SNR_DB = (5.0, 20.0)
TRANSCRIBED, UNTRANSCRIBED = "transcribed", "untranscribed"
FOUND_SET = "found_voices"  # the transcribed found recordings, scored as a set: how a model hears those voices


@dataclass(frozen=True)
class RecipeOptions:
    output_dir: Path
    language: str = FOUND_LANGUAGE
    minutes: float = 8.0  # per training run, and the corpus's size (the demo's for that budget)
    steps: int | None = None  # per training run instead of the minutes when given
    labelled: int | None = None  # None: the whole CV-style train split
    transcribed_minutes: float = 20.0
    untranscribed_minutes: float = 20.0
    min_score: float = default_of(SegmentOptions, "min_score")
    min_confidence: float = default_of(PseudoLabelOptions, "min_confidence")
    seed: int = 0
    results_dir: Path = ROOT / "benchmarks" / "results"
    command: tuple[str, ...] = ()
    # The demo's corpus for this language and budget unless given (the test gives a tiny one).
    synth_config: SynthConfig | None = field(default=None)

    def demo_plan(self, run: str) -> DemoPlan:
        """The demo's plan for model `run` ("A" or "B"): its recipe, its folder."""
        return DemoPlan(languages=(self.language,), minutes=self.minutes, output=self.output_dir / run, seed=self.seed)

    @property
    def corpus_config(self) -> SynthConfig:
        return self.synth_config or self.demo_plan("A").synth_config


def parse_arguments(argv: list[str] | None = None) -> RecipeOptions:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", type=Path, required=True, help="every stage's output (reused when there)")
    parser.add_argument("--language", default=FOUND_LANGUAGE, help="the language (the found data's engines speak "
                        f"{FOUND_LANGUAGE} only here)")
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget of each model, in minutes")
    parser.add_argument("--steps", type=int, default=None, help="train each model exactly N optimizer steps "
                        "instead of --minutes (which then only sizes the corpus)")
    parser.add_argument("--labelled", type=int, default=None, help="keep the first N clips of the labelled set")
    parser.add_argument("--transcribed_minutes", type=float, default=20.0, help="long recordings with their text")
    parser.add_argument("--untranscribed_minutes", type=float, default=20.0, help="audio without text")
    parser.add_argument("--min_score", type=float, default=default_of(SegmentOptions, "min_score"),
                        help="segment's --min_score")
    parser.add_argument("--min_confidence", type=float, default=default_of(PseudoLabelOptions, "min_confidence"),
                        help="pseudo-label's --min_confidence")
    parser.add_argument("--seed", type=int, default=0, help="corpus, found data and training seed")
    parser.add_argument("--results_dir", type=Path, default=ROOT / "benchmarks" / "results",
                        help="where found_data_recipe_cpu.json and .md go")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or min(args.transcribed_minutes, args.untranscribed_minutes) <= 0:
        parser.error("--minutes, --transcribed_minutes and --untranscribed_minutes must be positive")
    if args.steps is not None and args.steps <= WARMUP_STEPS:
        parser.error(f"--steps must be more than the demo's {WARMUP_STEPS} warm-up steps")
    command = ("python", "benchmarks/found_data_recipe.py", *(sys.argv[1:] if argv is None else argv))
    return RecipeOptions(**{name: value for name, value in vars(args).items()}, command=command)


def found_voices(language: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The (engine, voice) pairs that make the found data, and the engines that are not installed."""
    if language != FOUND_LANGUAGE:
        raise ConfigurationError(f"--language {language}: the found data's engines ({', '.join(FOUND_ENGINES)}) "
                                 f"have voices installed for {FOUND_LANGUAGE} only")
    missing = [engine for engine in FOUND_ENGINES if shutil.which(_binary(engine)) is None]
    voices = [(engine, voice) for engine, voice in VOICES if engine in FOUND_ENGINES and engine not in missing]
    for engine in missing:
        LOGGER.warning(f"{engine} is not installed ({_binary(engine)} not found): its voices are left out")
    if not voices:
        raise ConfigurationError("neither flite nor festival is installed: apt-get install flite festival "
                                 "festvox-kallpc16k festvox-us-slt-hts")
    return voices, missing


def _binary(engine: str) -> str:
    return next(VOICES[key]("", "")[0] for key in VOICES if key[0] == engine)


def found_sentences(corpus, language: str, rng: np.random.Generator) -> list[str]:
    """The LM text's sentences in a random order, after checking that none is an evaluated sentence."""
    normalize = TextNormalizer()
    evaluated = {normalize(row["sentence"]) for split in ("dev", "test") for row in corpus.rows(language, split)}
    segments = corpus.root / language / "long_segments.tsv"
    evaluated |= {normalize(row["sentence"]) for row in (read_tsv(segments) if segments.is_file() else [])}
    sentences = [line for line in corpus.lm_text(language).read_text(encoding="utf-8").splitlines() if line.strip()]
    shared = [sentence for sentence in sentences if normalize(sentence) in evaluated]
    if shared:
        raise ConfigurationError(f"{len(shared)} LM-text sentences are evaluated sentences, e.g. {shared[0]!r}")
    return [sentences[index] for index in rng.permutation(len(sentences))]


def read_recording(engine: str, voice: str, sentences: list[str], work: Path, rng: np.random.Generator) -> np.ndarray:
    """`sentences` read by one voice, SENTENCES_PER_CALL at a time, with a pause between calls, at 16 kHz."""
    parts = []
    for first in range(0, len(sentences), SENTENCES_PER_CALL):
        path = work / f"part-{first}.wav"
        speak(engine, voice, "\n".join(sentences[first:first + SENTENCES_PER_CALL]), path)
        parts += [np.zeros(int(rng.uniform(*PAUSE_S) * TARGET_SAMPLING_RATE), np.float32),
                  load_audio(str(path), TARGET_SAMPLING_RATE)]
        path.unlink()
    return np.concatenate(parts)


def in_a_room(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """`audio` in a room of FOUND_ROOMS (simulated once, then cached), with noise of its own colour and level."""
    rooms = room_bank(FOUND_ROOMS)
    room = int(rng.integers(len(rooms.responses)))
    snr, color = float(rng.uniform(*NOISE_SNR_DB)), str(rng.choice(NOISE_COLORS))
    return add_noise(convolve(audio, rooms.responses[room]), snr, rng, color), {
        "rt60_s": round(float(rooms.rt60_s[room]), 2), "snr_db": round(snr, 1), "noise": color}


def make_found_data(options: RecipeOptions, corpus) -> dict:
    """The found recordings (`found/transcribed/` with a text file each and a table of them; `found/untranscribed/`
    without), one per voice and kind; what was made, also written to found/found.json (the stage's marker)."""
    folder = options.output_dir / "found"
    marker = folder / "found.json"
    if marker.is_file():
        LOGGER.info(f"found data: made before ({folder}), reused")
        return json.loads(marker.read_text(encoding="utf-8"))
    shutil.rmtree(folder, ignore_errors=True)
    voices, missing = found_voices(options.language)
    rng = np.random.default_rng(options.seed)
    sentences = iter(found_sentences(corpus, options.language, rng))
    record = {"voices": [f"{engine}/{voice}" for engine, voice in voices], "engines_missing": missing,
              "recordings": []}
    for kind, minutes in ((TRANSCRIBED, options.transcribed_minutes), (UNTRANSCRIBED, options.untranscribed_minutes)):
        (folder / kind).mkdir(parents=True)
        for engine, voice in progress_bar(voices, desc=f"found audio, {kind}", unit="voice"):
            record["recordings"].append(_one_recording(folder / kind, engine, voice, minutes * 60 / len(voices),
                                                       sentences, rng, kind))
    with open(folder / "recordings.csv", "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file_name", "text_file"])
        writer.writerows([[f"{TRANSCRIBED}/{row['file']}", f"{TRANSCRIBED}/{row['text_file']}"]
                          for row in record["recordings"] if row["kind"] == TRANSCRIBED])
    marker.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def _one_recording(folder: Path, engine: str, voice: str, seconds: float, sentences, rng, kind: str) -> dict:
    """One voice reading sentences until it has spoken `seconds`, in its room; its row of found.json."""
    import soundfile

    audio, spoken = np.zeros(0, np.float32), []
    with tempfile.TemporaryDirectory(prefix="found-voice-") as work:
        while audio.size < seconds * TARGET_SAMPLING_RATE:
            batch = [next(sentences) for _ in range(SENTENCES_PER_CALL)]
            audio = np.concatenate([audio, read_recording(engine, voice, batch, Path(work), rng)])
            spoken += batch
    audio, room = in_a_room(audio, rng)
    name = f"{engine}_{voice}"
    soundfile.write(folder / f"{name}.wav", audio, TARGET_SAMPLING_RATE)
    row = {"kind": kind, "voice": f"{engine}/{voice}", "file": f"{name}.wav",
           "seconds": round(audio.size / TARGET_SAMPLING_RATE, 1), "sentences": len(spoken), **room}
    if kind == TRANSCRIBED:  # the text of untranscribed audio is thrown away
        (folder / f"{name}.txt").write_text("\n".join(spoken) + "\n", encoding="utf-8")
        row["text_file"] = f"{name}.txt"
    return row


def labelled_set(options: RecipeOptions, corpus) -> tuple[str, str]:
    """The labelled data as (dataset, config): the corpus itself, or a Common Voice style folder holding the first
    `--labelled` rows of its train split (the clips linked, not copied)."""
    if options.labelled is None:
        return str(corpus.root), options.language
    folder = options.output_dir / "labelled" / options.language
    rows = corpus.rows(options.language, "train")
    if options.labelled > len(rows):
        raise ConfigurationError(f"--labelled {options.labelled}: the train split has {len(rows)} clips")
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "clips").exists():
        (folder / "clips").symlink_to(corpus.clips_dir(options.language).resolve(), target_is_directory=True)
    source = corpus.split_tsv(options.language, "train").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "train.tsv").write_text("".join(source[:options.labelled + 1]), encoding="utf-8")
    return str(folder.parent), options.language


def _counts_of(values) -> dict[str, int]:
    return dict(Counter(values))


def trained(options: RecipeOptions, corpus, run: str, sources: list[tuple[str, str]], longest_s: float) -> dict:
    """Model `run` trained on the '+'-joined `sources` with the demo's recipe for the budget (skipped when its folder
    holds a model), on clips no longer than `longest_s`; what `<run>/training.json` records."""
    plan = options.demo_plan(run)
    model_dir = plan.output / "acoustic_model"
    record_file = plan.output / "training.json"
    if (model_dir / "model.safetensors").is_file() and record_file.is_file():
        LOGGER.info(f"model {run}: trained before ({model_dir}), reused")
        return json.loads(record_file.read_text(encoding="utf-8"))
    plan.output.mkdir(parents=True, exist_ok=True)
    config = plan.output / "model_config.json"
    config.write_text(json.dumps(MODEL_CONFIG), encoding="utf-8")
    training = training_plan(plan, corpus, config, model_dir)
    training.data.dataset_name = "+".join(name for name, _config in sources)
    training.data.dataset_config_name = "+".join(config_name or "" for _name, config_name in sources)
    training.data.interleave_probabilities = None  # concatenated: every clip once per epoch, whatever its source
    # Found clips longer than every labelled clip are left out (counted in skipped_in_training): duration batches
    # give a whole bucket the batch size of its longest clip, so a few long found clips would make a tenth of the
    # data single-clip batches (benchmarks/results/found_data_recipe_notes.md, third run).
    training.data.max_duration_in_seconds = min(training.data.max_duration_in_seconds, longest_s)
    # The found folders hold no dev split (all of a folder is any split): both runs are scored by the stages below
    # instead of the trainer's own evaluation.
    training.training.do_eval = False
    training.rerun = options.command
    if options.steps:
        training = in_steps(training, options.steps)
    started = time.perf_counter()
    with warnings_only():
        result = train(training)
    skipped = read_skip_log(model_dir / SKIPPED_FILE) if (model_dir / SKIPPED_FILE).is_file() else []
    record = {"dataset_name": training.data.dataset_name, "seconds": round(time.perf_counter() - started, 1),
              "steps": result.steps, "train_samples": result.train_metrics.get("train_samples"),
              "train_runtime_s": result.train_metrics.get("train_runtime"),
              "skipped_in_training": _counts_of(row["reason"] for row in skipped)}
    record_file.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def in_steps(training: TrainingPlan, steps: int) -> TrainingPlan:
    """The demo's run ended after `steps` optimizer steps instead of by its clock: the same warm-up, constant rate
    and linear cool-down over the last COOLDOWN of the run, scheduled in steps (transformers' warmup-stable-decay
    schedule), and no TimeBudget callback."""
    arguments = training.training
    arguments.max_steps = steps
    arguments.lr_scheduler_type = "warmup_stable_decay"
    arguments.lr_scheduler_kwargs = {"num_decay_steps": round(COOLDOWN * steps), "decay_type": "linear"}
    return replace(training, callbacks=tuple(c for c in training.callbacks if not isinstance(c, TimeBudget)))


def segmented(options: RecipeOptions, model_dir: Path) -> dict:
    """The transcribed recordings cut into clips by model A (`segmented/`, written whole or not at all)."""
    output = options.output_dir / "segmented"
    if not (output / "metadata.csv").is_file():
        shutil.rmtree(output, ignore_errors=True)
        segment(SegmentOptions(str(model_dir), str(output), table=str(options.output_dir / "found" / "recordings.csv"),
                               text_format="lines", min_score=options.min_score))
    return dataset_summary(output)


def pseudo_labelled(options: RecipeOptions, model_dir: Path) -> dict:
    """The untranscribed recordings labelled by model A (`pseudo_labelled/`; its summary file is the marker, as the
    folder fills while it is labelled)."""
    output = options.output_dir / "pseudo_labelled"
    marker = options.output_dir / "pseudo_labelled.json"
    if not marker.is_file():
        shutil.rmtree(output, ignore_errors=True)
        result = pseudo_label(PseudoLabelOptions(str(model_dir), str(options.output_dir / "found" / UNTRANSCRIBED),
                                                 str(output), min_confidence=options.min_confidence))
        marker.write_text(json.dumps({"summary": result.summary(), "speech_s": round(result.speech_seconds, 1)}) + "\n",
                          encoding="utf-8")
    return {**dataset_summary(output), **json.loads(marker.read_text(encoding="utf-8"))}


def dataset_summary(folder: Path) -> dict:
    """A found dataset folder's clips, hours, and skips by reason."""
    with open(folder / "metadata.csv", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    skipped = read_skip_log(folder / SKIPPED_FILE)
    return {"clips": len(rows), "hours": round(sum(float(r["end"]) - float(r["start"]) for r in rows) / 3600, 4),
            "skipped": len(skipped), "skipped_by_reason": _counts_of(r["reason"] for r in skipped)}


def labelled_summary(dataset: str, language: str) -> dict:
    """The labelled set's clips and hours (each clip's length read from its file)."""
    folder = Path(dataset) / language
    rows = read_tsv(folder / "train.tsv")
    durations = [audio_info(str(folder / "clips" / row["path"])).duration or 0.0 for row in rows]
    return {"clips": len(rows), "hours": round(sum(durations) / 3600, 4), "longest_s": max(durations, default=0.0)}


def evaluated(options: RecipeOptions, corpus, real_world: Path, run: str) -> dict:
    """Model `run` scored by eval.py's evaluation, LM-free greedy decoding, on the demo's three sets (each run
    skipped when its result file is there): WER and CER by set."""
    plan = options.demo_plan(run)
    runs = [r for r in eval_runs(plan, corpus, real_world, plan.output / "acoustic_model", options.language)
            if r.decoder == "greedy"]
    runs.append(found_voices_run(options, plan, runs[0]))
    with progress_bar(total=len(runs), desc=f"eval.py, model {run}", unit="run", file=sys.stdout) as bar:
        files = evaluate_all(plan, runs, bar)[options.language]
    return {name: read_results_file(files[(name, "greedy")]) for name in (*EVAL_SETS, FOUND_SET)}


def found_voices_run(options: RecipeOptions, plan: DemoPlan, like: EvalRun) -> EvalRun:
    """How the model hears the found voices: eval.py (as `like`, chunked as the real-world sets) over the
    transcribed recordings, each scored against its whole text (an audio folder beside them)."""
    folder = options.output_dir / "found" / TRANSCRIBED
    if not (folder / "metadata.csv").is_file():
        with open(options.output_dir / "found" / "recordings.csv", encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file))
        with open(folder / "metadata.csv", "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["file_name", "sentence"])
            writer.writerows([[Path(row["file_name"]).name, " ".join(
                (options.output_dir / "found" / row["text_file"]).read_text(encoding="utf-8").split())] for row in rows])
    output = plan.output / "eval" / options.language / FOUND_SET / "greedy"
    eval_options = replace(like.options, dataset=str(folder), config=None, split="test", chunk_length_s=CHUNK_LENGTH_S,
                           stride_length_s=STRIDE_LENGTH_S, output_dir=str(output))
    return EvalRun(options.language, FOUND_SET, "greedy", output, eval_options)


def run(options: RecipeOptions) -> dict:
    """Every stage, top to bottom; the results record (also written under `options.results_dir`)."""
    wall: dict[str, float] = {}

    def timed(stage: str, function, *args):
        output = STAGE_OUTPUTS.get(stage)
        reused = output is not None and (options.output_dir / output).exists()
        begun = time.perf_counter()
        value = function(*args)
        if not reused:  # a reused stage keeps the time of the run that made it
            wall[stage] = round(time.perf_counter() - begun, 1)
        return value

    options.output_dir.mkdir(parents=True, exist_ok=True)
    LOGGER.info(f"[1/6] corpus ({options.language}) and found data")
    corpus = timed("corpus", cached_corpus, options.corpus_config, None, True)
    real_world = real_world_sets(corpus, options.language, options.output_dir / "real_world")
    labelled = labelled_set(options, corpus)
    found = timed("found_data", make_found_data, options, corpus)
    LOGGER.info(f"[2/6] model A: the labelled set alone, {budget(options.steps, options.minutes)}")
    labelled_data = labelled_summary(*labelled)
    training_a = timed("train_A", trained, options, corpus, "A", [labelled], labelled_data["longest_s"])
    model_a = options.output_dir / "A" / "acoustic_model"
    LOGGER.info("[3/6] model A segments the transcribed recordings and labels the untranscribed ones")
    segments = timed("segment", segmented, options, model_a)
    pseudo = timed("pseudo_label", pseudo_labelled, options, model_a)
    LOGGER.info("[4/6] model B: the labelled set + segmented + pseudo-labelled clips, "
                f"{budget(options.steps, options.minutes)}")
    found_folders = [(str(options.output_dir / name), None) for name, summary in
                     (("segmented", segments), ("pseudo_labelled", pseudo)) if summary["clips"]]
    training_b = timed("train_B", trained, options, corpus, "B", [labelled, *found_folders], labelled_data["longest_s"])
    LOGGER.info("[5/6] eval.py on the real-world dev/test and the CV-style test, greedy (no LM)")
    scores = {run_name: timed(f"eval_{run_name}", evaluated, options, corpus, real_world, run_name)
              for run_name in ("A", "B")}
    LOGGER.info("[6/6] results")
    record = {
        "command": " ".join(options.command), "language": options.language, "minutes_per_training": options.minutes,
        "steps_per_training": options.steps,
        "corpus_key": corpus.manifest["key"], "min_score": options.min_score, "min_confidence": options.min_confidence,
        "found": found, "data": {"labelled": labelled_data, "segmented": segments, "pseudo_labelled": pseudo},
        "runs": {"A": {"training": training_a, "data": ["labelled"], "scores": scores["A"]},
                 "B": {"training": training_b, "data": ["labelled", *[Path(f).name for f, _c in found_folders]],
                       "scores": scores["B"]}},
        "wall_s": stage_times(options, wall),
    }
    for run_name, data in (("A", ["labelled"]), ("B", record["runs"]["B"]["data"])):
        chosen = [record["data"][name] for name in data]
        record["runs"][run_name]["examples"] = sum(part["clips"] for part in chosen)
        record["runs"][run_name]["hours"] = round(sum(part["hours"] for part in chosen), 4)
    write_results(options, record)
    return record


# Each stage's marker in --output_dir: a stage whose marker is there is reused, not run again.
STAGE_OUTPUTS = {"found_data": "found/found.json", "train_A": "A/training.json", "segment": "segmented/metadata.csv",
                 "pseudo_label": "pseudo_labelled.json", "train_B": "B/training.json", "eval_A": "A/eval",
                 "eval_B": "B/eval"}


def stage_times(options: RecipeOptions, wall: dict[str, float]) -> dict[str, float]:
    """Each stage's wall time in the run that made its output (`wall_s.json` keeps those of reused stages), and
    their total."""
    path = options.output_dir / "wall_s.json"
    before = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    times = {**before, **wall}
    path.write_text(json.dumps(times) + "\n", encoding="utf-8")
    return {**times, "total": round(sum(times.values()), 1)}


def write_results(options: RecipeOptions, record: dict) -> None:
    """The JSON record and a markdown page beside it."""
    options.results_dir.mkdir(parents=True, exist_ok=True)
    path = write_json(options.results_dir / f"{RESULTS_NAME}_cpu.json",
                      {"benchmark": RESULTS_NAME, "machine": machine_info(), **record})
    (options.results_dir / f"{RESULTS_NAME}_cpu.md").write_text(markdown(record), encoding="utf-8")
    LOGGER.info(f"wrote {path} and {path.with_suffix('.md').name}")


def budget(steps: int | None, minutes: float) -> str:
    """Each model's training budget in words."""
    return f"{steps} optimizer steps" if steps else f"{minutes:g} min"


def markdown(record: dict) -> str:
    runs = record["runs"]
    header = ["", "A: labelled only", "B: + found data"]
    rows = [[f"{name} WER / CER", *(f"{runs[r]['scores'][name]['wer']:.3f} / {runs[r]['scores'][name]['cer']:.3f}"
                                    for r in "AB")] for name in (*EVAL_SETS, FOUND_SET)]
    rows += [["training examples (clips)", runs["A"]["examples"], runs["B"]["examples"]],
             ["training hours", f"{runs['A']['hours']:.3f}", f"{runs['B']['hours']:.3f}"],
             ["steps trained", runs["A"]["training"]["steps"], runs["B"]["training"]["steps"]],
             ["training wall time (s, budget + data preparation)", runs["A"]["training"]["seconds"],
              runs["B"]["training"]["seconds"]]]
    data = record["data"]
    stages = [["labelled (CV-style train)", data["labelled"]["clips"], f"{data['labelled']['hours']:.3f}", "-"],
              *[[name, data[name]["clips"], f"{data[name]['hours']:.3f}",
                 ", ".join(f"{count} {reason}" for reason, count in data[name]["skipped_by_reason"].items()) or "none"]
                for name in ("segmented", "pseudo_labelled")]]
    found = record["found"]
    recordings = [[row["kind"], row["voice"], row["seconds"], row["sentences"], row["rt60_s"], row["snr_db"], row["noise"]]
                  for row in found["recordings"]]
    return "\n\n".join([
        "# Found data: the recipe end to end", f"`{record['command']}`",
        f"{record['language']}, {budget(record.get('steps_per_training'), record['minutes_per_training'])} of "
        "training per model, greedy decoding without "
        f"an LM; segment --min_score {record['min_score']:g}, pseudo-label --min_confidence {record['min_confidence']:g}; "
        f"engines missing: {', '.join(found['engines_missing']) or 'none'}.",
        markdown_table(header, rows), "Clips kept and skipped at each stage:",
        markdown_table(["data", "clips kept", "hours", "skipped"], stages), "The found recordings:",
        markdown_table(["kind", "voice", "seconds", "sentences", "RT60 (s)", "SNR (dB)", "noise"], recordings),
        "Wall time by stage (s): " + ", ".join(f"{stage} {seconds:g}" for stage, seconds in record["wall_s"].items()),
    ]) + "\n"


def main(argv: list[str] | None = None) -> dict:
    configure_logging()
    try:
        return run(parse_arguments(argv))
    except RobustSpeechError as error:
        LOGGER.error(str(error))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
