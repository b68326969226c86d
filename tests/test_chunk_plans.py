"""Chunking (inference/chunking.py) against the transformers ASR pipeline's own functions, called directly: the
same chunk and stride lengths from seconds, the same chunks for every length, the same frames kept per chunk.

eval.py's chunked path must give the pipeline's transcripts (tests/test_eval.py checks one run end to end);
these cover the boundaries a few recordings cannot: lengths at and around a chunk step, short last chunks,
asymmetric strides, other frame sizes."""

import numpy as np
import pytest
from transformers.pipelines.automatic_speech_recognition import chunk_iter, rescale_stride

from robust_speech.core.errors import ConfigurationError
from robust_speech.inference.chunking import Chunk, Chunking, kept_frames

RATE = 16000


class _Extractor:
    """Stands in for the feature extractor: chunk_iter only needs its call and sampling rate."""

    sampling_rate = RATE

    def __call__(self, chunk, **_kwargs):
        return {"first": int(chunk[0]) if len(chunk) else None}


def pipeline_lengths(chunk_length_s, stride_length_s, align):
    """The pipeline's chunk and stride lengths in samples (AutomaticSpeechRecognitionPipeline.preprocess)."""
    if stride_length_s is None:
        stride_length_s = chunk_length_s / 6
    if isinstance(stride_length_s, (int, float)):
        stride_length_s = [stride_length_s, stride_length_s]
    chunk = int(round(chunk_length_s * RATE / align) * align)
    return chunk, *(int(round(seconds * RATE / align) * align) for seconds in stride_length_s)


def pipeline_plan(num_samples, chunk, left, right):
    """(start, end, left, right) of every chunk the pipeline's chunk_iter yields."""
    plan = []
    for item in chunk_iter(np.arange(num_samples), _Extractor(), chunk, left, right):
        length, item_left, item_right = item["stride"]
        plan.append((item["first"], item["first"] + length, item_left, item_right))
    return plan


SETTINGS = [  # chunk_length_s, stride_length_s, samples per frame
    (1.0, None, 320), (1.0, 0.25, 320), (1.0, (0.1, 0.3), 320), (0.5, (0.0, 0.1), 320), (2.0, 0.4, 160),
    (1.3, 0.33, 320), (0.75, (0.2, 0.0), 400),
]


@pytest.mark.parametrize("chunk_length_s, stride_length_s, align", SETTINGS)
def test_lengths_in_samples_are_the_pipelines(chunk_length_s, stride_length_s, align):
    chunking = Chunking.from_seconds(chunk_length_s, stride_length_s, RATE, align)
    assert (chunking.chunk, chunking.left, chunking.right) == pipeline_lengths(chunk_length_s, stride_length_s, align)


@pytest.mark.parametrize("chunk_length_s, stride_length_s, align", SETTINGS)
def test_every_length_is_cut_into_the_pipelines_chunks(chunk_length_s, stride_length_s, align):
    chunking = Chunking.from_seconds(chunk_length_s, stride_length_s, RATE, align)
    step = chunking.chunk - chunking.left - chunking.right
    lengths = {0, 1, chunking.left, chunking.left + 1, chunking.chunk - 1, chunking.chunk, chunking.chunk + 1}
    for multiple in range(1, 5):  # around each chunk boundary, where a short last chunk appears or disappears
        for offset in (-chunking.right - 1, -chunking.right, -1, 0, 1, chunking.left, chunking.left + 1):
            lengths.add(chunking.chunk + multiple * step + offset)
    for num_samples in sorted(n for n in lengths if n >= 0):
        ours = [(c.start, c.end, c.left, c.right) for c in chunking.plan(num_samples)]
        assert ours == pipeline_plan(num_samples, chunking.chunk, chunking.left, chunking.right), num_samples


@pytest.mark.parametrize("align", [320, 160, 400])
def test_frames_kept_per_chunk_are_the_pipelines_rescaled_stride(align):
    rng = np.random.default_rng(0)
    for _ in range(300):
        length = int(rng.integers(1, 40 * align))
        left, right = (int(x) for x in rng.integers(0, length // 2 + 1, size=2))
        token_n, token_left, token_right = rescale_stride([(length, left, right)], 1 / align)[0]
        assert kept_frames(Chunk(1000, 1000 + length, left, right), align) == (token_left, token_n - token_right)


def test_kept_parts_of_a_plan_tile_the_recording():
    chunking = Chunking.from_seconds(1.0, (0.1, 0.3), RATE, 320)
    for num_samples in (1, 16000, 16001, 40000, 123457):
        kept = [chunk.kept for chunk in chunking.plan(num_samples)]
        assert kept[0][0] == 0 and kept[-1][1] == num_samples
        assert all(previous[1] == following[0] for previous, following in zip(kept, kept[1:]))


@pytest.mark.parametrize("chunk_length_s, stride_length_s", [(0.0, None), (-1.0, 0.1), (1.0, 0.5), (1.0, (0.7, 0.3)),
                                                             (1.0, (0.9, 0.2))])
def test_a_chunk_no_longer_than_its_strides_is_refused(chunk_length_s, stride_length_s):
    with pytest.raises(ConfigurationError, match="--chunk_length_s"):
        Chunking.from_seconds(chunk_length_s, stride_length_s, RATE, 320)


def test_a_chunk_just_longer_than_its_strides_is_accepted():
    chunking = Chunking.from_seconds(1.0, (0.48, 0.5), RATE, 320)
    assert chunking.chunk - chunking.left - chunking.right == 320


def test_the_refusals_name_the_flags_and_values_given():
    with pytest.raises(ConfigurationError, match=r"^--chunk_length_s 0.0: give a positive number of seconds$"):
        Chunking.from_seconds(0.0, None, RATE, 320)
    with pytest.raises(ConfigurationError, match=r"^--chunk_length_s 1.0 must be longer than the strides on both sides "
                                                 r"\(0.9 \+ 0.2 s\): raise it or lower --stride_length_s$"):
        Chunking.from_seconds(1.0, (0.9, 0.2), RATE, 320)
