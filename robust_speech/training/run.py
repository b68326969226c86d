"""The fine-tuning run behind `run_speech_recognition_ctc.py` (and its 8-bit Adam twin), on HF's Trainer.

Flow, top to bottom in `main`: parse the reference recipe's flags (old spellings translated) -> find a
checkpoint to resume -> prepare the data (data/prepare.py: guards, decoding cache, skipped.tsv, overlap check) ->
processor + model (modeling.py) -> Trainer with the CTC collator, optional duration batches and augmentation
-> train, evaluate (WER/CER with jiwer) -> save a folder that plain transformers loads, with its model card,
`run.sh` and scripts -> optionally push it to the Hub.

Runs unchanged under `torchrun` / `accelerate launch`: the Trainer handles DDP (gloo on CPU, NCCL on GPU), and
data is prepared by the main process first so the others read its cache.

`--streaming` trains on an `IterableDataset` (data/prepare.py streams, decodes and filters it lazily): the
schedule comes from `--max_steps`, duration batches from a buffer (batching.StreamBuckets), and the examples
trained on and the skips met are counted at the end (from `skipped.tsv`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

import datasets
import numpy as np
import torch
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import (
    PREFIX_CHECKPOINT_DIR,
    get_last_checkpoint,
    rotate_checkpoints,
)

from robust_speech.audio.augment import Augmenter
from robust_speech.core.errors import ConfigurationError, RobustSpeechError, output_error, output_errors
from robust_speech.core.model_folder import VOCAB_FILE
from robust_speech.data.arguments import DataTrainingArguments
from robust_speech.data.prepare import prepare_datasets
from robust_speech.data.preprocess import DURATION_COLUMN
from robust_speech.data.skips import SKIPPED_FILE, read_counts
from robust_speech.model.arguments import ModelArguments
from robust_speech.model.building import (
    CONFIG_FLAGS,
    build_model,
    build_processor,
    build_tokenizer,
    load_config,
    load_feature_extractor,
    tokenizer_vocabulary,
)
from robust_speech.reports.metrics import error_rates
from robust_speech.text.normalizer import save_normalizer
from robust_speech.training.arguments import RecipeArguments
from robust_speech.training.batching import CTCCollator, DurationBatchSampler, StreamBuckets
from robust_speech.training.distributed import check_processes_agree, cpu_data_parallel_flags, leave_process_group
from robust_speech.training.feature_cache import FeatureCache
from robust_speech.training.flag_checks import given_flags, refuse_flags_the_model_lacks, refuse_ignored_flags
from robust_speech.training.legacy_flags import translate_legacy_flags
from robust_speech.training.model_card import copy_scripts, language_code, write_model_card, write_run_script
from robust_speech.training.multi_condition import augment_options, render_copies

BNB_OPTIMIZER = "adamw_bnb_8bit"
# Checkpoints are written under this prefix, then renamed to `checkpoint-N` (see CTCTrainer._save_checkpoint).
STAGING_PREFIX = "tmp-"


class CTCTrainer(Trainer):
    """HF Trainer plus duration-bucketed batches and a length-grouped sampler fed plain lists."""

    def __init__(self, *args, duration_batches: DurationBatchSampler | None = None,
                 stream_batches: StreamBuckets | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.duration_batches = duration_batches
        self.stream_batches = stream_batches
        self._staging_root: str | None = None
        # Examples in the batches this process trained and evaluated on (a stream has no len() to report).
        self.examples_trained = 0
        self.examples_evaluated = 0

    def training_step(self, model, inputs, *args, **kwargs):
        self.examples_trained += len(inputs["labels"])
        return super().training_step(model, inputs, *args, **kwargs)

    def prediction_step(self, model, inputs, *args, **kwargs):
        self.examples_evaluated += len(inputs["labels"])
        return super().prediction_step(model, inputs, *args, **kwargs)

    def evaluate(self, *args, **kwargs):
        self.examples_evaluated = 0
        return super().evaluate(*args, **kwargs)

    def _get_output_dir(self, trial) -> str:
        return self._staging_root or super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        """Write `checkpoint-N` atomically: into `tmp-checkpoint-N/checkpoint-N`, then renamed into place.

        transformers 5 writes straight into `checkpoint-N` (weights, then optimizer, scheduler, RNG, and
        trainer_state.json last), and `get_last_checkpoint` resumes from the highest `checkpoint-N` folder
        whatever it holds: a run killed mid-save (or a full disk) left a checkpoint that resumed from the
        weights with a missing or stale optimizer/state. Here a `checkpoint-N` folder exists only once
        complete; a crash leaves `tmp-checkpoint-N`, which resume ignores (and `resume_checkpoint` removes).
        """
        run_dir = super()._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging, final = os.path.join(run_dir, STAGING_PREFIX + name), os.path.join(run_dir, name)
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)  # what a crash at this very step left behind
        self.accelerator.wait_for_everyone()  # every rank writes its RNG state into the staging folder
        # Made by every rank: transformers creates it only where it saves the weights (rank 0), and another rank
        # may reach its RNG state first ("Parent directory ... does not exist", seen in a two-process CPU run).
        os.makedirs(os.path.join(staging, name), exist_ok=True)
        self._staging_root = staging
        try:
            super()._save_checkpoint(model, trial)  # writes staging/checkpoint-N; rotation there is a no-op
        except Exception as error:  # noqa: BLE001 - only write failures are turned into one line
            mapped = output_error(error, final)
            if mapped is None:
                raise
            raise mapped from None
        finally:
            self._staging_root = None
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            written = os.path.join(staging, name)
            if self.state.best_model_checkpoint and self.state.best_model_checkpoint.startswith(staging):
                self.state.best_model_checkpoint = final  # the Trainer recorded the staging path
                self.state.save_to_json(os.path.join(written, "trainer_state.json"))
            if os.path.isdir(final):  # re-saving a step (resumed from an earlier checkpoint): swap it out
                os.replace(final, staging + ".old")
                shutil.rmtree(staging + ".old")
            os.replace(written, final)
            os.rmdir(staging)
            rotate_checkpoints(run_dir, self.args.save_total_limit, self.state.best_model_checkpoint, use_mtime=True)
        self.accelerator.wait_for_everyone()

    def get_train_dataloader(self):
        if self.stream_batches is not None:
            # The stream yields whole batches (lists of rows): batch_size=None hands each to the collator as is.
            loader = torch.utils.data.DataLoader(
                self.stream_batches,
                batch_size=None,
                collate_fn=self.data_collator,
                num_workers=self.args.dataloader_num_workers,
                pin_memory=self.args.dataloader_pin_memory,
            )
            return self.accelerator.prepare(loader)
        if self.duration_batches is None:
            return super().get_train_dataloader()
        loader = torch.utils.data.DataLoader(self.train_dataset, **duration_loader_options(self.args, self.duration_batches,
                                                                                         self.data_collator))
        # accelerate shards the batches across processes (each rank gets every n-th batch).
        return self.accelerator.prepare(loader)

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy == "group_by_length" and self.args.length_column_name in dataset.column_names:
            # datasets 5 returns a lazy Column; the sampler indexes it per example, so hand it a list.
            lengths = list(dataset.select_columns([self.args.length_column_name])[:][self.args.length_column_name])
            return LengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, dataset=dataset, lengths=lengths
            )
        return super()._get_train_sampler(train_dataset)


def make_duration_batches(durations: Sequence[float], training_args: TrainingArguments,
                          recipe_args: RecipeArguments) -> DurationBatchSampler:
    """--max_batch_duration_s batches, shuffled from --data_seed (else --seed) as the Trainer's sampler is, and
    without each bucket's last short batch under --dataloader_drop_last."""
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    return DurationBatchSampler(durations, recipe_args.max_batch_duration_s, seed=seed,
                                drop_last=training_args.dataloader_drop_last)


