"""The Trainer the recipe trains with: HF's, plus duration batches, a length-grouped sampler fed plain lists,
atomically written checkpoints, and the WER/CER its evaluation reports."""

from __future__ import annotations

import os
import shutil
from typing import Sequence

import numpy as np
import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from robust_speech.core.errors import output_error
from robust_speech.reports.metrics import error_rates
from robust_speech.training.arguments import RecipeArguments
from robust_speech.training.batching import DurationBatchSampler, StreamBuckets
from robust_speech.training.health import TrainingHealth

# Checkpoints are written under this prefix, then renamed to `checkpoint-N` (see CTCTrainer._save_checkpoint).
STAGING_PREFIX = "tmp-"


class CTCTrainer(Trainer):
    """HF Trainer plus duration-bucketed batches and a length-grouped sampler fed plain lists."""

    def __init__(self, *args, duration_batches: DurationBatchSampler | None = None,
                 stream_batches: StreamBuckets | None = None, health: TrainingHealth | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.health = health  # sees each step's loss and batch, and each evaluation's texts (training/health.py)
        if health is not None:
            self.add_callback(health)
            health.callbacks = self.callback_handler.callbacks
        self.duration_batches = duration_batches
        self.stream_batches = stream_batches
        self._staging_root: str | None = None
        # Examples in the batches this process trained and evaluated on (a stream has no len() to report).
        self.examples_trained = 0
        self.examples_evaluated = 0

    def training_step(self, model, inputs, *args, **kwargs):
        self.examples_trained += len(inputs["labels"])
        loss = super().training_step(model, inputs, *args, **kwargs)
        if self.health is not None:
            self.health.observe_step(loss, inputs, self.model)
        return loss

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


def make_compute_metrics(processor, names: Sequence[str], health: TrainingHealth | None = None):
    pad_id = processor.tokenizer.pad_token_id

    def compute_metrics(prediction) -> dict[str, float]:
        predicted = np.where(prediction.predictions == -100, pad_id, prediction.predictions)
        labels = np.where(prediction.label_ids == -100, pad_id, prediction.label_ids)
        hypotheses = processor.batch_decode(predicted)
        # Labels are not CTC output: repeated characters ("ll") are real, so do not collapse them.
        references = processor.batch_decode(labels, group_tokens=False)
        if health is not None:
            health.observe_evaluation(references, hypotheses, prediction.label_ids)
        return error_rates(references, hypotheses, names)

    return compute_metrics


def argmax_logits(logits, labels):
    """Keep only the best class per frame during evaluation: the full logits would fill memory."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)
