"""The fine-tuning recipe, run as users run it: the guide's flags, subprocesses, resume, DDP, 8-bit Adam."""

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jiwer
import numpy as np
import pytest
import torch
from conftest import TINY_XLSR_CONFIG
from log_records import logged
from safetensors.torch import load_file

import robust_speech.training.run as training
from robust_speech.training.legacy_flags import translate_legacy_flags

ROOT = Path(__file__).resolve().parents[1]
# The Swedish run.sh of the Robust Speech Event guide, verbatim except the dataset and model names.
GUIDE_RUN_SH = r"""
python run_speech_recognition_ctc.py \
	--dataset_name="{dataset}" \
	--model_name_or_path="{model}" \
	--dataset_config_name="sv-SE" \
	--output_dir="./" \
	--overwrite_output_dir \
	--num_train_epochs="50" \
	--per_device_train_batch_size="8" \
	--per_device_eval_batch_size="8" \
	--gradient_accumulation_steps="4" \
	--learning_rate="7.5e-5" \
	--warmup_steps="2000" \
	--length_column_name="input_length" \
	--evaluation_strategy="steps" \
	--text_column_name="sentence" \
	--chars_to_ignore , ? . ! \- \; \: \" “ % ‘ ” � — ’ … – \
	--save_steps="500" \
	--eval_steps="500" \
	--logging_steps="100" \
	--layerdrop="0.0" \
	--activation_dropout="0.1" \
	--save_total_limit="3" \
	--freeze_feature_encoder \
	--feat_proj_dropout="0.0" \
	--mask_time_prob="0.75" \
	--mask_time_length="10" \
	--mask_feature_prob="0.25" \
	--mask_feature_length="64" \
	--gradient_checkpointing \
	--use_auth_token \
	--fp16 \
	--group_by_length \
	--do_train --do_eval \
	--push_to_hub
"""


@pytest.fixture
def said():
    """What the library logged while the test ran, line by line."""
    with logged() as messages:
        yield messages


def guide_argv(dataset="./cv-corpus", model="./xls-r-300m"):
    return shlex.split(GUIDE_RUN_SH.format(dataset=dataset, model=model).replace("\\\n", " "))[2:]


def train_argv(corpus, config_json, output_dir, *extra):
    return [
        "--dataset_name", str(corpus.root), "--dataset_config_name", "en", "--text_column_name", "sentence",
        "--train_split_name", "train", "--eval_split_name", "dev", "--model_config_json", config_json,
        "--output_dir", str(output_dir), "--do_train", "--do_eval", "--per_device_train_batch_size", "3",
        "--per_device_eval_batch_size", "2", "--learning_rate", "3e-3", "--warmup_steps", "2", "--logging_steps", "2",
        "--mask_time_prob", "0.0", "--seed", "11", "--dataloader_pin_memory", "false", *extra,
    ]


