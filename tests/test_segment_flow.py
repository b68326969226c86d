"""`segment(options)` and `robust-speech segment` from files to a dataset folder: what becomes a clip, what is
skipped and why, bad input, and the folder read by the data layer.

A random-init model cannot align, so these tests load the tiny model folder (its loading, normalizer and
vocabulary are the real ones) and give the flow hand-made log-posteriors of each recording instead of the
model's: texts spelled frame by frame between pauses, so every true boundary is known. How well a trained model
aligns is measured by benchmarks/segment_accuracy.py.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile
from spoken_text import spoken

from robust_speech.cli import verbs
from robust_speech.core.errors import ConfigurationError, TextError
from robust_speech.data.skips import read_skip_log
from robust_speech.found import recording
from robust_speech.found.segment import segment
from robust_speech.found.segment_options import AlignmentRefused, SegmentOptions

SAMPLES_PER_FRAME = 320  # the tiny model's
SECONDS_PER_FRAME = SAMPLES_PER_FRAME / 16000
PARAGRAPHS = [["The cat sat on the mat.", "A quick brown fox!"],
              ["Zebras quietly jump over walls.", "Nobody said this sentence."],
              ["She sells sea shells.", "By the sea shore."]]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from model_folders import save_random_model

    return save_random_model(tmp_path_factory.mktemp("segment-model") / "model")


@pytest.fixture
def heard(monkeypatch):
    """recording path -> the log-posteriors the flow gets for it (instead of running the random model)."""
    recordings: dict[str, np.ndarray] = {}
    monkeypatch.setattr(recording, "_log_probs", lambda _model, audio: recordings[str(audio)])
    return recordings


def record(folder, name: str, parts, heard) -> tuple[str, list[tuple[int, int]]]:
    """A wav of `parts`' length (quiet noise) whose log-posteriors spell `parts`; the true speech frames."""
    log_probs, truth = spoken([part.lower().replace(".", "").replace("!", "") if isinstance(part, str) else part
                               for part in parts])
    path = folder / name
    noise = np.random.default_rng(0).normal(0, 0.01, len(log_probs) * SAMPLES_PER_FRAME).astype(np.float32)
    soundfile.write(path, noise, 16000)
    heard[str(path)] = log_probs
    return str(path), truth


def paragraphs_text(folder, paragraphs) -> str:
    path = folder / "text.txt"
    path.write_text("\n\n".join(" ".join(sentences) for sentences in paragraphs) + "\n", encoding="utf-8")
    return str(path)


def rows(path, delimiter=",") -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file, delimiter=delimiter))


def test_a_paragraph_the_audio_lacks_is_skipped_and_the_rest_cut_at_the_pauses(tmp_path, model_dir, heard):
    spoken_parts = [30, *PARAGRAPHS[0][:1], 40, PARAGRAPHS[0][1], 50, PARAGRAPHS[2][0], 35, PARAGRAPHS[2][1], 40,
                    "and then someone says something nobody wrote down at all", 30]
    audio, truth = record(tmp_path, "talk.wav", spoken_parts, heard)
    result = segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), audio, paragraphs_text(tmp_path, PARAGRAPHS)))
    metadata = rows(tmp_path / "out" / "metadata.csv")
    assert [row["sentence"] for row in metadata] == [*PARAGRAPHS[0], *PARAGRAPHS[2]]
    for row, (first, end) in zip(metadata, truth):
        start, stop = float(row["start"]) / SECONDS_PER_FRAME, float(row["end"]) / SECONDS_PER_FRAME
        assert start <= first and end <= stop  # the whole speech, and no more than the pauses around it
        assert row["source"] == audio and float(row["score"]) > -1.0
        clip, rate = soundfile.read(tmp_path / "out" / row["file_name"])
        assert rate == 16000 and abs(len(clip) - (stop - start) * SAMPLES_PER_FRAME) <= SAMPLES_PER_FRAME
    for row, (first, _end), (_first, previous_end) in zip(metadata[1:], truth[1:], truth):
        assert previous_end <= float(row["start"]) / SECONDS_PER_FRAME  # in the pause
    skipped = read_skip_log(tmp_path / "out" / "skipped.tsv")
    absent = [row for row in skipped if row["reason"] == recording.NOT_IN_AUDIO]
    assert [row["sentence"] for row in absent] == PARAGRAPHS[1]
    assert all(row["example"].startswith("paragraph 2, sentence") and float(row["score"]) < -2 for row in absent)
    uncovered = [row for row in skipped if row["reason"] == recording.UNCOVERED]
    assert len(uncovered) == 1 and "nobody wrote down" in uncovered[0]["detail"]
    assert float(uncovered[0]["start"]) <= truth[-1][0] * SECONDS_PER_FRAME
    assert result.clips == 4 and result.skipped == {recording.NOT_IN_AUDIO: 2, recording.UNCOVERED: 1}
    assert "skipped 3: 2 text not found in the audio, 1 audio not in the text" in result.summary()


