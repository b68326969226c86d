"""The fine-tuning run behind `run_speech_recognition_ctc.py` (and its 8-bit Adam twin), on HF's Trainer.

`main(argv)` parses the command line into a `TrainingPlan` (training/plan.py) and calls `train(plan)`, which a
Python caller (the demo) calls directly with a plan of its own. `train`, top to bottom: refuse flags the run
would ignore -> find a checkpoint to resume -> prepare the data (data/prepare.py: guards, decoding cache,
skipped.tsv, overlap check) -> processor + model (model/building.py) -> the training data (augmented copies,
duration batches, the feature cache) -> the Trainer (training/trainer.py) trains and evaluates (WER/CER with
jiwer) -> a folder that plain transformers loads, with its model card, `run.sh` and scripts -> optionally
pushed to the Hub.

Runs unchanged under `torchrun` / `accelerate launch`: the Trainer handles DDP (gloo on CPU, NCCL on GPU), and
data is prepared by the main process first so the others read its cache.

`--streaming` trains on an `IterableDataset` (data/prepare.py streams, decodes and filters it lazily): the
schedule comes from `--max_steps`, duration batches from a buffer (batching.StreamBuckets), and the examples
trained on and the skips met are counted at the end (from `skipped.tsv`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import datasets
from transformers import TrainingArguments, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from robust_speech.audio.augment import Augmenter
from robust_speech.core.errors import ConfigurationError, RobustSpeechError, output_errors
from robust_speech.core.logs import LOGGER, configure_logging
from robust_speech.core.model_folder import TRAINING_TEXT_FILE, VOCAB_FILE
from robust_speech.core.space import write_space_app
from robust_speech.data.prepare import prepare_datasets
from robust_speech.data.preprocess import DURATION_COLUMN
from robust_speech.data.skips import SKIPPED_FILE, read_counts
from robust_speech.data.training_text import TRAINING_SET, record_text
from robust_speech.model.building import (
    CONFIG_FLAGS,
    build_model,
    build_processor,
    build_tokenizer,
    load_config,
    load_feature_extractor,
    tokenizer_vocabulary,
)
from robust_speech.text.normalizer import save_normalizer
from robust_speech.training.adapters import configure_adapters, refuse_adapter_flags, save_adapter, train_only_adapters
from robust_speech.training.arguments import RecipeArguments
from robust_speech.training.batching import CTCCollator, DurationBatchSampler, StreamBuckets
from robust_speech.training.distributed import check_processes_agree, leave_process_group
from robust_speech.training.feature_cache import FeatureCache
from robust_speech.training.flag_checks import (
    allow_layerdrop_processes,
    refuse_flags_the_model_lacks,
    refuse_ignored_flags,
)
from robust_speech.training.health import TrainingHealth
from robust_speech.training.long_clips import long_clip_advice
from robust_speech.training.lora import add_lora, merged, refuse_lora_flags
from robust_speech.training.model_card import (
    copy_scripts,
    language_code,
    training_languages,
    write_model_card,
    write_run_script,
)
from robust_speech.training.multi_condition import augment_options, render_copies
from robust_speech.training.parameters import ParameterCount, count_parameters
from robust_speech.training.plan import (  # noqa: F401 - the script's names, importable from here as before
    TrainingPlan,
    adapt_precision_flags,
    parse_arguments,
    parse_plan,
    plan_from_fields,
)
from robust_speech.training.trainer import (  # noqa: F401 - as above
    STAGING_PREFIX,
    CTCTrainer,
    argmax_logits,
    duration_loader_options,
    make_compute_metrics,
    make_duration_batches,
)

BNB_OPTIMIZER = "adamw_bnb_8bit"


@dataclass
class TrainingResult:
    """What a run produced: the model folder and what the Trainer measured."""

    output_dir: Path
    steps: int = 0  # optimizer steps in the run's final state (0: nothing trained)
    train_metrics: dict[str, float] = field(default_factory=dict)  # the Trainer's train_* figures
    eval_metrics: dict[str, float] = field(default_factory=dict)  # --eval_metrics by name (wer, cer)
    lines: list[str] = field(default_factory=list)  # what the data stages said, also kept for the model card
    parameters: ParameterCount | None = None  # trainable and total parameters (adapters and LoRA train few)


@dataclass
class _Model:
    """The prepared data and what was built from it."""

    prepared: object  # data.prepare.PreparedData
    feature_extractor: object
    processor: object
    model: object


@dataclass
class _TrainingData:
    """What the Trainer reads: the datasets in its format and how they are batched and degraded."""

    train: object = None
    eval: object = None
    augmenter: Augmenter | None = None
    duration_batches: object = None
    stream_batches: StreamBuckets | None = None
    feature_cache: FeatureCache | None = None


def main(argv: Sequence[str] | None = None, *, script: str | None = None,
         defaults: Mapping[str, object] | None = None) -> int:
    """The training script: parse the command line (`defaults` replace field defaults), train, exit status."""
    configure_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    script = script or sys.argv[0]
    try:
        return _run(argv, script, defaults)
    except RobustSpeechError as error:
        print(f"{os.path.basename(script)}: error: {error}", file=sys.stderr)
        return error.exit_code
    finally:
        leave_process_group()


def _run(argv: Sequence[str], script: str, defaults: Mapping[str, object] | None) -> int:
    plan = parse_plan(argv, script=script, defaults=defaults)
    if plan.training.process_index != 0:
        LOGGER.setLevel(logging.WARNING)  # one process says what the run does
    train(plan)
    return 0


def train(plan: TrainingPlan) -> TrainingResult:
    """Train and evaluate as `plan` says and save the model folder; RobustSpeechError for what a user can fix."""
    model_args, data_args, training_args, recipe_args = plan.arguments
    refuse_ignored_flags(set(plan.given), model_args, data_args, training_args, recipe_args)
    allow_layerdrop_processes(model_args, training_args, say=LOGGER.info)
    with output_errors(training_args.output_dir):  # a full disk or an unwritable folder: one line, exit 2
        checkpoint = resume_checkpoint(training_args, recipe_args)
        set_seed(training_args.seed)
        if data_args.streaming:
            check_streaming(training_args, recipe_args)
        built = _build_model(plan)
        if built is None:
            LOGGER.info("preprocessing done: the decoded data is cached; run again without --preprocessing_only to train")
            return TrainingResult(Path(training_args.output_dir))
        data = _training_data(plan, built)
        return _fit(plan, built, data, checkpoint)


def _build_model(plan: TrainingPlan) -> _Model | None:
    """Prepare the data, then the processor and model from it; None with --preprocessing_only."""
    model_args, data_args, training_args, _recipe_args = plan.arguments
    output_dir = Path(training_args.output_dir)
    config = load_config(model_args, data_args)
    refuse_flags_the_model_lacks(set(plan.given), config, CONFIG_FLAGS, model_args)
    refuse_adapter_flags(set(plan.given), config, model_args, training_args.do_train)
    refuse_lora_flags(set(plan.given), model_args, training_args.do_train)
    adapters = configure_adapters(config, model_args)
    feature_extractor = load_feature_extractor(model_args, data_args, config)
    with training_args.main_process_first(desc="preparing the data"):
        prepared = prepare_datasets(
            data_args, output_dir, do_train=training_args.do_train, do_eval=training_args.do_eval,
            vocabulary=tokenizer_vocabulary(model_args, data_args), sampling_rate=feature_extractor.sampling_rate,
            seed=training_args.seed, log=LOGGER.info,
        )
    if data_args.preprocessing_only:
        return None
    tokens = prepared.vocabulary.tokens if prepared.vocabulary is not None else None
    if tokens is None and (output_dir / VOCAB_FILE).is_file():
        tokens = json.loads((output_dir / VOCAB_FILE).read_text(encoding="utf-8"))  # evaluation of a trained folder
    tokenizer = build_tokenizer(model_args, data_args, output_dir, tokens)
    processor = build_processor(feature_extractor, tokenizer)
    model = build_model(model_args, data_args, config, tokenizer)
    if adapters is not None:
        train_only_adapters(model)
        prepared.lines.append(adapters)
        LOGGER.info(adapters)
    model = add_lora(model, model_args)  # the model itself without --lora_rank
    if training_args.should_save:
        processor.save_pretrained(output_dir)
        config.save_pretrained(output_dir)
        save_normalizer(output_dir, prepared.normalizer)  # build_ngram.py and eval normalize the same way
    return _Model(prepared, feature_extractor, processor, model)


def _training_data(plan: TrainingPlan, built: _Model) -> _TrainingData:
    """The datasets in the Trainer's format, degraded (rendered copies or an on-the-fly augmenter) and batched."""
    _model_args, data_args, training_args, recipe_args = plan.arguments
    prepared, rate = built.prepared, built.feature_extractor.sampling_rate
    data = _TrainingData(
        train=_for_trainer(prepared.train.dataset, training_args, rate) if prepared.train else None,
        eval=_for_trainer(prepared.eval.dataset, training_args, rate) if prepared.eval else None)
    # Rendered copies are one dataset shared by every process (the same seed everywhere); on the fly, each
    # process degrades its own batches differently.
    seed = training_args.seed + (0 if recipe_args.augment_copies else training_args.process_index)
    options = augment_options(recipe_args, seed, rate)
    data.augmenter = Augmenter(options) if options is not None else None
    if data.augmenter is not None and "rir" in data.augmenter.kinds:
        with training_args.main_process_first(desc="simulating rooms"):
            data.augmenter.rooms()  # once, before dataloader workers fork with it
    if data.augmenter is not None and recipe_args.augment_copies and data.train is not None:
        with training_args.main_process_first(desc="rendering degraded copies"):
            rendered = render_copies(prepared.train.dataset, data.augmenter, recipe_args.augment_copies,
                                     num_workers=data_args.preprocessing_num_workers,
                                     log=lambda line: (LOGGER.info(line), prepared.lines.append(line)))
            data.train = _for_trainer(rendered, training_args, rate)
        data.augmenter = None  # the copies are degraded already: the collator only pads, with the feature cache
    if isinstance(data.train, datasets.IterableDataset):
        data.stream_batches = _stream_batches(data.train, training_args, recipe_args)
    elif recipe_args.max_batch_duration_s and data.train is not None:
        durations = list(data.train.select_columns([DURATION_COLUMN])[:][DURATION_COLUMN])
        data.duration_batches = _duration_batches(durations, training_args, recipe_args)
    data.feature_cache = _feature_cache(built.feature_extractor, recipe_args)
    _warm_feature_cache(data, prepared, data_args.preprocessing_num_workers or 1, training_args.do_train)
    return data


