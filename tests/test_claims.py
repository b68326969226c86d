"""README claims that had no test: robustness speed and band levels, `--config_name` training, the demo's stage
reuse and `--force`, the benchmark summary's ratio rows, and the KenLM source download without a registry."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import TINY_XLSR_CONFIG, dominant_frequency, tone
from log_records import logged
from model_folders import save_processor, save_random_model
from test_training import train_argv

# ---------------------------------------------------------------------------------------------------------
# `robust-speech robustness --speeds 0.9,1.1 --bandwidths_hz 1000`


def two_tone_test_split(root):
    """A test split whose clips carry a strong 3 kHz tone over a weaker 500 Hz one: speed moves the 3 kHz peak
    (and the length), a 1 kHz band limit removes it. Faint noise and a syllable-rate envelope make the random
    model write something, and something else for each degradation."""
    (root / "test").mkdir(parents=True)
    lines = ["file_name,sentence"]
    rng = np.random.default_rng(5)
    for index, seconds in enumerate((1.0, 1.5)):
        envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * np.arange(int(seconds * 16000)) / 16000)
        audio = (tone(3000, seconds, 16000, 0.5) + tone(500, seconds, 16000, 0.2)) * envelope
        audio = (audio + 0.05 * rng.standard_normal(audio.size)).astype(np.float32)
        soundfile.write(root / "test" / f"clip{index}.wav", audio, 16000)
        lines.append(f"clip{index}.wav,a tone number {index}")
    (root / "test" / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_robustness_speeds_and_bandwidths_give_one_row_per_level_and_degrade_what_is_transcribed(
        tmp_path, monkeypatch, capsys):
    from robust_speech.cli.verbs import main
    from robust_speech.evaluation.robustness import read_robustness
    from robust_speech.inference.transcribe import Transcriber
    from robust_speech.reports.metrics import char_error_rate, word_error_rate

    model = save_random_model(tmp_path / "model")
    data = two_tone_test_split(tmp_path / "data")
    received: list[list[np.ndarray]] = []  # what the transcriber is given, one call per (group, condition)
    texts: list[list[str]] = []
    real = Transcriber.transcribe

    def spy(self, audios, *args, **kwargs):
        received.append([np.asarray(audio).copy() for audio in audios])
        result = real(self, audios, *args, **kwargs)
        texts.append([t.text for t in result])
        return result

    monkeypatch.setattr(Transcriber, "transcribe", spy)
    out = tmp_path / "robustness"
    code = main(["robustness", "--model", str(model), "--dataset", str(data), "--split", "test", "--output_dir",
                 str(out), "--snr_db", "", "--rt60_s", "", "--babble_snr_db", "", "--codecs", "", "--speeds", "0.9,1.1",
                 "--bandwidths_hz", "1000"])
    assert code == 0
    printed = capsys.readouterr().out
    result = read_robustness(out / "robustness.json")
    labels = ["clean", "0.9 x speed", "1.1 x speed", "1000 Hz band"]
    assert [row.label for row in result.rows] == labels
    assert [(row.kind, row.level) for row in result.rows] == [("clean", None), ("speed", 0.9), ("speed", 1.1),
                                                              ("bandlimit", 1000.0)]
    assert all(row.utterances == 2 for row in result.rows)
    for label in labels:
        assert f"| {label} |" in printed and f"| {label} |" in (out / "robustness.md").read_text(encoding="utf-8")

    # One group (two clips), one transcribe call per condition, in the rows' order.
    assert len(received) == len(labels)
    clean, slower, faster, band = received
    for index, audio in enumerate(clean):
        assert audio.size == (16000, 24000)[index]
        assert dominant_frequency(audio, 16000) == pytest.approx(3000, abs=10)
        # Speed s plays the clip s times faster: 1/s of its samples, every frequency times s.
        assert slower[index].size == pytest.approx(audio.size / 0.9, rel=0.01)
        assert faster[index].size == pytest.approx(audio.size / 1.1, rel=0.01)
        assert dominant_frequency(slower[index], 16000) == pytest.approx(2700, abs=15)
        assert dominant_frequency(faster[index], 16000) == pytest.approx(3300, abs=15)
        # A 1 kHz band: the 3 kHz tone is gone, the 500 Hz one stays; the length is kept.
        assert band[index].size == audio.size
        assert dominant_frequency(band[index], 16000) == pytest.approx(500, abs=10)
        spectrum = np.abs(np.fft.rfft(band[index]))
        frequencies = np.fft.rfftfreq(band[index].size, 1 / 16000)
        assert spectrum[frequencies > 1100].max() < 0.01 * spectrum.max()
    # Each degradation changes what the model writes, and each row's rates are those of the texts transcribed
    # under that condition.
    assert len({tuple(condition_texts) for condition_texts in texts}) == len(labels)
    assert len({row.cer for row in result.rows}) == len(labels)
    references = ["a tone number 0", "a tone number 1"]
    for row, condition_texts in zip(result.rows, texts):
        assert row.wer == pytest.approx(word_error_rate(references, condition_texts))
        assert row.cer == pytest.approx(char_error_rate(references, condition_texts))


def test_robustness_babble_and_codecs_degrade_what_is_transcribed_and_are_plotted(tmp_path, monkeypatch):
    from robust_speech.cli.verbs import main
    from robust_speech.evaluation.robustness import read_robustness
    from robust_speech.inference.transcribe import Transcriber

    model = save_random_model(tmp_path / "model")
    data = two_tone_test_split(tmp_path / "data")
    received: list[list[np.ndarray]] = []
    real = Transcriber.transcribe

    def spy(self, audios, *args, **kwargs):
        received.append([np.asarray(audio).copy() for audio in audios])
        return real(self, audios, *args, **kwargs)

    plotted = []
    import robust_speech.evaluation.robustness as robustness

    real_plot = robustness.plot_robustness
    def plot(results, *args, **kwargs):
        plotted.append(results)
        return real_plot(results, *args, **kwargs)

    monkeypatch.setattr(robustness, "plot_robustness", plot)
    monkeypatch.setattr(Transcriber, "transcribe", spy)
    out = tmp_path / "robustness"
    assert main(["robustness", "--model", str(model), "--dataset", str(data), "--split", "test", "--output_dir", str(out),
                 "--snr_db", "", "--rt60_s", "", "--babble_snr_db", "5", "--codecs", "mp3:8,telephone"]) == 0
    result = read_robustness(out / "robustness.json")
    assert [row.label for row in result.rows] == ["clean", "5 dB SNR babble", "8 kbit/s mp3", "13 kbit/s GSM telephone"]
    clean, babbled, mp3, phone = received
    for index, audio in enumerate(clean):
        interference = babbled[index] - audio
        # The other utterance talks over this one, 5 dB down: the interference is its tones, not noise.
        assert 10 * np.log10(np.mean(audio**2) / np.mean(interference**2)) == pytest.approx(5.0, abs=0.2)
        spectrum = np.abs(np.fft.rfft(interference)) ** 2
        frequencies = np.fft.rfftfreq(interference.size, 1 / 16000)
        tones = (np.abs(frequencies - 3000) < 30) | (np.abs(frequencies - 500) < 30)
        assert spectrum[tones].sum() > 0.8 * spectrum.sum()
        for coded in (mp3[index], phone[index]):
            assert coded.size == audio.size and not np.allclose(coded, audio, atol=1e-3)
        # The telephone keeps 300-3400 Hz at 8 kHz: the 3 kHz tone passes, nothing above 4 kHz does.
        spectrum = np.abs(np.fft.rfft(phone[index])) ** 2
        frequencies = np.fft.rfftfreq(phone[index].size, 1 / 16000)
        assert spectrum[frequencies > 4000].sum() < 1e-3 * spectrum.sum()
        assert spectrum[frequencies > 3600].sum() < 1e-2 * spectrum.sum()
    (curves,) = plotted
    panels = [kind for kind in ("babble", "mp3", "telephone") if any(result.by_kind(kind) for result in curves.values())]
    assert panels == ["babble", "mp3", "telephone"] and (out / "robustness.png").stat().st_size > 10_000
    assert main(["robustness", "--model", str(model), "--dataset", str(data), "--codecs", "mp3:64"]) == 2


def test_babble_never_lets_an_utterance_talk_over_itself():
    from robust_speech.evaluation.robustness import _talkers

    pool = [(index, np.full(10, index, dtype=np.float32)) for index in range(4)]
    for index in range(4):
        talkers = _talkers(pool, index, np.random.default_rng(index))
        assert len(talkers) == 3 and all(talker[0] != index for talker in talkers)


def test_robustness_speed_and_band_levels_must_be_positive():
    from robust_speech.core.errors import ConfigurationError
    from robust_speech.evaluation.robustness import conditions_from_levels

    with pytest.raises(ConfigurationError, match="--speeds 0: levels must be finite and positive"):
        conditions_from_levels((), (), speeds=(0.0,))
    with pytest.raises(ConfigurationError, match="--bandwidths_hz -4000"):
        conditions_from_levels((), (), bandwidths_hz=(-4000.0,))


# ---------------------------------------------------------------------------------------------------------
# `--config_name`: a randomly initialized model of that config's shape


def test_config_name_trains_a_random_init_model_of_that_configs_shape(small_corpus, tmp_path):
    import torch
    from transformers import AutoModelForCTC, Wav2Vec2Config, Wav2Vec2ForCTC

    import robust_speech.training.run as training

    # A checkpoint folder (config.json and weights), as a Hub id would be: of another shape than the tiny one,
    # with a distinctive init scale, and weights no initialization produces (every value 0.25).
    shape = {**TINY_XLSR_CONFIG, "hidden_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4,
             "intermediate_size": 96, "initializer_range": 0.05, "vocab_size": 40}
    architecture = tmp_path / "architecture"
    checkpoint = Wav2Vec2ForCTC(Wav2Vec2Config(**shape))
    with torch.no_grad():
        for parameter in checkpoint.parameters():
            parameter.fill_(0.25)
    checkpoint.save_pretrained(architecture)
    assert (architecture / "config.json").is_file() and (architecture / "model.safetensors").is_file()

    output_dir = tmp_path / "model"
    argv = train_argv(small_corpus, "unused", output_dir, "--config_name", str(architecture), "--max_steps", "2",
                      "--eval_strategy", "no", "--do_eval", "false")
    at = argv.index("--model_config_json")
    del argv[at:at + 2]  # --config_name alone
    assert training.main(argv, script="test") == 0
    state = json.loads((output_dir / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == 2
    assert all(np.isfinite(entry["loss"]) for entry in state["log_history"] if "loss" in entry)

    model = AutoModelForCTC.from_pretrained(output_dir)
    vocabulary = json.loads((output_dir / "vocab.json").read_text(encoding="utf-8"))
    config = model.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size) == (
        48, 3, 4, 96)
    assert len(model.wav2vec2.encoder.layers) == 3
    assert model.wav2vec2.encoder.layers[0].feed_forward.intermediate_dense.weight.shape == (96, 48)
    assert model.lm_head.weight.shape == (len(vocabulary), 48)  # the head sized to the data's vocabulary, not 40
    # Random init, not the checkpoint's weights: no parameter is still (about) 0.25 everywhere after two small
    # steps, and the attention projections are drawn at the config's initializer_range.
    for name, parameter in model.named_parameters():
        assert (parameter - 0.25).abs().max() > 0.05, name
    for layer in model.wav2vec2.encoder.layers:
        weight = layer.attention.q_proj.weight
        assert abs(weight.mean().item()) < 0.01 and weight.std().item() == pytest.approx(0.05, rel=0.15)
    assert "base_model" not in (output_dir / "README.md").read_text(encoding="utf-8").split("---")[1]


# ---------------------------------------------------------------------------------------------------------
# `robust-speech demo`: finished stages are reused on a re-run, `--force` redoes them


def _bar():
    from types import SimpleNamespace

    return SimpleNamespace(set_postfix_str=lambda text: None, update=lambda: None)


def test_demo_training_is_reused_on_a_rerun_and_redone_with_force(tmp_path, monkeypatch):
    """run_demo's own stage logic, up to the LM stage, with the corpus and the training itself stood in for."""
    from dataclasses import replace
    from types import SimpleNamespace

    import robust_speech.demo.pipeline as demo

    class StopAfterTraining(Exception):
        pass

    trained = []

    def fake_train(plan, corpus, model_dir):
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "model.safetensors").write_bytes(f"weights of run {len(trained)}".encode())
        trained.append(plan.force)
        return {"seconds": float(len(trained))}

    def stop(*args):
        raise StopAfterTraining

    monkeypatch.setattr(demo, "cached_corpus", lambda config, progress: SimpleNamespace(root=tmp_path / "corpus"))
    monkeypatch.setattr(demo, "real_world_sets_all", lambda corpus, plan: tmp_path / "real_world")
    monkeypatch.setattr(demo, "train", fake_train)
    monkeypatch.setattr(demo, "language_model", stop)
    plan = demo.DemoPlan(languages=("en",), minutes=1, output=tmp_path / "out")
    weights, info = plan.output / "acoustic_model" / "model.safetensors", plan.output / "training.json"

    def run(plan):  # what the demo said, read from its logger: another test may have configured its handlers
        with logged() as messages, pytest.raises(StopAfterTraining):
            demo.run_demo(plan)
        return "\n".join(messages)

    run(plan)
    assert trained == [False] and weights.read_bytes() == b"weights of run 0"
    # The commit the model was trained at: a later run may redo the LM and evaluation on it at another.
    recipe = {"augment": demo.AUGMENT, "augment_copies": demo.AUGMENT_COPIES,
              "max_batch_duration_s": demo.MAX_BATCH_DURATION_S, "commit": demo.repository_commit()}
    assert json.loads(info.read_text(encoding="utf-8")) == {"seconds": 1.0, **recipe}
    printed = run(plan)
    assert trained == [False], "a finished training was redone"
    assert f"training: done before ({plan.output / 'acoustic_model'}), reused" in printed
    assert weights.read_bytes() == b"weights of run 0" and json.loads(info.read_text(encoding="utf-8")) == {
        "seconds": 1.0, **recipe}
    printed = run(replace(plan, force=True))
    assert trained == [False, True] and "done before" not in printed
    assert weights.read_bytes() == b"weights of run 1" and json.loads(info.read_text(encoding="utf-8")) == {
        "seconds": 2.0, **recipe}


