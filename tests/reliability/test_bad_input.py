"""Bad input through the real entry points (`robust-speech prepare`, `./eval.py`, `build_ngram.py`,
`run_speech_recognition_ctc.py`), as subprocesses on real files.

Every case ends in one of three documented ways (docs/reliability_bad_input.md):
- a skip: the example is in `skipped.tsv` with its reason, and the printed count per reason matches;
- kept: the input is usable and is used (decoded to the right length, normalized to the right text);
- exit status 2 with one `<program>: error: ...` line on stderr naming the file/row/column/flag and the fix.

The planted training rows share one folder and one `prepare` run; each error case is one cheap subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import datasets
import numpy as np
import pytest
import soundfile
from conftest import make_folder, tone
from ctc_logits import VOCABULARY
from entry_points import (
    robust_speech_command,
    run_build_ngram,
    run_eval,
    run_measured,
    run_robust_speech,
    run_training,
)
from model_folders import save_random_model

from robust_speech.data.skips import SkipLog, read_skip_log

RATE = 16000
KEPT = "kept"
HOURS = 3


# ---------------------------------------------------------------------------------------------------------
# Planted training rows: one folder, one `robust-speech prepare`


def wav(samples: np.ndarray | Callable[[], np.ndarray], rate: int = RATE, **options):
    """A writer of `samples` (or of what a function returns, for arrays only worth building when used)."""
    return lambda path: soundfile.write(path, samples() if callable(samples) else samples, rate, **options)


def raw(data: bytes):
    return lambda path: path.write_bytes(data)


def truncated(fmt: str):
    """A 2 s file cut in half, as an interrupted copy or download leaves it."""
    def write(path):
        soundfile.write(path, tone(440, 2.0, RATE), RATE, format=fmt)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return write


def non_finite(value: float):
    audio = tone(440, 1.0, RATE)
    audio[8000] = value
    return wav(audio, subtype="FLOAT")


def clipped():
    return np.clip(tone(440, 1.0, RATE, amplitude=3.0), -1.0, 1.0)


def six_channels():
    audio = np.zeros((48000, 6), np.float32)
    audio[:, 0], audio[:, 3] = tone(300, 1.0, 48000), tone(900, 1.0, 48000)
    return audio


def three_hours(path):
    """A 3-hour 8 kHz file (173 MB), written a minute at a time; prepare must never decode it whole."""
    minute = (0.3 * np.sin(2 * np.pi * 200 * np.arange(8000 * 60) / 8000)).astype(np.float32)
    with soundfile.SoundFile(path, "w", 8000, 1, subtype="PCM_16") as file:
        for _ in range(HOURS * 60):
            file.write(minute)


@dataclass(frozen=True)
class Row:
    """One planted training example and what `prepare` must make of it."""

    name: str
    write: Callable[[Path], None] | None
    text: str | None
    expected: str  # a skip reason, or KEPT
    detail: str = ""  # skips: in skipped.tsv's detail; kept: the normalized sentence
    seconds: float | None = None  # kept: the decoded duration


GOOD = wav(tone(440, 1.0, RATE))
ROWS = [
    # audio
    Row("corrupt.wav", raw(b"RIFF\x10\x00\x00\x00WAVEjunk" * 40), "a corrupt file", "undecodable audio",
        "not a readable audio file"),
    Row("truncated.wav", truncated("WAV"), "cut in half", "undecodable audio",
        "truncated (the header declares 2.00 s, the file holds 1.00 s)"),
    Row("truncated.flac", truncated("FLAC"), "cut in half", "undecodable audio", "corrupt audio data"),
    Row("zero_bytes.wav", raw(b""), "an empty file", "undecodable audio", "empty file (0 bytes)"),
    Row("mp3_named.wav", wav(tone(440, 1.0, RATE), format="MP3"), "content wins", KEPT, "content wins", 1.0),
    Row("silence.wav", wav(np.zeros(RATE, np.float32)), "nothing was said", "silent audio", "-inf dBFS < -60 dBFS"),
    Row("nan.wav", non_finite(np.nan), "not a number", "undecodable audio", "NaN or infinite samples"),
    Row("inf.wav", non_finite(np.inf), "infinity", "undecodable audio", "NaN or infinite samples"),
    Row("clipped.wav", wav(clipped), "too loud", KEPT, "too loud", 1.0),
    Row("one_sample.wav", wav(np.full(1, 0.5, np.float32)), "a single sample", "too short",
        "0 CTC frames of 20 ms; its transcript needs 15"),
    Row("three_hours.wav", three_hours, "a long lecture", "too long", "over 20.0 s (from the file header)"),
    Row("rate_8k.wav", wav(tone(440, 1.0, 8000), 8000), "telephone", KEPT, "telephone", 1.0),
    Row("rate_44k.wav", wav(tone(440, 1.0, 44100), 44100), "compact disc", KEPT, "compact disc", 1.0),
    Row("rate_48k.flac", wav(tone(440, 1.0, 48000), 48000), "studio", KEPT, "studio", 1.0),
    Row("six_channels.wav", wav(six_channels, 48000), "surround", KEPT, "surround", 1.0),
    Row("pcm24.wav", wav(tone(440, 1.0, 22050), 22050, subtype="PCM_24"), "twenty four bits", KEPT,
        "twenty four bits", 1.0),
    Row("float64.wav", wav(tone(440, 1.0, RATE).astype(np.float64), subtype="DOUBLE"), "double precision", KEPT,
        "double precision", 1.0),
    # text (good audio)
    Row("empty_text.wav", GOOD, "", "empty transcript after normalization"),
    Row("whitespace_text.wav", GOOD, " \t\u3000 ", "empty transcript after normalization"),
    Row("null_text.wav", GOOD, None, "missing transcript"),
    Row("emoji.wav", GOOD, "hello 👋🏽", "characters outside the vocabulary", "🏽 👋"),
    Row("arabic.wav", GOOD, "مرحبا\u200f بالعالم!", KEPT, "مرحبا بالعالم", 1.0),  # the RLM is invisible
    Row("hebrew.wav", GOOD, "\u202bשלום עולם\u202c", KEPT, "שלום עולם", 1.0),
    Row("combining.wav", GOOD, "Cafe\u0301 noir", KEPT, "caf\u00e9 noir", 1.0),  # NFC: one é
]


@dataclass
class Prepared:
    stdout: str
    skipped: dict[str, dict[str, str]]  # file name -> skipped.tsv row
    records: dict[str, dict]  # file name -> decoded record (kept and skipped) from the preprocessing cache
    peak_rss: int  # bytes


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Prepared:
    root = tmp_path_factory.mktemp("planted")
    folder = make_folder(root / "data", {row.name: (row.write, row.text) for row in ROWS})
    out, cache = root / "out", root / "cache"
    result, peak = run_measured(robust_speech_command(
        "prepare", "--dataset_name", folder, "--train_split_name", "train", "--eval_split_name", "test",
        "--output_dir", out, "--cache_dir", cache))
    assert result.returncode == 0, result.stderr
    records = {}
    for arrow in cache.glob("robust-speech-decoded-*.arrow"):
        columns = datasets.Dataset.from_file(str(arrow)).select_columns(["example", "sentence", "duration", "skip_reason"])
        for record in columns:
            records[os.path.basename(record["example"])] = record
    skipped = {os.path.basename(row["example"]): row for row in read_skip_log(out / "skipped.tsv")}
    return Prepared(result.stdout, skipped, records, peak)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_planted_training_row(prepared, row):
    record = prepared.records[row.name]
    if row.expected == KEPT:
        assert row.name not in prepared.skipped, prepared.skipped.get(row.name)
        assert record["skip_reason"] == "" and record["sentence"] == row.detail
        assert record["duration"] == pytest.approx(row.seconds, rel=0.06)  # MP3 adds a little padding
    else:
        skipped = prepared.skipped[row.name]
        assert (skipped["split"], skipped["reason"]) == ("train", row.expected)
        assert row.detail in skipped["detail"], skipped["detail"]
        assert "\n" not in skipped["detail"]


def test_printed_skip_counts_match_skipped_tsv(prepared):
    expected = SkipLog()
    for row in ROWS:
        if row.expected != KEPT:
            expected.add("train", "", row.name, row.expected)
    lines = prepared.stdout.splitlines()
    assert expected.summary("train", len(ROWS)) in lines
    assert "eval: skipped 0 of 1 examples" in lines
    assert len(prepared.skipped) == len(expected.rows)
    assert any("symbols no one speaks (emoji, pictographs) left out: '🏽' x1 (e.g. '👋🏽'), '👋' x1" in line for line in lines)


def test_a_three_hour_file_is_never_decoded_whole(prepared):
    decoded = HOURS * 3600 * RATE * 4  # float32 at 16 kHz: 691 MB
    assert prepared.peak_rss < decoded * 0.8, f"peak {prepared.peak_rss / 2**20:.0f} MiB"


# ---------------------------------------------------------------------------------------------------------
# Inputs that stop a run: one subprocess each, exit status 2, one error line naming the culprit and the fix


class Workspace:
    """Inputs the cases share, each built the first time a case asks for it."""

    def __init__(self, root: Path, tiny_config_json: str):
        self.root = root
        self.tiny_config_json = tiny_config_json

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True)
        return path

    @cached_property
    def clip(self) -> Path:
        path = self.root / "clip.wav"
        soundfile.write(path, tone(440, 1.0, RATE), RATE)
        return path

    def table(self, name: str, content: bytes, table_name: str = "metadata.csv") -> Path:
        """An audio folder holding the shared clip and a metadata table of exactly `content`."""
        folder = self.folder(name)
        shutil.copy(self.clip, folder / "clip.wav")
        (folder / table_name).write_bytes(content)
        return folder

    @cached_property
    def eval_data(self) -> Path:
        """A small evaluation set: good clips whose references use characters the model cannot write."""
        folder = self.folder("eval_data")
        rows = [("cafe.wav", "Un café, s'il vous plaît"), ("strasse.wav", "Die Straße 👋"), ("plain.wav", "the cat")]
        for index, (name, _text) in enumerate(rows):
            soundfile.write(folder / name, tone(300 + 200 * index, 1.5, RATE), RATE)
        table = "file_name,sentence\n" + "".join(f'{name},"{text}"\n' for name, text in rows)
        (folder / "metadata.csv").write_text(table, encoding="utf-8")
        return folder

    @cached_property
    def model(self) -> Path:
        return save_random_model(self.root / "model")

    @cached_property
    def lm_result(self):
        """build_ngram.py installing an LM into a copy of the model from text with mixed problems."""
        folder = self.root / "lm_model"
        shutil.copytree(self.model, folder)
        text = self.root / "lm.txt"
        text.write_text("the cat sat\nthe café\n...\n\nhello 👋\nمرحبا\nthe dog sat\n", encoding="utf-8")
        return run_build_ngram("--model_dir", folder, "--text", text, "--order", "2"), folder


def eval_args(workspace: Workspace, model: Path, *more) -> list:
    return ["--model_id", model, "--dataset", workspace.eval_data, "--config", "default", "--split", "train", *more]


def non_utf8_table(ws: Workspace):
    table = "file_name,sentence\nclip.wav,good\nclip.wav,caf\xe9 latin-1\n".encode("latin-1")
    folder = ws.table("latin1", table)
    return run_robust_speech("prepare", "--dataset_name", folder, "--output_dir", ws.root / "out_latin1",
                             "--do_eval", "false", "--train_split_name", "train")


def missing_path_column(ws: Workspace):
    folder = ws.table("no_path_column", b"name,sentence\nclip.wav,hello\n")
    return run_robust_speech("prepare", "--dataset_name", folder, "--output_dir", ws.root / "out_no_path",
                             "--do_eval", "false", "--train_split_name", "train")


def wrong_audio_column(ws: Workspace):
    folder = ws.table("wrong_audio_column", b"file_name,sentence\nclip.wav,hello\n")
    return run_robust_speech("prepare", "--dataset_name", folder, "--audio_column_name", "speech", "--output_dir",
                             ws.root / "out_audio", "--do_eval", "false", "--train_split_name", "train")


def missing_text_column(ws: Workspace):
    folder = ws.table("no_text_column", b"file_name,words\nclip.wav,hello\n")
    return run_robust_speech("prepare", "--dataset_name", folder, "--output_dir", ws.root / "out_no_text",
                             "--do_eval", "false", "--train_split_name", "train")


def wrong_text_column_at_eval(ws: Workspace):
    return run_eval(ws.root, *eval_args(ws, ws.model, "--text_column_name", "transcript"))


def nothing_left_after_filtering(ws: Workspace):
    """Every clip is longer than --max_duration_in_seconds: the training script stops before the Trainer."""
    folder = make_folder(ws.root / "all_too_long", {"a.wav": (1.0, "one"), "b.wav": (1.5, "two")})
    return run_training("--model_config_json", ws.tiny_config_json, "--dataset_name", folder, "--train_split_name",
                        "train", "--eval_split_name", "test", "--output_dir", ws.root / "out_empty", "--do_train",
                        "--max_duration_in_seconds", "0.5", "--max_steps", "1", "--report_to", "none")


def model_without_processor(ws: Workspace):
    folder = ws.folder("bare_checkpoint")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(ws.model / name, folder / name)
    return run_eval(ws.root, *eval_args(ws, folder))


def head_not_matching_vocabulary(ws: Workspace):
    folder = save_random_model(ws.root / "head_40", head_size=40)
    return run_eval(ws.root, *eval_args(ws, folder))


def lm_for_another_alphabet(ws: Workspace):
    """The LM (and its alphabet.json) of the a-z model copied into a model that also writes 'é'."""
    result, lm_folder = ws.lm_result
    assert result.returncode == 0, result.stderr
    folder = save_random_model(ws.root / "with_e_acute", {**VOCABULARY, "é": len(VOCABULARY)})
    shutil.copytree(lm_folder / "language_model", folder / "language_model")
    shutil.copy(lm_folder / "alphabet.json", folder / "alphabet.json")
    return run_eval(ws.root, *eval_args(ws, folder))


def unknown_config(ws: Workspace):
    """A Common Voice release parent folder (one folder per language) and a language it does not hold."""
    parent = ws.folder("common_voice")
    for language in ("de", "en"):
        (parent / language / "clips").mkdir(parents=True)
        shutil.copy(ws.clip, parent / language / "clips" / "a.wav")
        (parent / language / "test.tsv").write_text("path\tsentence\na.wav\thallo\n", encoding="utf-8")
    return run_eval(ws.root, "--model_id", ws.model, "--dataset", parent, "--config", "xx", "--split", "test")


def chunks(chunk: str, stride: str):
    return lambda ws: run_eval(ws.root, *eval_args(ws, ws.model, "--chunk_length_s", chunk, "--stride_length_s", stride))


def missing_model(ws: Workspace):
    return run_eval(ws.root, *eval_args(ws, ws.root / "no_such_model"))


def corrupt_audio_at_eval(ws: Workspace):
    folder = ws.folder("eval_corrupt")
    shutil.copy(ws.clip, folder / "good.wav")
    (folder / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" * 40)
    (folder / "metadata.csv").write_text("file_name,sentence\ngood.wav,fine\nbad.wav,broken\n", encoding="utf-8")
    return run_eval(ws.root, "--model_id", ws.model, "--dataset", folder, "--config", "default", "--split", "train")


def non_utf8_lm_text(ws: Workspace):
    text = ws.root / "latin1_lm.txt"
    text.write_bytes("the cat\nun caf\xe9\n".encode("latin-1"))
    return run_build_ngram("--output_dir", ws.root / "lm_latin1", "--text", text)


@dataclass(frozen=True)
class ErrorCase:
    name: str
    run: Callable[[Workspace], object]  # -> CompletedProcess
    program: str
    expected: tuple[str, ...]  # all in the one error line (placeholders: {root})


ERROR_CASES = [
    ErrorCase("non-UTF-8 transcript table", non_utf8_table, "robust-speech",
              ("latin1/metadata.csv: line 3 is not UTF-8 (byte 0xe9 at column 13)", "re-save the table as UTF-8")),
    ErrorCase("no audio path column", missing_path_column, "robust-speech",
              ("no_path_column/metadata.csv: no audio path column", "name one of file_name, path",
               "(columns: name, sentence)")),
    ErrorCase("audio column not found", wrong_audio_column, "robust-speech",
              ("has no audio column 'speech'", "pass --audio_column_name", "(columns: sentence, audio)")),
    ErrorCase("text column not found", missing_text_column, "robust-speech",
              ("no_text_column:train has no transcript column", "pass --text_column_name", "(columns: words, audio)")),
    ErrorCase("text column not found at eval", wrong_text_column_at_eval, "eval.py",
              ("eval_data/default:train has no transcript column 'transcript'", "pass --text_column_name",
               "(columns: sentence, audio)")),
    ErrorCase("0 rows after filtering", nothing_left_after_filtering, "run_speech_recognition_ctc.py",
              ("train: skipped 2 of 2 examples: 2 too long: no train example is left", "out_empty/skipped.tsv",
               "--max_duration_in_seconds")),
    ErrorCase("model folder without processor files", model_without_processor, "eval.py",
              ("bare_checkpoint: no processor files (processor_config.json or preprocessor_config.json, vocab.json "
               "missing)",
               "copy them from the training output folder")),
    ErrorCase("CTC head not matching the vocabulary", head_not_matching_vocabulary, "eval.py",
              ("head_40: the CTC head has 40 outputs but the tokenizer (vocab.json) has 30 tokens",
               "copy the model's own vocab.json")),
    ErrorCase("LM alphabet not matching the model vocabulary", lm_for_another_alphabet, "eval.py",
              ("with_e_acute/alphabet.json has 30 labels that do not match vocab.json's 31 tokens",
               "re-run build_ngram.py --model_dir")),
    ErrorCase("unknown --config", unknown_config, "eval.py",
              ("common_voice has no config 'xx'; it holds Common Voice folders for de, en", "(eval.py: --config)")),
    ErrorCase("--chunk_length_s shorter than its strides", chunks("1", "1"), "eval.py",
              ("--chunk_length_s 1.0 must be longer than the strides on both sides (1.0 + 1.0 s)",
               "lower --stride_length_s")),
    ErrorCase("--chunk_length_s equal to its strides", chunks("2", "1"), "eval.py",
              ("--chunk_length_s 2.0 must be longer than the strides", "lower --stride_length_s")),
    ErrorCase("missing model folder", missing_model, "eval.py",
              ("model {root}/no_such_model: no such model folder", "or a Hub model id")),
    ErrorCase("corrupt audio in the evaluation split", corrupt_audio_at_eval, "eval.py",
              ("example 1 of the evaluation split: {root}/eval_corrupt/bad.wav: not a readable audio file",
               "re-encode or drop it", "never skips one")),
    ErrorCase("non-UTF-8 LM text", non_utf8_lm_text, "build_ngram.py",
              ("latin1_lm.txt: line 2 is not UTF-8 (byte 0xe9 at column 7)", "convert the file to UTF-8")),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_config_json) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("bad_input"), tiny_config_json)


@pytest.mark.parametrize("case", ERROR_CASES, ids=[case.name for case in ERROR_CASES])
def test_bad_input_stops_with_one_line_naming_the_fix(workspace, case):
    result = case.run(workspace)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0] == result.stderr.strip().splitlines()[-1], result.stderr
    line = errors[0]
    assert line.startswith(f"{case.program}: error: "), line
    for expected in case.expected:
        assert expected.format(root=workspace.root) in line, line


# ---------------------------------------------------------------------------------------------------------
# Inputs that are scored or reported, never dropped


def test_eval_scores_every_example_and_names_characters_the_model_cannot_write(workspace):
    """References keep characters outside the vocabulary (the challenge's references are never edited beyond
    normalize_text); the words that hold them count as errors, and eval.py says so with counts."""
    out = workspace.folder("eval_outside_vocabulary")
    result = run_eval(out, *eval_args(workspace, workspace.model, "--log_outputs"))
    assert result.returncode == 0, result.stderr
    assert ("note: 2 of 3 references use characters the model cannot write: 'ß' x1 (e.g. 'straße'), 'é' x1 "
            "(e.g. 'café'), 'î' x1 (e.g. 'plaît'), '👋' x1 (e.g. '👋'); they are scored as written, so those words "
            "count as errors") in result.stderr, result.stderr
    targets = next(out.glob("log_*_targets.txt")).read_text(encoding="utf-8").splitlines()
    assert targets == ["0", "un café s'il vous plaît", "1", "die straße 👋", "2", "the cat"]
    assert re.fullmatch(r"WER: [\d.]+\nCER: [\d.]+", next(out.glob("*_eval_results.txt")).read_text())


def test_eval_scores_silent_clipped_and_one_sample_clips(workspace):
    """Evaluation never drops an example: a 1-sample clip (alone in its batch) gives an empty prediction
    instead of stopping the convolution, silence and clipping are transcribed like anything else."""
    folder = workspace.folder("eval_odd_audio")
    soundfile.write(folder / "one.wav", np.full(1, 0.5, np.float32), RATE)
    soundfile.write(folder / "silence.wav", np.zeros(RATE, np.float32), RATE)
    soundfile.write(folder / "clipped.wav", clipped(), RATE)
    (folder / "metadata.csv").write_text("file_name,sentence\none.wav,a\nsilence.wav,\nclipped.wav,loud\n")
    out = workspace.folder("eval_odd_audio_out")
    result = run_eval(out, "--model_id", workspace.model, "--dataset", folder, "--config", "default", "--split",
                      "train", "--batch_size", "1", "--log_outputs", "--report", "report.json")
    assert result.returncode == 0, result.stderr
    predictions = next(out.glob("log_*_predictions.txt")).read_text(encoding="utf-8").split("\n")
    assert predictions[:2] == ["0", ""]  # one sample: nothing to hear
    report = json.loads((out / "report.json").read_text())
    assert report["utterances"] == 3


def test_build_ngram_reports_every_left_out_sentence_with_counts(workspace):
    result, folder = workspace.lm_result
    assert result.returncode == 0, result.stderr
    report = result.stdout.splitlines()
    assert report[:3] == [
        "LM text: 2 of 6 sentences kept",  # the blank line is no sentence
        "  1 empty after normalization",
        "  3 left out for characters the model cannot write: 'é' x1 (e.g. 'café'), 'ا' x1 (e.g. 'مرحبا'), "
        "'ب' x1 (e.g. 'مرحبا'), 'ح' x1 (e.g. 'مرحبا'), 'ر' x1 (e.g. 'مرحبا'), 'م' x1 (e.g. 'مرحبا'), '👋' x1 (e.g. '👋')",
    ]
    assert (folder / "language_model" / "2gram.bin").is_file()
