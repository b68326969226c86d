"""Tiny model folders the way training writes them: a processor (vocab.json, tokenizer and feature extractor
configs, text_normalizer.json) and, for inference tests, a random-init XLS-R-shaped CTC model."""

from __future__ import annotations

from pathlib import Path

from ctc_logits import VOCABULARY

from robust_speech.model import random_models


def save_processor(folder: Path, vocabulary=VOCABULARY, *, attention_mask: bool = False) -> Path:
    return random_models.save_ctc_processor(folder, vocabulary, attention_mask=attention_mask)


def save_random_model(folder: Path, vocabulary=VOCABULARY, *, head_size: int | None = None,
                      processor: bool = True) -> Path:
    """The tiny shape, logits spread (x8) so the random path changes often."""
    return random_models.save_random_model(folder, vocabulary, "tiny", head_size=head_size, logit_scale=8.0,
                                           processor=processor)
