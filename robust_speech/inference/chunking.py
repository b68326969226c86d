"""Long audio cut into chunks with stride, exactly as the transformers ASR pipeline does.

`chunk_length_s` and `stride_length_s` are rounded to the model's samples per frame; the stride defaults to
chunk/6. Chunk i covers [i*step, i*step + chunk) with step = chunk - left - right, and the frames of its
left/right stride are dropped before the chunks' frames are joined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from robust_speech.core.errors import ConfigurationError


@dataclass(frozen=True)
class Chunk:
    """Samples [start, end) of an utterance; `left`/`right` samples of stride are context only."""

    start: int
    end: int
    left: int
    right: int

    @property
    def kept(self) -> tuple[int, int]:
        return self.start + self.left, self.end - self.right

@dataclass(frozen=True)
class Chunking:
    """Chunk and stride lengths in samples, aligned to the model's samples per frame as the pipeline does."""

    chunk: int
    left: int
    right: int

    @classmethod
    def from_seconds(cls, chunk_length_s: float, stride_length_s: float | Sequence[float] | None, sampling_rate: int,
                     samples_per_frame: int) -> "Chunking":
        if chunk_length_s <= 0:
            raise ConfigurationError(f"--chunk_length_s {chunk_length_s}: give a positive number of seconds")
        if stride_length_s is None:
            stride_length_s = chunk_length_s / 6
        if isinstance(stride_length_s, (int, float)):
            stride_length_s = (stride_length_s, stride_length_s)
        align = samples_per_frame

        def samples(seconds: float) -> int:
            return int(round(seconds * sampling_rate / align) * align)

        chunking = cls(samples(chunk_length_s), samples(stride_length_s[0]), samples(stride_length_s[1]))
        if chunking.chunk <= chunking.left + chunking.right:
            raise ConfigurationError(
                f"--chunk_length_s {chunk_length_s} must be longer than the strides on both sides "
                f"({stride_length_s[0]} + {stride_length_s[1]} s): raise it or lower --stride_length_s"
            )
        return chunking

    def plan(self, num_samples: int) -> list[Chunk]:
        step = self.chunk - self.left - self.right
        chunks = []
        for start in range(0, max(num_samples, 1), step):
            end = min(start + self.chunk, num_samples)
            is_last = start + self.chunk >= num_samples
            left = 0 if start == 0 else self.left
            right = 0 if is_last else self.right
            if end - start > left:
                chunks.append(Chunk(start, end, left, right))
            if is_last:
                break
        return chunks

def kept_frames(chunk: Chunk, samples_per_frame: int) -> tuple[int, int]:
    """The frame range of the chunk's output to keep, rounded as the pipeline's `rescale_stride` does."""
    length = chunk.end - chunk.start
    frames = int(round(length / samples_per_frame))
    left = int(round(chunk.left / length * frames))
    right = int(round(chunk.right / length * frames))
    return left, frames - right
