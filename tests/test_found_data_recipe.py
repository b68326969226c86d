"""benchmarks/found_data_recipe.py end to end on a tiny corpus with a seconds-long training budget: model A, its
segmentation and pseudo-labels of the found recordings (flite/festival voices), model B on everything, both
scored, the results written, and a second run reusing every stage.

A model trained for seconds hears nothing, so model A's ears are replaced where they are used to label: segment
gets log-posteriors that spell each recording's own text (spread evenly over it), and pseudo-label a transcriber
that hears one fixed sentence clearly. Everything else is the script's own: the corpus, the found recordings,
both training runs with the demo's recipe, the dataset folders, eval.py's evaluation and the result files.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from ctc_logits import VOCABULARY, emissions

from robust_speech.data.synth import SynthConfig

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
HEARD = "the cat sat on the mat"
TINY_CORPUS = SynthConfig(languages=("en",), train_size=12, dev_size=4, test_size=4, lm_sentences=120,
                          long_recordings=2, long_duration_s=(6.0, 8.0), speakers=6, seed=3)


def spelled_text(model, audio) -> np.ndarray:
    """Log-posteriors in `model`'s vocabulary that spell the lines of the recording's text file one after the other,
    over the whole recording: every character on a few frames then a blank one (segment takes text spoken faster
    than a character in two frames for text the audio does not hold), a blank frame between lines."""
    from robust_speech.audio.decode import audio_info

    lines = [line for line in Path(audio).with_suffix(".txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    frames = int(audio_info(audio).duration / model.seconds_per_frame)
    size, blank = len(model.vocabulary.tokens), model.vocabulary.blank
    log_probs = np.full((frames, size), np.log(0.1 / (size - 1)), np.float32)
    log_probs[:, blank] = np.log(0.9)
    spelled = [model.spell(line)[0] for line in lines]
    per_token = min(4, frames // sum(len(ids) + 1 for ids in spelled))
    assert per_token >= 2, "the recording is too short for its text at two frames a character"
    first = per_token
    for ids in spelled:
        for token in ids:
            log_probs[first : first + per_token - 1, blank] = np.log(0.1 / (size - 1))
            log_probs[first : first + per_token - 1, token] = np.log(0.9)
            first += per_token
        first += per_token
    return log_probs


class HearsOneSentence:
    """A transcriber that hears HEARD, clearly, in every speech segment (decoded by the real greedy decoder)."""

    def __init__(self):
        from robust_speech.inference.decoding import GreedyDecoder

        self.decoder = GreedyDecoder(VOCABULARY)
        self.decoder.confidence = True

    def transcribe(self, pieces, progress=None):
        return self.decoder.decode_batch([emissions(HEARD) for _piece in pieces])


@pytest.fixture
def recipe(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import found_data_recipe

    from robust_speech.found import recording
    from robust_speech.inference import loading

    monkeypatch.setattr(recording, "_log_probs", spelled_text)
    real_pseudo_label = found_data_recipe.pseudo_label

    class Loaded:
        transcriber = HearsOneSentence()

    def pseudo_label(options):
        with monkeypatch.context() as patch:  # the labeller only: evaluation loads the real models
            patch.setattr(loading, "load_for_inference", lambda *args, **kwargs: Loaded())
            return real_pseudo_label(options)

    monkeypatch.setattr(found_data_recipe, "pseudo_label", pseudo_label)
    monkeypatch.setattr(found_data_recipe, "SENTENCES_PER_CALL", 2)
    return found_data_recipe


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("flite") or shutil.which("text2wave")), reason="needs flite or festival")
def test_model_b_trains_on_the_found_clips_and_both_are_scored(recipe, tmp_path):
    argv = ["--output_dir", str(tmp_path / "out"), "--minutes", "0.05", "--labelled", "8", "--transcribed_minutes",
            "0.05", "--untranscribed_minutes", "0.05", "--results_dir", str(tmp_path / "results")]
    options = replace(recipe.parse_arguments(argv), synth_config=TINY_CORPUS)
    record = recipe.run(options)

    found = record["found"]["recordings"]
    assert {row["kind"] for row in found} == {"transcribed", "untranscribed"}
    assert not any(row["voice"].startswith("espeak") for row in found)
    data, runs = record["data"], record["runs"]
    assert data["labelled"]["clips"] == 8
    assert data["segmented"]["clips"] > 0 and data["pseudo_labelled"]["clips"] > 0
    assert runs["A"]["data"] == ["labelled"] and runs["B"]["data"] == ["labelled", "segmented", "pseudo_labelled"]
    assert runs["B"]["examples"] == 8 + data["segmented"]["clips"] + data["pseudo_labelled"]["clips"]
    # The trainer read them: B's training set is larger than A's by the found clips (and their rendered copies).
    assert runs["B"]["training"]["train_samples"] >= runs["A"]["training"]["train_samples"] + (
        data["segmented"]["clips"] + data["pseudo_labelled"]["clips"])
    assert str(tmp_path / "out" / "segmented") in runs["B"]["training"]["dataset_name"]
    for run in ("A", "B"):
        assert set(runs[run]["scores"]) == {"cv_test", "real_dev", "real_test", "found_voices"}
        assert runs[run]["training"]["steps"] > 0
        for scores in runs[run]["scores"].values():
            assert scores["wer"] >= 0 and scores["cer"] >= 0
    written = json.loads((tmp_path / "results" / "found_data_recipe_cpu.json").read_text(encoding="utf-8"))
    assert written["runs"] == json.loads(json.dumps(runs))
    page = (tmp_path / "results" / "found_data_recipe_cpu.md").read_text(encoding="utf-8")
    assert "| real_test WER / CER |" in page and "pseudo_labelled" in page

    # A second run reuses every stage: nothing is trained, synthesized or labelled again.
    weights = [tmp_path / "out" / run / "acoustic_model" / "model.safetensors" for run in ("A", "B")]
    stamps = [path.stat().st_mtime_ns for path in weights]
    again = recipe.run(options)
    assert [path.stat().st_mtime_ns for path in weights] == stamps
    assert again["runs"] == record["runs"] and again["data"] == record["data"]


def test_another_language_is_refused_in_one_line(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import found_data_recipe

    from robust_speech.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="voices installed for en only"):
        found_data_recipe.found_voices("de")


def test_steps_mode_ends_each_run_after_n_steps_with_the_cool_down_in_steps(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import found_data_recipe
    import torch
    from transformers import Trainer

    from robust_speech.demo.budget import TimeBudget
    from robust_speech.demo.recipe import COOLDOWN, WARMUP_STEPS
    from robust_speech.training.plan import plan_from_fields

    plan = plan_from_fields(model={}, data={"dataset_name": "x"}, callbacks=[TimeBudget(60.0)],
                            training={"output_dir": str(tmp_path), "learning_rate": 1.0, "warmup_steps": WARMUP_STEPS,
                                      "lr_scheduler_type": "constant_with_warmup", "max_steps": 100000})
    steps = 2000
    stepped = found_data_recipe.in_steps(plan, steps)
    assert stepped.training.max_steps == steps
    assert not any(isinstance(callback, TimeBudget) for callback in stepped.callbacks)  # no clock stops it early
    # The trainer's own scheduler from these arguments: warm-up, constant, then down to zero over the cool-down.
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = Trainer(model=model, args=stepped.training).create_scheduler(steps, optimizer)
    rates = []
    for _step in range(steps + 1):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    cool_down_start = steps - round(COOLDOWN * steps)
    assert rates[WARMUP_STEPS // 2] == pytest.approx(0.5)
    assert rates[WARMUP_STEPS] == rates[cool_down_start] == pytest.approx(1.0)
    assert rates[cool_down_start + (steps - cool_down_start) // 4] == pytest.approx(0.75)  # linear, not cosine
    assert rates[steps] == pytest.approx(0.0)


def test_steps_mode_needs_more_steps_than_the_warm_up(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import found_data_recipe

    from robust_speech.demo.recipe import WARMUP_STEPS

    with pytest.raises(SystemExit):
        found_data_recipe.parse_arguments(["--output_dir", "out", "--steps", str(WARMUP_STEPS)])
    assert "more than the demo's" in capsys.readouterr().err
    assert found_data_recipe.parse_arguments(["--output_dir", "out", "--steps", "4000"]).steps == 4000


def test_no_training_clip_is_longer_than_the_longest_labelled_one(monkeypatch, tmp_path):
    # Duration batches size a whole bucket by its longest clip: a few long found clips would turn a tenth of B's
    # data into single-clip batches, so both runs leave out clips longer than every labelled one.
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import found_data_recipe

    plans = []

    def train(plan):
        plans.append(plan)
        raise RuntimeError("stop here")

    monkeypatch.setattr(found_data_recipe, "train", train)
    options = found_data_recipe.parse_arguments(["--output_dir", str(tmp_path), "--steps", "1000"])
    corpus = type("Corpus", (), {"root": tmp_path / "corpus"})()
    with pytest.raises(RuntimeError, match="stop here"):
        found_data_recipe.trained(options, corpus, "B", [(str(tmp_path / "corpus"), "en"), (str(tmp_path / "found"),
                                                                                          None)], 9.25)
    assert plans[0].data.max_duration_in_seconds == 9.25
    assert plans[0].training.max_steps == 1000  # --steps reaches the run
    assert plans[0].data.dataset_name == f"{tmp_path / 'corpus'}+{tmp_path / 'found'}"