def duration_loader_options(args: TrainingArguments, batches: DurationBatchSampler, collator) -> dict:
    """The DataLoader the Trainer would build, with the duration batches as its batch sampler: every dataloader
    flag of TrainingArguments applies (the batch size and drop_last live in the sampler)."""
    options = {
        "batch_sampler": batches,
        "collate_fn": collator,
        "num_workers": args.dataloader_num_workers,
        "pin_memory": args.dataloader_pin_memory,
        "persistent_workers": args.dataloader_persistent_workers,
        "multiprocessing_context": args.dataloader_multiprocessing_context,
        "prefetch_factor": args.dataloader_prefetch_factor,
        "in_order": args.dataloader_in_order,
    }
    if args.dataloader_num_workers:
        from functools import partial

        from transformers.trainer_utils import seed_worker

        options["worker_init_fn"] = partial(seed_worker, num_workers=args.dataloader_num_workers, rank=args.process_index)
    return options


def parse_arguments(argv: Sequence[str], say=print):
    argv = cpu_data_parallel_flags(adapt_precision_flags(translate_legacy_flags(argv, say), say), say)
    if "--report_to" not in " ".join(argv):
        argv = [*argv, "--report_to", "tensorboard"]  # transformers 5 logs nowhere by default
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments, RecipeArguments))
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(args=argv)


