"""How many of a model's parameters train: the figure that tells full fine-tuning, attention adapters and LoRA
apart (logged at the start of every run and kept in its `TrainingResult`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParameterCount:
    trainable: int  # elements of the parameters with requires_grad
    total: int  # elements of every parameter, frozen or not (each shared tensor once)

    @property
    def fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def line(self) -> str:
        return f"trainable parameters: {self.trainable:,} of {self.total:,} ({100 * self.fraction:.2f}%)"


def count_parameters(model) -> ParameterCount:
    """Trainable and total parameter elements of a torch module (a peft model counts its LoRA matrices and its
    trainable copy of the CTC head too)."""
    trainable = total = 0
    for parameter in model.parameters():  # torch yields a tied or shared parameter once
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return ParameterCount(trainable, total)
