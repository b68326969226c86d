"""What to score and how: the split, and one eval.py run. Light dataclasses, built by the command-line fronts."""

from __future__ import annotations

from dataclasses import dataclass, field

from robust_speech.core.paths import WORKING_DIRECTORY
from robust_speech.inference.options import DEFAULT_BATCH_SIZE, DecoderChoice, LoadOptions, TranscriberOptions

# The split tune-lm tunes on unless told (a dev set: tuning on the test set would flatter its score).
DEV_SPLIT = "validation"
# tune-lm's grid: alpha x beta at the smallest beam width, then the best pair at each width.
DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
DEFAULT_BETAS = (0.0, 0.5, 1.0, 2.0, 3.0)
DEFAULT_BEAM_WIDTHS = (25, 50, 100)
# The robustness curve's levels.
DEFAULT_SNR_DB = (20.0, 10.0, 5.0, 0.0)
DEFAULT_RT60_S = (0.3, 0.6, 0.9)
DEFAULT_BABBLE_SNR_DB = (10.0, 5.0, 0.0)
DEFAULT_CODECS = ("mp3:16", "opus:9", "telephone")  # codec:kbit/s; telephone is GSM at 13 kbit/s


@dataclass(frozen=True)
class EvalSplit:
    """A split to score a model on: a Hub id or local path, its config, the split, the transcript column."""

    dataset: str
    config: str | None = None
    split: str = "test"
    text_column_name: str | None = None

    @property
    def title(self) -> str:
        return " ".join(part for part in (self.dataset, self.config, self.split) if part)


@dataclass
class EvalOptions:
    """One eval.py run. The first fields are the challenge's arguments, under their names, because the
    challenge's `log_results(result, args)` reads them from this object."""

    model_id: str
    dataset: str
    config: str | None
    split: str
    chunk_length_s: float | None = None
    stride_length_s: float | None = None
    log_outputs: bool = False
    text_column_name: str | None = None
    max_eval_samples: int | None = None
    report: str | None = None  # extra JSON report; None: {dataset_id}_eval_report.json, "none": not written
    load: LoadOptions = field(default_factory=LoadOptions)
    decoding: DecoderChoice = field(default_factory=DecoderChoice)
    batch_size: int = DEFAULT_BATCH_SIZE
    vad: bool = False
    # Where the result files go (eval.py: the working folder, as the challenge's log_results writes them).
    output_dir: str = WORKING_DIRECTORY

    @property
    def token(self):
        return self.load.token

    @property
    def device(self):
        return self.load.device

    @property
    def bf16(self) -> bool:
        return self.load.bf16

    @property
    def transcription(self) -> TranscriberOptions:
        return TranscriberOptions(self.chunk_length_s, self.stride_length_s, self.batch_size, self.vad)
