"""`segment(options)`: long recordings and their text cut into a training dataset folder by CTC segmentation.

For each recording: its text is read as utterances (transcripts.py), normalized with the model folder's saved
normalizer (the one normalization of training and eval.py) and spelled in the model's CTC tokens; the model's
frame log-posteriors are computed chunk by chunk while the recording is read block by block (the
Transcriber's stream, as eval.py reads long recordings: never the whole waveform); alignment.py places each
utterance; the clips are cut in a second pass over the stream (clips.py). What is not cut goes to
`skipped.tsv` with its reason, times and score, and is counted in the summary:

- utterances whose score is under `min_score`, or whose text the audio does not hold (alignment.py), longer
  than `max_duration_in_seconds`, with characters outside the model's vocabulary (still aligned with the
  others, so that their neighbours are), without text after normalization, or overlapping subtitle cues;
- stretches of audio the text does not cover, where the model hears speech (with what it hears);
- with a table of recordings, a recording that cannot be read or whose text does not fit it (the others are
  still segmented). A single recording in that state is an error instead: one line saying why.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from robust_speech.core.errors import AudioError, ConfigurationError, TextError
from robust_speech.core.logs import LOGGER, progress_bar
from robust_speech.found.dataset_folder import DatasetWriter
from robust_speech.found.recording import SegmentModel, segment_recording
from robust_speech.found.segment_options import AlignmentRefused, SegmentOptions

# The table's column naming each recording's text file, in the order they are looked for.
TEXT_FILE_COLUMNS = ("text_file", "text_path", "transcript_file", "transcript_path")
# With a table, a recording that cannot be segmented is a skip with this reason (alone, it is an error).
RECORDING_SKIPS = {AudioError: "unreadable recording", TextError: "unusable text",
                   AlignmentRefused: "text does not fit the recording"}


@dataclass
class SegmentResult:
    output_dir: Path
    recordings: int
    utterances: int
    clips: int
    clip_seconds: float
    skipped: Counter  # reason -> how many rows of skipped.tsv

    def summary(self) -> str:
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.skipped.most_common())
        return (f"segment: {self.recordings} recording(s), {self.utterances} utterances -> {self.clips} clips "
                f"({self.clip_seconds / 3600:.2f} h) in {self.output_dir}; skipped {skipped}"
                + (f": {reasons} (see skipped.tsv)" if skipped else ""))


def segment(options: SegmentOptions) -> SegmentResult:
    """Segment the recording(s) into `options.output_dir` (written elsewhere first and renamed into place)."""
    jobs = recording_jobs(options)
    output = Path(options.output_dir)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConfigurationError(f"--output_dir {output} already exists and is not empty: choose another or delete it")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    try:
        writer = DatasetWriter(staging, stage="segment")
        writer.clips_folder.mkdir()
        model = SegmentModel.load(options)
        utterances = 0
        bar = progress_bar(jobs, desc="segment", unit="recording", disable=len(jobs) < 2)
        for audio, text in bar:
            try:
                utterances += segment_recording(model, audio, text, writer, options)
            except (AudioError, TextError, AlignmentRefused) as error:
                if options.table is None:
                    raise
                writer.skip(audio, text, RECORDING_SKIPS[type(error)], str(error))
        writer.write()
        if output.exists():
            output.rmdir()  # empty, checked above
        os.replace(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = SegmentResult(output, len(jobs), utterances, len(writer.rows), writer.seconds, writer.reasons)
    LOGGER.info(result.summary())
    return result


def recording_jobs(options: SegmentOptions) -> list[tuple[str, str]]:
    """(recording, text file) pairs: the one given, or each row of the table."""
    if (options.table is None) == (options.audio is None and options.text is None):
        raise ConfigurationError("give a recording and its text, or --table with many of them (not both)")
    if options.table is None:
        if not options.audio or not options.text:
            raise ConfigurationError("give both the recording and its text file")
        for path in (options.audio, options.text):
            if not os.path.isfile(path):
                raise ConfigurationError(f"{path}: no such file")
        return [(options.audio, options.text)]
    return table_jobs(Path(options.table))


def table_jobs(table: Path) -> list[tuple[str, str]]:
    from robust_speech.data.local_datasets import AUDIO_PATH_COLUMNS, iter_table

    if not table.is_file():
        raise ConfigurationError(f"--table {table}: no such file")
    rows = list(iter_table(table))
    if not rows:
        raise ConfigurationError(f"--table {table}: has no rows")
    audio_column = next((name for name in AUDIO_PATH_COLUMNS if name in rows[0]), None)
    text_column = next((name for name in TEXT_FILE_COLUMNS if name in rows[0]), None)
    if audio_column is None or text_column is None:
        raise ConfigurationError(
            f"--table {table}: needs a recording column ({' or '.join(AUDIO_PATH_COLUMNS)}) and a text file column "
            f"({' or '.join(TEXT_FILE_COLUMNS)}); it has {', '.join(rows[0])}")

    def resolved(value: str | None) -> str:
        path = Path(os.path.expanduser(value or ""))
        return os.fspath(path if path.is_absolute() else table.parent / path)

    return [(resolved(row.get(audio_column)), resolved(row.get(text_column))) for row in rows]