def _warm_feature_cache(data: _TrainingData, prepared, workers: int, do_train: bool) -> None:
    """Compute the training set's input features before training, in `workers` processes (worth it only then)."""
    cache = data.feature_cache
    if cache is None or workers <= 1 or not isinstance(data.train, datasets.Dataset) or not do_train:
        return
    started = time.perf_counter()
    kept = cache.warm((row["audio"]["array"] for row in data.train.select_columns(["audio"])), workers)
    prepared.lines.append(f"feature cache: input features of {kept} of {len(data.train)} training examples computed "
                          f"before training in {workers} processes ({time.perf_counter() - started:.1f} s, "
                          f"{cache.bytes / 2**20:.0f} MB)")
    LOGGER.info(prepared.lines[-1])


def _make_trainer(plan: TrainingPlan, built: _Model, data: _TrainingData) -> CTCTrainer:
    training_args = plan.training
    training_args.remove_unused_columns = False  # the collator needs the audio and sentence columns
    health = TrainingHealth(plan.recipe, built.processor.tokenizer.unk_token_id)
    trainer = CTCTrainer(
        model=built.model,
        args=training_args,
        data_collator=CTCCollator(built.processor, data.augmenter, data.feature_cache),
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=built.processor,
        compute_metrics=make_compute_metrics(built.processor, tuple(plan.data.eval_metrics), health),
        preprocess_logits_for_metrics=argmax_logits,
        callbacks=list(plan.callbacks) or None,
        duration_batches=data.duration_batches,
        stream_batches=data.stream_batches,
        health=health,
    )
    for callback in plan.callbacks:  # a callback that shows progress its own way replaces the trainer's printer/bar
        for replaced in getattr(type(callback), "replaces", ()):
            trainer.remove_callback(replaced)
    return trainer