def run_script(script, argv, launcher=(sys.executable,), timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([*launcher, str(ROOT / script), *argv], capture_output=True, text=True, env=env,
                            timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def log_history(output_dir):
    return json.loads((Path(output_dir) / "trainer_state.json").read_text())["log_history"]


def test_the_guides_flags_parse_unchanged(said):
    printed = said
    model_args, data_args, training_args, recipe_args = training.parse_arguments(guide_argv())
    assert (data_args.dataset_name, data_args.dataset_config_name, data_args.text_column_name) == ("./cv-corpus", "sv-SE",
                                                                                                   "sentence")
    assert data_args.chars_to_ignore == list(",?.!-;:\"“%‘”�—’…–")
    assert data_args.use_auth_token and data_args.hub_token is True
    assert model_args.model_name_or_path == "./xls-r-300m" and model_args.freeze_feature_encoder
    assert (model_args.mask_time_prob, model_args.mask_feature_length, model_args.activation_dropout) == (0.75, 64, 0.1)
    assert str(training_args.eval_strategy) in ("steps", "IntervalStrategy.STEPS")
    assert training_args.train_sampling_strategy == "group_by_length" and training_args.length_column_name == "input_length"
    assert training_args.activation_checkpointing and training_args.push_to_hub and recipe_args.overwrite_output_dir
    steps, rate, limit = training_args.gradient_accumulation_steps, training_args.learning_rate, training_args.save_total_limit
    assert (steps, rate, limit) == (4, 7.5e-5, 3)
    assert training_args.report_to == ["tensorboard"]
    if not torch.cuda.is_available():
        assert not training_args.fp16 and any("--fp16 needs a CUDA GPU" in line for line in printed)
    assert sum(line.startswith("note: --") for line in printed) >= 3  # one line per renamed flag


def test_legacy_flag_translation_forms(said):
    assert translate_legacy_flags(["--evaluation_strategy=epoch", "--group_by_length", "false", "--x", "1"]) == [
        "--eval_strategy", "epoch", "--x", "1"]
    assert translate_legacy_flags(["--freeze_feature_extractor", "--gradient_checkpointing=false"]) == [
        "--freeze_feature_encoder", "true", "--activation_checkpointing", "false"]
    assert len(said) == 4


def test_training_end_to_end_as_a_user_runs_it(small_corpus, tiny_config_json, tmp_path):
    output_dir = tmp_path / "model"
    result = run_script("run_speech_recognition_ctc.py", train_argv(
        small_corpus, tiny_config_json, output_dir, "--max_steps", "24", "--evaluation_strategy", "steps",
        "--eval_steps", "12", "--save_steps", "12", "--save_total_limit", "1", "--group_by_length",
        "--length_column_name", "input_length", "--augment", "noise,speed", "--augment_prob", "0.3"))
    assert "note: --evaluation_strategy is spelled --eval_strategy" in result.stdout
    history = log_history(output_dir)
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) >= 5 and np.mean(losses[-2:]) < np.mean(losses[:2])  # the loss falls
    evaluations = [entry for entry in history if "eval_wer" in entry]
    assert len(evaluations) == 2 and "eval_wer" in result.stdout and "eval_cer" in result.stdout
    assert list(output_dir.glob("runs/*/events.out.tfevents.*"))  # TensorBoard
    assert [p.name for p in output_dir.glob("checkpoint-*")] == ["checkpoint-24"]  # save_total_limit 1

    from transformers import AutoModelForCTC, AutoProcessor, pipeline

    processor = AutoProcessor.from_pretrained(output_dir)
    model = AutoModelForCTC.from_pretrained(output_dir)
    vocabulary = json.loads((output_dir / "vocab.json").read_text(encoding="utf-8"))
    assert model.config.vocab_size == len(vocabulary) == len(processor.tokenizer)
    assert model.config.pad_token_id == vocabulary["[PAD]"] == 0 and model.config.ctc_zero_infinity
    assert "<s>" not in processor.tokenizer.get_vocab()
    recognizer = pipeline("automatic-speech-recognition", model=str(output_dir))
    from robust_speech.audio.decode import load_audio
    from robust_speech.inference.decoding import GreedyDecoder
    from robust_speech.inference.transcribe import Transcriber
    from robust_speech.model.acoustic import load_acoustic_model
    from robust_speech.text.normalizer import model_normalizer

    # The last evaluation (step 24, the final weights) recomputed independently: the pipeline's transcripts of
    # the dev clips, the references normalized by the saved rules, jiwer's corpus figures.
    dev = small_corpus.rows("en", "dev")
    audios = [load_audio(small_corpus.clips_dir("en") / row["path"]) for row in dev]
    hypotheses = [" ".join(recognizer(audio)["text"].split()) for audio in audios]
    references = [model_normalizer(output_dir)(row["sentence"]) for row in dev]
    assert evaluations[-1]["eval_cer"] == pytest.approx(jiwer.cer(references, hypotheses), abs=1e-6)
    assert evaluations[-1]["eval_wer"] == pytest.approx(jiwer.wer(references, hypotheses), abs=1e-6)
    # Our engine transcribes the folder as plain transformers does.
    ours = Transcriber(load_acoustic_model(output_dir, "cpu"), GreedyDecoder(vocabulary), batch_size=1)
    assert [t.text for t in ours.transcribe(audios)] == hypotheses

    card = (output_dir / "README.md").read_text(encoding="utf-8")
    header = card.split("---")[1]
    for tag in ("- automatic-speech-recognition", "- robust-speech-event", "- en"):
        assert tag in header
    assert "type: wer" in header and "type: cer" in header and "split: dev" in header
    run_sh = (output_dir / "run.sh").read_text(encoding="utf-8")
    assert "python run_speech_recognition_ctc.py" in run_sh and "--evaluation_strategy steps" in run_sh
    assert (output_dir / "run_speech_recognition_ctc.py").is_file()
    assert (output_dir / "app.py").is_file() and (output_dir / "requirements.txt").is_file()  # the web demo


class StopAfterSave:
    """Simulates the run being killed right after a checkpoint is written."""

    def __init__(self, step):
        self.step = step

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise KeyboardInterrupt(f"stopped after step {state.global_step}")


def test_killed_and_resumed_run_ends_with_the_same_weights(small_corpus, tiny_config_json, tmp_path):
    common = ("--max_steps", "8", "--save_steps", "4", "--eval_strategy", "no", "--dataloader_num_workers", "0")
    straight = tmp_path / "straight"
    assert training.main(train_argv(small_corpus, tiny_config_json, straight, *common), script="test") == 0
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        training.train(training.parse_plan(train_argv(small_corpus, tiny_config_json, resumed, *common),
                                           callbacks=[StopAfterSave(4)]))
    assert (resumed / "checkpoint-4").is_dir() and not (resumed / "checkpoint-8").exists()
    assert training.main(train_argv(small_corpus, tiny_config_json, resumed, *common), script="test") == 0
    expected, actual = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)
    # ... and differs from a run that was not resumed (the comparison can fail).
    before = load_file(resumed / "checkpoint-4" / "model.safetensors")
    assert any(not torch.allclose(before[name], expected[name]) for name in expected)