@pytest.mark.parametrize("flags, force", [((), False), (("--force",), True)])
def test_demo_force_flag_reaches_the_plan(tmp_path, monkeypatch, flags, force):
    import robust_speech.demo.pipeline as demo
    from robust_speech.cli.verbs import main

    plans = []
    monkeypatch.setattr(demo, "run_demo", plans.append)
    assert main(["demo", "--out", str(tmp_path / "out"), "--minutes", "2", "--languages", "en,de", *flags]) == 0
    assert [(plan.force, plan.languages, plan.minutes, plan.output) for plan in plans] == [
        (force, ("en", "de"), 2.0, tmp_path / "out")]


# ---------------------------------------------------------------------------------------------------------
# `make bench`: the summary's ratio rows, built from the benchmarks' JSON

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def run_all(monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(BENCHMARKS))  # run_all.py imports its sibling common.py
    return importlib.import_module("run_all")


def _training(reference: tuple[float, float], **ours: tuple[float, float]) -> dict:
    """training_speed_<model>_<tag>.json: (audio s per s, peak MB) per recipe, ratios against the reference."""
    names = {"ours": "ours (duration batches, fused AdamW, SDPA)", "bf16": "ours + bf16"}
    results = {"reference (fixed batches, group_by_length, adamw_torch, eager)": {
        "audio_s_per_s": reference[0], "peak_memory_mb": reference[1], "speedup": 1.0, "memory_ratio": 1.0}}
    for key, (speed, memory) in ours.items():
        results[names[key]] = {"audio_s_per_s": speed, "peak_memory_mb": memory, "speedup": speed / reference[0],
                               "memory_ratio": memory / reference[1]}
    return {"results": results}


