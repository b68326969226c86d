"""Training health: what a run shows at each evaluation, and the run stopped early, in one line, when it fails.

"WER stuck at 1.0", empty predictions and NaN losses are the most common complaint about CTC fine-tuning, found
out hours later. `TrainingHealth` (a transformers `TrainerCallback`) logs a few reference/prediction pairs at
each evaluation (and writes them to TensorBoard when the run reports there), and with `--stop_when_failing`
stops the run with a `TrainingFailedError` when

- the training loss is NaN or infinite at three optimizer steps in a row (checked after every step, every
  process agreeing; one such step, an fp16 overflow that the loss scaler skips, is not a failure);
- the logged training loss stays above `--loss_divergence_factor` times the untrained model's (the first step's
  of a run that did not resume) for two logs in a row;
- the logged training loss is exactly zero: every batch's CTC loss was infinite (no alignment fits) and
  `ctc_zero_infinity` zeroed it, so nothing is learned;
- every prediction is still empty after the warm-up and `--failing_evaluations` evaluations in a row.

The error's one line names the likely causes with what could be measured: the learning rate, the fraction of
the transcripts' characters the vocabulary lacks ([UNK] labels), the fraction of training clips with fewer
output frames than label characters (too short for their text), and fp16.
"""

from __future__ import annotations

import math

import torch
from transformers import TrainerCallback

from robust_speech.core.errors import RobustSpeechError
from robust_speech.core.logs import LOGGER
from robust_speech.training.arguments import RecipeArguments

# A learning rate above this is named as a cause whatever the symptom: CTC fine-tuning of a pretrained model uses
# about 1e-5 to 1e-4 and training from scratch a few 1e-3 (the demo's recipe: demo/recipe.py).
HIGH_LEARNING_RATE = 1e-2
# A share of [UNK] label characters, or of training clips too short for their text, from which that is named as a
# likely cause (a few rare characters or clips do not stop a model from learning).
LIKELY_SHARE = 0.05
# Optimizer steps in a row with a NaN or infinite loss before the run stops: under fp16 a single overflowing
# step is skipped by the loss scaler and training goes on; weights gone NaN stay NaN at every step.
NONFINITE_STEPS = 3
# Logged losses in a row above --loss_divergence_factor times the first step's before the run stops: one batch
# (with --logging_steps 1) can be that much harder than the first.
RISING_LOGS = 2
# Shown in a sample line at most; longer texts are cut with an ellipsis.
SAMPLE_CHARS = 160


class TrainingFailedError(RobustSpeechError):
    """The run was stopped because it is failing (NaN loss, divergence, nothing learned): the line says why."""


class _Counts:
    """Sums kept on the loss's device, added to without a host sync: one sync per check, all processes summed."""

    NAMES = ("steps", "nonfinite", "zero", "label_chars", "unknown_chars", "examples", "too_short")

    def __init__(self):
        self.values: torch.Tensor | None = None

    def add(self, device, **amounts) -> None:
        if self.values is None:
            self.values = torch.zeros(len(self.NAMES), dtype=torch.float64, device=device)
        for name, amount in amounts.items():
            self.values[self.NAMES.index(name)] += amount

    def totals(self) -> dict[str, float]:
        if self.values is None:
            return dict.fromkeys(self.NAMES, 0.0)
        values = self.values.clone()
        if _distributed():
            torch.distributed.all_reduce(values)
        return dict(zip(self.NAMES, values.tolist()))


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