def test_two_process_ddp_on_cpu_writes_one_model(small_corpus, tiny_config_json, tmp_path):
    output_dir = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517"]
    argv = train_argv(small_corpus, tiny_config_json, output_dir, "--max_steps", "4", "--eval_strategy", "no",
                      "--ddp_backend", "gloo", "--max_batch_duration_s", "12")
    at = argv.index("--per_device_train_batch_size")  # duration batches replace the fixed batch size
    result = run_script("run_speech_recognition_ctc.py", argv[:at] + argv[at + 2:], launcher=torchrun)
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert (output_dir / "model.safetensors").is_file() and len(list(output_dir.glob("*.safetensors"))) == 1
    assert "world_size | 2" in (output_dir / "README.md").read_text(encoding="utf-8")
    assert result.stdout.count("train: skipped 0 of 6 examples") == 1  # only the main process reports


def test_bnb_script_trains_with_8bit_optimizer_states(small_corpus, tmp_path):
    # bitsandbytes keeps tensors under 4096 elements in 32 bits: give the feed-forward layers 32 x 256.
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY_XLSR_CONFIG, "intermediate_size": 256}), encoding="utf-8")
    output_dir = tmp_path / "bnb"
    run_script("run_speech_recognition_ctc_bnb.py", train_argv(
        small_corpus, str(config), output_dir, "--max_steps", "3", "--save_steps", "3", "--eval_strategy", "no"))
    optimizer = torch.load(output_dir / "checkpoint-3" / "optimizer.pt", weights_only=False)
    # bitsandbytes saves its moments under one key per parameter: state1 (m) and state2 (v).
    states = [state["__bnb_optimizer_quant_state__"] for state in optimizer["state"].values()]
    quantized = [state for state in states if state["state1"].dtype == torch.uint8]
    assert quantized and all(state["state2"].dtype == torch.uint8 for state in quantized)
    assert all(state["state1"].numel() < 4096 for state in states if state["state1"].dtype != torch.uint8)
    assert "adamw_bnb_8bit" in (output_dir / "README.md").read_text(encoding="utf-8")


def test_language_code_for_the_model_card():
    from robust_speech.training.model_card import language_code

    assert language_code(None, "sv-SE") == "sv" and language_code(None, "pt_BR") == "pt"
    assert language_code("de", "clean") == "de" and language_code(None, "clean") is None
    assert language_code(None, "en+de") == "en"


def test_fp16_without_cuda_trains_in_fp32_with_a_note(monkeypatch, said):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training.adapt_precision_flags(["--fp16", "--x", "1", "--fp16=false"]) == ["--x", "1"]
    assert said == ["note: --fp16 needs a CUDA GPU and none is visible: training in fp32"]
    assert training.adapt_precision_flags(["--bf16"]) == ["--use_cpu", "--bf16"]


def test_a_finished_model_is_not_overwritten_silently(small_corpus, tiny_config_json, tmp_path, capsys):
    output_dir = tmp_path / "done"
    output_dir.mkdir()
    (output_dir / "model.safetensors").write_bytes(b"weights")
    code = training.main(train_argv(small_corpus, tiny_config_json, output_dir, "--max_steps", "1"), script="test")
    assert code == 2
    error = capsys.readouterr().err
    assert "already holds a trained model" in error and "--overwrite_output_dir" in error and error.count("\n") == 1
    assert (output_dir / "model.safetensors").read_bytes() == b"weights"  # the old weights survive


def test_a_feature_mask_wider_than_the_model_is_a_clear_error(small_corpus, tiny_config_json, tmp_path, capsys):
    code = training.main(train_argv(small_corpus, tiny_config_json, tmp_path / "out", "--max_steps", "1",
                                    "--mask_feature_prob", "0.25", "--mask_feature_length", "64"), script="test")
    assert code == 2
    assert "--mask_feature_length 64 must be smaller than the model's hidden size 32" in capsys.readouterr().err


