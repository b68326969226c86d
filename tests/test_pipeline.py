"""The whole recipe as users run it: run.sh (train -> build_ngram.py -> eval.py) and an LM that helps."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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
           "EXTRA_TRAIN_FLAGS": "--max_steps 2 --eval_steps 2 --save_steps 2 --mask_time_prob 0.0 --mask_feature_prob 0.0 "
                                "--learning_rate 1e-3"}
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


# ---------------------------------------------------------------------------------------------------------
# A model that has learned something, and an LM built from text it never heard


# Found by measuring (session notes in the issue): a 2-layer XLS-R-style encoder whose first convolution is
# STFT-like (400-sample window, 160 hop) leaves the CTC blank plateau within ~300 steps at lr 1e-2; the
# 7-convolution tiny config stays on it for 400+ steps. ~60 s of training on 2 cores.
LEARNING_CONFIG = {
    "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256,
    "conv_dim": [128, 128], "conv_kernel": [400, 5], "conv_stride": [160, 2], "conv_bias": True,
    "feat_extract_norm": "layer", "do_stable_layer_norm": True, "num_conv_pos_embeddings": 32,
    "num_conv_pos_embedding_groups": 8,
}
LEARNING_CORPUS = dict(languages=("en",), train_size=400, dev_size=20, test_size=30, lm_sentences=2000, speakers=12,
                       seed=3)


@pytest.fixture(scope="session")
def learned(tmp_path_factory):
    """(corpus, model folder): trained on 400 synthetic utterances, test sentences and voices held out."""
    import robust_speech.training.run as training
    from robust_speech.data.synth import SynthConfig, cached_corpus

    corpus = cached_corpus(SynthConfig(**LEARNING_CORPUS))
    folder = tmp_path_factory.mktemp("learned")
    config = folder / "config.json"
    config.write_text(json.dumps(LEARNING_CONFIG), encoding="utf-8")
    model = folder / "model"
    code = training.main([
        "--dataset_name", str(corpus.root), "--dataset_config_name", "en", "--train_split_name", "train",
        "--eval_split_name", "dev", "--model_config_json", str(config), "--output_dir", str(model), "--do_train",
        "--per_device_train_batch_size", "8", "--learning_rate", "1e-2", "--warmup_steps", "50", "--max_steps", "600",
        "--mask_time_prob", "0.0", "--freeze_feature_encoder", "false", "--seed", "1", "--eval_strategy", "no",
        "--save_strategy", "no", "--dataloader_num_workers", "0", "--report_to", "none", "--disable_tqdm", "true",
        # 600 steps at lr 1e-2 only just leave the blank plateau, so where this run ends depends on float rounding:
        # it was tuned with transformers' convolutions (the channels-last encoder's equal gradients are
        # tests/test_fast_encoder.py's to check; with it, one run here ended at a clean CER of 0.56).
        "--channels_last_encoder", "false",
    ], script="test")
    assert code == 0
    return corpus, model


def copy_with_lm(learned, tmp_path: Path, order: int):
    """A copy of the learned model with `build_ngram.py` run on the corpus's LM text (never the test text)."""
    corpus, trained = learned
    model = tmp_path / "model"
    shutil.copytree(trained, model)
    built = subprocess.run([sys.executable, str(ROOT / "build_ngram.py"), "--model_dir", str(model), "--text",
                            str(corpus.lm_text("en")), "--order", str(order)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return corpus, model


def eval_wer(model: Path, corpus, cwd: Path, *extra) -> tuple[float, dict]:
    cwd.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run([str(ROOT / "eval.py"), "--model_id", str(model), "--dataset", str(corpus.root),
                             "--config", "en", "--split", "test", *extra], cwd=cwd, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    wer = float(next(cwd.glob("*_eval_results.txt")).read_text().split("\n")[0].split(": ")[1])
    return wer, json.loads(next(cwd.glob("*_eval_report.json")).read_text())


@pytest.mark.slow
def test_an_lm_from_separate_text_lowers_wer_on_held_out_sentences(learned, tmp_path):
    corpus, model = copy_with_lm(learned, tmp_path, order=4)
    # The LM text is disjoint from the test sentences after normalization (data/synth.py guarantees it).
    test_sentences = {row["sentence"] for row in corpus.rows("en", "test")}
    assert not test_sentences & set(corpus.lm_text("en").read_text(encoding="utf-8").splitlines())

    greedy, greedy_report = eval_wer(model, corpus, tmp_path / "greedy", "--no_lm")
    with_lm, lm_report = eval_wer(model, corpus, tmp_path / "lm")
    fast, fast_report = eval_wer(model, corpus, tmp_path / "fast", "--decoder", "flashlight")
    assert greedy_report["settings"]["decoder"] == "greedy" and lm_report["settings"]["decoder"] == "pyctcdecode"
    assert fast_report["settings"]["decoder"] == "flashlight"
    print(f"test WER: greedy {greedy:.4f}, pyctcdecode+LM {with_lm:.4f}, flashlight+LM {fast:.4f}")
    # Three points, not more: the learned model is weak on the held-out voices and where its 600 steps end
    # depends on the CPU's float rounding, which moves the LM's gain by a few words of the test set's ~190
    # (the values seen on each CPU are in the commit that set this margin).
    assert with_lm < greedy - 0.03
    assert fast < greedy - 0.03


def test_the_lm_folder_decodes_the_same_in_transformers_and_in_our_engine(learned, tmp_path):
    from transformers import Wav2Vec2ProcessorWithLM

    from robust_speech.data.preprocess import decode_audio
    from robust_speech.inference.decoding import PyctcdecodeDecoder
    from robust_speech.inference.transcribe import log_probs_batch
    from robust_speech.model.acoustic import load_acoustic_model

    corpus, model = copy_with_lm(learned, tmp_path, order=3)
    audios = [decode_audio(str(corpus.clips_dir("en") / row["path"]), 16000) for row in corpus.rows("en", "test")[:8]]
    log_probs = log_probs_batch(load_acoustic_model(model, "cpu"), audios)
    processor = Wav2Vec2ProcessorWithLM.from_pretrained(model)
    theirs = [processor.decode(x).text for x in log_probs]
    ours = [t.text for t in PyctcdecodeDecoder(model, processes=2).decode_batch(log_probs)]
    assert ours == [" ".join(text.split()) for text in theirs] and any(ours)


def run_folder_eval(model: Path, corpus, cwd: Path, *extra, without: tuple[str, ...] = (),
                    exit_code: int = 0) -> dict[str, bytes]:
    """The folder's own ./eval.py run in `cwd`, as the organizers run a submission, in an environment without the
    modules in `without` (e.g. robust_speech: the challenge's packages only); its result files' bytes (or, for a
    non-zero `exit_code`, its standard error as `stderr`)."""
    cwd.mkdir()
    argv = [str(model / "eval.py"), "--model_id", str(model), "--dataset", str(corpus.root), "--config", "en", "--split",
            "test", "--log_outputs", *extra]
    command = [sys.executable, *argv]
    if without:
        hidden = "; ".join(f"sys.modules[{name!r}] = None" for name in without)
        command = [sys.executable, "-c", f"import runpy, sys; {hidden}; "
                   f"sys.argv = {argv!r}; runpy.run_path(sys.argv[0], run_name='__main__')"]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == exit_code, result.stderr[-3000:]
    files = {path.name: path.read_bytes() for path in cwd.glob("*.txt")}
    return files if exit_code == 0 else {**files, "stderr": result.stderr.encode()}


def test_the_model_folder_is_a_submission_that_runs_without_robust_speech(learned, tmp_path):
    from transformers import AutoProcessor, pipeline

    corpus, model = copy_with_lm(learned, tmp_path, order=3)
    shutil.copy(ROOT / "eval.py", model)  # as training copies it when run through run_speech_recognition_ctc.py
    assert type(AutoProcessor.from_pretrained(model)).__name__ == "Wav2Vec2ProcessorWithLM"
    assert pipeline("automatic-speech-recognition", model=str(model)).type == "ctc_with_lm"

    chunking = ("--chunk_length_s", "2", "--stride_length_s", "0.4")  # the test clips are cut into chunks too
    ours = run_folder_eval(model, corpus, tmp_path / "with", *chunking)
    standalone = run_folder_eval(model, corpus, tmp_path / "without", *chunking, without=("robust_speech",))
    assert sorted(ours) == sorted(standalone) and len(ours) == 3  # results, predictions, targets
    assert ours == standalone
    # Without kenlm the pipeline would decode greedy with a logged warning; eval.py refuses to write that WER.
    refused = run_folder_eval(model, corpus, tmp_path / "without_kenlm", *chunking, without=("robust_speech", "kenlm"),
                              exit_code=2)
    assert list(refused) == ["stderr"] and "has an n-gram LM (language_model/)" in refused["stderr"].decode()
    assert refused["stderr"].decode().strip().splitlines()[-1].startswith("eval.py: error: ")
    greedy = run_folder_eval(model, corpus, tmp_path / "greedy", *chunking, "--no_lm")
    predictions = next(name for name in ours if name.endswith("_predictions.txt"))
    assert greedy[predictions] != ours[predictions]  # the LM decoded both runs above

    removed = subprocess.run([sys.executable, str(ROOT / "build_ngram.py"), "--model_dir", str(model), "--remove_lm"],
                             capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr
    assert type(AutoProcessor.from_pretrained(model)).__name__ == "Wav2Vec2Processor"
    assert pipeline("automatic-speech-recognition", model=str(model)).type == "ctc"
    assert not (model / "language_model").exists() and not (model / "alphabet.json").exists()
    assert run_folder_eval(model, corpus, tmp_path / "removed", *chunking, without=("robust_speech",)) == greedy


def test_tune_lm_writes_weights_that_eval_then_uses(learned, tmp_path, capsys):
    from robust_speech.cli.verbs import main

    corpus, model = copy_with_lm(learned, tmp_path, order=3)
    assert main(["tune-lm", "--model_dir", str(model), "--dataset", str(corpus.root), "--config", "en", "--split", "dev",
                 "--alphas", "0,0.5,1.5", "--betas", "0,2", "--beam_widths", "8,24"]) == 0
    out = capsys.readouterr().out
    assert "<- best" in out and "greedy WER" in out
    tuned = json.loads((model / "decoding.json").read_text())
    attrs = json.loads((model / "language_model" / "attrs.json").read_text())
    assert tuned["beam_width"] in (8, 24) and attrs["alpha"] in (0.0, 0.5, 1.5) and attrs["beta"] in (0.0, 2.0)
    assert tuned["dev_wer"] <= tuned["dev_greedy_wer"]
    _wer, report = eval_wer(model, corpus, tmp_path / "eval")
    assert report["settings"]["beam_width"] == tuned["beam_width"]
    assert report["settings"]["lm"]["alpha"] == attrs["alpha"]


def test_tune_lm_pools_the_wer_of_two_dev_sets_read_in_chunks(learned, tmp_path):
    """The demo's tuning: the CV-style dev and an audio folder of other recordings, `+`-joined, chunked."""
    from robust_speech.evaluation.groups import load_split, split_log_probs
    from robust_speech.evaluation.lm_tuning import TuneOptions, tune_on_dataset
    from robust_speech.evaluation.options import EvalSplit
    from robust_speech.inference.decoding import load_decoder
    from robust_speech.inference.loading import load_for_inference
    from robust_speech.inference.options import LoadOptions, TranscriberOptions
    from robust_speech.reports.metrics import word_error_rate
    from robust_speech.text.normalizer import model_normalizer

    corpus, model = copy_with_lm(learned, tmp_path, order=3)
    other = tmp_path / "recordings" / "en" / "dev"  # the test clips, laid out as the demo's real-world sets
    other.mkdir(parents=True)
    rows = corpus.rows("en", "test")[:6]
    for row in rows:
        shutil.copy(corpus.clips_dir("en") / row["path"], other / row["path"])
    (other / "metadata.csv").write_text("file_name,sentence\n" + "".join(f'{r["path"]},"{r["sentence"]}"\n' for r in rows),
                                        encoding="utf-8")
    options = dict(model_dir=str(model), alphas=(0.0, 1.5), betas=(0.0,), beam_widths=(8,), chunk_length_s=1.0,
                   stride_length_s=0.2, dry_run=True)
    pooled = tune_on_dataset(TuneOptions(split=EvalSplit(f"{corpus.root}+{tmp_path / 'recordings'}", "en+en", "dev"),
                                         **options))
    # Each setting's WER is over both sets' words at once: decode each set apart, score them joined.
    loaded = load_for_inference(model, LoadOptions(), None, TranscriberOptions(1.0, 0.2))
    normalizer, decoder = model_normalizer(model), load_decoder(model, "pyctcdecode")
    log_probs, texts = [], []
    for split in (EvalSplit(str(corpus.root), "en", "dev"), EvalSplit(str(tmp_path / "recordings"), "en", "dev")):
        probs, raw = split_log_probs(loaded.transcriber, load_split(split))
        log_probs += probs
        texts += [normalizer(text) for text in raw]
    assert pooled.utterances == len(corpus.rows("en", "dev")) + len(rows) == len(texts)
    assert pooled.words == sum(len(text.split()) for text in texts)
    assert f"each on {pooled.utterances} utterances ({pooled.words} words)" in pooled.table()
    decoder.beam_width = 8
    for trial in pooled.trials:
        decoder.set_weights(trial.alpha, trial.beta)
        hypotheses = [t.text for t in decoder.decode_batch(log_probs)]
        assert trial.wer == pytest.approx(word_error_rate(texts, hypotheses))


@pytest.mark.slow
def test_robustness_degrades_the_test_set_and_writes_curves(learned, tmp_path):
    from robust_speech.evaluation.robustness import read_robustness

    corpus, model = learned
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def robustness(output: Path, *extra):
        result = subprocess.run(["robust-speech", "robustness", "--model", str(model), "--dataset", str(corpus.root),
                                 "--config", "en", "--split", "test", "--output_dir", str(output), "--snr_db", "20,0",
                                 "--rt60_s", "1.5", "--bandwidths_hz", "500", "--babble_snr_db", "0", "--codecs",
                                 "telephone", *extra], env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        return result, read_robustness(output / "robustness.json")

    printed, result = robustness(tmp_path / "a")
    assert [row.label for row in result.rows] == ["clean", "20 dB SNR", "0 dB SNR", "0 dB SNR babble", "1.5 s RT60",
                                                  "500 Hz band", "13 kbit/s GSM telephone"]
    assert all(row.utterances == len(corpus.rows("en", "test")) for row in result.rows)
    assert "| 0 dB SNR |" in printed.stdout and result.decoder == "greedy"
    by_label = {row.label: row for row in result.rows}
    # A model that learned something loses characters as the audio gets worse: the perturbations are applied.
    # 500 Hz, not 1000: on a 2-core Xeon with AMX the learned model ends at a clean CER of 0.576 (three seeds
    # 0.566-0.582), and a 1000 Hz band raised it only to 0.606; 500 Hz gave 0.673, 300 Hz 0.830.
    for worse in ("0 dB SNR", "0 dB SNR babble", "1.5 s RT60", "500 Hz band"):
        assert by_label[worse].cer > by_label["clean"].cer + 0.05, (worse, result.rows)
    assert by_label["20 dB SNR"].cer < by_label["0 dB SNR"].cer
    png = (tmp_path / "a" / "robustness.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "| 1.5 s RT60 |" in (tmp_path / "a" / "robustness.md").read_text(encoding="utf-8")
    # Seeded: the same command gives the same numbers; another seed draws other noise.
    assert robustness(tmp_path / "b")[1].rows == result.rows
    other = robustness(tmp_path / "c", "--seed", "1")[1]
    assert other.rows[0] == result.rows[0] and other.rows[1:] != result.rows[1:]
