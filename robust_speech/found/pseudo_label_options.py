"""What `robust-speech pseudo-label` is asked (found/pseudo_label.py does it): a light dataclass, built by the
command line before torch is imported."""

from __future__ import annotations

from dataclasses import dataclass, field

from robust_speech.inference.options import DEFAULT_BATCH_SIZE, DecoderChoice, LoadOptions


@dataclass(frozen=True)
class PseudoLabelOptions:
    model_id: str  # the labeller: a model folder (with its language_model/ when it has one) or a Hub id
    inputs: str  # a folder of audio files (searched recursively), or a local dataset (audio folder, table, CV)
    output_dir: str  # the dataset folder to write; must be empty or absent
    # Kept when the utterance confidence is at least this. On the demo's English model the default keeps most
    # of the speech at a clearly lower WER than all of it; higher keeps less and better
    # (benchmarks/results/pseudo_label_quality_cpu.md).
    min_confidence: float = 0.8
    split: str = "train"  # with a local dataset as `inputs`: the split whose audio is labelled
    config: str | None = None  # with a Common Voice release folder: the language
    min_segment_s: float = 1.0  # shorter speech segments are skipped: too little text to be worth a label
    max_segment_s: float = 20.0  # the VAD cuts longer speech at its quietest point (its max_speech_duration_s)
    decoding: DecoderChoice = field(default_factory=DecoderChoice)
    load: LoadOptions = field(default_factory=LoadOptions)
    batch_size: int = DEFAULT_BATCH_SIZE
