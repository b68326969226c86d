"""`robust-speech robustness`: how a model's error rate grows as its test audio gets worse.

Every utterance of a test split is degraded at each requested level of each perturbation (noise at an SNR,
babble at an SNR, reverberation at an RT60, speed, band-limiting, lossy codecs and the telephone; see
audio/effects.py and audio/codecs.py) and transcribed exactly as eval.py would
(same chunking, the model folder's LM when it has one); WER/CER per condition give the robustness curves.
The audio is decoded once and degraded group by group, so memory stays bounded on any split size. Each
utterance's degradation is seeded by (seed, utterance, condition): results do not depend on batching. Babble
is the split's first BABBLE_POOL utterances (an utterance never babbles over itself), fixed whatever the batching.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from robust_speech.audio import codecs
from robust_speech.audio.effects import NOISE_COLORS, add_babble, add_noise, add_reverb, band_limit, change_speed
from robust_speech.core.errors import ConfigurationError
from robust_speech.core.logs import progress_bar
from robust_speech.data.sources import TEXT_COLUMN
from robust_speech.evaluation.groups import iter_groups, load_split
from robust_speech.evaluation.options import (
    DEFAULT_BABBLE_SNR_DB,
    DEFAULT_CODECS,
    DEFAULT_RT60_S,
    DEFAULT_SNR_DB,
    EvalSplit,
)
from robust_speech.inference.loading import load_for_inference
from robust_speech.inference.options import DecoderChoice, LoadOptions, TranscriberOptions
from robust_speech.reports.metrics import char_error_rate, word_error_rate
from robust_speech.reports.plots import plot_robustness
from robust_speech.text.normalizer import model_normalizer

ROBUSTNESS_FILE = "robustness.json"
UNITS = {"clean": "", "noise": "dB SNR", "babble": "dB SNR babble", "reverb": "s RT60", "speed": "x speed",
         "bandlimit": "Hz band", "mp3": "kbit/s mp3", "opus": "kbit/s opus", "telephone": "kbit/s GSM telephone"}
CODEC_KINDS = ("mp3", "opus", "telephone")
TELEPHONE_KBPS = 13.0  # GSM 06.10 full rate
BABBLE_POOL, BABBLE_TALKERS = 6, 3


@dataclass(frozen=True)
class Condition:
    kind: str
    level: float | None = None

    @property
    def label(self) -> str:
        return "clean" if self.kind == "clean" else f"{self.level:g} {UNITS[self.kind]}"

    def apply(self, audio: np.ndarray, rng: np.random.Generator, sampling_rate: int, noise_color: str,
              talkers: Sequence[np.ndarray] = ()) -> np.ndarray:
        if self.kind == "noise":
            return add_noise(audio, self.level, rng, noise_color)
        if self.kind == "babble":
            return add_babble(audio, talkers, self.level, rng)
        if self.kind == "reverb":
            return add_reverb(audio, self.level, sampling_rate, rng)
        if self.kind == "speed":
            return change_speed(audio, self.level, sampling_rate)
        if self.kind == "bandlimit":
            return band_limit(audio, self.level, sampling_rate)
        if self.kind == "mp3":
            return codecs.mp3(audio, int(self.level), sampling_rate)
        if self.kind == "opus":
            return codecs.opus(audio, int(self.level), sampling_rate)
        if self.kind == "telephone":
            return codecs.telephone(audio, sampling_rate)
        return audio


def parse_codecs(values: Sequence[str]) -> list[Condition]:
    """`mp3:16`, `opus:9`, `telephone` -> codec conditions (bit rates from audio/codecs.py's tables)."""
    rates = {"mp3": codecs.MP3_LEVELS, "opus": codecs.OPUS_LEVELS}
    conditions = []
    for value in values:
        name, _, kbps = value.strip().partition(":")
        if name == "telephone" and not kbps:
            conditions.append(Condition("telephone", TELEPHONE_KBPS))
            continue
        if name not in rates or not kbps.isdigit() or int(kbps) not in rates[name]:
            choices = ", ".join([f"{codec}:{rate}" for codec, table in rates.items() for rate in table] + ["telephone"])
            raise ConfigurationError(f"--codecs {value}: choose from {choices}")
        conditions.append(Condition(name, float(kbps)))
    return conditions


def conditions_from_levels(snr_db: Sequence[float] = DEFAULT_SNR_DB, rt60_s: Sequence[float] = DEFAULT_RT60_S,
                           speeds: Sequence[float] = (), bandwidths_hz: Sequence[float] = (),
                           babble_snr_db: Sequence[float] = DEFAULT_BABBLE_SNR_DB,
                           codec_names: Sequence[str] = DEFAULT_CODECS) -> list[Condition]:
    """Clean first, then each perturbation at each level, in the order given."""
    for name, values, valid in (("--snr_db", snr_db, lambda v: np.isfinite(v)), ("--rt60_s", rt60_s, lambda v: v > 0),
                                ("--speeds", speeds, lambda v: v > 0), ("--bandwidths_hz", bandwidths_hz, lambda v: v > 0),
                                ("--babble_snr_db", babble_snr_db, lambda v: np.isfinite(v))):
        bad = [value for value in values if not valid(value)]
        if bad:
            raise ConfigurationError(f"{name} {','.join(f'{v:g}' for v in bad)}: levels must be finite"
                                     + ("" if name in ("--snr_db", "--babble_snr_db") else " and positive"))
    conditions = [Condition("clean")]
    for kind, levels in (("noise", snr_db), ("babble", babble_snr_db), ("reverb", rt60_s), ("speed", speeds),
                         ("bandlimit", bandwidths_hz)):
        conditions.extend(Condition(kind, float(level)) for level in levels)
    return conditions + parse_codecs(codec_names)


@dataclass(frozen=True)
class ConditionResult:
    kind: str
    level: float | None
    label: str
    wer: float
    cer: float
    utterances: int


@dataclass
class RobustnessResult:
    model: str
    dataset: str
    config: str | None
    split: str
    decoder: str
    noise_color: str
    seed: int
    rows: list[ConditionResult]

    def by_kind(self, kind: str) -> list[ConditionResult]:
        return [row for row in self.rows if row.kind == kind]

    @property
    def clean(self) -> ConditionResult:
        return self.by_kind("clean")[0]

    def table(self) -> str:
        lines = ["| condition | WER | CER | WER change vs clean |", "|---|---|---|---|"]
        for row in self.rows:
            change = "" if row.kind == "clean" else relative_change(row.wer, self.clean.wer)
            lines.append(f"| {row.label} | {row.wer:.4f} | {row.cer:.4f} | {change} |")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {**{key: value for key, value in asdict(self).items() if key != "rows"},
                "conditions": [asdict(row) for row in self.rows]}

    @classmethod
    def from_json(cls, data: dict) -> "RobustnessResult":
        rows = [ConditionResult(**row) for row in data["conditions"]]
        return cls(**{key: value for key, value in data.items() if key != "conditions"}, rows=rows)


def _talkers(pool: list[tuple[int, np.ndarray]], index: int, rng: np.random.Generator) -> list[np.ndarray]:
    others = [audio for other, audio in pool if other != index]
    if not others:
        raise ConfigurationError("babble needs at least two utterances in the split (one talks over the other)")
    return [others[int(choice)] for choice in rng.permutation(len(others))[:BABBLE_TALKERS]]


def relative_change(value: float, reference: float) -> str:
    """`value` against `reference` as a signed percentage (+12.5%), or n/a when the reference is 0."""
    return f"{(value - reference) / reference:+.1%}" if reference else "n/a"


def measure_robustness(transcriber, dataset, conditions: Sequence[Condition], normalize, *, seed: int = 0,
                       noise_color: str = "pink", max_samples: int | None = None,
                       progress: bool = True) -> list[ConditionResult]:
    """WER/CER of `transcriber` on `dataset` under each condition (targets normalized by `normalize`)."""
    if noise_color not in NOISE_COLORS:
        raise ConfigurationError(f"--noise_color {noise_color}: choose from {', '.join(NOISE_COLORS)}")
    rate = transcriber.acoustic.sampling_rate
    predictions: list[list[str]] = [[] for _ in conditions]
    references: list[str] = []
    total = len(dataset) if hasattr(dataset, "__len__") else None
    if total is not None and max_samples is not None:
        total = min(total, max_samples)
    bar = progress_bar(total=None if total is None else total * len(conditions), desc="robustness", unit="utt",
                       disable=None if progress else True, file=sys.stderr)
    pool: list[tuple[int, np.ndarray]] = []  # the babble talkers: the split's first utterances
    for group in iter_groups(dataset, rate, TEXT_COLUMN, max_samples):
        pool.extend((index, audio) for index, audio, _text in group[: BABBLE_POOL - len(pool)])
        references.extend(normalize(text) for _index, _audio, text in group)
        for position, condition in enumerate(conditions):
            degraded = []
            for index, audio, _text in group:
                rng = np.random.default_rng([seed, index, position])
                talkers = _talkers(pool, index, rng) if condition.kind == "babble" else ()
                degraded.append(condition.apply(audio, rng, rate, noise_color, talkers))
            predictions[position].extend(t.text for t in transcriber.transcribe(degraded))
            bar.update(len(group))
    bar.close()
    if not references:
        raise ConfigurationError("the split has no examples to perturb")
    return [ConditionResult(c.kind, c.level, c.label, word_error_rate(references, texts),
                            char_error_rate(references, texts), len(texts))
            for c, texts in zip(conditions, predictions)]


@dataclass(frozen=True)
class RobustnessOptions:
    model: str
    split: EvalSplit
    output_dir: str = "robustness"
    snr_db: Sequence[float] = DEFAULT_SNR_DB
    noise_color: str = "pink"
    rt60_s: Sequence[float] = DEFAULT_RT60_S
    speeds: Sequence[float] = ()
    bandwidths_hz: Sequence[float] = ()
    babble_snr_db: Sequence[float] = DEFAULT_BABBLE_SNR_DB
    codecs: Sequence[str] = DEFAULT_CODECS
    chunk_length_s: float | None = None
    stride_length_s: float | None = None
    decoding: DecoderChoice = field(default_factory=DecoderChoice)
    load: LoadOptions = field(default_factory=LoadOptions)
    batch_size: int = 16
    max_samples: int | None = None
    seed: int = 0


def run_robustness(options: RobustnessOptions) -> RobustnessResult:
    """The `robustness` verb: load the model as eval.py does, perturb the split, score, write JSON/MD/PNG."""
    conditions = conditions_from_levels(options.snr_db, options.rt60_s, options.speeds, options.bandwidths_hz,
                                        options.babble_snr_db, options.codecs)
    loaded = load_for_inference(options.model, options.load, options.decoding,
                                TranscriberOptions(options.chunk_length_s, options.stride_length_s, options.batch_size))
    dataset = load_split(options.split, token=options.load.token)
    # The model's own normalizer (written by training) makes targets comparable with what it can spell.
    rows = measure_robustness(loaded.transcriber, dataset, conditions, model_normalizer(loaded.model_dir),
                              seed=options.seed, noise_color=options.noise_color, max_samples=options.max_samples)
    split = options.split
    result = RobustnessResult(str(options.model), split.dataset, split.config, split.split, loaded.decoder.engine,
                              options.noise_color, options.seed, rows)
    write_robustness(result, Path(options.output_dir), plot_robustness)
    return result


def write_robustness(result: RobustnessResult, output_dir: Path, plot) -> dict[str, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": output_dir / ROBUSTNESS_FILE, "markdown": output_dir / "robustness.md",
             "png": output_dir / "robustness.png"}
    paths["json"].write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    title = f"{result.dataset} {result.config or ''} {result.split}".replace("  ", " ")
    paths["markdown"].write_text(f"# Robustness of {result.model} on {title} ({result.decoder} decoding)\n\n"
                                 f"{result.table()}\n", encoding="utf-8")
    plot({os.path.basename(str(result.model).rstrip("/")) or "model": result}, paths["png"], title=title)
    return paths


def read_robustness(path: str | os.PathLike) -> RobustnessResult:
    return RobustnessResult.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