def _fit(plan: TrainingPlan, built: _Model, data: _TrainingData, checkpoint: str | None) -> TrainingResult:
    """Train, evaluate and save the folder (pushed to the Hub once, at the end, with our model card)."""
    _model_args, data_args, training_args, _recipe_args = plan.arguments
    output_dir, prepared = Path(training_args.output_dir), built.prepared
    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = False  # pushed once at the end, with our model card (the Trainer would write its own)
    # The Trainer pickles its arguments into every training_args.bin: keep the token out of them (tokens are
    # never written). Only _push needs it.
    hub_token, training_args.hub_token = training_args.hub_token, None
    trainer = _make_trainer(plan, built, data)
    result = TrainingResult(output_dir, lines=prepared.lines, parameters=count_parameters(built.model))
    LOGGER.info(result.parameters.line())
    if training_args.do_train:
        result.train_metrics = _train_steps(trainer, data, prepared, output_dir, checkpoint, plan.model)
    if training_args.do_eval and data.eval is not None:
        result.eval_metrics = _evaluate(trainer, data, prepared, output_dir, tuple(data_args.eval_metrics))
    result.steps = trainer.state.global_step
    if training_args.should_save:
        built.processor.save_pretrained(output_dir)
        _record_training_text(plan, prepared)
        _write_repository(plan, result.eval_metrics, prepared.lines)
        if push_to_hub:
            _push(output_dir, training_args, hub_token or data_args.hub_token)
    return result


