"""Multi-condition training: random degradations that make clean recordings sound like real ones.

`Augmenter` draws, per example and per condition, whether it applies (its probability) and its strength
(from a range), from a seeded generator, and applies the chosen conditions in the order a recording meets
them, whatever the order asked for: the voice (speed, pitch), the room (simulated or statistical
reverberation), what else is heard (babble, noise), the input level (gain, clipping), then the channel
(codec, band limit). The signal processing is in effects.py, codecs.py and rooms.py.

The same generator seed gives the same degradations: `apply(audio, rng)` is a pure function of its
arguments, so a pre-rendered copy of a corpus is reproducible whatever the number of processes that render it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from robust_speech.audio import codecs
from robust_speech.audio.decode import TARGET_SAMPLING_RATE
from robust_speech.audio.effects import (
    add_babble,
    add_noise,
    add_reverb,
    apply_gain,
    band_limit,
    change_speed,
    clip,
    convolve,
    shift_pitch,
)
from robust_speech.audio.rooms import RoomBank, RoomBankSpec, room_bank
from robust_speech.core.errors import ConfigurationError

# The order of application (see the module docstring).
AUGMENTATIONS = ("speed", "pitch", "rir", "reverb", "babble", "noise", "gain", "clip", "codec", "bandlimit")
CODEC_CHOICES = (("mp3", 8), ("mp3", 16), ("mp3", 32), ("opus", 9), ("opus", 20), ("telephone", 0))


@dataclass(frozen=True)
class AugmentOptions:
    """Which conditions (each with its probability per example) and their ranges, all inclusive."""

    probabilities: dict[str, float]
    snr_db: tuple[float, float] = (5.0, 20.0)  # colored noise
    noise_exponents: tuple[float, float] = (0.0, 2.0)  # 1/f^x power spectrum: white (0) to brown (2)
    babble_snr_db: tuple[float, float] = (5.0, 20.0)
    babble_talkers: tuple[int, int] = (1, 4)
    speeds: tuple[float, float] = (0.9, 1.1)
    semitones: tuple[float, float] = (-3.0, 3.0)
    rt60_s: tuple[float, float] = (0.2, 1.0)
    rooms: int = 48  # simulated rooms in the bank that --augment rir draws from
    gain_db: tuple[float, float] = (-20.0, 6.0)
    clip_headroom_db: tuple[float, float] = (3.0, 15.0)
    bandwidths_hz: tuple[float, ...] = (3400.0, 4000.0, 5500.0)
    codecs: tuple[tuple[str, int], ...] = CODEC_CHOICES
    sampling_rate: int = TARGET_SAMPLING_RATE
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.probabilities if kind not in AUGMENTATIONS]
        if unknown:
            raise ConfigurationError(f"--augment {','.join(unknown)}: choose from {','.join(AUGMENTATIONS)}")
        for kind, probability in self.probabilities.items():
            if not 0.0 <= probability <= 1.0:
                raise ConfigurationError(f"--augment {kind}: its probability must be between 0 and 1, got {probability}")

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind in AUGMENTATIONS if kind in self.probabilities)


def parse_kinds(value: str | None, default_probability: float) -> dict[str, float]:
    """`noise,rir:0.3,babble` -> {noise: default, rir: 0.3, babble: default}."""
    if not 0.0 <= default_probability <= 1.0:
        raise ConfigurationError(f"--augment_prob must be between 0 and 1, got {default_probability}")
    probabilities: dict[str, float] = {}
    for part in (value or "").split(","):
        name, _, probability = part.strip().partition(":")
        if not name:
            continue
        try:
            probabilities[name] = float(probability) if probability else default_probability
        except ValueError:
            raise ConfigurationError(f"--augment {part.strip()!r}: expected a condition, or condition:probability "
                                     "such as rir:0.3") from None
    return probabilities


def parse_range(value: str, flag: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in value.split(","))
    except ValueError:
        raise ConfigurationError(f"{flag} {value!r}: expected low,high such as 5,20") from None
    if low > high:
        raise ConfigurationError(f"{flag} {value!r}: low is above high")
    return low, high


@dataclass
class Augmenter:
    """Applies `options`' conditions. `counts` says how often each was applied, for the training log."""

    options: AugmentOptions
    rng: np.random.Generator = field(init=False, repr=False)
    counts: Counter = field(init=False, repr=False, default_factory=Counter)
    _rooms: RoomBank | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.options.seed)

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.options.kinds

    def __call__(self, audio: np.ndarray, others: Sequence[np.ndarray] = ()) -> np.ndarray:
        """Degraded `audio`, drawing from this augmenter's own generator."""
        return self.apply(audio, self.rng, others)

    def rooms(self) -> RoomBank:
        if self._rooms is None:
            options = self.options
            self._rooms = room_bank(RoomBankSpec(count=options.rooms, rt60_s=options.rt60_s,
                                                 sampling_rate=options.sampling_rate, seed=options.seed))
        return self._rooms

    def apply(self, audio: np.ndarray, rng: np.random.Generator, others: Sequence[np.ndarray] = ()) -> np.ndarray:
        """`audio` degraded by the conditions `rng` draws; `others` are the utterances babble may draw from
        (never `audio` itself: pass the other examples of a batch). Without others, babble does not apply and
        is counted as `babble_without_talkers`."""
        audio, applied = self.degrade(audio, rng, others)
        self.counts.update(applied)
        return audio

    def degrade(self, audio: np.ndarray, rng: np.random.Generator,
                others: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, tuple[str, ...]]:
        """`apply` without counting: the degraded audio and the conditions applied, in order."""
        options, rate = self.options, self.options.sampling_rate
        applied: list[str] = []
        audio = np.asarray(audio, dtype=np.float32)
        # Each condition draws from its own generator, seeded from `rng` by its place in AUGMENTATIONS: adding
        # or dropping a condition leaves the others' draws as they were.
        seeds = rng.integers(2**63, size=len(AUGMENTATIONS))
        for kind in options.kinds:
            rng = np.random.default_rng(seeds[AUGMENTATIONS.index(kind)])
            if rng.random() >= options.probabilities[kind] or not audio.size:
                continue
            if kind == "speed":
                audio = change_speed(audio, float(rng.uniform(*options.speeds)), rate)
            elif kind == "pitch":
                audio = shift_pitch(audio, float(rng.uniform(*options.semitones)), rate)
            elif kind == "rir":
                audio = convolve(audio, self.rooms().draw(rng))
            elif kind == "reverb":
                audio = add_reverb(audio, float(rng.uniform(*options.rt60_s)), rate, rng)
            elif kind == "babble":
                if not others:
                    applied.append("babble_without_talkers")
                    continue
                talkers = int(rng.integers(options.babble_talkers[0], options.babble_talkers[1] + 1))
                chosen = [others[int(index)] for index in rng.integers(len(others), size=talkers)]
                audio = add_babble(audio, chosen, float(rng.uniform(*options.babble_snr_db)), rng)
            elif kind == "noise":
                exponent = float(rng.uniform(*options.noise_exponents))
                audio = add_noise(audio, float(rng.uniform(*options.snr_db)), rng, exponent)
            elif kind == "gain":
                audio = apply_gain(audio, float(rng.uniform(*options.gain_db)))
            elif kind == "clip":
                audio = clip(audio, float(rng.uniform(*options.clip_headroom_db)))
            elif kind == "codec":
                name, kbps = options.codecs[int(rng.integers(len(options.codecs)))]
                audio = encode_decode(audio, name, kbps, rate)
            elif kind == "bandlimit":
                audio = band_limit(audio, float(rng.choice(options.bandwidths_hz)), rate)
            applied.append(kind)
        return audio, tuple(applied)

    def summary(self, examples: int | None = None) -> str:
        return summarize(self.counts, examples)


def summarize(counts: Counter, examples: int | None = None) -> str:
    """One line: how many examples each condition was applied to."""
    applied = ", ".join(f"{kind} {counts[kind]}" for kind in (*AUGMENTATIONS, "babble_without_talkers") if counts[kind])
    of = f" (of {examples} examples)" if examples is not None else ""
    return f"augmentation applied{of}: {applied or 'nothing'}"


def encode_decode(audio: np.ndarray, codec: str, kbps: int, sampling_rate: int) -> np.ndarray:
    if codec == "mp3":
        return codecs.mp3(audio, kbps, sampling_rate)
    if codec == "opus":
        return codecs.opus(audio, kbps, sampling_rate)
    if codec == "telephone":
        return codecs.telephone(audio, sampling_rate)
    raise ValueError(f"codec must be one of {', '.join(codecs.CODECS)}, not {codec!r}")