def adapt_precision_flags(argv: Sequence[str], say=print) -> list[str]:
    """`--fp16` needs CUDA: on a machine without it, say so and train in fp32 instead of crashing."""
    if torch.cuda.is_available():
        return list(argv)
    out, index = [], 0
    while index < len(argv):
        flag, equals, value = argv[index].partition("=")
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if flag == "--fp16":
            explicit = value if equals else (following if following.lower() in ("true", "false") else "")
            index += 1 if equals or not explicit else 2
            if (explicit or "true").lower() == "true":
                say("note: --fp16 needs a CUDA GPU and none is visible: training in fp32")
            continue
        if flag == "--bf16" and "--use_cpu" not in argv:
            say("note: --bf16 without a GPU: using the CPU's bf16 autocast (--use_cpu)")
            out.append("--use_cpu")
        out.append(argv[index])
        index += 1
    return out


def resume_checkpoint(training_args: TrainingArguments, recipe_args: RecipeArguments, say=print) -> str | None:
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
        say(f"note: removed {partial.name}, a checkpoint whose writing was interrupted")
    last = get_last_checkpoint(os.fspath(output_dir))
    if last is not None:
        say(f"resuming from {last} (pass --overwrite_output_dir to start over)")
        return last
    if (output_dir / "model.safetensors").exists() or (output_dir / "pytorch_model.bin").exists():
        raise ConfigurationError(
            f"{output_dir} already holds a trained model and no checkpoint to resume: pass --overwrite_output_dir "
            "to replace it, or choose another --output_dir"
        )
    return None


def make_compute_metrics(processor, names: Sequence[str]):
    pad_id = processor.tokenizer.pad_token_id

    def compute_metrics(prediction) -> dict[str, float]:
        predicted = np.where(prediction.predictions == -100, pad_id, prediction.predictions)
        labels = np.where(prediction.label_ids == -100, pad_id, prediction.label_ids)
        hypotheses = processor.batch_decode(predicted)
        # Labels are not CTC output: repeated characters ("ll") are real, so do not collapse them.
        references = processor.batch_decode(labels, group_tokens=False)
        return error_rates(references, hypotheses, names)

    return compute_metrics