def _train_steps(trainer: CTCTrainer, data: _TrainingData, prepared, output_dir: Path, checkpoint: str | None,
                 model_args) -> dict:
    outcome = trainer.train(resume_from_checkpoint=checkpoint)
    check_processes_agree(trainer)
    _save_model(trainer, model_args)
    streamed = isinstance(data.train, datasets.IterableDataset)
    metrics = {**outcome.metrics, "train_samples": trainer.examples_trained if streamed else len(data.train)}
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    if data.augmenter is not None and trainer.args.dataloader_num_workers == 0:  # workers' counts stay in them
        prepared.lines.append(data.augmenter.summary())
        LOGGER.info(prepared.lines[-1])
    trainer.save_state()
    if streamed:
        _say_stream_counts(prepared, output_dir, "train", f"trained on {trainer.examples_trained} examples "
                           f"in {trainer.state.global_step} steps (epoch {trainer.state.epoch:.2f} of the stream)")
    return metrics


def _save_model(trainer: CTCTrainer, model_args) -> None:
    """The trained model as a plain transformers folder: LoRA merged into the weights first (the evaluation
    that follows then scores what the folder holds); an attention adapter also saved alone, for its language."""
    if model_args.lora_rank is not None:
        trainer.model = trainer.model_wrapped = merged(trainer.accelerator.unwrap_model(trainer.model))
    trainer.save_model()
    if model_args.adapter_attn_dim is not None and trainer.args.should_save:
        path = save_adapter(trainer.model, trainer.args.output_dir, model_args.target_lang)
        LOGGER.info(f"attention adapter for {model_args.target_lang} saved as {path.name}")


def _evaluate(trainer: CTCTrainer, data: _TrainingData, prepared, output_dir: Path,
              metric_names: Sequence[str]) -> dict[str, float]:
    metrics = trainer.evaluate()
    streamed = isinstance(data.eval, datasets.IterableDataset)
    metrics["eval_samples"] = trainer.examples_evaluated if streamed else len(data.eval)
    if streamed:
        _say_stream_counts(prepared, output_dir, "eval", f"evaluated on {trainer.examples_evaluated} examples")
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    return {name: metrics[f"eval_{name}"] for name in metric_names if f"eval_{name}" in metrics}


def resume_checkpoint(training_args: TrainingArguments, recipe_args: RecipeArguments) -> str | None:
    """The checkpoint to resume: the one given, else the last one in output_dir (unless overwriting)."""
    if training_args.resume_from_checkpoint:
        if not os.path.isdir(training_args.resume_from_checkpoint):
            raise ConfigurationError(f"--resume_from_checkpoint {training_args.resume_from_checkpoint}: no such folder")
        return training_args.resume_from_checkpoint
    output_dir = Path(training_args.output_dir)
    if not training_args.do_train or recipe_args.overwrite_output_dir or not output_dir.is_dir():
        return None
    for partial in sorted(output_dir.glob(f"{STAGING_PREFIX}{PREFIX_CHECKPOINT_DIR}-*")):
        # A checkpoint whose writing was interrupted: never complete, never resumed from.
        if training_args.should_save:
            shutil.rmtree(partial, ignore_errors=True)
        LOGGER.info(f"note: removed {partial.name}, a checkpoint whose writing was interrupted")
    last = get_last_checkpoint(os.fspath(output_dir))
    if last is not None:
        LOGGER.info(f"resuming from {last} (pass --overwrite_output_dir to start over)")
        return last
    if (output_dir / "model.safetensors").exists() or (output_dir / "pytorch_model.bin").exists():
        raise ConfigurationError(
            f"{output_dir} already holds a trained model and no checkpoint to resume: pass --overwrite_output_dir "
            "to replace it, or choose another --output_dir"
        )
    return None


