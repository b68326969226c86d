"""Synthetic multilingual speech corpora in the Common Voice layout, for the demo and the tests.

No speech corpus can be downloaded here, so the project speaks its own: real sentences (sentences.py) read by
espeak-ng with many voices, speeds and pitches. The result looks like a Common Voice release
(`<lang>/clips/*.mp3` + `train.tsv`, `dev.tsv`, `test.tsv`, `validated.tsv`), so every loader that reads
Common Voice reads it. Per language it also writes `lm_text.txt` (sentences for n-gram training, disjoint
from every split after normalization) and, on request, long-form recordings with full transcripts and noisy
or reverberant "real-world" versions of chosen splits.

Deterministic for a given `SynthConfig`, and cached by it: asking twice for the same corpus reuses it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import soundfile
from filelock import FileLock

from robust_speech.audio.decode import load_audio
from robust_speech.audio.effects import add_noise, add_reverb
from robust_speech.core.errors import ConfigurationError, MissingDependencyError, RobustSpeechError
from robust_speech.core.logs import progress_bar
from robust_speech.core.paths import cache_root
from robust_speech.data.sentences import language_source, load_sentences
from robust_speech.text.normalizer import TextNormalizer

# Bump when the output for a given config changes, so that caches made by older code are not reused.
SYNTH_VERSION = 1
SPLITS = ("train", "dev", "test")
AUDIO_FORMATS = {"mp3": "MP3", "wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
# espeak-ng voice variants that sound like a plausible speaker (no whisper, robot or novelty voices).
VOICE_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "adam", "linda", "steph", "john", "belinda", "max", "paul",
)
# `voices="wide"`: every variant espeak-ng 1.51 ships that is a human voice (its robots, whispers, croaks and
# effects left out), for training sets whose voices should vary as much as one synthesizer allows.
WIDE_VOICE_VARIANTS = VOICE_VARIANTS + (
    "m8", "klatt4", "klatt5", "klatt6", "steph2", "steph3", "Alex", "Alicia", "Andrea", "Andy", "Annie", "antonio",
    "aunty", "benjamin", "boris", "caleb", "david", "Denis", "Diogo", "ed", "edward", "edward2", "Gene", "Gene2",
    "gustave", "Henrique", "Hugo", "iven", "iven2", "iven3", "iven4", "Jacky", "Lee", "marcelo", "Marco", "Mario",
    "Michael", "michel", "miguel", "Mike", "Nguyen", "pablo", "pedro", "quincy", "rob", "robert", "shelby", "travis",
    "victor", "zac", "anika", "norbert", "sandro", "grandpa", "grandma",
)
VOICE_SETS = {"common": VOICE_VARIANTS, "wide": WIDE_VOICE_VARIANTS}
# Fields added after corpora were cached, with the value those corpora were made with: a config that keeps
# that value keeps its old key, so its cached corpus is reused.
_LATER_FIELDS = {"held_out_splits": ("dev", "test", "long"), "voices": "common", "speed_wpm": (135, 190),
                 "pitch": (25, 75), "word_gap": (0, 0)}
TSV_COLUMNS = ("client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accents", "locale", "segment")


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesize. Sizes are per language."""

    languages: tuple[str, ...] = ("en", "de", "es", "it")
    train_size: int = 40
    dev_size: int = 10
    test_size: int = 10
    lm_sentences: int | None = 1000  # None: every sentence of the language that no split speaks
    long_recordings: int = 0
    long_duration_s: tuple[float, float] = (60.0, 300.0)
    audio_format: str = "mp3"
    sampling_rate: int = 48_000  # Common Voice's mp3 rate; the data layer must resample it
    speakers: int = 12
    # Each speaker: a voice variant from this set, and a rate (words per minute), pitch (0-99) and gap between
    # words (units of 10 ms) drawn from these ranges, inclusive.
    voices: str = "common"
    speed_wpm: tuple[int, int] = (135, 190)
    pitch: tuple[int, int] = (25, 75)
    word_gap: tuple[int, int] = (0, 0)
    hold_out_voices: bool = True  # dev/test/long voices never speak in train
    held_out_splits: tuple[str, ...] = ("dev", "test", "long")  # the splits those held-out voices speak
    noise_snr_db: float | None = None
    noise_color: str = "pink"
    reverb_rt60_s: float | None = None
    degraded_splits: tuple[str, ...] = ("dev", "test", "long")
    seed: int = 0

    def __post_init__(self) -> None:
        for code in self.languages:
            language_source(code)  # raises for an unknown language
        if self.audio_format not in AUDIO_FORMATS:
            raise ConfigurationError(f"audio format must be one of {', '.join(AUDIO_FORMATS)}, not {self.audio_format!r}")
        if min(self.train_size, self.dev_size, self.test_size, self.lm_sentences or 0, self.long_recordings) < 0:
            raise ConfigurationError("split sizes must be zero or more")
        low, high = self.long_duration_s
        if not 0 < low <= high:
            raise ConfigurationError(f"long recording durations must satisfy 0 < min <= max, not {low}..{high}")
        if self.voices not in VOICE_SETS:
            raise ConfigurationError(f"voices must be one of {', '.join(VOICE_SETS)}, not {self.voices!r}")
        for name, (low, high), bounds in (("speed_wpm", self.speed_wpm, (80, 450)), ("pitch", self.pitch, (0, 99)),
                                          ("word_gap", self.word_gap, (0, 100))):
            if not bounds[0] <= low <= high <= bounds[1]:
                raise ConfigurationError(f"{name} must satisfy {bounds[0]} <= low <= high <= {bounds[1]}, not {low}..{high}")
        if self.hold_out_voices and self.speakers < 2:
            raise ConfigurationError("holding out voices needs at least 2 speakers per language")
        unknown = (set(self.degraded_splits) | set(self.held_out_splits)) - {*SPLITS, "long"} - {"train"}
        if unknown or "train" in self.held_out_splits:
            raise ConfigurationError(f"unknown split(s) to degrade or hold voices out of: {', '.join(sorted(unknown))}")

    def key(self) -> str:
        """Identifies the corpus this config produces."""
        fields = asdict(self)
        for name, old_value in _LATER_FIELDS.items():
            if _same(fields[name], old_value):
                del fields[name]
        payload = json.dumps({"version": SYNTH_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _same(value, old_value) -> bool:
    return tuple(value) == tuple(old_value) if isinstance(old_value, tuple) else value == old_value


@dataclass(frozen=True)
class Speaker:
    client_id: str
    voice: str
    variant: str
    speed: int  # words per minute
    pitch: int  # 0-99
    word_gap: int = 0  # extra pause between words, in units of 10 ms

    @property
    def espeak_voice(self) -> str:
        return f"{self.voice}+{self.variant}"


@dataclass(frozen=True)
class Corpus:
    """A synthesized corpus on disk and its manifest (`corpus.json`)."""

    root: Path
    manifest: dict = field(repr=False)

    @property
    def languages(self) -> list[str]:
        return list(self.manifest["languages"])

    def split_tsv(self, language: str, split: str) -> Path:
        return self.root / language / f"{split}.tsv"

    def clips_dir(self, language: str) -> Path:
        return self.root / language / "clips"

    def lm_text(self, language: str) -> Path:
        return self.root / language / "lm_text.txt"

    def rows(self, language: str, split: str) -> list[dict[str, str]]:
        return read_tsv(self.split_tsv(language, split))


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))


