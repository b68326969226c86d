"""Every accepted flag does something: the ones that would change nothing are refused with one line, the ones the
recipe used to drop on the way (duration batches' dataloader flags, --hub_revision, --eval_metrics) now apply."""

import json

import numpy as np
import pytest
import torch

import robust_speech.training.run as training
from robust_speech.training.arguments import RecipeArguments

HUBERT = json.dumps({"model_type": "hubert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 64})
W2V_BERT = json.dumps({"model_type": "wav2vec2-bert", "hidden_size": 32, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "intermediate_size": 64})

# (flags, words of the one error line). Each run stops before any data is read (the dataset does not exist).
REFUSED = [
    (["--phoneme_language", "en-us"], "--phoneme_language en-us: robust-speech trains character CTC models"),
    (["--eval_metrics", "wer", "bleu"], "--eval_metrics wer bleu: choose wer and/or cer"),
    (["--unk_token", "<unk>"], "--unk_token <unk>: the vocabulary, the decoders and the LM builder use"),
    (["--word_delimiter_token", "_"], "--word_delimiter_token _: the vocabulary"),
    (["--pad_token", "<pad>"], "--pad_token <pad>: the vocabulary"),
    (["--streaming", "--preprocessing_num_workers", "4"], "--preprocessing_num_workers does nothing with --streaming"),
    (["--streaming", "--overwrite_cache"], "--overwrite_cache does nothing with --streaming"),
    (["--streaming", "--preprocessing_only"], "--preprocessing_only does nothing with --streaming"),
    (["--interleave_stopping_strategy", "first_exhausted"], "applies only when datasets are interleaved"),
    (["--do_predict"], "--do_predict: the recipe has no prediction step; score the test split with ./eval.py"),
    (["--label_smoothing_factor", "0.1"], "--label_smoothing_factor: label smoothing is for cross-entropy"),
    (["--batch_eval_metrics"], "--batch_eval_metrics: WER and CER are corpus figures"),
    (["--eval_do_concat_batches", "false"], "--eval_do_concat_batches false"),
    (["--include_for_metrics", "inputs"], "--include_for_metrics: WER and CER need only the predictions"),
    (["--neftune_noise_alpha", "5"], "--neftune_noise_alpha: NEFTune adds noise to token embeddings"),
    (["--use_cache", "true"], "--use_cache: a CTC encoder keeps no generation cache"),
    (["--remove_unused_columns", "true"], "--remove_unused_columns: the CTC collator needs the audio"),
    (["--ctc_loss_reduction", "max"], "--ctc_loss_reduction max: choose mean or sum"),
    (["--model_name_or_path", "m", "--config_name", "c"], "--config_name trains a randomly initialized model"),
    (["--overwrite_output_dir", "--resume_from_checkpoint", "x"], "contradict each other"),
    (["--push_to_hub", "--hub_strategy", "checkpoint"], "--hub_strategy checkpoint: the finished folder is pushed once"),
    (["--push_to_hub", "--hub_always_push"], "--hub_always_push: the folder is pushed once"),
    (["--max_batch_duration_s", "60", "--per_device_train_batch_size", "8"],
     "--per_device_train_batch_size and --max_batch_duration_s both decide the training batches"),
    (["--max_batch_duration_s", "60", "--group_by_length"],
     "--group_by_length/--train_sampling_strategy and --max_batch_duration_s both decide"),
    (["--max_batch_duration_s", "60", "--auto_find_batch_size"], "--auto_find_batch_size and --max_batch_duration_s"),
    (["--augment_prob", "0.9"], "--augment_prob needs --augment"),
    (["--augment", "noise", "--augment_speeds", "0.8,1.2"], "--augment_speeds applies to --augment speed"),
    (["--augment", "speed", "--augment_snr_db", "0,10"], "--augment_snr_db applies to --augment noise"),
    (["--augment", "noise", "--feature_cache_mb", "2048"], "--feature_cache_mb does nothing with on-the-fly --augment"),
    (["--augment_copies", "2"], "--augment_copies needs --augment"),
    (["--augment", "noise", "--augment_semitones=-2,2"], "--augment_semitones applies to --augment pitch"),
    (["--augment", "noise", "--augment_rt60_s", "0.3,0.6"], "--augment_rt60_s applies to --augment rir/reverb"),
    (["--augment", "noise", "--augment_babble_snr_db", "0,5"], "--augment_babble_snr_db applies to --augment babble"),
    (["--augment", "noise", "--augment_copies", "-1"], "--augment_copies must be 0 (on the fly) or more"),
    (["--augment", "noise", "--augment_copies", "2", "--streaming", "--max_steps", "5"],
     "--augment_copies renders copies of a prepared training set"),
    (["--tokenizer_name_or_path", "tok", "--vocabulary_min_count", "3"], "--vocabulary_min_count applies to the vocabulary"),
    (["--metric_for_best_model", "cer", "--eval_metrics", "wer"], "--metric_for_best_model cer: evaluation computes wer"),
    (["--model_config_json", HUBERT, "--add_adapter", "true"], "--add_adapter: a hubert model has no add_adapter"),
    (["--model_config_json", W2V_BERT, "--freeze_feature_encoder"],
     "--freeze_feature_encoder: a wav2vec2-bert model has no convolutional feature encoder"),
    (["--model_config_json", W2V_BERT, "--channels_last_encoder", "true"],
     "--channels_last_encoder: a wav2vec2-bert model has no convolutional feature encoder"),
]


@pytest.mark.parametrize("flags, message", REFUSED, ids=[" ".join(f for f in flags if len(f) < 30) for flags, _ in REFUSED])
def test_a_flag_that_would_change_nothing_is_refused_with_one_line(flags, message, tmp_path, capsys):
    argv = ["--dataset_name", str(tmp_path / "no_such_data"), "--output_dir", str(tmp_path / "out"), "--do_train",
            "--report_to", "none", *flags]
    assert training.main(argv, script="run_speech_recognition_ctc.py") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("run_speech_recognition_ctc.py: error: "), err
    assert message in err[0], err[0]


def test_the_guides_flags_and_the_defaults_are_not_refused(tmp_path, capsys):
    """The same flags, spelled as the defaults or as the guide uses them, reach the data loading step."""
    argv = ["--dataset_name", str(tmp_path / "no_such_data"), "--output_dir", str(tmp_path / "out"), "--do_train",
            "--report_to", "none", "--group_by_length", "--per_device_train_batch_size", "8", "--unk_token", "[UNK]",
            "--augment", "noise,speed,rir:0.2,pitch,babble", "--augment_prob", "0.3", "--augment_snr_db", "5,10",
            "--augment_speeds", "0.9,1.1", "--augment_rt60_s", "0.3,0.9", "--augment_semitones=-2,2",
            "--augment_babble_snr_db", "0,10", "--augment_copies", "2", "--feature_cache_mb", "2048",
            "--eval_metrics", "wer", "cer", "--metric_for_best_model", "eval_wer", "--push_to_hub", "--hub_strategy", "end",
            "--remove_unused_columns", "false", "--model_config_json", HUBERT]
    assert training.main(argv, script="run_speech_recognition_ctc.py") == 2
    assert "no_such_data" in capsys.readouterr().err  # stopped at the data, not at a flag


def test_eval_metrics_chooses_what_evaluation_computes():
    from robust_speech.data.arguments import DataTrainingArguments

    assert DataTrainingArguments(dataset_name="x").eval_metrics == ["wer", "cer"]
    assert DataTrainingArguments(dataset_name="x", eval_metrics=["cer", "cer"]).eval_metrics == ["cer"]

    class Processor:
        class tokenizer:
            pad_token_id = 0

        @staticmethod
        def batch_decode(ids, group_tokens=True):
            return [" ".join("ab"[i - 1] for i in row if i) for row in ids]

    class Prediction:
        predictions = np.array([[1, 2, 0]])
        label_ids = np.array([[1, 1, -100]])

    assert set(training.make_compute_metrics(Processor, ("cer",))(Prediction)) == {"cer"}
    assert set(training.make_compute_metrics(Processor, ("wer", "cer"))(Prediction)) == {"wer", "cer"}


def test_duration_batches_take_the_dataloader_flags_and_the_data_seed(tmp_path):
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), dataloader_num_workers=2, dataloader_persistent_workers=True,
                             dataloader_prefetch_factor=3, dataloader_drop_last=True, data_seed=5, seed=1,
                             report_to="none")
    durations = np.random.default_rng(0).uniform(0.5, 15.0, size=50)
    batches = training.make_duration_batches(durations, args, RecipeArguments(max_batch_duration_s=30.0))
    assert batches.seed == 5 and batches.drop_last
    loader = torch.utils.data.DataLoader(list(range(50)), **training.duration_loader_options(args, batches, list))
    assert (loader.num_workers, loader.persistent_workers, loader.prefetch_factor) == (2, True, 3)
    assert loader.batch_sampler is batches and loader.worker_init_fn is not None