def _eval_subset(utterances: int, ours_rtfx: float, pipeline_rtfx: float, identical: int,
                 bf16: tuple[float, int, float] | None = None) -> dict:
    subset = {"utterances": utterances, "ours": {"rtfx": ours_rtfx, "wer": 0.3}, "pipeline": {"rtfx": pipeline_rtfx,
              "wer": 0.23}, "identical_texts": identical, "speedup": ours_rtfx / pipeline_rtfx}
    if bf16:
        rtfx, same, wer = bf16
        subset["ours_bf16"] = {"rtfx": rtfx, "identical_texts": same, "wer": wer}
        subset["speedup_bf16"] = rtfx / pipeline_rtfx
    return subset


def _decoding(beams: dict[int, tuple[float, float, float, float]]) -> dict:
    """beam -> (pyctcdecode s, its WER, flashlight s, its WER), in the benchmark's order (a pool row in between)."""
    results = [{"engine": "greedy", "beam": None, "median_s": 0.01, "wer": 0.52}]
    for beam, (pyctc_s, pyctc_wer, flash_s, flash_wer) in beams.items():
        results += [{"engine": "pyctcdecode", "beam": beam, "median_s": pyctc_s, "wer": pyctc_wer},
                    {"engine": "pyctcdecode pool(2)", "beam": beam, "median_s": pyctc_s / 2, "wer": pyctc_wer},
                    {"engine": "flashlight", "beam": beam, "median_s": flash_s, "wer": flash_wer,
                     "speedup_vs_pyctcdecode": pyctc_s / flash_s, "speedup_vs_pyctcdecode_pool": pyctc_s / 2 / flash_s}]
    return {"results": results}


