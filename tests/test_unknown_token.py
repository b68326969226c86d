"""A model that writes [UNK] scores the same through eval.py's two paths: robust-speech's engine writes nothing for
it, and the transformers pipeline (the path without robust-speech) prints "[UNK]" unless eval.py takes it out."""

import json
import shutil

from model_folders import save_random_model
from safetensors.torch import load_file, save_file
from test_adapters import eval_both_paths

from robust_speech.audio.decode import load_audio


def test_unknown_tokens_are_written_the_same_by_both_paths(small_corpus, tmp_path, monkeypatch):
    from transformers import pipeline

    folder = save_random_model(tmp_path / "random" / "model")
    weights = load_file(folder / "model.safetensors")
    unknown = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))["[UNK]"]
    weights["lm_head.bias"][unknown] = 0.0  # the test models never write it otherwise
    model = tmp_path / "model"
    shutil.copytree(folder, model)
    save_file(weights, model / "model.safetensors", metadata={"format": "pt"})
    first = small_corpus.clips_dir("en") / small_corpus.rows("en", "test")[0]["path"]
    audio = load_audio(first, 16000)
    assert "[UNK]" in pipeline("automatic-speech-recognition", model=str(model))(audio)["text"]
    written = eval_both_paths(model, small_corpus, tmp_path, monkeypatch)
    assert written["engine"] == written["pipeline"]
