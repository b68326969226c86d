"""Result files beyond the challenge's fixed ones: the machine a number came from and the eval report JSON."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Sequence

from robust_speech.core.cpu import cpu_model_and_flags
from robust_speech.core.files import write_text_atomic
from robust_speech.reports.metrics import align, bootstrap_interval, empty_references, word_counts

WORST_UTTERANCES = 20


VECTOR_UNITS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def machine_info() -> dict:
    """CPU model, cores, torch version and GPU, printed with every measured number."""
    import torch

    model, flags = cpu_model_and_flags()
    return {
        "cpu": model or platform.processor() or platform.machine(),
        # Two machines both named "Intel(R) Xeon(R) Processor" differ in these, and so does what is fast on them.
        "cpu_vector_units": [unit for unit in VECTOR_UNITS if unit in flags],
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
    }


def evaluation_report(references: Sequence[str], predictions: Sequence[str], *, audio_seconds: float,
                      inference_seconds: float, wall_seconds: float, settings: dict) -> dict:
    """WER/CER with a bootstrap 95% interval, error counts, the worst utterances, speed and the machine.

    Utterances with an empty reference are counted everywhere (their hypothesized words are insertions, as jiwer
    counts them); `empty_references` says how many there were."""
    words = align(references, predictions, "word")
    per_utterance = words.per_utterance
    low, high = bootstrap_interval(per_utterance)
    ranked = sorted(range(len(per_utterance)), key=lambda i: (-per_utterance[i][0], i))[:WORST_UTTERANCES]
    return {
        "wer": words.rate,
        "cer": align(references, predictions, "char").rate,
        "wer_ci95": [low, high],
        "errors": word_counts(words),
        "utterances": len(references),
        "empty_references": empty_references(references),
        "audio_seconds": round(audio_seconds, 3),
        "inference_seconds": round(inference_seconds, 3),
        "wall_seconds": round(wall_seconds, 3),
        "rtfx": round(audio_seconds / inference_seconds, 2) if inference_seconds else None,
        "worst": [
            {"index": i, "errors": per_utterance[i][0], "words": per_utterance[i][1], "target": references[i],
             "prediction": predictions[i]}
            for i in ranked if per_utterance[i][0] > 0
        ],
        "settings": settings,
        "machine": machine_info(),
    }


def write_json(path: str | os.PathLike, data: dict) -> Path:
    return write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