def argmax_logits(logits, labels):
    """Keep only the best class per frame during evaluation: the full logits would fill memory."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def main(argv: Sequence[str] | None = None, *, script: str | None = None, default_optim: str | None = None,
         callbacks: Sequence = ()) -> int:
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    script = script or sys.argv[0]
    argv_for_parse = raw_argv
    if default_optim and not any(arg.split("=")[0] == "--optim" for arg in raw_argv):
        argv_for_parse = [*raw_argv, "--optim", default_optim]
    try:
        return _run(raw_argv, argv_for_parse, script, callbacks)
    except RobustSpeechError as error:
        print(f"{os.path.basename(script)}: error: {error}", file=sys.stderr)
        return error.exit_code
    finally:
        leave_process_group()


def _run(raw_argv, argv, script, callbacks) -> int:
    model_args, data_args, training_args, recipe_args = parse_arguments(argv)
    given = given_flags(translate_legacy_flags(argv, say=lambda line: None))
    refuse_ignored_flags(given, model_args, data_args, training_args, recipe_args)
    with output_errors(training_args.output_dir):  # a full disk or an unwritable folder: one line, exit 2
        return _train(raw_argv, script, callbacks, model_args, data_args, training_args, recipe_args, given)


def _train(raw_argv, script, callbacks, model_args, data_args, training_args, recipe_args, given=frozenset()) -> int:
    say = print if training_args.process_index == 0 else (lambda line: None)
    output_dir = Path(training_args.output_dir)
    checkpoint = resume_checkpoint(training_args, recipe_args, say)
    set_seed(training_args.seed)

    if data_args.streaming:
        check_streaming(training_args, recipe_args)
    config = load_config(model_args, data_args)
    refuse_flags_the_model_lacks(given, config, CONFIG_FLAGS, model_args)
    feature_extractor = load_feature_extractor(model_args, data_args, config)
    with training_args.main_process_first(desc="preparing the data"):
        prepared = prepare_datasets(
            data_args, output_dir, do_train=training_args.do_train, do_eval=training_args.do_eval,
            vocabulary=tokenizer_vocabulary(model_args, data_args), sampling_rate=feature_extractor.sampling_rate,
            seed=training_args.seed, log=say,
        )
    if data_args.preprocessing_only:
        say("preprocessing done: the decoded data is cached; run again without --preprocessing_only to train")
        return 0

    tokens = prepared.vocabulary.tokens if prepared.vocabulary is not None else None
    if tokens is None and (output_dir / VOCAB_FILE).is_file():
        tokens = json.loads((output_dir / VOCAB_FILE).read_text(encoding="utf-8"))  # evaluation of a trained folder
    tokenizer = build_tokenizer(model_args, data_args, output_dir, tokens)
    processor = build_processor(feature_extractor, tokenizer)
    model = build_model(model_args, data_args, config, tokenizer)
    if training_args.should_save:
        processor.save_pretrained(output_dir)
        config.save_pretrained(output_dir)
        save_normalizer(output_dir, prepared.normalizer)  # build_ngram.py and eval normalize the same way

    rate = feature_extractor.sampling_rate
    train_dataset = _for_trainer(prepared.train.dataset, training_args, rate) if prepared.train else None
    eval_dataset = _for_trainer(prepared.eval.dataset, training_args, rate) if prepared.eval else None
    # Rendered copies are one dataset shared by every process (the same seed everywhere); on the fly, each
    # process degrades its own batches differently.
    seed = training_args.seed + (0 if recipe_args.augment_copies else training_args.process_index)
    options = augment_options(recipe_args, seed, rate)
    augmenter = Augmenter(options) if options is not None else None
    if augmenter is not None and "rir" in augmenter.kinds:
        with training_args.main_process_first(desc="simulating rooms"):
            augmenter.rooms()  # once, before dataloader workers fork with it
    if augmenter is not None and recipe_args.augment_copies and train_dataset is not None:
        with training_args.main_process_first(desc="rendering degraded copies"):
            rendered = render_copies(prepared.train.dataset, augmenter, recipe_args.augment_copies,
                                     num_workers=data_args.preprocessing_num_workers,
                                     log=lambda line: (say(line), prepared.lines.append(line)))
            train_dataset = _for_trainer(rendered, training_args, rate)
        augmenter = None  # the copies are degraded already: the collator only pads, with the feature cache
    duration_batches = stream_batches = None
    if isinstance(train_dataset, datasets.IterableDataset):
        stream_batches = _stream_batches(train_dataset, training_args, recipe_args, say)
    elif recipe_args.max_batch_duration_s and train_dataset is not None:
        durations = list(train_dataset.select_columns([DURATION_COLUMN])[:][DURATION_COLUMN])
        duration_batches = make_duration_batches(durations, training_args, recipe_args)
        say(f"duration batches: {len(duration_batches)} batches of at most {recipe_args.max_batch_duration_s} s of padded audio")

    feature_cache = _feature_cache(feature_extractor, recipe_args)
    workers = data_args.preprocessing_num_workers or 1
    if feature_cache is not None and workers > 1 and isinstance(train_dataset, datasets.Dataset) and training_args.do_train:
        started = time.perf_counter()
        kept = feature_cache.warm((row["audio"]["array"] for row in train_dataset.select_columns(["audio"])), workers)
        prepared.lines.append(f"feature cache: input features of {kept} of {len(train_dataset)} training examples computed "
                              f"before training in {workers} processes ({time.perf_counter() - started:.1f} s, "
                              f"{feature_cache.bytes / 2**20:.0f} MB)")
        say(prepared.lines[-1])

    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = False  # pushed once at the end, with our model card (the Trainer would write its own)
    # The Trainer pickles its arguments into every training_args.bin: keep the token out of them (tokens are
    # never written). Only _push needs it.
    hub_token, training_args.hub_token = training_args.hub_token, None
    training_args.remove_unused_columns = False  # the collator needs the audio and sentence columns
    metric_names = tuple(data_args.eval_metrics)
    trainer = CTCTrainer(
        model=model,
        args=training_args,
        data_collator=CTCCollator(processor, augmenter, feature_cache),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        compute_metrics=make_compute_metrics(processor, metric_names),
        preprocess_logits_for_metrics=argmax_logits,
        callbacks=list(callbacks) or None,
        duration_batches=duration_batches,
        stream_batches=stream_batches,
    )
    for callback in callbacks:  # a callback that shows progress its own way replaces the trainer's printer/bar
        for replaced in getattr(type(callback), "replaces", ()):
            trainer.remove_callback(replaced)

    eval_metrics: dict[str, float] = {}
    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=checkpoint)
        check_processes_agree(trainer)
        trainer.save_model()
        streamed = isinstance(train_dataset, datasets.IterableDataset)
        metrics = {**result.metrics, "train_samples": trainer.examples_trained if streamed else len(train_dataset)}
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        if augmenter is not None and training_args.dataloader_num_workers == 0:  # workers' counts stay in them
            prepared.lines.append(augmenter.summary())
            say(prepared.lines[-1])
        trainer.save_state()
        if streamed:
            _say_stream_counts(prepared, output_dir, "train", f"trained on {trainer.examples_trained} examples "
                               f"in {trainer.state.global_step} steps (epoch {trainer.state.epoch:.2f} of the stream)",
                               say)
    if training_args.do_eval and eval_dataset is not None:
        metrics = trainer.evaluate()
        streamed = isinstance(eval_dataset, datasets.IterableDataset)
        metrics["eval_samples"] = trainer.examples_evaluated if streamed else len(eval_dataset)
        if streamed:
            _say_stream_counts(prepared, output_dir, "eval", f"evaluated on {trainer.examples_evaluated} examples", say)
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        eval_metrics = {name: metrics[f"eval_{name}"] for name in metric_names if f"eval_{name}" in metrics}

    if training_args.should_save:
        processor.save_pretrained(output_dir)
        _write_repository(output_dir, script, raw_argv, model_args, data_args, training_args, recipe_args,
                          eval_metrics, prepared.lines)
        if push_to_hub:
            _push(output_dir, training_args, hub_token or data_args.hub_token)
    return 0


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


def _stream_batches(train_dataset, training_args: TrainingArguments, recipe_args: RecipeArguments,
                    say) -> StreamBuckets | None:
    """Duration batches (or --group_by_length) for a stream, from a buffer; None: the Trainer's fixed batches."""
    buffer = recipe_args.bucket_buffer_size
    if recipe_args.max_batch_duration_s:
        say(f"streaming: duration batches of at most {recipe_args.max_batch_duration_s} s of padded audio, bucketed "
            f"within each {buffer} examples read (--bucket_buffer_size)")
        return StreamBuckets(train_dataset, max_batch_duration_s=recipe_args.max_batch_duration_s, buffer_size=buffer,
                             seed=training_args.seed)
    if training_args.train_sampling_strategy == "group_by_length":
        say(f"streaming: --group_by_length groups batches of {training_args.per_device_train_batch_size} by length "
            f"within each {buffer} examples read (--bucket_buffer_size)")
        return StreamBuckets(train_dataset, batch_size=training_args.per_device_train_batch_size, buffer_size=buffer,
                             seed=training_args.seed)
    return None


def _say_stream_counts(prepared, output_dir: Path, which: str, done: str, say) -> None:
    """What a stream's pass trained or evaluated on, and the skips it met (counted from skipped.tsv)."""
    counts = read_counts(output_dir / SKIPPED_FILE).counts(which)
    reasons = "".join(f", {count} {reason}" for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    line = (f"{which} stream: {done}; skipped {sum(counts.values())} examples met while streaming{reasons} "
            f"(listed in {output_dir / SKIPPED_FILE})")
    prepared.lines.append(line)
    say(line)


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


def _write_repository(output_dir, script, raw_argv, model_args, data_args, training_args, recipe_args, metrics, lines):
    run_script = write_run_script(output_dir, script, raw_argv)
    scripts = [path.name for path in copy_scripts(output_dir, script)]
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
    print(f"pushed {output_dir} to https://huggingface.co/{repo.repo_id}{where}")
