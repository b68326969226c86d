"""The whole recipe as users run it: run.sh (train -> build_ngram.py -> eval.py) and an LM that helps."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TINY_XLSR_CONFIG

ROOT = Path(__file__).resolve().parents[1]


def tiny_pretrained(folder: Path) -> Path:
    """A random-init checkpoint with XLS-R's architecture standing in for facebook/wav2vec2-xls-r-300m."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    Wav2Vec2ForCTC(Wav2Vec2Config(**TINY_XLSR_CONFIG)).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(folder)
    return folder


def test_run_sh_trains_builds_the_lm_and_evaluates(small_corpus, tmp_path):
    output_dir = tmp_path / "model"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MODEL": str(tiny_pretrained(tmp_path / "pretrained")), "DATASET": str(small_corpus.root), "LANGUAGE": "en",
           "OUTPUT_DIR": str(output_dir), "EPOCHS": "1",
           "EXTRA_TRAIN_FLAGS": "--max_steps 2 --eval_steps 2 --save_steps 2 --mask_time_prob 0.0 --mask_feature_prob 0.0 --learning_rate 1e-3"}
    result = subprocess.run(["bash", str(ROOT / "run.sh")], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert (output_dir / "model.safetensors").is_file() and (output_dir / "language_model" / "attrs.json").is_file()
    results = list(output_dir.glob("*_en_test_eval_results.txt"))
    assert len(results) == 1 and results[0].read_text().startswith("WER: ")
    report = json.loads(next(output_dir.glob("*_en_test_eval_report.json")).read_text())
    assert report["settings"]["decoder"] == "pyctcdecode"  # the LM in the folder was picked up
    assert report["utterances"] == len(small_corpus.rows("en", "test"))
    predictions = next(output_dir.glob("log_*_en_test_predictions.txt")).read_text().splitlines()
    assert predictions[0::2] == [str(i) for i in range(report["utterances"])]
