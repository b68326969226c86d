"""Flags of the training script that would be accepted and then change nothing: refused with one line.

HfArgumentParser accepts every `TrainingArguments` field, but this recipe replaces some of what the Trainer does
(duration batches replace its sampler and batch size, the model card and the push happen once at the end, the
collator needs every column) and some fields have no meaning for a CTC speech model. Each of those, when it is
given on the command line, stops the run before any data is loaded, naming the flag and what to do instead.
Flags that only configure a stage that does not run (evaluation flags without --do_eval, Hub flags without
--push_to_hub) are left alone, as in the reference recipe.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from robust_speech.core.errors import ConfigurationError
from robust_speech.data.arguments import DataTrainingArguments
from robust_speech.model.arguments import ModelArguments
from robust_speech.training.arguments import RecipeArguments

CTC_LOSS_REDUCTIONS = ("mean", "sum")
HUB_STRATEGY_END = "end"


def given_flags(argv: Sequence[str]) -> set[str]:
    """The field names on the command line (`--name value`, `--name=value`), or the keys of a JSON arguments file."""
    if len(argv) == 1 and argv[0].endswith(".json") and os.path.isfile(argv[0]):
        with open(argv[0], encoding="utf-8") as file:
            return set(json.load(file))
    return {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}


def refuse_ignored_flags(given: set[str], model_args: ModelArguments, data_args: DataTrainingArguments,
                         training_args, recipe_args: RecipeArguments) -> None:
    """Raise ConfigurationError for the first flag that this run would accept and ignore."""
    for check in (_unsupported, _hub, _duration_batches, _augmentation, _vocabulary, _metrics, _health, _layerdrop):
        message = check(given, model_args, data_args, training_args, recipe_args)
        if message:
            raise ConfigurationError(message)


def _unsupported(given, model_args, data_args, training_args, recipe_args) -> str | None:
    if training_args.do_predict:
        return ("--do_predict: the recipe has no prediction step; score the test split with ./eval.py (it writes the "
                "challenge's result files)")
    if training_args.label_smoothing_factor:
        return ("--label_smoothing_factor: label smoothing is for cross-entropy over tokens; the CTC loss has none "
                "(drop the flag)")
    if training_args.batch_eval_metrics:
        return "--batch_eval_metrics: WER and CER are corpus figures, computed once over all predictions (drop the flag)"
    if not training_args.eval_do_concat_batches:
        return "--eval_do_concat_batches false: WER and CER are computed over all predictions at once (drop the flag)"
    if training_args.include_for_metrics:
        return ("--include_for_metrics: WER and CER need only the predictions and labels; the inputs or losses would be "
                "gathered and never read (drop the flag)")
    if training_args.neftune_noise_alpha is not None:
        return "--neftune_noise_alpha: NEFTune adds noise to token embeddings, and a speech encoder has none (drop the flag)"
    if "use_cache" in given:
        return "--use_cache: a CTC encoder keeps no generation cache, so the flag changes nothing (drop it)"
    if "remove_unused_columns" in given and training_args.remove_unused_columns:
        return ("--remove_unused_columns: the CTC collator needs the audio and sentence columns, so they are always "
                "kept (drop the flag)")
    if model_args.config_name and model_args.model_name_or_path:
        return ("--config_name trains a randomly initialized model, so the weights of --model_name_or_path would be "
                "ignored: give one of the two (--model_config_json edits a checkpoint's config)")
    if model_args.ctc_loss_reduction not in CTC_LOSS_REDUCTIONS:
        return f"--ctc_loss_reduction {model_args.ctc_loss_reduction}: choose {' or '.join(CTC_LOSS_REDUCTIONS)}"
    if recipe_args.overwrite_output_dir and training_args.resume_from_checkpoint:
        return "--overwrite_output_dir and --resume_from_checkpoint contradict each other: give one"
    return None


def _hub(given, model_args, data_args, training_args, recipe_args) -> str | None:
    if not training_args.push_to_hub:
        return None
    # The folder is pushed once, when training has finished, with its model card (run.py's _push).
    strategy = str(getattr(training_args.hub_strategy, "value", training_args.hub_strategy))
    if "hub_strategy" in given and strategy != HUB_STRATEGY_END:
        return (f"--hub_strategy {strategy}: the finished folder is pushed once, at the end, with its model card; "
                "checkpoints are not pushed (drop the flag or give --hub_strategy end)")
    if training_args.hub_always_push:
        return "--hub_always_push: the folder is pushed once, at the end, so there is no push to wait for (drop the flag)"
    return None


def _duration_batches(given, model_args, data_args, training_args, recipe_args) -> str | None:
    if not recipe_args.max_batch_duration_s:
        return None
    for flag in ("per_device_train_batch_size", "train_sampling_strategy", "auto_find_batch_size"):
        if flag in given:
            shown = "--group_by_length/--train_sampling_strategy" if flag == "train_sampling_strategy" else f"--{flag}"
            return (f"{shown} and --max_batch_duration_s both decide the training batches; --max_batch_duration_s "
                    "forms them from duration buckets: give one of the two")
    return None


def _augmentation(given, model_args, data_args, training_args, recipe_args) -> str | None:
    kinds = {part.strip().partition(":")[0] for part in (recipe_args.augment or "").split(",") if part.strip()}
    needs = {"augment_prob": (), "augment_copies": (), "augment_snr_db": ("noise",), "augment_speeds": ("speed",),
             "augment_babble_snr_db": ("babble",), "augment_semitones": ("pitch",), "augment_rt60_s": ("rir", "reverb")}
    for flag, needed in needs.items():
        if flag not in given:
            continue
        if not kinds:
            return f"--{flag} needs --augment (e.g. --augment noise,speed)"
        if needed and not kinds & set(needed):
            return (f"--{flag} applies to --augment {'/'.join(needed)}, which --augment {recipe_args.augment} does not "
                    "include")
    if recipe_args.augment_copies < 0:
        return f"--augment_copies must be 0 (on the fly) or more, got {recipe_args.augment_copies}"
    if kinds and not recipe_args.augment_copies and "feature_cache_mb" in given:
        return ("--feature_cache_mb does nothing with on-the-fly --augment: augmented audio is new every epoch, so its "
                "features are never cached (drop one of the two, or pre-render with --augment_copies)")
    if recipe_args.augment_copies and data_args.streaming:
        return ("--augment_copies renders copies of a prepared training set, and a stream is never prepared whole: "
                "augment a stream on the fly (without --augment_copies)")
    return None


def _vocabulary(given, model_args, data_args, training_args, recipe_args) -> str | None:
    if model_args.tokenizer_name_or_path and "vocabulary_min_count" in given:
        return ("--vocabulary_min_count applies to the vocabulary built from the data; with --tokenizer_name_or_path "
                "the tokenizer's own vocabulary is used (drop one of the two)")
    return None


def _metrics(given, model_args, data_args, training_args, recipe_args) -> str | None:
    best = training_args.metric_for_best_model
    if best is None or "metric_for_best_model" not in given:
        return None
    name = best[len("eval_"):] if best.startswith("eval_") else best
    if name != "loss" and name not in data_args.eval_metrics:
        return (f"--metric_for_best_model {best}: evaluation computes {', '.join(data_args.eval_metrics)} (and loss); "
                f"add {name} to --eval_metrics or choose one of those")
    return None


def refuse_flags_the_model_lacks(given: set[str], config, names: Sequence[str], model_args: ModelArguments) -> None:
    """A model flag (dropouts, SpecAugment, layerdrop, adapter, freezing) given for a model type that has no such
    field or part: config.update would set an attribute that the model never reads."""
    model_type = getattr(config, "model_type", "this")
    for name in names:
        if name in given and not hasattr(config, name):
            raise ConfigurationError(f"--{name}: a {model_type} model has no {name} (drop the flag)")
    for flag in ("freeze_feature_encoder", "channels_last_encoder"):
        if flag in given and getattr(model_args, flag):
            from transformers import MODEL_FOR_CTC_MAPPING

            model_class = MODEL_FOR_CTC_MAPPING.get(type(config), None)
            if model_class is not None and not hasattr(model_class, "freeze_feature_encoder"):
                raise ConfigurationError(f"--{flag}: a {model_type} model has no convolutional feature encoder "
                                         "(drop the flag)")
    refuse_cpu_only_flags(given, model_args, _cuda_visible())


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def refuse_cpu_only_flags(given: set[str], model_args: ModelArguments, cuda_visible: bool) -> None:
    """--channels_last_encoder given where a GPU trains: it would do nothing there."""
    if "channels_last_encoder" in given and model_args.channels_last_encoder and cuda_visible:
        raise ConfigurationError("--channels_last_encoder: measured on the CPU only; with a GPU visible "
                                 "transformers' (cuDNN) convolutions run: drop the flag")


HEALTH_THRESHOLDS = ("failing_evaluations", "loss_divergence_factor")


def _health(given, model_args, data_args, training_args, recipe_args) -> str | None:
    if not recipe_args.stop_when_failing:
        for flag in HEALTH_THRESHOLDS:
            if flag in given:
                return f"--{flag} is a threshold of --stop_when_failing, which is off: drop one of the two"
    if recipe_args.failing_evaluations < 1:
        return f"--failing_evaluations must be 1 or more, got {recipe_args.failing_evaluations}"
    if recipe_args.loss_divergence_factor < 0 or 0 < recipe_args.loss_divergence_factor <= 1:
        return (f"--loss_divergence_factor must be above 1 (times the first step's loss) or 0 (off), got "
                f"{recipe_args.loss_divergence_factor:g}")
    if recipe_args.sample_predictions < 0:
        return f"--sample_predictions must be 0 (none) or more, got {recipe_args.sample_predictions}"
    return None


def _layerdrop(given, model_args, data_args, training_args, recipe_args) -> str | None:
    """LayerDrop skips whole layers at random, so a step leaves their weights without gradients; DDP then fails at
    the next step ("Expected to have finished reduction in the prior iteration") unless it looks for unused
    parameters. `allow_layerdrop_processes` turns that on; a run that turned it off is refused."""
    if model_args.layerdrop > 0 and training_args.world_size > 1 and training_args.ddp_find_unused_parameters is False:
        return (f"--layerdrop {model_args.layerdrop:g} with {training_args.world_size} processes needs DDP to find the "
                "skipped layers' unused parameters: drop --ddp_find_unused_parameters false, or set --layerdrop 0")
    return None


def allow_layerdrop_processes(model_args: ModelArguments, training_args, say=None) -> bool:
    """Make DDP find unused parameters where LayerDrop skips layers in several processes (transformers turns that
    search off under activation checkpointing); True when it changed the setting."""
    if model_args.layerdrop <= 0 or training_args.world_size <= 1 or training_args.ddp_find_unused_parameters is not None:
        return False
    training_args.ddp_find_unused_parameters = True
    if say is not None:
        say(f"note: --layerdrop {model_args.layerdrop:g} with {training_args.world_size} processes: DDP looks for the "
            "skipped layers' unused parameters (--ddp_find_unused_parameters true)")
    return True