def default_cache_dir() -> Path:
    return cache_root() / "synth"


def cached_corpus(config: SynthConfig, cache_dir: Path | None = None, progress: bool = False) -> Corpus:
    """The corpus for `config` from the cache, synthesized first if it is not there yet."""
    return synthesize_corpus(config, (cache_dir or default_cache_dir()) / config.key(), progress=progress)


def synthesize_corpus(config: SynthConfig, output_dir: str | os.PathLike, *, progress: bool = True) -> Corpus:
    """Write the corpus for `config` to `output_dir`, or reuse it if that folder already holds it.

    The corpus is built in a sibling temporary folder and renamed into place, so an interrupted run never
    leaves a folder that looks complete.
    """
    output_dir = Path(output_dir)
    existing = _read_manifest(output_dir)
    if existing is not None and existing.get("key") == config.key():
        return Corpus(output_dir, existing)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    # Processes that ask for the same corpus at once (parallel test workers, two commands sharing the cache)
    # synthesize it once: the others wait here, then read what the first one wrote.
    with FileLock(output_dir.parent / f".{output_dir.name}.lock"):
        existing = _read_manifest(output_dir)
        if existing is not None and existing.get("key") == config.key():
            return Corpus(output_dir, existing)
        return _synthesize_into(config, output_dir, progress)


