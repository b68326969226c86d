"""What one demo run is asked to do: languages, training budget, output folder, recipe, baseline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robust_speech.data.synth import SynthConfig
from robust_speech.demo.recipe import AUGMENT, AUGMENT_COPIES, REAL_WORLD_RECORDINGS


@dataclass(frozen=True)
class DemoPlan:
    languages: tuple[str, ...]
    minutes: float
    output: Path
    seed: int = 0
    force: bool = False
    augment: str | None = AUGMENT  # None: train on the clean corpus only
    augment_copies: int = AUGMENT_COPIES
    baseline: Path | None = None  # a clean-trained run's results.json, shown side by side in REPORT.md

    @property
    def synth_config(self) -> SynthConfig:
        # ~100 training utterances per language per minute of training, up to 1000: with fewer the model learned
        # its training sentences far better than unseen ones (benchmarks/results/demo_history.md).
        train = int(min(1000, max(60, 100 * self.minutes)))
        long_s = (60.0, 90.0) if self.minutes >= 5 else (20.0, 30.0)
        # Voice variety from espeak-ng alone: every human variant it has, wide rate, pitch and word-gap ranges,
        # 48 speakers per language of which a third (dev, test and the real-world recordings) never train.
        # The LM reads every sentence no split speaks (more text lowered the WER with the LM), and four real-world
        # recordings, two per set, keep one voice from deciding a set's WER (benchmarks/results/demo_history.md).
        return SynthConfig(languages=self.languages, train_size=train, dev_size=20, test_size=30,
                           lm_sentences=None, long_recordings=REAL_WORLD_RECORDINGS, long_duration_s=long_s, speakers=48,
                           voices="wide", speed_wpm=(110, 220), pitch=(0, 99), word_gap=(0, 6),
                           hold_out_voices=True, noise_snr_db=10.0, reverb_rt60_s=0.3,
                           degraded_splits=("long",), seed=self.seed)

    def command(self) -> list[str]:
        """The `robust-speech demo` command that runs this plan again from scratch (`--force`)."""
        return ["robust-speech", "demo", "--output_dir", str(self.output), "--minutes", f"{self.minutes:g}",
                "--languages", ",".join(self.languages), "--seed", str(self.seed), "--augment", self.augment or "none",
                "--augment_copies", str(self.augment_copies), "--force"]