def check_streaming(training_args: TrainingArguments, recipe_args: RecipeArguments) -> None:
    """What a stream needs, said before anything is loaded."""
    if training_args.do_train and training_args.max_steps <= 0:
        raise ConfigurationError(
            "--streaming needs --max_steps: a stream has no length, so --num_train_epochs cannot set the schedule "
            "(e.g. --max_steps 20000; the stream is read again from the start when it runs out)"
        )
    if training_args.world_size > 1:
        raise ConfigurationError(
            f"--streaming trains in one process, and this run has {training_args.world_size}: the batches of a stream "
            "are padded to different lengths, which the processes cannot share; run one process, or prepare the data "
            "without --streaming for torchrun / accelerate launch"
        )
    if recipe_args.bucket_buffer_size < 1:
        raise ConfigurationError(f"--bucket_buffer_size must be positive, got {recipe_args.bucket_buffer_size}")


def _duration_batches(durations: Sequence[float], training_args: TrainingArguments,
                      recipe_args: RecipeArguments) -> DurationBatchSampler:
    """The --max_batch_duration_s sampler, said in the log with its epoch length, and a warning naming the clips
    to leave out when a few long ones inflate that length (training/long_clips.py)."""
    batches = make_duration_batches(durations, training_args, recipe_args)
    LOGGER.info(f"duration batches: {len(batches)} batches of at most {recipe_args.max_batch_duration_s} s of padded audio")
    advice = long_clip_advice(batches)
    if advice is not None:
        LOGGER.warning(advice.message())
    return batches


def _stream_batches(train_dataset, training_args: TrainingArguments,
                    recipe_args: RecipeArguments) -> StreamBuckets | None:
    """Duration batches (or --group_by_length) for a stream, from a buffer; None: the Trainer's fixed batches."""
    buffer = recipe_args.bucket_buffer_size
    if recipe_args.max_batch_duration_s:
        LOGGER.info(f"streaming: duration batches of at most {recipe_args.max_batch_duration_s} s of padded audio, bucketed "
            f"within each {buffer} examples read (--bucket_buffer_size)")
        return StreamBuckets(train_dataset, max_batch_duration_s=recipe_args.max_batch_duration_s, buffer_size=buffer,
                             seed=training_args.seed)
    if training_args.train_sampling_strategy == "group_by_length":
        LOGGER.info(f"streaming: --group_by_length groups batches of {training_args.per_device_train_batch_size} by length "
            f"within each {buffer} examples read (--bucket_buffer_size)")
        return StreamBuckets(train_dataset, batch_size=training_args.per_device_train_batch_size, buffer_size=buffer,
                             seed=training_args.seed)
    return None