def test_a_filterbank_model_trains_and_evaluates_from_a_config(small_corpus, tmp_path):
    """`"model_type": "wav2vec2-bert"` in --model_config_json: log-mel input, its own feature extractor."""
    from robust_speech.data.preprocess import decode_audio
    from robust_speech.inference.decoding import GreedyDecoder
    from robust_speech.inference.transcribe import Transcriber
    from robust_speech.lm.ngram import model_vocabulary
    from robust_speech.model.acoustic import load_acoustic_model

    config = {"model_type": "wav2vec2-bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "intermediate_size": 64, "feature_projection_input_dim": 160, "conv_depthwise_kernel_size": 7,
              "position_embeddings_type": None, "layerdrop": 0.0, "add_adapter": False}
    output_dir = tmp_path / "out"
    assert training.main(train_argv(small_corpus, json.dumps(config), output_dir, "--max_steps", "2"), script="test") == 0
    processor = json.loads((output_dir / "processor_config.json").read_text())
    assert processor["feature_extractor"]["feature_extractor_type"] == "SeamlessM4TFeatureExtractor"
    acoustic = load_acoustic_model(output_dir, "cpu")
    assert acoustic.samples_per_frame == 320
    audio = decode_audio(str(small_corpus.clips_dir("en") / small_corpus.rows("en", "test")[0]["path"]), 16000)
    transcriber = Transcriber(acoustic, GreedyDecoder(model_vocabulary(output_dir)), chunk_length_s=1.0,
                              stride_length_s=0.2)
    chunked = transcriber.log_probs([audio])[0]
    whole = Transcriber(acoustic, None).log_probs([audio])[0]
    assert abs(len(chunked) - len(whole)) <= 2  # chunks are joined back to the utterance's frame count
    # It evaluates as plain transformers computes it: features, model, argmax over the frames the attention mask
    # keeps, the tokenizer's CTC decoding. (The ASR pipeline also decodes the frame the extractor pads to an even
    # count of filterbank frames, so it can write one more character.)
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForCTC, AutoTokenizer

    extractor, tokenizer = AutoFeatureExtractor.from_pretrained(output_dir), AutoTokenizer.from_pretrained(output_dir)
    model = AutoModelForCTC.from_pretrained(output_dir).eval()
    clips = [decode_audio(str(small_corpus.clips_dir("en") / row["path"]), 16000) for row in small_corpus.rows("en", "test")]
    expected = []
    for clip in clips:
        inputs = extractor(clip, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            ids = model(**inputs).logits[0, : int(inputs["attention_mask"].sum())].argmax(-1)
        expected.append(" ".join(tokenizer.decode(ids).replace("[UNK]", "").split()))  # ours writes nothing for [UNK]
    ours = Transcriber(acoustic, GreedyDecoder(model_vocabulary(output_dir)), batch_size=1).transcribe(clips)
    assert [t.text for t in ours] == expected
    assert any(t.text for t in ours)


def test_augment_changes_what_the_model_is_trained_on(small_corpus, tiny_config_json, tmp_path, monkeypatch):
    from robust_speech.training.batching import CTCCollator

    def first_batch(name, *extra):
        seen = []
        real = CTCCollator.__call__

        def spy(self, features):
            batch = real(self, features)
            seen.append(batch["input_values"].clone())
            return batch

        monkeypatch.setattr(CTCCollator, "__call__", spy)
        argv = train_argv(small_corpus, tiny_config_json, tmp_path / name, "--max_steps", "1", "--do_eval", "false",
                          *extra)
        assert training.main(argv, script="test") == 0
        return seen[0]

    plain = first_batch("plain")
    assert torch.equal(first_batch("never", "--augment", "noise", "--augment_prob", "0"), plain)
    noisy = first_batch("noisy", "--augment", "noise", "--augment_prob", "1", "--augment_snr_db", "0,0")
    assert noisy.shape == plain.shape and not torch.equal(noisy, plain)
    faster = first_batch("faster", "--augment", "speed", "--augment_prob", "1", "--augment_speeds", "1.5,1.5")
    assert faster.shape[1] < plain.shape[1]  # 1.5x speed: two thirds of the samples


def test_pre_rendered_copies_are_what_the_model_trains_on(small_corpus, tiny_config_json, tmp_path, monkeypatch, capsys):
    from robust_speech.training.batching import CTCCollator

    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(tmp_path / "cache"))
    augmenters = []
    real = CTCCollator.__call__

    def spy(self, rows):
        augmenters.append(self.augmenter)
        return real(self, rows)

    monkeypatch.setattr(CTCCollator, "__call__", spy)
    output_dir = tmp_path / "copies"
    argv = train_argv(small_corpus, tiny_config_json, output_dir, "--max_steps", "2", "--do_eval", "false",
                      "--augment", "noise,rir,gain", "--augment_prob", "1", "--augment_copies", "2")
    assert training.main(argv, script="test") == 0
    printed = capsys.readouterr().out
    clean = len(small_corpus.rows("en", "train"))
    assert json.loads((output_dir / "train_results.json").read_text())["train_samples"] == 3 * clean
    assert f"multi-condition: 2 degraded copies of {clean} training examples" in printed
    assert f"rir {2 * clean}, noise {2 * clean}, gain {2 * clean}" in printed
    assert augmenters and all(augmenter is None for augmenter in augmenters)  # degraded already: not again
    assert "augment_copies" in (output_dir / "run.sh").read_text()
    # A second run reads the copies back from the cache instead of rendering them again.
    again = train_argv(small_corpus, tiny_config_json, tmp_path / "again", "--max_steps", "1", "--do_eval", "false",
                       "--augment", "noise,rir,gain", "--augment_prob", "1", "--augment_copies", "2")
    import robust_speech.training.multi_condition as multi_condition

    monkeypatch.setattr(multi_condition, "_render_batch", lambda *a, **k: pytest.fail("rendered twice"))
    assert training.main(again, script="test") == 0