def test_hub_revision_pushes_to_that_branch(tmp_path, monkeypatch):
    import huggingface_hub
    from log_records import logged
    from transformers import TrainingArguments

    calls = []

    class Repo:
        repo_id = "me/model"

    monkeypatch.setattr(huggingface_hub, "create_repo", lambda *a, **k: Repo)
    monkeypatch.setattr(huggingface_hub, "create_branch", lambda *a, **k: calls.append(("branch", a, k)))
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **k: calls.append(("upload", k)))
    args = TrainingArguments(output_dir=str(tmp_path), hub_model_id="me/model", hub_revision="v2", report_to="none")
    with logged() as messages:  # what the run says, whichever handler an earlier test left on the logger
        training._push(tmp_path, args, token=None)
    assert calls[0][0] == "branch" and calls[0][2]["branch"] == "v2"
    assert calls[1][0] == "upload" and calls[1][1]["revision"] == "v2"
    assert any("(branch v2)" in message for message in messages)


# ---------------------------------------------------------------------------------------------------------
# robust-speech verbs and build_ngram.py, in process

CLI_REFUSED = [
    (["prepare", "--dataset_name", "x", "--output_dir", "{tmp}", "--eval_metrics", "cer"],
     "--eval_metrics applies to training"),
    (["prepare", "--dataset_name", "x", "--output_dir", "{tmp}", "--preprocessing_only"],
     "--preprocessing_only applies to training"),
    (["prepare", "--dataset_name", "x", "--output_dir", "{tmp}", "--trust_remote_code"],
     "--trust_remote_code applies to training"),
    (["prepare", "--dataset_name", "x", "--output_dir", "{tmp}", "--phoneme_language", "de"], "--phoneme_language de"),
    (["synth", "--output_dir", "{tmp}", "--noise_color", "white"], "--noise_color needs --noise_snr_db"),
    (["synth", "--output_dir", "{tmp}", "--degraded_splits", "test"], "--degraded_splits needs --noise_snr_db or"),
    (["synth", "--output_dir", "{tmp}", "--long_max_s", "90"], "--long_max_s needs --long_recordings"),
    (["robustness", "--model", "{tmp}", "--dataset", "x", "--snr_db", "", "--noise_color", "brown"],
     "--noise_color needs --snr_db levels"),
]