def hand_made_results(folder: Path, tag: str, small: str, large: str) -> Path:
    """The JSON of one `make bench` run (shapes `small` and `large`), with round numbers."""
    files = {
        f"training_speed_{small}": _training((100.0, 1000.0), ours=(250.0, 800.0), bf16=(300.0, 600.0)),
        f"training_speed_{large}": _training((40.0, 2000.0), ours=(48.0, 1500.0)),
        f"optimizer_memory_{large}": {"adamw": {"state_mb": 400.0}, "adamw8bit": {"state_mb": 100.0},
                                      "state_ratio": 100.0 / 400.0},
        f"eval_speed_{small}": {"results": {"test": _eval_subset(40, 900.0, 200.0, 39),
                                            "long": _eval_subset(3, 300.0, 250.0, 2)}},
        f"eval_speed_{large}": {"results": {"test": _eval_subset(40, 600.0, 150.0, 40, bf16=(750.0, 33, 0.2345))}},
        "decoding": _decoding({20: (4.0, 0.25, 0.5, 0.2), 50: (9.0, 0.22, 0.6, 0.21)}),
        "flops": {"matmul_peak_gflops": 200.0, "results": {
            large: {"achieved_gflops": 130.0, "fraction_of_matmul_peak": 130.0 / 200.0},
            small: {"achieved_gflops": 20.4, "fraction_of_matmul_peak": 20.4 / 200.0}}},
    }
    if tag == "cpu":
        files["eval_memory"] = {"hours": 3.0, "ratio": 120.0 / 660.0, "results": {
            "reference: a 6-minute recording": {"peak_rss_mb": 1000.0, "decoded_mb": 22.0},
            "a 3-hour recording": {"peak_rss_mb": 1120.0, "decoded_mb": 660.0}}}
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / f"{name}_{tag}.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def expected_rows(small: str, large: str, memory: bool = True) -> list[list[str]]:
    return [
        [f"training throughput ({small})", "ours / reference audio s per s", "2.50x", ">= 1.5x", "peak memory 0.80x"],
        [f"training throughput ({small}, bf16)", "ours / reference audio s per s", "3.00x", ">= 1.5x",
         "peak memory 0.60x"],
        [f"training throughput ({large})", "ours / reference audio s per s", "1.20x", ">= 1.5x", "peak memory 0.75x"],
        [f"optimizer state ({large})", "AdamW8bit / AdamW bytes", "0.25x", "<= 0.3x", ""],
        [f"eval RTFx ({small}, short clips)", "ours / pipeline RTFx", "4.50x", ">= 3x", "identical texts 39/40"],
        [f"eval RTFx ({small}, long recordings)", "ours / pipeline RTFx", "1.20x", ">= 3x", "identical texts 2/3"],
        [f"eval RTFx ({large}, short clips)", "ours / pipeline RTFx", "4.00x", ">= 3x", "identical texts 40/40"],
        [f"eval RTFx ({large}, short clips, bf16)", "ours bf16 / pipeline RTFx", "5.00x", ">= 3x",
         "identical texts 33/40; WER 0.2345 vs 0.2300"],
        ["decoding (beam 20)", "flashlight / pyctcdecode speed", "8.0x", ">= 3x at equal WER", "WER 0.2000 vs 0.2500"],
        ["decoding (beam 50)", "flashlight / pyctcdecode speed", "15.0x", ">= 3x at equal WER", "WER 0.2100 vs 0.2200"],
        [f"forward FLOP/s ({large})", "achieved / measured matmul peak", "65%", "(the limit)", "130.0 of 200 GFLOP/s"],
        [f"forward FLOP/s ({small})", "achieved / measured matmul peak", "10%", "(the limit)", "20.4 of 200 GFLOP/s"],
    ] + ([["eval.py peak memory (3-hour recording, chunked)", "peak RSS above a 6-minute run / decoded size", "0.18x",
           "< 0.25x", "1120 vs 1000 MB; whole process 1.70x"]] if memory else [])