def test_training_caches_filterbank_features_unless_augmenting_or_turned_off():
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2FeatureExtractor

    from robust_speech.training.arguments import RecipeArguments

    filterbank = SeamlessM4TFeatureExtractor()
    cache = training._feature_cache(filterbank, RecipeArguments(feature_cache_mb=16))
    assert cache is not None and cache.max_bytes == 16 * 2**20
    assert training._feature_cache(filterbank, RecipeArguments(augment="noise")) is None
    assert training._feature_cache(filterbank, RecipeArguments(augment="noise", augment_copies=2)) is not None
    assert training._feature_cache(filterbank, RecipeArguments(feature_cache_mb=0)) is None
    assert training._feature_cache(Wav2Vec2FeatureExtractor(return_attention_mask=True), RecipeArguments()) is None


@pytest.mark.parametrize("dataset, scripts", [
    ("mozilla-foundation/common_voice_8_0", ("run_speech_recognition_ctc.py", "eval.py")),
    ("{local}", ("run_speech_recognition_ctc.py",)),
])
def test_the_model_card_says_how_to_run_the_folders_scripts_and_invents_no_link(tmp_path, dataset, scripts):
    import re

    from robust_speech.training.model_card import EVAL_REQUIREMENTS, write_model_card

    local = tmp_path / "data" / "my_corpus"
    local.mkdir(parents=True)
    dataset = dataset.format(local=local)

    path = write_model_card(tmp_path, model_name="me/xls-r-sv", base_model="facebook/wav2vec2-xls-r-300m",
                            dataset_name=dataset, dataset_config_name="sv-SE", eval_split_name="test", language="sv",
                            metrics={"wer": 0.2}, hyperparameters={"seed": 1},
                            command="python run_speech_recognition_ctc.py --seed 1", scripts=scripts)
    card = path.read_text(encoding="utf-8")
    body = card.split("---", 2)[2]
    assert "github.com" not in card and not re.search(r"\]\(https?://", body)  # no link to anywhere
    for requirement in EVAL_REQUIREMENTS:
        assert f"`{requirement}`" in body
    shown = "path/to/my_corpus" if dataset == str(local) else dataset
    assert f"python eval.py --model_id . --dataset {shown} --config sv-SE --split test --log_outputs" in body
    assert str(local) not in card  # never this machine's path
    assert ("`eval.py` in this folder" in body) == ("eval.py" in scripts)
    assert "--chunk_length_s 5.0 --stride_length_s 1.0" in body
    assert "`run.sh` runs `run_speech_recognition_ctc.py`, which needs the robust-speech package installed" in body
    demo = write_model_card(tmp_path, model_name="demo", base_model=None, dataset_name=dataset, dataset_config_name="en",
                            eval_split_name="dev", language="en", metrics={}, hyperparameters={},
                            command="robust-speech demo --output_dir out --force", scripts=())
    assert "`run.sh` runs `robust-speech demo`, which needs" in demo.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------
# --streaming: a corpus read while training, never copied, decoded up front nor held in memory


