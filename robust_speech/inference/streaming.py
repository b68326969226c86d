"""A long recording transcribed while it is read: chunks cut from a stream of audio blocks, never the whole file.

A three-hour recording is 691 MB of 16 kHz float32 once decoded; read block by block (audio/decode.py's
`stream_audio`) and cut into the same chunks `Chunking.plan` gives for the whole array, only a batch of chunks
and the log-probs (about 12% of the decoded size with a 40-letter vocabulary) are ever held. The chunks are
exactly the whole-array ones, so the transcript is the one the whole array gives.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from robust_speech.inference.chunking import Chunk, Chunking


def stream_chunks(blocks: Iterable[np.ndarray], chunking: Chunking) -> Iterator[tuple[Chunk, np.ndarray]]:
    """The chunks (and their samples) `chunking.plan(n)` gives for the concatenated blocks, in order, as soon as
    each is complete. Only a chunk is known to be the last once the stream ends (the last one has no right
    stride), so each is held until one sample past its end has arrived."""
    step = chunking.chunk - chunking.left - chunking.right
    buffer = np.zeros(0, np.float32)
    offset = 0  # absolute position of buffer[0]
    start = 0  # absolute start of the next chunk
    for block in blocks:
        buffer = np.concatenate([buffer, np.asarray(block, np.float32)]) if buffer.size else np.asarray(block, np.float32)
        while offset + buffer.size > start + chunking.chunk:
            end = start + chunking.chunk
            yield Chunk(start, end, chunking.left if start else 0, chunking.right), buffer[start - offset : end - offset]
            start += step
            if start > offset:
                buffer, offset = buffer[start - offset :], start
    total = offset + buffer.size
    for chunk in chunking.plan(total):
        if chunk.start >= start:
            yield chunk, buffer[chunk.start - offset : chunk.end - offset]


class FrameBuffer:
    """(frames, vocab) float32 rows appended in place, sized up front from the expected frame count: joining a
    list of parts at the end would hold the log-probs twice."""

    def __init__(self, vocab: int, expected_frames: int | None = None):
        self._array = np.empty(((expected_frames or 4096) + 8, vocab), np.float32)
        self._size = 0

    def append(self, rows: np.ndarray) -> None:
        end = self._size + len(rows)
        if end > len(self._array):
            self._array.resize((max(end, int(len(self._array) * 1.5)), self._array.shape[1]), refcheck=False)
        self._array[self._size : end] = rows
        self._size = end

    def finish(self) -> np.ndarray:
        self._array.resize((self._size, self._array.shape[1]), refcheck=False)
        return self._array