@pytest.mark.parametrize("argv, message", CLI_REFUSED, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CLI_REFUSED])
def test_a_verb_flag_that_would_change_nothing_is_refused(argv, message, tmp_path, capsys):
    from robust_speech.cli.verbs import main

    assert main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("robust-speech: error: ") and message in err[0], err


@pytest.mark.parametrize("argv, message", [
    (["--output_dir", "o", "--text", "t.txt", "--split", "dev"], "--split needs --dataset_name"),
    (["--output_dir", "o", "--text", "t.txt", "--dataset_config_name", "sv"], "--dataset_config_name needs --dataset_name"),
    (["--output_dir", "o", "--text", "t.txt", "--text_column_name", "s"], "--text_column_name needs --dataset_name"),
    (["--output_dir", "o", "--text", "t.txt", "--token", "hf_x"], "--token needs --dataset_name"),
    (["--output_dir", "o", "--text", "t.txt", "--alpha", "0.7"], "--alpha needs --model_dir: they are written into"),
    (["--output_dir", "o", "--text", "t.txt", "--beta", "2"], "--beta needs --model_dir"),
])
def test_build_ngram_refuses_flags_that_need_another(argv, message, tmp_path, monkeypatch, capsys):
    from robust_speech.cli.build_ngram import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0] == f"build_ngram.py: error: {err[0].split('error: ', 1)[1]}" and message in err[0]


def test_build_ngram_defaults_still_apply():
    from robust_speech.cli.build_ngram import build_parser, options_from_args
    from robust_speech.lm.ngram import DEFAULT_ATTRS

    options = options_from_args(build_parser().parse_args(["--model_dir", "m", "--dataset_name", "d"]))
    assert (options.split, options.alpha, options.beta) == ("train", DEFAULT_ATTRS["alpha"], DEFAULT_ATTRS["beta"])
    options = options_from_args(build_parser().parse_args(["--model_dir", "m", "--text", "t", "--alpha", "0.3"]))
    assert options.alpha == 0.3


@pytest.mark.parametrize("flags, expected", [
    ([], (10.0, None, False)),
    (["--chunk_length_s", "20"], (20.0, None, False)),
    (["--vad"], (None, None, True)),
    (["--vad", "--chunk_length_s", "20", "--stride_length_s", "2"], (20.0, 2.0, True)),  # was dropped with --vad
])
def test_transcribe_passes_the_chunking_it_was_given(flags, expected, monkeypatch, tmp_path):
    import robust_speech.inference.loading as loading
    from robust_speech.cli.verbs import main

    seen = []

    def fake_load(model, load, decoding, transcription):
        seen.append((transcription.chunk_length_s, transcription.stride_length_s, transcription.vad))
        raise loading.ConfigurationError("stop here")

    monkeypatch.setattr(loading, "load_for_inference", fake_load)
    assert main(["transcribe", "a.wav", "--model", str(tmp_path), *flags]) == 2
    assert seen == [expected]


def test_channels_last_encoder_given_with_a_gpu_visible_is_refused():
    from robust_speech.core.errors import ConfigurationError
    from robust_speech.model.arguments import ModelArguments
    from robust_speech.training.flag_checks import refuse_cpu_only_flags

    with pytest.raises(ConfigurationError, match="--channels_last_encoder: measured on the CPU only"):
        refuse_cpu_only_flags({"channels_last_encoder"}, ModelArguments(), cuda_visible=True)
    refuse_cpu_only_flags({"channels_last_encoder"}, ModelArguments(), cuda_visible=False)
    refuse_cpu_only_flags(set(), ModelArguments(), cuda_visible=True)  # the default: CPU runs only