def _synthesize_into(config: SynthConfig, output_dir: Path, progress: bool) -> Corpus:
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ConfigurationError(
            f"{output_dir} already exists and holds something else (a different corpus or other files); "
            "choose another --output_dir or delete it"
        )
    if shutil.which("espeak-ng") is None:
        raise MissingDependencyError("espeak-ng is not installed: apt-get install espeak-ng (or run `make setup`)")
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.partial-", dir=output_dir.parent))
    try:
        manifest = {"key": config.key(), "version": SYNTH_VERSION, "config": asdict(config), "languages": {}}
        for language in config.languages:
            manifest["languages"][language] = _synthesize_language(config, language, staging / language, progress)
        manifest["notes"] = (
            "lm_text.txt holds sentences for language-model training only: none of them, after normalization, "
            "is a train, dev, test or long-form sentence, so an n-gram built from it never saw the test set."
        )
        with open(staging / "corpus.json", "w", encoding="utf-8") as file:
            json.dump(manifest, file, ensure_ascii=False, indent=2)
        if output_dir.exists():
            output_dir.rmdir()  # empty, checked above
        os.replace(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Corpus(output_dir, _read_manifest(output_dir))


def _read_manifest(folder: Path) -> dict | None:
    try:
        with open(folder / "corpus.json", encoding="utf-8") as file:
            return json.load(file)
    except (OSError, json.JSONDecodeError):
        return None


def make_speakers(language: str, count: int, rng: np.random.Generator, config: SynthConfig | None = None) -> list[Speaker]:
    """`count` distinct speakers: a regional voice, a voice variant, a speaking rate, a pitch and a gap between
    words each, drawn from `config`'s set and ranges."""
    config = config or SynthConfig(languages=(language,))
    voices = language_source(language).espeak_voices
    catalogue = VOICE_SETS[config.voices]
    variants = rng.permutation(len(catalogue))
    speakers = []
    for index in range(count):
        variant = catalogue[variants[index % len(catalogue)]]
        voice = voices[index % len(voices)]
        speed = int(rng.integers(config.speed_wpm[0], config.speed_wpm[1] + 1))
        pitch = int(rng.integers(config.pitch[0], config.pitch[1] + 1))
        # Drawn only when the range is open, so corpora made before word gaps existed keep their voices.
        gap = int(rng.integers(config.word_gap[0], config.word_gap[1] + 1)) if config.word_gap != (0, 0) else 0
        identity = f"{language}:{voice}+{variant}:{speed}:{pitch}:{index}" + (f":{gap}" if gap else "")
        client_id = hashlib.sha1(identity.encode()).hexdigest()
        speakers.append(Speaker(client_id, voice, variant, speed, pitch, gap))
    return speakers


def split_sentences(config: SynthConfig, language: str, sentences: Sequence[str], rng: np.random.Generator):
    """Disjoint sentence pools for each split, long-form recordings and LM text.

    Sentences that normalize to the same text count as one, so "Go home." in test and "Go home!" in the LM
    text cannot leak the test set into the language model.
    """
    normalize = TextNormalizer()
    unique: dict[str, str] = {}
    for sentence in sentences:
        unique.setdefault(normalize(sentence), sentence)
    pool = [unique[key] for key in sorted(unique)]
    order = rng.permutation(len(pool))
    # A long recording lasts at most long_duration_s[1]; espeak reads a sentence in about 2 s or more.
    long_needed = config.long_recordings * int(np.ceil(config.long_duration_s[1] / 2.0))
    sizes = {
        "test": config.test_size,
        "dev": config.dev_size,
        "long": long_needed,
        "train": config.train_size,
    }
    sizes["lm"] = config.lm_sentences if config.lm_sentences is not None else max(0, len(pool) - sum(sizes.values()))
    if sum(sizes.values()) > len(pool):
        raise ConfigurationError(
            f"{language}: {sum(sizes.values())} distinct sentences needed ({sizes}) but only {len(pool)} are "
            "available; ask for fewer"
        )
    pools, start = {}, 0
    for name, size in sizes.items():
        pools[name] = [pool[i] for i in order[start : start + size]]
        start += size
    return pools


def _synthesize_language(config: SynthConfig, language: str, folder: Path, progress: bool) -> dict:
    # One generator per language, derived from the seed, so adding a language does not change the others.
    seed = int.from_bytes(hashlib.sha256(f"{config.seed}:{language}".encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    pools = split_sentences(config, language, load_sentences(language), rng)
    speakers = make_speakers(language, config.speakers, rng, config)
    if config.hold_out_voices:
        held_out = max(1, config.speakers // 3)
        train_speakers, eval_speakers = speakers[:-held_out], speakers[-held_out:]
    else:
        train_speakers = eval_speakers = speakers

    clips = folder / "clips"
    clips.mkdir(parents=True)
    jobs = []  # (split, file name, sentence, speaker, degradation seed)
    for split in SPLITS:
        voices = eval_speakers if split in config.held_out_splits else train_speakers
        for index, sentence in enumerate(pools[split]):
            speaker = voices[int(rng.integers(len(voices)))]
            name = f"synth_{language}_{split}_{index:05d}.{config.audio_format}"
            jobs.append((split, name, sentence, speaker, int(rng.integers(2**32))))

    def render(job):
        split, name, sentence, speaker, job_seed = job
        audio = speak(sentence, speaker, language, config.sampling_rate)
        audio = _degrade(config, split, audio, np.random.default_rng(job_seed))
        _write_audio(clips / name, audio, config)
        return audio.size / config.sampling_rate

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        durations = list(
            progress_bar(pool.map(render, jobs), total=len(jobs), desc=f"synth {language}", disable=not progress,
                         leave=False)
        )

    rows_by_split: dict[str, list[dict]] = {split: [] for split in SPLITS}
    seconds_by_split = {split: 0.0 for split in SPLITS}
    for (split, name, sentence, speaker, _seed), seconds in zip(jobs, durations, strict=True):
        rows_by_split[split].append(_tsv_row(speaker, name, sentence, language))
        seconds_by_split[split] += seconds
    for split, rows in rows_by_split.items():
        _write_tsv(folder / f"{split}.tsv", TSV_COLUMNS, rows)
    _write_tsv(folder / "validated.tsv", TSV_COLUMNS, [row for split in SPLITS for row in rows_by_split[split]])
    # Who spoke what: each clip's row in its split's TSV names its client_id; this table gives that speaker's
    # espeak-ng voice and settings, the splits it speaks in and how many clips.
    _write_tsv(
        folder / "speakers.tsv",
        ("client_id", "voice", "variant", "speed", "pitch", "word_gap", "splits", "clips"),
        [
            {**asdict(speaker), "splits": ",".join(sorted({s for s, _n, _t, sp, _x in jobs if sp == speaker})),
             "clips": sum(1 for _s, _n, _t, sp, _x in jobs if sp == speaker)}
            for speaker in speakers
        ],
    )
    (folder / "lm_text.txt").write_text("".join(f"{line}\n" for line in pools["lm"]), encoding="utf-8")

    summary = {
        "utterances": {split: len(rows) for split, rows in rows_by_split.items()},
        "hours": {split: round(seconds / 3600, 4) for split, seconds in seconds_by_split.items()},
        "lm_sentences": len(pools["lm"]),
        "speakers": {
            "train": sorted({s.client_id for s in train_speakers}),
            "eval": sorted({s.client_id for s in eval_speakers}),
        },
    }
    if config.long_recordings:
        long_speakers = eval_speakers if "long" in config.held_out_splits else train_speakers
        summary["long_recordings"] = _synthesize_long(config, language, folder, pools["long"], long_speakers, rng, progress)
    return summary


def _synthesize_long(config, language, folder, sentences, speakers, rng, progress) -> int:
    """Recordings of one speaker reading several sentences with natural pauses, 1-5 minutes each."""
    long_dir = folder / "long"
    long_dir.mkdir()
    rows, segments = [], []
    remaining = list(sentences)
    for index in progress_bar(range(config.long_recordings), desc=f"long {language}", disable=not progress,
                              leave=False):
        speaker = speakers[int(rng.integers(len(speakers)))]
        target = float(rng.uniform(*config.long_duration_s))
        name = f"synth_{language}_long_{index:03d}.{config.audio_format}"
        parts, spoken, position = [], [], 0
        while position < target * config.sampling_rate and remaining:
            sentence = remaining.pop(0)
            pause = np.zeros(int(rng.uniform(0.3, 1.5) * config.sampling_rate), dtype=np.float32)
            speech = speak(sentence, speaker, language, config.sampling_rate)
            start = position + pause.size
            parts += [pause, speech]
            position = start + speech.size
            spoken.append(sentence)
            segments.append({"path": name, "start": f"{start / config.sampling_rate:.3f}",
                             "end": f"{position / config.sampling_rate:.3f}", "sentence": sentence})
        audio = _degrade(config, "long", np.concatenate(parts), rng)
        _write_audio(long_dir / name, audio, config)
        rows.append({"client_id": speaker.client_id, "path": name, "sentence": " ".join(spoken),
                     "duration": f"{audio.size / config.sampling_rate:.3f}"})
    _write_tsv(folder / "long.tsv", ("client_id", "path", "sentence", "duration"), rows)
    _write_tsv(folder / "long_segments.tsv", ("path", "start", "end", "sentence"), segments)
    return len(rows)


def speak(text: str, speaker: Speaker, language: str, sampling_rate: int) -> np.ndarray:
    """`text` read by espeak-ng with `speaker`'s voice, as float32 mono at `sampling_rate`."""
    with tempfile.TemporaryDirectory(prefix="robust-speech-espeak-") as folder:
        path = os.path.join(folder, "speech.wav")
        command = ["espeak-ng", "-b", "1", "-v", speaker.espeak_voice, "-s", str(speaker.speed),
                   "-p", str(speaker.pitch), "-w", path]
        if speaker.word_gap:
            command[-2:-2] = ["-g", str(speaker.word_gap)]
        try:
            # Text on stdin: a sentence starting with '-' must not be read as an option.
            subprocess.run(command, input=text.encode("utf-8"), check=True, capture_output=True, timeout=120)
        except FileNotFoundError:
            raise MissingDependencyError("espeak-ng is not installed: apt-get install espeak-ng") from None
        except subprocess.CalledProcessError as error:
            raise RobustSpeechError(
                f"espeak-ng failed for voice {speaker.espeak_voice}: {error.stderr.decode(errors='replace')}"
            ) from None
        return load_audio(path, sampling_rate)


def _degrade(config: SynthConfig, split: str, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if split not in config.degraded_splits:
        return audio
    if config.reverb_rt60_s:
        audio = add_reverb(audio, config.reverb_rt60_s, config.sampling_rate, rng)
    if config.noise_snr_db is not None:
        audio = add_noise(audio, config.noise_snr_db, rng, config.noise_color)
    return audio


def _write_audio(path: Path, audio: np.ndarray, config: SynthConfig) -> None:
    soundfile.write(path, audio, config.sampling_rate, format=AUDIO_FORMATS[config.audio_format])


def _tsv_row(speaker: Speaker, name: str, sentence: str, language: str) -> dict:
    return {"client_id": speaker.client_id, "path": name, "sentence": sentence, "up_votes": "2", "down_votes": "0",
            "age": "", "gender": "", "accents": "", "locale": language, "segment": ""}


def _write_tsv(path: Path, columns: Iterable[str], rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(columns), delimiter="\t", quoting=csv.QUOTE_NONE,
                                escapechar=None, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