class TrainingHealth(TrainerCallback):
    """Sample predictions at each evaluation; the run stopped with one line when it is failing."""

    def __init__(self, options: RecipeArguments, unk_token_id: int | None = None):
        """`options`: the recipe's --stop_when_failing and its thresholds, --sample_predictions."""
        self.options = options
        self.unk_token_id = unk_token_id
        self.counts = _Counts()
        self.first_loss: torch.Tensor | None = None
        self.baseline: float | None = None  # the first optimizer step's loss, as logged: averaged over the processes
        self.samples: list[tuple[str, str]] = []
        self.every_prediction_empty = False
        self.eval_unknown = (0, 0)  # [UNK] labels and label characters of the last evaluation
        self.empty_evaluations = 0
        self.rising_logs = 0
        self.nonfinite = (0.0, 0)  # non-finite step losses counted so far, and steps in a row that added one
        self.zero_at_last_log = (0.0, 0.0)  # steps and steps with a zero loss, counted at the last log
        self.training = False
        self.callbacks: list = []  # the Trainer's callbacks: TensorBoard's writer is taken from there

    # What the Trainer hands over (training/trainer.py): a step's loss and batch, an evaluation's texts.
    def observe_step(self, loss: torch.Tensor, inputs: dict, model=None) -> None:
        loss = loss.detach()
        if self.baseline is None:  # the first optimizer step's micro-batches (the Trainer divides each by their count)
            self.first_loss = loss.float() if self.first_loss is None else self.first_loss + loss.float()
        labels = inputs.get("labels")
        amounts = {"steps": 1, "nonfinite": (~torch.isfinite(loss)).sum(), "zero": (loss == 0).sum()}
        if labels is not None:
            label_lengths = (labels >= 0).sum(-1)
            amounts["label_chars"] = label_lengths.sum()
            amounts["examples"] = labels.shape[0]
            if self.unk_token_id is not None:
                amounts["unknown_chars"] = (labels == self.unk_token_id).sum()
            frames = output_frames(model, inputs)
            if frames is not None:
                amounts["too_short"] = (frames.to(label_lengths.device) < label_lengths).sum()
        self.counts.add(loss.device, **amounts)

    def observe_evaluation(self, references, hypotheses, label_ids=None) -> None:
        self.samples = list(zip(references, hypotheses))
        self.every_prediction_empty = bool(hypotheses) and not any(text.strip() for text in hypotheses)
        if label_ids is not None and self.unk_token_id is not None:
            self.eval_unknown = (int((label_ids == self.unk_token_id).sum()), int((label_ids >= 0).sum()))

    # The callback.
    def on_train_begin(self, args, state, control, **kwargs):
        self.training = True
        if state.global_step > 0:  # resumed: the first step is a trained model's, no measure of divergence
            self.baseline = 0.0

    def on_train_end(self, args, state, control, **kwargs):
        self.training = False

    def on_step_end(self, args, state, control, **kwargs):
        if not self.options.stop_when_failing or self.counts.values is None:
            return
        totals = self.counts.totals()
        seen, in_a_row = self.nonfinite
        self.nonfinite = (totals["nonfinite"], in_a_row + 1 if totals["nonfinite"] > seen else 0)
        if self.nonfinite[1] >= NONFINITE_STEPS:
            self._stop(args, state, f"the training loss is NaN or infinite, {NONFINITE_STEPS} steps in a row", totals, nan=True)
        if self.baseline is None and self.first_loss is not None:
            first = self.first_loss.to(torch.float64).reshape(1)
            if _distributed():
                torch.distributed.all_reduce(first)
                first /= torch.distributed.get_world_size()
            self.baseline = float(first.item())

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if not self.options.stop_when_failing or not self.training or loss is None or not math.isfinite(loss):
            return
        factor = self.options.loss_divergence_factor
        self.rising_logs = self.rising_logs + 1 if factor > 0 and self.baseline and loss > factor * self.baseline else 0
        if self.rising_logs >= RISING_LOGS:
            self._stop(args, state, f"the training loss rose to {loss:.3g}, {loss / self.baseline:.1f} times the untrained "
                       f"model's {self.baseline:.3g}, {RISING_LOGS} logs in a row (--loss_divergence_factor {factor:g})",
                       self.counts.totals(),
                       nan=True)
        # transformers logs a NaN step's loss as the average before it (--logging_nan_inf_filter), 0 after a log: the
        # steps themselves say whether every loss since the last log was 0.
        totals = self.counts.totals()
        steps, zero = totals["steps"] - self.zero_at_last_log[0], totals["zero"] - self.zero_at_last_log[1]
        self.zero_at_last_log = (totals["steps"], totals["zero"])
        if loss == 0 and steps and zero == steps:
            self._stop(args, state, "the training loss is 0: every batch's CTC loss was infinite (no alignment fits) and "
                       "zeroed by --ctc_zero_infinity, so nothing is learned", totals)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self._show_samples(args, state)
        if not self.training or not self.options.stop_when_failing:
            return
        past_warmup = state.global_step > args.get_warmup_steps(state.max_steps)
        self.empty_evaluations = self.empty_evaluations + 1 if self.every_prediction_empty and past_warmup else 0
        if self.empty_evaluations >= self.options.failing_evaluations:
            self._stop(args, state, f"every prediction is still empty after the warm-up and {self.empty_evaluations} "
                       "evaluations (--failing_evaluations)", self.counts.totals(), empty=True)

    def _show_samples(self, args, state) -> None:
        shown = self.samples[: self.options.sample_predictions]
        if not shown:
            return
        LOGGER.info(f"evaluation at step {state.global_step}: {len(shown)} of {len(self.samples)} predictions")
        for reference, prediction in shown:
            LOGGER.info(f"  reference:  {_cut(reference)}")
            LOGGER.info(f"  prediction: {_cut(prediction)}")
        writer = self._writer()
        if writer is not None and state.is_world_process_zero:
            rows = "\n".join(f"| {_cell(reference)} | {_cell(prediction)} |" for reference, prediction in shown)
            writer.add_text("eval/predictions", "| reference | prediction |\n|---|---|\n" + rows, state.global_step)

    def _writer(self):
        """TensorBoard's writer, where the run reports there (transformers' TensorBoardCallback opens it)."""
        from transformers.integrations import TensorBoardCallback

        return next((callback.tb_writer for callback in self.callbacks
                     if isinstance(callback, TensorBoardCallback) and callback.tb_writer is not None), None)

    def _stop(self, args, state, symptom: str, totals: dict[str, float], nan: bool = False, empty: bool = False) -> None:
        writer = self._writer()
        if writer is not None:
            writer.flush()  # what the failed run logged stays readable in TensorBoard
        causes, ruled_out = likely_causes(args, totals, self.eval_unknown, nan=nan, empty=empty)
        checked = f" Ruled out: {'; '.join(ruled_out)}." if ruled_out else ""
        raise TrainingFailedError(f"training stopped at step {state.global_step}: {symptom}. Likely causes: "
                                  f"{'; '.join(causes)}.{checked} (--stop_when_failing false trains on regardless)")


