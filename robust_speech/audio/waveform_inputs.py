"""A batch of waveforms as `Wav2Vec2FeatureExtractor` makes it (padded, per-utterance zero mean and unit variance,
attention mask), written straight into one padded array.

The extractor pads every utterance with `np.pad`, normalizes the padded copies in a Python loop, then stacks the
lists into tensors: 13% of a tiny model's eval.py run on short clips (cProfile, benchmarks/eval_speed.py's
set). The arithmetic here is the extractor's own, on the same float32 values in the same order, so the inputs
are bit for bit the same (tests/test_batching.py); only the copies and conversions around it are gone.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def handles(extractor) -> bool:
    """Whether `extractor` is a plain Wav2Vec2FeatureExtractor padding on the right (its subclasses may differ)."""
    return (type(extractor).__name__ == "Wav2Vec2FeatureExtractor" and type(extractor).__module__.startswith("transformers.")
            and getattr(extractor, "padding_side", "right") == "right")


def waveform_inputs(extractor, audios: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """`input_values` (float32, padded with the extractor's padding value) and `attention_mask` (int32), as
    `extractor(audios, padding=True, return_attention_mask=True)` returns them."""
    longest = max(len(audio) for audio in audios)
    values = np.full((len(audios), longest), extractor.padding_value, np.float32)
    mask = np.zeros((len(audios), longest), np.int32)
    for row, audio in enumerate(audios):
        audio = np.asarray(audio, dtype=np.float32)
        if extractor.do_normalize:
            # The extractor's formula on the same float32 slice: NumPy's mean/var of a float32 array are float32.
            values[row, : audio.size] = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
        else:
            values[row, : audio.size] = audio
        mask[row, : audio.size] = 1
    return {"input_values": values, "attention_mask": mask}