def test_the_folder_is_a_dataset_the_data_layer_reads_and_joins(tmp_path, model_dir, heard):
    from robust_speech.audio.decode import load_audio
    from robust_speech.data.sources import load_speech_split, parse_sources

    outputs = []
    for name in ("one", "two"):
        audio, _truth = record(tmp_path, f"{name}.wav", [20, *PARAGRAPHS[0][:1], 30, PARAGRAPHS[2][1], 20], heard)
        text = tmp_path / f"{name}.txt"
        text.write_text(f"{PARAGRAPHS[0][0]}\n{PARAGRAPHS[2][1]}\n", encoding="utf-8")
        outputs.append(str(tmp_path / name))
        segment(SegmentOptions(str(model_dir), outputs[-1], audio, str(text)))
    dataset = load_speech_split(parse_sources("+".join(outputs)), "train")
    assert dataset["sentence"] == [PARAGRAPHS[0][0], PARAGRAPHS[2][1]] * 2
    assert load_audio(dataset[0]["audio"]["path"]).size > 0


def test_characters_outside_the_vocabulary_too_long_and_overlapping_cues_are_skipped(tmp_path, model_dir, heard):
    said = ["I have two cats", "And one dog named Rex the very good boy of the whole neighbourhood", "Goodbye",
            "see you", "thanks"]
    audio, _truth = record(tmp_path, "a.wav", [20, said[0], 30, said[1], 30, said[2], 30, said[3], 30, said[4], 20], heard)
    cues = [("00:00:00,500", "00:00:02,000", "I have 2 cats"), ("00:00:03,000", "00:00:05,000", said[1]),
            ("00:00:06,000", "00:00:07,000", said[2]), ("00:00:06,500", "00:00:08,000", said[3]),
            ("00:00:09,000", "00:00:10,000", said[4])]
    text = tmp_path / "a.srt"
    text.write_text("".join(f"{n}\n{start} --> {end}\n{words}\n\n" for n, (start, end, words) in enumerate(cues, 1)),
                    encoding="utf-8")
    result = segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), audio, str(text), max_duration_in_seconds=1.5))
    skipped = {row["example"].split()[1]: row for row in read_skip_log(tmp_path / "out" / "skipped.tsv")}
    assert skipped["1"]["reason"] == recording.OUT_OF_VOCABULARY and "'2'" in skipped["1"]["detail"]
    assert skipped["2"]["reason"] == recording.TOO_LONG
    assert skipped["3"]["reason"] == skipped["4"]["reason"] == "overlapping subtitle cues"
    assert [row["sentence"] for row in rows(tmp_path / "out" / "metadata.csv")] == ["thanks"]
    assert result.clips == 1 and sum(result.skipped.values()) == 4


def test_audio_without_speech_is_refused_in_one_line(tmp_path, model_dir, heard):
    audio, _truth = record(tmp_path, "silence.wav", [400], heard)
    with pytest.raises(AlignmentRefused, match="hears almost no speech"):
        segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), audio, paragraphs_text(tmp_path, PARAGRAPHS)))
    assert not (tmp_path / "out").exists()


def test_the_text_of_another_recording_is_refused(tmp_path, model_dir, heard):
    other = ["quietly the wolves howl at night", "under a pale and distant moon", "while villagers sleep"]
    audio, _truth = record(tmp_path, "other.wav", [20, other[0], 30, other[1], 30, other[2], 20], heard)
    with pytest.raises(AlignmentRefused, match=r"only 0 of 6 utterances .* align"):
        segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), audio, paragraphs_text(tmp_path, PARAGRAPHS)))


def test_a_table_skips_an_unreadable_recording_and_segments_the_others(tmp_path, model_dir, heard):
    good, _truth = record(tmp_path, "good.wav", [20, *PARAGRAPHS[0][:1], 30, PARAGRAPHS[2][1], 20], heard)
    (tmp_path / "good.txt").write_text(f"{PARAGRAPHS[0][0]}\n{PARAGRAPHS[2][1]}\n", encoding="utf-8")
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" * 20)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    table = tmp_path / "recordings.csv"
    table.write_text("file_name,text_file\nbroken.wav,good.txt\ngood.wav,latin1.txt\ngood.wav,good.txt\n",
                     encoding="utf-8")
    result = segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), table=str(table)))
    assert result.clips == 2 and result.recordings == 3
    assert result.skipped == {"unreadable recording": 1, "unusable text": 1}
    reasons = {row["reason"]: row["detail"] for row in read_skip_log(tmp_path / "out" / "skipped.tsv")}
    assert "broken.wav" in reasons["unreadable recording"] and "not UTF-8" in reasons["unusable text"]