def likely_causes(args, totals: dict[str, float], eval_unknown: tuple[int, int], *, nan: bool,
                  empty: bool = False) -> tuple[list, list]:
    """The causes worth checking (those measured to apply first, each with what was measured) and those the
    measurements rule out."""
    measured, possible, ruled_out = [], [], []
    rate = args.learning_rate
    if rate > HIGH_LEARNING_RATE:
        measured.append(f"--learning_rate {rate:g} is too high (fine-tuning uses about 1e-5 to 1e-4, training from "
                        "scratch a few 1e-3)")
    else:
        possible.append(f"a learning rate too {'high' if nan else 'high or too low'} for this model "
                        f"(--learning_rate {rate:g})")
    # Training transcripts with characters outside the vocabulary are skipped when the data is prepared, evaluation
    # transcripts are not: each set's share, the larger one said.
    shares = [(unknown, chars, which) for (unknown, chars), which in
              (((totals["unknown_chars"], totals["label_chars"]), "training"), (eval_unknown, "evaluation")) if chars]
    unknown, chars, which = max(shares, key=lambda share: share[0] / share[1], default=(0, 0, ""))
    missing = f"{unknown:.0f} of the {chars:.0f} {which} transcript characters seen are not in the vocabulary ([UNK])"
    if chars and unknown / chars >= LIKELY_SHARE:
        measured.append(f"a vocabulary that does not match the transcripts ({missing}: check the dataset's language, "
                        "--tokenizer_name_or_path, --chars_to_ignore)")
    elif chars:
        ruled_out.append(f"a vocabulary that does not match the transcripts ({missing})")
    short = (f"{totals['too_short']:.0f} of the {totals['examples']:.0f} training examples seen have fewer output frames "
             "than characters")
    if totals["examples"] and totals["too_short"] / totals["examples"] >= LIKELY_SHARE:
        measured.append(f"clips too short for their text ({short}: check that the transcripts belong to the clips)")
    elif totals["examples"]:
        ruled_out.append(f"clips too short for their text ({short})")
    if args.fp16:
        (measured if nan else possible).append("fp16 overflow (--fp16 is on: try --bf16, or fp32)")
    elif nan:
        ruled_out.append("fp16 overflow (fp16 is off)")
    if empty:
        possible.append("a model still in CTC's blank plateau (from scratch or with a new head it can take thousands of "
                        "steps: raise --failing_evaluations)")
    return measured + possible, ruled_out


def output_frames(model, inputs: dict) -> torch.Tensor | None:
    """Each example's number of output frames (CTC needs at least one per label character), where the model says
    how its encoder shortens its input; None otherwise."""
    lengths_of = getattr(model, "_get_feat_extract_output_lengths", None)
    values = inputs.get("input_values", inputs.get("input_features"))
    if lengths_of is None or values is None:
        return None
    mask = inputs.get("attention_mask")
    lengths = mask.sum(-1) if mask is not None else torch.full(values.shape[:1], values.shape[1], device=values.device)
    try:
        return lengths_of(lengths)
    except (TypeError, AttributeError):
        return None


def _cut(text: str) -> str:
    return repr(text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "…")


def _cell(text: str) -> str:
    return _cut(text).replace("|", "\\|")
