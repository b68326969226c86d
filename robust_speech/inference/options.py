"""What a caller chooses about running a model: how to load it, which decoder, how to cut long audio.

Plain dataclasses without heavy imports, so command-line fronts build them before torch is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("greedy", "pyctcdecode", "flashlight")
DECODER_CHOICES = ("auto", *ENGINES)
DEFAULT_BEAM_WIDTH = 100
DEFAULT_HOTWORD_WEIGHT = 10.0  # pyctcdecode's: added to a beam's log score per boosted word
DEFAULT_BATCH_SIZE = 16  # utterances (or chunks) per forward pass
# `robust-speech transcribe` without --vad cuts files into chunks of this length: any file, however long, is then
# transcribed at a flat cost per second (with --vad it is cut at pauses instead).
TRANSCRIBE_CHUNK_S = 10.0


@dataclass(frozen=True)
class DecoderChoice:
    """`auto`: beam search with the folder's LM when it has one, else greedy (see loading.py)."""

    engine: str = "auto"  # one of DECODER_CHOICES
    no_lm: bool = False
    beam_width: int | None = None  # None: the tuned one (decoding.json), else DEFAULT_BEAM_WIDTH
    hotwords: tuple[str, ...] = ()  # words or phrases to boost (beam search only)
    hotword_weight: float = DEFAULT_HOTWORD_WEIGHT
    confidence: bool = False  # word and utterance confidences (inference/confidence.py); off: not computed
    nbest: int = 1  # above 1: the n best transcripts as alternatives (beam search only)


@dataclass(frozen=True)
class LoadOptions:
    device: str | int | None = None  # the reference's -1 (CPU) / 0.. (GPU), a torch name, or None (GPU if any)
    bf16: bool = False
    token: str | bool | None = None
    trust_remote_code: bool = False
    allow_pickle_weights: bool = False


@dataclass(frozen=True)
class TranscriberOptions:
    """Long audio: fixed chunks with stride (as the transformers pipeline), or cut at pauses (`vad`)."""

    chunk_length_s: float | None = None
    stride_length_s: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    vad: bool = False