def test_bad_arguments_are_one_line(tmp_path, model_dir):
    audio = tmp_path / "a.wav"
    soundfile.write(audio, np.zeros(16000, np.float32), 16000)
    text = tmp_path / "a.txt"
    text.write_text("a sentence far too long for one second of audio " * 3, encoding="utf-8")
    with pytest.raises(AlignmentRefused, match="longer than 1.0 s of audio can hold"):
        segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), str(audio), str(text)))
    with pytest.raises(ConfigurationError, match="not both"):
        segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), str(audio), str(text), table=str(text)))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ConfigurationError, match="not empty"):
        segment(SegmentOptions(str(model_dir), str(tmp_path / "full"), str(audio), str(text)))
    text.write_bytes(b"ok\n\xff\n")
    with pytest.raises(TextError, match="line 2 is not UTF-8"):
        segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), str(audio), str(text)))


def test_the_verb_writes_the_folder_and_prints_the_summary(tmp_path, model_dir, heard, capsys):
    audio, _truth = record(tmp_path, "a.wav", [20, *PARAGRAPHS[0][:1], 30, PARAGRAPHS[2][1], 20], heard)
    text = tmp_path / "a.txt"
    text.write_text(f"{PARAGRAPHS[0][0]}\n{PARAGRAPHS[2][1]}\n", encoding="utf-8")
    status = verbs.main(["segment", audio, str(text), "--model_id", str(model_dir), "--output_dir",
                         str(tmp_path / "out"), "--text_format", "lines", "--device", "cpu"])
    assert status == 0
    assert "2 utterances -> 2 clips" in capsys.readouterr().out
    assert len(rows(tmp_path / "out" / "metadata.csv")) == 2


def test_the_command_refuses_a_text_longer_than_the_audio_in_one_line(tmp_path, model_dir):
    from entry_points import CONSOLE_SCRIPT, run_command

    soundfile.write(tmp_path / "a.wav", np.zeros(8000, np.float32), 16000)
    (tmp_path / "a.txt").write_text("words " * 200, encoding="utf-8")
    completed = run_command([CONSOLE_SCRIPT, "segment", tmp_path / "a.wav", tmp_path / "a.txt",
                             "--model_id", model_dir, "--output_dir", tmp_path / "out", "--device", "cpu"])
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith("robust-speech: error: ")
    assert "longer than 0.5 s of audio can hold" in completed.stderr


def test_neighbours_of_absent_text_are_aligned_again_without_it(tmp_path, model_dir, heard):
    """The absent sentence needs more frames than the pause it belongs in: the first alignment gives it some of
    its neighbours' speech; the second, without it, gives them back."""
    absent = "nobody said zebras jump walls"
    said = [PARAGRAPHS[0][0], PARAGRAPHS[2][0], PARAGRAPHS[2][1]]
    audio, truth = record(tmp_path, "a.wav", [20, said[0], 10, said[1], 20, said[2], 20], heard)
    text = tmp_path / "a.txt"
    text.write_text(f"{said[0]}\n{absent}\n{said[1]}\n{said[2]}\n", encoding="utf-8")
    segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), audio, str(text)))
    metadata = rows(tmp_path / "out" / "metadata.csv")
    assert [row["sentence"] for row in metadata] == said
    for row, (first, end) in zip(metadata, truth):
        assert float(row["start"]) / SECONDS_PER_FRAME <= first and end <= float(row["end"]) / SECONDS_PER_FRAME
    assert [row["sentence"] for row in read_skip_log(tmp_path / "out" / "skipped.tsv")] == [absent]



def test_spoken_text_pushed_off_its_speech_by_absent_text_is_found_again(tmp_path, model_dir, heard):
    """The absent sentence shares most letters with the next one: the first alignment puts it over that one's
    speech, squeezes that one into the pause and both are found absent; aligned again without them, their
    neighbours leave that speech between them, where each is searched alone and the spoken one is heard best."""
    absent = "the shells she sells are sea shells i am sure"
    said = ["the cat sat on the mat", "she sells sea shells", "by the sea shore", "a quick brown fox", "good night"]
    audio, truth = record(tmp_path, "a.wav", [20, said[0], 15, said[1], 15, said[2], 15, said[3], 15, said[4], 20],
                          heard)
    text = tmp_path / "a.txt"
    text.write_text("\n".join([said[0], absent, *said[1:]]) + "\n", encoding="utf-8")
    segment(SegmentOptions(str(model_dir), str(tmp_path / "out"), audio, str(text)))
    metadata = rows(tmp_path / "out" / "metadata.csv")
    assert [row["sentence"] for row in metadata] == said
    for row, (first, end) in zip(metadata, truth):
        assert float(row["start"]) / SECONDS_PER_FRAME <= first and end <= float(row["end"]) / SECONDS_PER_FRAME
    for row, (_first, previous_end) in zip(metadata[1:], truth):
        assert previous_end <= float(row["start"]) / SECONDS_PER_FRAME
    skipped = read_skip_log(tmp_path / "out" / "skipped.tsv")
    assert [(row["sentence"], row["reason"]) for row in skipped] == [(absent, recording.NOT_IN_AUDIO)]