def _say_stream_counts(prepared, output_dir: Path, which: str, done: str) -> None:
    """What a stream's pass trained or evaluated on, and the skips it met (counted from skipped.tsv)."""
    counts = read_counts(output_dir / SKIPPED_FILE).counts(which)
    reasons = "".join(f", {count} {reason}" for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    line = (f"{which} stream: {done}; skipped {sum(counts.values())} examples met while streaming{reasons} "
            f"(listed in {output_dir / SKIPPED_FILE})")
    prepared.lines.append(line)
    LOGGER.info(line)


def _feature_cache(feature_extractor, recipe_args: RecipeArguments) -> FeatureCache | None:
    on_the_fly = recipe_args.augment and not recipe_args.augment_copies
    if on_the_fly or recipe_args.feature_cache_mb <= 0 or not FeatureCache.worth_it(feature_extractor):
        return None
    return FeatureCache(feature_extractor, recipe_args.feature_cache_mb * 2**20)


def _for_trainer(dataset, training_args: TrainingArguments, sampling_rate: int):
    """Add the reference's length column (samples) and hand out numpy arrays instead of Python lists.

    A stream is handed over as it is: no sampler reads a length column from it (StreamBuckets sorts by duration),
    and the collator turns its lists into arrays."""
    if isinstance(dataset, datasets.IterableDataset):
        return dataset
    if training_args.length_column_name not in dataset.column_names:
        durations = dataset.select_columns([DURATION_COLUMN])[:][DURATION_COLUMN]
        dataset = dataset.add_column(training_args.length_column_name, [int(round(d * sampling_rate)) for d in durations])
    return dataset.with_format("numpy")


def _record_training_text(plan: TrainingPlan, prepared) -> None:
    """training_text.json.gz: the training transcripts' words, sentence fingerprints and languages, what
    check-submission needs (a stream is read once, as it trains: nothing is recorded then)."""
    _model_args, data_args, training_args, recipe_args = plan.arguments
    if prepared.transcripts is None:
        why = "no training" if prepared.train is None else "a stream is read once"
        LOGGER.info(f"{TRAINING_TEXT_FILE} not written: {why}")
        return
    record_text(training_args.output_dir, TRAINING_SET, prepared.transcripts,
                training_languages(recipe_args.language, data_args.dataset_config_name))


def _write_repository(plan: TrainingPlan, metrics: dict[str, float], lines: Sequence[str]) -> None:
    model_args, data_args, training_args, recipe_args = plan.arguments
    output_dir = Path(training_args.output_dir)
    run_script = write_run_script(output_dir, plan.run_command)
    # A plan rerun by another program (the demo's verb) has no training script to copy; eval.py is copied anyway.
    scripts = [path.name for path in copy_scripts(output_dir, plan.script if not plan.rerun else "")]
    write_space_app(output_dir)  # the web demo beside eval.py (robust-speech serve, a Hugging Face Space)
    hyperparameters = {
        "learning_rate": training_args.learning_rate,
        # With duration batches the batch size varies by bucket: the budget in seconds is reported instead.
        "train_batch_size": None if recipe_args.max_batch_duration_s else training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "num_train_epochs": training_args.num_train_epochs,
        "max_steps": training_args.max_steps,
        "warmup_steps": training_args.warmup_steps,
        "optimizer": getattr(training_args.optim, "value", training_args.optim),
        "seed": training_args.seed,
        "world_size": training_args.world_size,
        "mixed_precision": "fp16" if training_args.fp16 else ("bf16" if training_args.bf16 else "fp32"),
        "max_batch_duration_s": recipe_args.max_batch_duration_s,
        "augment": recipe_args.augment,
        "augment_copies": recipe_args.augment_copies or None,
        "adapter_attn_dim": model_args.adapter_attn_dim,
        "target_lang": model_args.target_lang,
        "lora_rank": model_args.lora_rank,
        "lora_alpha": model_args.lora_alpha if model_args.lora_rank is not None else None,
    }
    command = run_script.read_text(encoding="utf-8").splitlines()[-1]
    write_model_card(
        output_dir,
        model_name=training_args.hub_model_id or Path(output_dir).resolve().name,
        base_model=model_args.model_name_or_path if not model_args.config_name else None,
        dataset_name=data_args.eval_dataset_name or data_args.dataset_name,
        dataset_config_name=data_args.eval_dataset_config_name or data_args.dataset_config_name,
        eval_split_name=data_args.eval_split_name,
        language=language_code(recipe_args.language, data_args.dataset_config_name),
        metrics=metrics,
        hyperparameters={name: value for name, value in hyperparameters.items() if value is not None},
        command=command,
        notes=[line for line in lines if "skipped" in line or "overlap" in line],
        scripts=scripts,
    )


def _push(output_dir: Path, training_args: TrainingArguments, token: str | bool | None) -> None:
    """Upload the folder (without intermediate checkpoints) with huggingface_hub."""
    from huggingface_hub import create_branch, create_repo, upload_folder

    repo_id = training_args.hub_model_id or output_dir.resolve().name
    repo = create_repo(repo_id, token=token, private=bool(training_args.hub_private_repo), exist_ok=True)
    revision = training_args.hub_revision  # --hub_revision: a branch, created from main when it does not exist yet
    if revision:
        create_branch(repo.repo_id, branch=revision, token=token, exist_ok=True)
    upload_folder(repo_id=repo.repo_id, folder_path=output_dir, token=token, revision=revision,
                  ignore_patterns=["checkpoint-*", "checkpoint-*/**", f"{STAGING_PREFIX}*"],
                  commit_message="robust-speech: training finished")
    where = f" (branch {revision})" if revision else ""
    LOGGER.info(f"pushed {output_dir} to https://huggingface.co/{repo.repo_id}{where}")
