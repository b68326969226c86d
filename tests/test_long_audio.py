"""Long recordings without chunking: progress while the forward pass runs, and one note recommending chunking."""

import io

import numpy as np
import pytest
from conftest import white_noise
from model_folders import save_random_model

import robust_speech.inference.transcribe as transcribe
from robust_speech.evaluation.groups import STREAM_OVER_S
from robust_speech.inference.transcribe import AudioProgress, Transcriber

RATE = 16000


def test_progress_moves_during_a_single_unchunked_forward(tiny_acoustic):
    """One utterance is one forward pass; the encoder's stages report their share as each finishes."""
    done = []
    sliver = white_noise(100 / RATE)  # shorter than the receptive field: no frame, no forward pass
    outputs = transcribe.log_probs_batch(tiny_acoustic, [white_noise(3.0), sliver], progress=done.append)
    layers = tiny_acoustic.model.config.num_hidden_layers
    assert len(done) >= layers + 3  # feature encoder + each layer + the head, and the sliver
    assert sum(done) == pytest.approx(3.0 + 100 / RATE)
    assert len(outputs[0]) > 0 and len(outputs[1]) == 0


def test_chunked_inference_reports_progress_too(tiny_acoustic):
    done = []
    Transcriber(tiny_acoustic, None, chunk_length_s=1.0).log_probs([white_noise(4.0), white_noise(2.5, 1)], progress=done.append)
    assert sum(done) == pytest.approx(6.5)  # seconds of the recordings, though the chunks overlap
    assert len(done) > 3


def test_a_long_unchunked_input_gets_one_note_before_its_forward(tiny_acoustic, monkeypatch):
    monkeypatch.setattr(transcribe, "LONG_UNCHUNKED_S", 2.0)
    events = []
    transcriber = Transcriber(tiny_acoustic, None, note=lambda line: events.append(("note", line)))
    transcriber.log_probs([white_noise(3.0)], progress=lambda seconds: events.append(("progress", seconds)))
    transcriber.log_probs([white_noise(3.0)])
    notes = [line for kind, line in events if kind == "note"]
    assert len(notes) == 1 and events[0][0] == "note"  # said once, before any work
    assert notes[0].startswith("note: a 3 s recording without --chunk_length_s") and "--chunk_length_s 20" in notes[0]
    assert "\n" not in notes[0]
    quiet = []
    Transcriber(tiny_acoustic, None, note=quiet.append).log_probs([white_noise(1.5)])
    Transcriber(tiny_acoustic, None, chunk_length_s=1.0, note=quiet.append).log_probs([white_noise(3.0)])
    assert quiet == []  # short, or chunked: nothing to say


def test_audio_progress_writes_a_line_per_tenth_when_not_a_terminal():
    stream = io.StringIO()
    progress = AudioProgress(7200.0, "inference", stream=stream)
    for _ in range(100):
        progress(72.0)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("inference: 10% of 7200 s of audio (")
    assert lines[-1].startswith("inference: 100% of 7200 s of audio")


def test_long_audio_progress_only_for_long_inputs():
    assert transcribe.long_audio_progress([white_noise(1.0)], RATE) is None
    long = np.zeros(int((transcribe.LONG_UNCHUNKED_S + 1) * RATE), np.float32)
    progress = transcribe.long_audio_progress([long, white_noise(1.0)], RATE)
    assert progress is not None and progress.total_s == pytest.approx(transcribe.LONG_UNCHUNKED_S + 2, abs=0.01)


def test_eval_on_a_long_recording_without_chunking_notes_it_and_shows_progress(tmp_path):
    """./eval.py as a user runs it on one recording just over LONG_UNCHUNKED_S: the note comes first, then the
    progress lines (stderr is not a terminal here, so a line per tenth), then the results."""
    import soundfile as sf
    from entry_points import run_eval

    model = save_random_model(tmp_path / "model")
    folder = tmp_path / "data"
    folder.mkdir()
    seconds = transcribe.LONG_UNCHUNKED_S + 20
    sf.write(folder / "long.flac", white_noise(seconds), RATE)
    (folder / "metadata.csv").write_text("file_name,sentence\nlong.flac,a long talk\n", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    args = ["--model_id", str(model), "--dataset", str(folder), "--config", "default", "--split", "train",
            "--report", "none"]
    result = run_eval(work, *args)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    notes = [i for i, line in enumerate(lines) if line.startswith(f"note: a {seconds:.0f} s recording without --chunk_length_s")]
    progress = [i for i, line in enumerate(lines) if line.startswith("inference: ") and f"of {seconds:.0f} s of audio" in line]
    assert len(notes) == 1 and len(progress) == 10 and notes[0] < progress[0]
    assert lines[progress[-1]].startswith("inference: 100%")
    chunked = run_eval(work, *args, "--chunk_length_s", "20", "--log_outputs")
    assert chunked.returncode == 0, chunked.stderr
    assert "without --chunk_length_s" not in chunked.stderr and "inference: 100%" in chunked.stderr
    # Past STREAM_OVER_S the recording was read while transcribed; its text is the whole array's.
    assert seconds > STREAM_OVER_S
    predicted = next(work.glob("log_*_predictions.txt")).read_text(encoding="utf-8").splitlines()[1]
    from robust_speech.audio.decode import load_audio
    from robust_speech.inference.loading import load_for_inference
    whole = load_for_inference(str(model)).transcriber
    whole = Transcriber(whole.acoustic, whole.decoder, chunk_length_s=20)
    assert predicted == whole.transcribe([load_audio(folder / "long.flac")])[0].text