def streaming_common_voice(corpus, folder: Path) -> Path:
    """The synthetic English Common Voice folder plus two training rows to skip: a clip that is not audio, and
    one whose sentence is also in dev (the evaluation split)."""
    shutil.copytree(corpus.root / "en", folder / "en")
    (folder / "en" / "clips" / "broken.mp3").write_bytes(b"ID3 this is not an mp3 at all" * 20)
    first_clip = corpus.rows("en", "train")[0]["path"]
    dev_sentence = corpus.rows("en", "dev")[0]["sentence"]
    with open(folder / "en" / "train.tsv", "a", encoding="utf-8") as table:
        table.write("c1\tbroken.mp3\tA clip that is not audio.\t2\t0\t\t\t\ten\t\n")
        table.write(f"c2\t{first_clip}\t{dev_sentence}\t2\t0\t\t\t\ten\t\n")
    return folder


def streaming_argv(dataset, config_json, output_dir, *extra):
    return [
        "--dataset_name", str(dataset), "--train_split_name", "train", "--eval_split_name", "dev",
        "--model_config_json", config_json, "--output_dir", str(output_dir), "--do_train", "--do_eval",
        "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "2", "--learning_rate", "3e-3",
        "--mask_time_prob", "0.0", "--seed", "11", "--dataloader_pin_memory", "false", "--report_to", "none",
        "--streaming", "--cache_dir", str(output_dir.parent / "cache"), *extra,
    ]


def skipped_rows(output_dir: Path) -> list[tuple[str, str]]:
    from robust_speech.data.skips import read_skip_log

    return sorted((Path(row["example"]).name, row["reason"]) for row in read_skip_log(output_dir / "skipped.tsv"))


def test_streaming_trains_on_a_local_common_voice_folder(small_corpus, tiny_config_json, tmp_path, monkeypatch, capsys):
    import robust_speech.data.local_datasets as local_datasets

    def materialized(*_args, **_kwargs):
        raise AssertionError("--streaming read a whole table into memory")

    monkeypatch.setattr(local_datasets, "_table_dataset", materialized)
    corpus = streaming_common_voice(small_corpus, tmp_path / "cv-corpus")
    output_dir = tmp_path / "model"
    # 6 usable clips in batches of 2: 8 steps read the stream more than twice.
    argv = streaming_argv(corpus, tiny_config_json, output_dir, "--dataset_config_name", "en", "--max_steps", "8",
                          "--logging_steps", "4")
    assert training.main(argv, script="test") == 0
    out = capsys.readouterr().out
    assert "vocabulary: one pass over 8 training transcripts" in out  # built from the text, before any decoding
    vocabulary = json.loads((output_dir / "vocab.json").read_text(encoding="utf-8"))
    assert {"[PAD]", "[UNK]", "|", "a", "e"} <= set(vocabulary)
    assert (output_dir / "model.safetensors").is_file()
    # Each skip once, though training met it in every pass over the stream.
    assert skipped_rows(output_dir) == [("broken.mp3", "undecodable audio"),
                                        (small_corpus.rows("en", "train")[0]["path"], "sentence in the evaluation set")]
    leakage = (output_dir / "leakage.tsv").read_text(encoding="utf-8").splitlines()
    assert len(leakage) == 2 and leakage[1].startswith("sentence\t")
    assert "the overlap check compares sentences only, as training reads each example" in out
    assert ("train stream: trained on 16 examples in 8 steps" in out and "skipped 2 examples met while streaming, "
            "1 sentence in the evaluation set, 1 undecodable audio" in out)
    assert json.loads((output_dir / "train_results.json").read_text())["train_samples"] == 16
    assert json.loads((output_dir / "eval_results.json").read_text())["eval_samples"] == 2
    assert not list((tmp_path / "cache").rglob("*.arrow"))  # nothing decoded into a cache

    # The vocabulary of a trained folder instead (--tokenizer_name_or_path): no pass over the text.
    again = tmp_path / "again"
    argv = streaming_argv(corpus, tiny_config_json, again, "--dataset_config_name", "en", "--max_steps", "2",
                          "--tokenizer_name_or_path", str(output_dir))
    assert training.main(argv, script="test") == 0
    assert "vocabulary: one pass" not in capsys.readouterr().out
    assert json.loads((again / "vocab.json").read_text(encoding="utf-8")) == vocabulary


