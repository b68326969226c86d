"""A web demo of this model folder: upload or record audio, read the transcript and each word's time.

    python app.py                      # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT change it)
    robust-speech serve .              # the same, from robust-speech

It decodes exactly as this folder's eval.py does without robust-speech: the transformers pipeline with the
folder's n-gram LM (language_model/, the beam width of decoding.json), the audio read by soundfile and resampled
by soxr. It needs only requirements.txt (the challenge's packages and gradio), so the folder pushed to a Hugging
Face Space (SDK gradio) serves the same page.
"""

import json
from pathlib import Path

import gradio as gr
import numpy as np
import soundfile
import soxr
import torch
from transformers import pipeline

MODEL_DIR = Path(__file__).resolve().parent
# Longer recordings are cut into overlapping chunks as eval.py's --chunk_length_s does (the stride is its default).
LONG_AUDIO_S = 30.0
CHUNK_LENGTH_S = 10.0
_PIPELINES = {}


def load(model_dir=MODEL_DIR):
    """The ASR pipeline of `model_dir` and its decoder options, loaded once."""
    model_dir = str(model_dir)
    if model_dir not in _PIPELINES:
        asr = pipeline("automatic-speech-recognition", model=model_dir, device=0 if torch.cuda.is_available() else -1)
        if (Path(model_dir) / "language_model").is_dir() and asr.type != "ctc_with_lm":
            raise RuntimeError(f"{model_dir} has an n-gram LM, but the pipeline decodes without it: install kenlm and "
                               "pyctcdecode (requirements.txt)")
        decoding = Path(model_dir) / "decoding.json"  # the beam width robust-speech tune-lm chose
        beam_width = json.loads(decoding.read_text())["beam_width"] if decoding.is_file() else 100
        _PIPELINES[model_dir] = asr, ({"decoder_kwargs": {"beam_width": beam_width}} if asr.type == "ctc_with_lm" else {})
    return _PIPELINES[model_dir]


def read_audio(path, rate: int) -> np.ndarray:
    """Mono float32 at `rate`, as eval.py reads a file."""
    samples, source_rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    mono = soxr.resample(mono, source_rate, rate) if source_rate != rate else mono
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    return mono / peak if peak > 1.0 else mono


def transcribe(path, model_dir=MODEL_DIR):
    """The transcript of the audio file at `path`, and its words as [word, start s, end s] rows."""
    if not path:
        raise gr.Error("upload or record some audio first")
    asr, options = load(model_dir)
    rate = asr.feature_extractor.sampling_rate
    try:
        audio = read_audio(path, rate)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise gr.Error(f"cannot read this audio ({error}): give WAV, FLAC, OGG or MP3") from error
    if audio.size / rate > LONG_AUDIO_S:
        options = {**options, "chunk_length_s": CHUNK_LENGTH_S}
    output = asr(audio, return_timestamps="word", **options)
    # pyctcdecode writes an unknown token as "⁇": no word, left out as eval.py does.
    text = " ".join(output["text"].replace("⁇", " ").split())
    words = [[chunk["text"], *chunk["timestamp"]] for chunk in output["chunks"] if chunk["text"].replace("⁇", "").strip()]
    return text, words


def build_demo(model_dir=MODEL_DIR) -> gr.Blocks:
    load(model_dir)  # at start: a folder the pipeline cannot decode with its LM fails here, not at the first click
    with gr.Blocks(title=f"{Path(model_dir).name}: speech recognition") as demo:
        gr.Markdown(f"# {Path(model_dir).name}\nUpload or record audio, then press **Transcribe**.")
        audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio", elem_id="audio")
        button = gr.Button("Transcribe", variant="primary", elem_id="transcribe")
        text = gr.Textbox(label="Transcript", elem_id="transcript", interactive=False)
        words = gr.Dataframe(headers=["word", "start (s)", "end (s)"], label="Word times", elem_id="words",
                             interactive=False)
        button.click(lambda path: transcribe(path, model_dir), inputs=audio, outputs=[text, words])
    return demo


if __name__ == "__main__":
    build_demo().launch()