def test_bench_summary_rows_carry_each_ratio_goal_and_note_from_the_json(run_all, tmp_path):
    results = hand_made_results(tmp_path / "results", "cpu", "tiny", "base")
    assert run_all.summary_rows("cpu", "cpu", results) == expected_rows("tiny", "base")
    table = run_all.write_summary("cpu", "cpu", results)
    assert (results / "summary_cpu.md").read_text(encoding="utf-8") == table + "\n"
    lines = table.splitlines()
    assert lines[:2] == ["| benchmark | ratio | measured | goal | notes |", "|---|---|---|---|---|"]
    assert lines[2] == "| training throughput (tiny) | ours / reference audio s per s | 2.50x | >= 1.5x | peak memory 0.80x |"
    assert lines[5] == "| optimizer state (base) | AdamW8bit / AdamW bytes | 0.25x | <= 0.3x |  |"
    assert len(lines) == 2 + len(expected_rows("tiny", "base"))


def test_bench_gpu_summary_reads_the_xlsr_shapes(run_all, tmp_path):
    results = hand_made_results(tmp_path / "results", "gpu", "base", "xlsr300m")
    assert run_all.summary_rows("cuda", "gpu", results) == expected_rows("base", "xlsr300m", memory=False)


def test_the_committed_cpu_summary_is_the_one_its_json_gives(run_all, tmp_path):
    import shutil

    copy = shutil.copytree(BENCHMARKS / "results", tmp_path / "results")
    assert run_all.write_summary("cpu", "cpu", copy) + "\n" == (BENCHMARKS / "results" / "summary_cpu.md").read_text(
        encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------
# KenLM built from source when lmplz is absent: a package index that cannot be reached is one line


def _pip_sees_only(monkeypatch, index_url: str) -> dict[str, str]:
    """pip's one source is `index_url`: no config files, find-links or extra indexes (subprocesses inherit it)."""
    settings = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": index_url, "PIP_FIND_LINKS": "",
                "PIP_EXTRA_INDEX_URL": ""}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    return settings


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once closed: connections are refused


