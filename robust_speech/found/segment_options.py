"""What `robust-speech segment` is asked to do (`SegmentOptions`), without heavy imports, so the command line
builds it before torch is loaded; and the one error of a text that does not fit its recording."""

from __future__ import annotations

from dataclasses import dataclass, field

from robust_speech.core.errors import RobustSpeechError
from robust_speech.inference.options import DEFAULT_BATCH_SIZE, TRANSCRIBE_CHUNK_S, LoadOptions

# Utterances scoring under this (ctc-segmentation's confidence, a mean log-probability over its worst 30 frames)
# are skipped. On benchmarks/segment_accuracy.py's recordings no clip of the demo's model scored that low (text
# the audio lacks is rejected by what the model hears there, recording.py): benchmarks/results/segment_accuracy.md.
DEFAULT_MIN_SCORE = -3.0
# The training script's default: longer clips would be dropped there anyway.
DEFAULT_MAX_DURATION_S = 20.0


class AlignmentRefused(RobustSpeechError):
    """The text cannot be that of the recording: longer than the audio holds, no speech heard, almost nothing
    aligned."""


@dataclass(frozen=True)
class SegmentOptions:
    """What to segment and how. Either `audio` and `text`, or `table` (a CSV/TSV with an audio path column and
    a `text_file` column, paths relative to the table)."""

    model_id: str
    output_dir: str
    audio: str | None = None
    text: str | None = None
    table: str | None = None
    text_format: str = "auto"  # auto, lines, paragraphs, srt, vtt (transcripts.py)
    language: str | None = None  # sentence rules for paragraphs; None: the model's normalizer language, else en
    max_duration_in_seconds: float = DEFAULT_MAX_DURATION_S
    min_score: float = DEFAULT_MIN_SCORE
    chunk_length_s: float = TRANSCRIBE_CHUNK_S  # the model hears the recording in chunks of this length
    batch_size: int = DEFAULT_BATCH_SIZE
    load: LoadOptions = field(default_factory=LoadOptions)
