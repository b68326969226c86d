"""The demo's training clock: training stops when the time budget is spent, with a bar against that budget."""

from __future__ import annotations

import sys
import time

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from robust_speech.core.logs import progress_bar
from robust_speech.demo.recipe import COOLDOWN

# Seconds between redraws of the bar on a terminal (in a file, logs.progress_bar writes a line now and then).
TERMINAL_REFRESH_S = 0.5


class TimeBudget(TrainerCallback):
    """Stops training when the wall-clock budget is spent, and shows a progress bar against that budget (the
    trainer's own bar would count towards its step cap, which means nothing here).

    The learning rate follows the time, not the step count (unknown in advance): constant after the warm-up,
    then, over the last `cooldown` fraction of the budget, down linearly to zero, which ends a short run at a
    much lower loss than stopping at the full rate (the warmup-stable-decay schedule)."""

    replaces = (PrinterCallback, ProgressCallback)  # no step-cap bar, no dict printed every logging step

    def __init__(self, seconds: float, cooldown: float = COOLDOWN):
        self.seconds = seconds
        self.cooldown = cooldown
        self.started = None
        self.bar = None
        self.scheduled = False

    def rate_factor(self) -> float:
        """What the schedule's rate is multiplied by now."""
        if self.started is None or self.cooldown <= 0:
            return 1.0
        left = 1.0 - (time.perf_counter() - self.started) / self.seconds
        return min(1.0, max(0.0, left / self.cooldown))

    def on_step_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        if not self.scheduled and lr_scheduler is not None:
            # The trainer's LambdaLR multiplies each group's base rate by its lambda of the step; ours
            # multiplies that by the time factor, so the logged learning rate is the one used.
            scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate may wrap it
            scheduler.lr_lambdas = [lambda step, schedule=schedule: schedule(step) * self.rate_factor()
                                    for schedule in scheduler.lr_lambdas]
            self.scheduled = True

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()
        terminal = {"mininterval": TERMINAL_REFRESH_S} if sys.stdout.isatty() else {}
        self.bar = progress_bar(total=round(self.seconds), desc="training", unit="s", file=sys.stdout, **terminal,
                                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s {postfix}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs and self.bar is not None:
            self.bar.set_postfix_str(f"step {state.global_step}, loss {logs['loss']:.3f}", refresh=False)

    def on_step_end(self, args, state, control, **kwargs):
        elapsed = time.perf_counter() - self.started
        self.bar.update(min(elapsed, self.seconds) - self.bar.n)
        if elapsed > self.seconds:
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