class HangingUpIndex:
    """An index host that accepts each connection and closes it unanswered; counts the connections."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}/simple"

    def _serve(self):
        while True:
            try:
                connection, _address = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.recv(65536)


@pytest.mark.parametrize("index", ["refused", "hangs up", "no kenlm"])
def test_kenlm_source_download_without_the_index_is_one_line_naming_the_ways_out(index, tmp_path, monkeypatch):
    import robust_speech.lm.kenlm_tools as kenlm_tools

    monkeypatch.setattr(kenlm_tools, "missing_build_requirements", lambda: [])  # the download is what is tested
    hanging = HangingUpIndex() if index == "hangs up" else None
    if index == "refused":
        url = f"http://127.0.0.1:{_closed_port()}/simple"
    elif hanging:
        url = hanging.url
    else:  # an index that answers, without kenlm
        (tmp_path / "empty_index").mkdir()
        url = (tmp_path / "empty_index").as_uri()
    _pip_sees_only(monkeypatch, url)
    printed = []
    started = time.perf_counter()
    with pytest.raises(kenlm_tools.KenLMError) as raised:
        kenlm_tools.build_from_source(tmp_path / "kenlm", progress=printed.append)
    seconds = time.perf_counter() - started
    message = str(raised.value)
    assert "\n" not in message and message.startswith(
        "KenLM's lmplz is not installed and pip could not download the kenlm source to build it: ")
    assert message.endswith("; put KenLM's lmplz and build_binary on PATH, or let pip reach PyPI (or a mirror named "
                            "in PIP_INDEX_URL) and run again")
    reason = {"refused": "the package index cannot be reached (connection refused",
              "hangs up": "the package index cannot be reached (",
              "no kenlm": ": No matching distribution found for kenlm;"}[index]
    assert reason in message
    if hanging:
        assert hanging.connections == 2  # one retry, not pip's five
        hanging.socket.close()
    assert seconds < 60 and not (tmp_path / "kenlm" / "bin").exists()
    assert printed == ["KenLM: lmplz is not installed; building it once from the kenlm source on PyPI (about a minute)"]


def test_build_ngram_without_lmplz_and_without_the_index_stops_with_that_line(tmp_path, monkeypatch):
    import robust_speech.lm.kenlm_tools as kenlm_tools

    if kenlm_tools.missing_build_requirements():
        pytest.skip(f"the KenLM build needs {kenlm_tools.missing_build_requirements()} first (named in its own error)")
    # PATH holds the build tools and nothing else (no lmplz); an empty cache; an index that refuses connections.
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in kenlm_tools.BUILD_TOOLS:
        (tools / name).symlink_to(shutil.which(name))
    settings = _pip_sees_only(monkeypatch, f"http://127.0.0.1:{_closed_port()}/simple")
    model = save_processor(tmp_path / "model")
    text = tmp_path / "corpus.txt"
    text.write_text("a cat sat\nthe cat ran\n" * 5, encoding="utf-8")
    env = {**os.environ, **settings, "PATH": str(tools), "ROBUST_SPEECH_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, str(BENCHMARKS.parent / "build_ngram.py"), "--model_dir", str(model),
                             "--text", str(text), "--order", "2"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("build_ngram.py: error: KenLM's lmplz is not installed and pip could not download "
                                "the kenlm source to build it: the package index cannot be reached (connection refused")
    assert "put KenLM's lmplz and build_binary on PATH, or let pip reach PyPI" in lines[-1]
    assert not (model / "language_model").exists()
