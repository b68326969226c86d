"""eval.py as the challenge runs it (subprocess, real files) and the chunked inference engine behind it."""

import importlib.util
import json
import os
import re

import numpy as np
import pytest
import soundfile as sf
from entry_points import ROOT, run_eval
from model_folders import save_random_model

from robust_speech.inference.chunking import Chunk, kept_frames

RATE = 16000
SENTENCES = ["Hello, World!", "the  cat—sat\n\non the mat.", "Good night"]
FILES = ["short.wav", "mid.wav", "long.flac"]


def load_eval_module():
    spec = importlib.util.spec_from_file_location("challenge_eval", ROOT / "eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def random_model_dir(tmp_path_factory):
    return save_random_model(tmp_path_factory.mktemp("random") / "model")


def varied_audio(seconds: float, seed: int) -> np.ndarray:
    """Noise bursts and tones that change every few hundred ms, so a random model's path changes too."""
    rng = np.random.default_rng(seed)
    pieces = []
    while sum(len(p) for p in pieces) < seconds * RATE:
        length = int(rng.uniform(0.1, 0.6) * RATE)
        time = np.arange(length) / RATE
        tone = np.sin(2 * np.pi * rng.uniform(80, 3000) * time) * rng.uniform(0.05, 0.5)
        pieces.append((tone + rng.normal(0, rng.uniform(0.0, 0.3), length)).astype(np.float32))
    return np.concatenate(pieces)[: int(seconds * RATE)]


@pytest.fixture(scope="module")
def audio_folder(tmp_path_factory):
    """An audio folder dataset: a 3-minute recording and two short clips, at 8/16/44.1 kHz."""
    folder = tmp_path_factory.mktemp("data") / "recordings"
    folder.mkdir()
    rows = [("short.wav", varied_audio(2.3, 2), 8000), ("mid.wav", varied_audio(7.1, 3), 44100),
            ("long.flac", varied_audio(180.0, 1), RATE)]
    with open(folder / "metadata.csv", "w", encoding="utf-8", newline="") as table:
        table.write("file_name,sentence\n")
        for (name, audio, rate), sentence in zip(rows, SENTENCES):
            if rate != RATE:
                from robust_speech.audio.decode import resample
                audio = resample(audio, RATE, rate)
            sf.write(folder / name, audio, rate)
            table.write(f'{name},"{sentence}"\n')
    return folder


def test_chunked_eval_equals_the_transformers_pipeline(random_model_dir, audio_folder, tmp_path):
    from transformers import pipeline

    from robust_speech.data.preprocess import decode_audio

    result = run_eval(tmp_path, "--model_id", str(random_model_dir), "--dataset", str(audio_folder), "--config",
                      "default", "--split", "train", "--chunk_length_s", "5", "--stride_length_s", "1", "--log_outputs",
                      "--batch_size", "8")
    assert result.returncode == 0, result.stderr
    predictions = (tmp_path / next(p.name for p in tmp_path.glob("log_*_predictions.txt"))).read_text().splitlines()
    asr = pipeline("automatic-speech-recognition", model=str(random_model_dir), device=-1)
    for row, name in enumerate(FILES):
        audio = decode_audio(str(audio_folder / name), RATE)
        expected = asr(audio, chunk_length_s=5, stride_length_s=1)["text"]
        assert len(expected) > (1000 if name == "long.flac" else 10)
        # The pipeline keeps a doubled delimiter as two spaces; word sequences are what WER sees.
        assert predictions[2 * row + 1].split() == expected.split(), name
    assert len(predictions[5].split()) > 20


def test_result_files_have_the_challenges_names_and_format(random_model_dir, audio_folder, tmp_path):
    result = run_eval(tmp_path, "--model_id", str(random_model_dir), "--dataset", str(audio_folder), "--config",
                      "default", "--split", "train", "--log_outputs", "--max_eval_samples", "2")
    assert result.returncode == 0, result.stderr
    dataset_id = "_".join(str(audio_folder).split("/") + ["default", "train"])
    results = (tmp_path / f"{dataset_id}_eval_results.txt").read_text()
    assert re.fullmatch(r"WER: \d+(\.\d+)?(e-?\d+)?\nCER: \d+(\.\d+)?(e-?\d+)?", results)
    assert results in result.stdout
    targets = (tmp_path / f"log_{dataset_id}_targets.txt").read_text()
    assert targets == "0\nhello world\n1\nthe catsat on the mat\n"  # the reference normalize_text drops dashes
    predictions = (tmp_path / f"log_{dataset_id}_predictions.txt").read_text().splitlines()
    assert predictions[0::2] == ["0", "1"]
    report = json.loads((tmp_path / f"{dataset_id}_eval_report.json").read_text())
    assert report["utterances"] == 2 and report["settings"]["decoder"] == "greedy" and report["rtfx"] > 0
    assert report["wer_ci95"][0] <= report["wer"] <= report["wer_ci95"][1]
    errors = report["errors"]
    assert errors["reference_words"] == 2 + 5 and report["machine"]["cores"] >= 1


def test_both_paths_read_a_hub_dataset_and_write_the_same_files(random_model_dir, audio_folder, tmp_path, monkeypatch):
    """A Hub id (here `datasets.load_dataset` answers offline with the audio as bytes, as the Hub gives it):
    robust-speech's engine and the pipeline path (`--pipeline`, the one taken without robust-speech) agree."""
    import datasets

    rows = [{"audio": {"bytes": (audio_folder / name).read_bytes(), "path": name}, "sentence": sentence}
            for name, sentence in zip(FILES[:2], SENTENCES[:2])]
    hub_split = datasets.Dataset.from_list(rows).cast_column("audio", datasets.Audio(decode=False))
    asked = []

    def load_dataset(name, config=None, *args, **kwargs):
        asked.append((name, config, kwargs.get("split")))
        return hub_split

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    module = load_eval_module()
    written = {}
    for path in ("engine", "pipeline"):
        (tmp_path / path).mkdir()
        monkeypatch.chdir(tmp_path / path)
        argv = ["--model_id", str(random_model_dir), "--dataset", "someone/speech", "--config", "xx", "--split", "test",
                "--log_outputs", "--report", "none", *(["--pipeline"] if path == "pipeline" else [])]
        module.main(module.build_parser().parse_args(argv))
        written[path] = {file.name: file.read_bytes() for file in (tmp_path / path).iterdir()}
    assert all(name == "someone/speech" and config == "xx" and split == "test" for name, config, split in asked)
    assert len(asked) == 2 and sorted(written["engine"]) == sorted(written["pipeline"])
    assert written["engine"] == written["pipeline"]
    assert b"1\nthe catsat on the mat\n" in written["pipeline"]["log_someone_speech_xx_test_targets.txt"]


def test_empty_references_are_scored_and_counted(random_model_dir, tmp_path):
    """A clip whose transcript normalizes to nothing is scored like jiwer scores it, and the report counts it."""
    import jiwer

    folder = tmp_path / "data"
    folder.mkdir()
    with open(folder / "metadata.csv", "w", encoding="utf-8") as table:
        table.write("file_name,sentence\n")
        for index, sentence in enumerate(["?!", "good night"]):
            sf.write(folder / f"{index}.wav", varied_audio(1.5, 10 + index), RATE)
            table.write(f"{index}.wav,{sentence}\n")
    work = tmp_path / "work"
    work.mkdir()
    result = run_eval(work, "--model_id", str(random_model_dir), "--dataset", str(folder), "--config", "default",
                      "--split", "train", "--log_outputs")
    assert result.returncode == 0, result.stderr
    dataset_id = "_".join(str(folder).split("/") + ["default", "train"])
    targets = (work / f"log_{dataset_id}_targets.txt").read_text().split("\n")[1::2][:2]
    predictions = (work / f"log_{dataset_id}_predictions.txt").read_text().split("\n")[1::2][:2]
    assert targets == ["", "good night"] and predictions[0].split()  # the random model says something there
    wer = float(re.search(r"WER: (\S+)", (work / f"{dataset_id}_eval_results.txt").read_text()).group(1))
    assert wer == jiwer.wer(targets, predictions)
    report = json.loads((work / f"{dataset_id}_eval_report.json").read_text())
    assert report["empty_references"] == 1
    assert report["errors"]["insertions"] >= len(predictions[0].split())
    assert 0 in [row["index"] for row in report["worst"]]
    assert "note: 1 of 2 references are empty after normalize_text" in result.stderr


def test_logs_are_written_only_when_asked(random_model_dir, audio_folder, tmp_path):
    result = run_eval(tmp_path, "--model_id", str(random_model_dir), "--dataset", str(audio_folder), "--config",
                      "default", "--split", "train", "--max_eval_samples", "1", "--report", "none")
    assert result.returncode == 0, result.stderr
    assert [p.name.endswith("_eval_results.txt") for p in tmp_path.iterdir()] == [True]


def test_eval_interface_keeps_the_references_arguments_and_functions():
    module = load_eval_module()
    assert os.access(ROOT / "eval.py", os.X_OK) and (ROOT / "eval.py").read_text().startswith("#!/usr/bin/env python3")
    args = module.build_parser().parse_args(["--model_id", "m", "--dataset", "d", "--config", "c", "--split", "s"])
    assert (args.chunk_length_s, args.stride_length_s, args.log_outputs, args.device) == (None, None, False, None)
    assert module.build_parser().parse_args(["--model_id", "m", "--dataset", "d", "--config", "c", "--split", "s",
                                             "--device", "-1"]).device == -1
    for required in ("--model_id", "--dataset", "--config", "--split"):
        argv = [a for pair in [("--model_id", "m"), ("--dataset", "d"), ("--config", "c"), ("--split", "s")]
                if pair[0] != required for a in pair]
        with pytest.raises(SystemExit):
            module.build_parser().parse_args(argv)
    assert module.normalize_text("Hello, World!  Foo—bar\n\nbaz “quoted”") == "hello world foobar baz quoted"
    assert module.normalize_text("a   b  c") == "a b c"


def test_kept_frames_round_like_the_pipeline():
    assert kept_frames(Chunk(0, 80000, 0, 16000), 320) == (0, 200)
    assert kept_frames(Chunk(48000, 128000, 16000, 16000), 320) == (50, 200)
    assert kept_frames(Chunk(96000, 120000, 16000, 0), 320) == (50, 75)  # a short last chunk


def test_vad_finds_the_spoken_parts_and_eval_transcribes_them(random_model_dir, tmp_path):
    from robust_speech.audio.vad import speech_segments
    from robust_speech.data.synth import make_speakers, speak

    speaker = make_speakers("en", 1, np.random.default_rng(0))[0]
    silence = np.zeros(RATE * 2, np.float32)
    first, second = speak("the cat sat on the mat", speaker, "en", RATE), speak("good night", speaker, "en", RATE)
    audio = np.concatenate([silence, first, silence, second, silence])
    segments = speech_segments(audio, RATE)
    assert len(segments) == 2
    (start1, end1), (start2, end2) = segments
    assert abs(start1 - 2 * RATE) < 0.3 * RATE and abs(end1 - (2 * RATE + len(first))) < 0.4 * RATE
    assert abs(start2 - (4 * RATE + len(first))) < 0.3 * RATE
    assert speech_segments(silence, RATE) == []

    folder = tmp_path / "vad_data"
    folder.mkdir()
    sf.write(folder / "talk.wav", audio, RATE)
    (folder / "metadata.csv").write_text("file_name,sentence\ntalk.wav,the cat sat on the mat good night\n")
    result = run_eval(tmp_path, "--model_id", str(random_model_dir), "--dataset", str(folder), "--config", "default",
                      "--split", "train", "--vad", "--log_outputs")
    assert result.returncode == 0, result.stderr
    report = json.loads(next(tmp_path.glob("*_eval_report.json")).read_text())
    assert report["settings"]["vad"] is True and report["utterances"] == 1
    # What eval.py wrote is the two spoken parts transcribed on their own, not the recording with its silences.
    from robust_speech.audio.decode import load_audio
    from robust_speech.inference.decoding import GreedyDecoder
    from robust_speech.inference.transcribe import Transcriber
    from robust_speech.model.acoustic import load_acoustic_model

    acoustic = load_acoustic_model(random_model_dir, "cpu")
    transcriber = Transcriber(acoustic, GreedyDecoder(json.loads((random_model_dir / "vocab.json").read_text())))
    heard = load_audio(folder / "talk.wav")  # the 16-bit WAV eval.py read, not the float array written
    pieces = [heard[start:end] for start, end in speech_segments(heard, RATE)]
    spoken = " ".join(t.text for t in transcriber.transcribe(pieces) if t.text)
    whole = transcriber.transcribe([heard])[0].text
    written = next(tmp_path.glob("log_*_predictions.txt")).read_text().splitlines()[1]
    assert written == spoken and written != whole


def test_transcribe_writes_text_subtitles_and_word_times(random_model_dir, audio_folder, tmp_path, capsys):
    from robust_speech.cli.verbs import main

    out = tmp_path / "out"
    assert main(["transcribe", str(audio_folder / "mid.wav"), "--model", str(random_model_dir), "--output_dir",
                 str(out), "--chunk_length_s", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["mid.json", "mid.srt", "mid.txt", "mid.vtt"]
    data = json.loads((out / "mid.json").read_text())
    words = data["words"]
    assert data["text"] == " ".join(w["word"] for w in words) == (out / "mid.txt").read_text().strip()
    assert all(w["start"] < w["end"] for w in words)
    assert all(a["end"] <= b["start"] for a, b in zip(words, words[1:]))
    assert 6.5 < data["duration_s"] < 7.5 and words[-1]["end"] <= data["duration_s"] + 0.05
    srt = (out / "mid.srt").read_text()
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    assert (out / "mid.vtt").read_text().startswith("WEBVTT\n\n00:00:0")
    assert main(["transcribe", str(audio_folder / "mid.wav"), "--model", str(random_model_dir), "--format", "doc"]) == 2


def test_subtitle_cues_have_the_word_times_and_each_formats_clock():
    from robust_speech.inference.decoding import Transcript, WordSpan
    from robust_speech.inference.writers import cues, timed_words, to_srt, to_vtt

    spans = [WordSpan("hello", 0, 25), WordSpan("world", 30, 60), WordSpan("late", 180_000, 180_050)]
    words = timed_words(Transcript("hello world late", tuple(spans)), 0.02)  # 20 ms frames: the last is 1 h in
    assert to_srt(words) == ("1\n00:00:00,000 --> 00:00:01,200\nhello world\n\n"
                             "2\n01:00:00,000 --> 01:00:01,000\nlate\n")
    assert to_vtt(words) == ("WEBVTT\n\n00:00:00.000 --> 00:00:01.200\nhello world\n\n"
                             "01:00:00.000 --> 01:00:01.000\nlate\n")
    # A cue ends before it would pass 42 characters or 6 seconds.
    narrow = timed_words(Transcript("", tuple(WordSpan("abcde", 10 * i, 10 * i + 5) for i in range(9))), 0.02)
    assert [text for _start, _end, text in cues(narrow)] == ["abcde " * 6 + "abcde", "abcde abcde"]
    slow = timed_words(Transcript("", tuple(WordSpan("a", 100 * i, 100 * i + 10) for i in range(5))), 0.02)
    assert to_srt(slow).split("\n\n")[0] == "1\n00:00:00,000 --> 00:00:04,200\na a a"  # a 4th: 6.2 s


@pytest.mark.parametrize("bf16", [False, True])
def test_bf16_inference_on_cpu_computes_in_bf16_and_is_recorded(random_model_dir, audio_folder, tmp_path, monkeypatch,
                                                                 bf16):
    import transformers

    computed = []  # the dtype the CTC head computed in, per forward pass
    real = transformers.AutoModelForCTC.from_pretrained

    def watched(*args, **kwargs):
        model = real(*args, **kwargs)
        model.lm_head.register_forward_hook(lambda _module, _inputs, output: computed.append(output.dtype))
        return model

    monkeypatch.setattr(transformers.AutoModelForCTC, "from_pretrained", watched)
    monkeypatch.chdir(tmp_path)
    module = load_eval_module()
    module.main(module.build_parser().parse_args([
        "--model_id", str(random_model_dir), "--dataset", str(audio_folder), "--config", "default", "--split", "train",
        "--max_eval_samples", "2", "--device", "-1", *(["--bf16"] if bf16 else [])]))
    import torch

    assert computed and set(computed) == {torch.bfloat16 if bf16 else torch.float32}
    report = json.loads(next(tmp_path.glob("*_eval_report.json")).read_text())
    assert report["settings"]["bf16"] is bf16 and report["settings"]["device"] == "cpu"


def test_eval_boosts_hotwords_with_beam_search_and_reports_them(random_model_dir, audio_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = load_eval_module()
    module.main(module.build_parser().parse_args([
        "--model_id", str(random_model_dir), "--dataset", str(audio_folder), "--config", "default", "--split", "train",
        "--max_eval_samples", "1", "--hotwords", "good night", "cat", "--hotword_weight", "5"]))
    settings = json.loads(next(tmp_path.glob("*_eval_report.json")).read_text())["settings"]
    assert settings["decoder"] == "pyctcdecode" and settings["lm"] is None  # no LM in the folder: beam search alone
    assert settings["hotwords"] == ["good night", "cat"] and settings["hotword_weight"] == 5.0


def test_evaluate_as_a_function_writes_the_files_eval_py_writes(random_model_dir, audio_folder, tmp_path):
    """`evaluation.engine.evaluate(options)` (the demo's eval step, in its process) writes the challenge's
    result files and logs under eval.py's names, byte for byte, in the folder it is given."""
    from robust_speech.evaluation.engine import evaluate
    from robust_speech.evaluation.options import EvalOptions

    script = tmp_path / "script"
    script.mkdir()
    common = ["--model_id", str(random_model_dir), "--dataset", str(audio_folder), "--config", "default", "--split",
              "train", "--chunk_length_s", "5", "--stride_length_s", "1", "--max_eval_samples", "2"]
    result = run_eval(script, *common, "--log_outputs", "--report", "none")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "function" / "nested"
    evaluated = evaluate(EvalOptions(str(random_model_dir), str(audio_folder), "default", "train", chunk_length_s=5.0,
                                     stride_length_s=1.0, log_outputs=True, max_eval_samples=2, report="none",
                                     output_dir=str(folder)))
    written = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert written == {path.name: path.read_bytes() for path in script.iterdir()} and len(written) == 3
    assert evaluated.results_file.parent == folder and evaluated.results_file.name.endswith("_default_train_eval_results.txt")
    assert evaluated.results_file.read_text() == f"WER: {evaluated.wer}\nCER: {evaluated.cer}"