def write_parquet_shards(corpus, folder: Path) -> Path:
    """The English clips as parquet shards with the audio bytes inside (a Hub dataset's layout), two training
    shards (with a row that is not audio, and one whose text uses a character seen once) and a validation one."""
    import datasets

    def rows(split):
        return [{"audio": {"bytes": (corpus.clips_dir("en") / row["path"]).read_bytes(), "path": row["path"]},
                 "sentence": row["sentence"]} for row in corpus.rows("en", split)]

    train = rows("train")
    train.insert(2, {"audio": {"bytes": b"RIFF\x10\x00\x00\x00WAVEjunk" * 8, "path": "junk.wav"}, "sentence": "junk"})
    train.insert(5, {"audio": train[0]["audio"] | {"path": "rare.mp3"}, "sentence": "Zhe is жa"})
    (folder / "data").mkdir(parents=True)
    for name, part in (("train-00000-of-00002", train[:4]), ("train-00001-of-00002", train[4:]),
                       ("validation-00000-of-00001", rows("dev"))):
        table = datasets.Dataset.from_dict({"audio": [r["audio"] for r in part], "sentence": [r["sentence"] for r in part]})
        table.cast_column("audio", datasets.Audio()).to_parquet(folder / "data" / f"{name}.parquet")
    return folder


def english_tokenizer(corpus, folder: Path) -> Path:
    """A character tokenizer of the synthetic English sentences (so without 'ж'), saved as a trained folder's."""
    from transformers import Wav2Vec2CTCTokenizer

    from robust_speech.text.normalizer import build_normalizer
    from robust_speech.text.vocabulary import build_vocabulary

    normalize = build_normalizer(None)
    texts = [normalize(row["sentence"]) for split in ("train", "dev") for row in corpus.rows("en", split)]
    folder.mkdir(parents=True)
    build_vocabulary(texts, min_count=1).save(folder / "vocab.json")
    Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), bos_token=None, eos_token=None).save_pretrained(folder)
    return folder


def test_streaming_trains_on_parquet_shards_with_duration_batches(small_corpus, tiny_config_json, tmp_path, capsys):
    shards = write_parquet_shards(small_corpus, tmp_path / "shards")
    output_dir = tmp_path / "model"
    argv = streaming_argv(shards, tiny_config_json, output_dir, "--eval_split_name", "validation", "--max_steps", "4",
                          "--max_batch_duration_s", "8", "--bucket_buffer_size", "4", "--eval_strategy", "steps",
                          "--eval_steps", "2", "--tokenizer_name_or_path", str(english_tokenizer(small_corpus, tmp_path / "tok")))
    at = argv.index("--per_device_train_batch_size")  # duration batches set the batch size themselves
    del argv[at:at + 2]
    assert training.main(argv, script="test") == 0
    out = capsys.readouterr().out
    assert "streaming: duration batches of at most 8.0 s of padded audio, bucketed within each 4 examples" in out
    assert skipped_rows(output_dir) == [("junk.wav", "undecodable audio"), ("rare.mp3", "characters outside the vocabulary")]
    assert "skipped 2 examples met while streaming, 1 characters outside the vocabulary, 1 undecodable audio" in out
    assert (output_dir / "model.safetensors").is_file()
    assert not list((tmp_path / "cache").rglob("*.arrow"))  # the shards were read in place, never copied
    history = log_history(output_dir)
    assert len([entry for entry in history if "eval_wer" in entry]) == 2  # the evaluation stream, read twice
    assert json.loads((output_dir / "train_results.json").read_text())["train_samples"] >= 4


def test_streaming_flags_that_cannot_work_are_one_line(small_corpus, tiny_config_json, tmp_path, capsys):
    base = streaming_argv(small_corpus.root, tiny_config_json, tmp_path / "out", "--dataset_config_name", "en")
    assert training.main(base, script="test") == 2
    assert capsys.readouterr().err.strip() == (
        "test: error: --streaming needs --max_steps: a stream has no length, so --num_train_epochs cannot set the "
        "schedule (e.g. --max_steps 20000; the stream is read again from the start when it runs out)")
    assert training.main([*base, "--max_steps", "2", "--preprocessing_only"], script="test") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--preprocessing_only does nothing with --streaming" in err


def test_streaming_in_several_processes_is_one_line():
    from types import SimpleNamespace

    from robust_speech.core.errors import ConfigurationError
    from robust_speech.training.arguments import RecipeArguments

    two = SimpleNamespace(do_train=True, max_steps=10, world_size=2)
    with pytest.raises(ConfigurationError, match="--streaming trains in one process, and this run has 2"):
        training.check_streaming(two, RecipeArguments())
    with pytest.raises(ConfigurationError, match="--bucket_buffer_size must be positive"):
        training.check_streaming(SimpleNamespace(do_train=True, max_steps=10, world_size=1),
                                 RecipeArguments(bucket_buffer_size=0))


