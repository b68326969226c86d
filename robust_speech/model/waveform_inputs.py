"""A batch of waveforms as `Wav2Vec2FeatureExtractor` makes it (padded, per-utterance zero mean and unit variance,
attention mask), written straight into one padded array.

The extractor pads every utterance with `np.pad`, normalizes the padded copies in a Python loop (each mean
computed twice, once by `mean` and once inside `var`), then stacks the lists into tensors: 13% of a tiny model's
eval.py run on short clips (cProfile, benchmarks/eval_speed.py's set). The arithmetic here is the extractor's own,
on the same float32 values in the same order, so the inputs are bit for bit the same (tests/test_batching.py);
only the copies, conversions and repeated passes around it are gone, and a batch of equal lengths (the chunks of
a long recording) is normalized row by row in one call per step instead of one per utterance.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def handles(extractor) -> bool:
    """Whether `extractor` is a plain Wav2Vec2FeatureExtractor padding on the right (its subclasses may differ)."""
    return (type(extractor).__name__ == "Wav2Vec2FeatureExtractor" and type(extractor).__module__.startswith("transformers.")
            and getattr(extractor, "padding_side", "right") == "right")


def waveform_inputs(extractor, audios: Sequence[np.ndarray], attention_mask: bool = True) -> dict[str, np.ndarray]:
    """`input_values` (float32, padded with the extractor's padding value) and, unless `attention_mask` is False,
    `attention_mask` (int32), as `extractor(audios, padding=True, return_attention_mask=True)` returns them."""
    arrays = [np.asarray(audio, dtype=np.float32) for audio in audios]
    lengths = [array.size for array in arrays]
    longest = max(lengths)
    if min(lengths) == longest:
        values = np.stack(arrays)
        if extractor.do_normalize:
            _normalize_rows(values)
    else:
        values = np.empty((len(arrays), longest), np.float32)
        for row, array in enumerate(arrays):
            values[row, array.size :] = extractor.padding_value
            if extractor.do_normalize:
                _normalize_rows(array[None], out=values[row : row + 1, : array.size])
            else:
                values[row, : array.size] = array
    inputs = {"input_values": values}
    if attention_mask:
        inputs["attention_mask"] = (np.arange(longest)[None, :] < np.asarray(lengths)[:, None]).astype(np.int32)
    return inputs


def _normalize_rows(rows: np.ndarray, out: np.ndarray | None = None) -> None:
    """Each row of a float32 (utterances, samples) array minus its mean, over sqrt(its variance + 1e-7), into `out`
    (in place without one): `(x - x.mean()) / np.sqrt(x.var() + 1e-7)` as the extractor computes it per row.

    The same float32 operations as NumPy's `mean` and `var` (a pairwise sum along the contiguous row, divided in
    float64 by the count and rounded to float32; the deviations squared and summed the same way), with the
    deviations computed once for both the variance and the result."""
    out = rows if out is None else out
    count = rows.shape[1]
    sums = np.add.reduce(rows, axis=1, keepdims=True)
    means = (sums / np.float64(count)).astype(np.float32)
    np.subtract(rows, means, out=out)
    squares = np.square(out)
    variances = (np.add.reduce(squares, axis=1, keepdims=True) / np.float64(count)).astype(np.float32)
    np.divide(out, np.sqrt(variances + np.float32(1e-7)), out=out)