def test_the_docs_streaming_command_parses_as_documented():
    page = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    section = page.split("## Train on a corpus bigger than the disk", 1)[1]
    command = section.split("```bash", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    argv = shlex.split(command)
    assert argv[:2] == ["python", "run_speech_recognition_ctc.py"]
    model_args, data_args, training_args, recipe_args = training.parse_arguments(argv[2:])
    assert data_args.streaming and data_args.shuffle_buffer_size == 1000 and training_args.max_steps == 20000
    assert recipe_args.max_batch_duration_s == 200 and recipe_args.bucket_buffer_size == 500
    assert (data_args.dataset_name, data_args.dataset_config_name) == ("cv-corpus-8.0-2022-01-19", "sv-SE")


# ---------------------------------------------------------------------------------------------------------
# train(plan): the typed entry point a Python caller (the demo) uses


def test_train_plan_from_fields_returns_its_result_and_a_run_sh_the_script_parses_to_the_same_values(
        small_corpus, tiny_config_json, tmp_path):
    output_dir = tmp_path / "model"
    model = {"model_config_json": tiny_config_json, "mask_time_prob": 0.0, "freeze_feature_encoder": False}
    data = {"dataset_name": str(small_corpus.root), "dataset_config_name": "en", "train_split_name": "train",
            "eval_split_name": "dev", "text_column_name": "sentence"}
    fields = {"output_dir": str(output_dir), "do_train": True, "do_eval": True, "max_steps": 2,
              "per_device_train_batch_size": 3, "per_device_eval_batch_size": 2, "learning_rate": 3e-3,
              "eval_strategy": "no", "save_strategy": "no", "seed": 11, "dataloader_pin_memory": False,
              "report_to": "none"}
    recipe = {"augment": "gain:0.5,pitch:0.5", "augment_semitones": "-2,2"}  # a value with a leading minus
    plan = training.plan_from_fields(model=model, data=data, training=fields, recipe=recipe)
    result = training.train(plan)
    assert result.output_dir == output_dir and result.steps == 2
    assert result.train_metrics["train_samples"] == len(small_corpus.rows("en", "train"))
    assert set(result.eval_metrics) == {"wer", "cer"}
    assert (output_dir / "model.safetensors").is_file()

    command = shlex.split((output_dir / "run.sh").read_text(encoding="utf-8").splitlines()[-1])
    assert command[:2] == ["python", "run_speech_recognition_ctc.py"]
    reparsed = training.parse_plan(command[2:])
    assert reparsed.given == plan.given
    for parsed, original in zip(reparsed.arguments, plan.arguments):
        for name in plan.given & {field.name for field in dataclasses.fields(original)}:
            assert getattr(parsed, name) == getattr(original, name), name


def test_a_plan_with_a_rerun_command_writes_that_command_to_run_sh(tmp_path):
    from robust_speech.training.model_card import write_run_script

    plan = training.plan_from_fields(model={}, data={"dataset_name": "x"}, training={"output_dir": str(tmp_path)},
                                     rerun=["robust-speech", "demo", "--output_dir", "my demo"])
    assert plan.run_command == ["robust-speech", "demo", "--output_dir", "my demo"]
    write_run_script(tmp_path, plan.run_command)
    assert (tmp_path / "run.sh").read_text().splitlines()[-1] == "robust-speech demo --output_dir 'my demo'"


def test_main_parses_once_and_hands_train_a_plan(monkeypatch, tmp_path, said):
    plans = []
    monkeypatch.setattr(training, "train", plans.append)
    argv = ["--dataset_name", "x", "--output_dir", str(tmp_path), "--evaluation_strategy", "steps"]
    assert training.main(argv, script="/somewhere/run_speech_recognition_ctc_bnb.py",
                         defaults={"optim": training.BNB_OPTIMIZER}) == 0
    (plan,) = plans
    assert plan.flags == tuple(argv) and plan.script.endswith("_bnb.py")
    assert str(plan.training.eval_strategy) in ("steps", "IntervalStrategy.STEPS")
    assert getattr(plan.training.optim, "value", plan.training.optim) == training.BNB_OPTIMIZER
    assert "eval_strategy" in plan.given and "optim" not in plan.given
    assert said.count("note: --evaluation_strategy is spelled --eval_strategy since transformers 5; using "
                      "--eval_strategy") == 1  # translated once
    assert plan.run_command[:2] == ["python", "run_speech_recognition_ctc_bnb.py"]


def test_the_training_script_help_says_what_it_does_with_an_example():
    result = subprocess.run([sys.executable, str(ROOT / "run_speech_recognition_ctc.py"), "--help"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0
    assert "Fine-tune a CTC speech recognizer" in result.stdout
    assert "example: python run_speech_recognition_ctc.py --dataset_name=" in result.stdout
