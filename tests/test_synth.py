import hashlib

import numpy as np
import pytest
from conftest import SMALL_CORPUS, tone

import robust_speech.data.synth as synth
from robust_speech.audio.decode import audio_info, load_audio
from robust_speech.audio.effects import add_noise, add_reverb
from robust_speech.core.errors import ConfigurationError
from robust_speech.data.sentences import LANGUAGES, load_sentences
from robust_speech.data.synth import TSV_COLUMNS, SynthConfig, read_tsv, synthesize_corpus
from robust_speech.text.normalizer import TextNormalizer


def test_sentences_in_six_languages_are_clean_and_speakable():
    for code in LANGUAGES:
        sentences = load_sentences(code)
        assert len(sentences) > 1000, code
        assert len(set(sentences)) == len(sentences)
        for sentence in sentences[:300]:
            assert sentence[0].isupper() and sentence[-1] in ".!?"
            assert not any(char.isdigit() for char in sentence)
            assert 3 <= len(sentence.split()) <= 14


def test_common_voice_layout(small_corpus):
    root = small_corpus.root
    assert (root / "corpus.json").is_file()
    assert small_corpus.languages == ["en", "de", "es", "it"]
    for language in small_corpus.languages:
        folder = root / language
        for split, size in [("train", 6), ("dev", 2), ("test", 2), ("validated", 10)]:
            rows = read_tsv(folder / f"{split}.tsv")
            assert len(rows) == size
            assert tuple(rows[0]) == TSV_COLUMNS
            for row in rows:
                assert row["sentence"].strip() and row["locale"] == language
                assert (folder / "clips" / row["path"]).is_file()
        clip = folder / "clips" / read_tsv(folder / "train.tsv")[0]["path"]
        assert clip.suffix == ".mp3"
        info = audio_info(clip)
        assert (info.format, info.sampling_rate) == ("MP3", 48000)
        audio = load_audio(clip)
        assert 0.5 < audio.size / 16000 < 15 and np.abs(audio).max() > 0.05  # speech, not silence


def test_dev_and_test_voices_never_speak_in_train(small_corpus):
    for language in small_corpus.languages:
        train = {row["client_id"] for row in small_corpus.rows(language, "train")}
        held_out = {row["client_id"] for split in ("dev", "test") for row in small_corpus.rows(language, split)}
        assert train and held_out and not train & held_out


def test_lm_text_never_contains_a_split_sentence(small_corpus):
    normalize = TextNormalizer()
    for language in small_corpus.languages:
        lm = {normalize(line) for line in small_corpus.lm_text(language).read_text(encoding="utf-8").splitlines()}
        assert len(lm) == SMALL_CORPUS.lm_sentences
        spoken = {normalize(row["sentence"]) for split in ("train", "dev", "test") for row in small_corpus.rows(language, split)}
        assert len(spoken) == 10 and not lm & spoken
    assert "lm_text.txt" in small_corpus.manifest["notes"]


def test_near_duplicate_sentences_count_as_one():
    config = SynthConfig(languages=("en",), train_size=1, dev_size=1, test_size=1, lm_sentences=1)
    pools = synth.split_sentences(config, "en", ["Go home.", "Go home!", "Stay here.", "Run now.", "Sit down."],
                                  np.random.default_rng(0))
    assert sorted(len(pool) for pool in pools.values()) == [0, 1, 1, 1, 1]
    with pytest.raises(ConfigurationError, match="distinct sentences needed"):
        synth.split_sentences(config, "en", ["Go home.", "Go home!", "Stay here.", "Run now."], np.random.default_rng(0))


def test_lm_text_can_take_every_sentence_no_split_speaks():
    sentences = [f"Sentence number {word} here." for word in ("one", "two", "three", "four", "five", "six", "seven")]
    sized = SynthConfig(languages=("en",), train_size=2, dev_size=1, test_size=1, lm_sentences=3)
    every = SynthConfig(languages=("en",), train_size=2, dev_size=1, test_size=1, lm_sentences=None)
    pools = synth.split_sentences(sized, "en", sentences, np.random.default_rng(0))
    all_pools = synth.split_sentences(every, "en", sentences, np.random.default_rng(0))
    assert len(all_pools["lm"]) == 3 and all_pools == pools  # the same splits; the LM text is the rest
    assert synth.split_sentences(SynthConfig(languages=("en",), train_size=5, dev_size=1, test_size=1, lm_sentences=None),
                                 "en", sentences, np.random.default_rng(0))["lm"] == []
    assert every.key() != sized.key()


def _digest(folder):
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_same_seed_same_corpus_and_cache_reuse(tmp_path, monkeypatch):
    config = SynthConfig(languages=("de",), train_size=2, dev_size=1, test_size=1, lm_sentences=5, speakers=3, seed=3)
    first = synthesize_corpus(config, tmp_path / "a", progress=False)
    second = synthesize_corpus(config, tmp_path / "b", progress=False)
    assert _digest(first.root) == _digest(second.root)
    other_seed = synthesize_corpus(SynthConfig(**{**config.__dict__, "seed": 4}), tmp_path / "c", progress=False)
    assert _digest(other_seed.root) != _digest(first.root)

    monkeypatch.setattr(synth, "speak", lambda *args: pytest.fail("a cached corpus was synthesized again"))
    assert synthesize_corpus(config, tmp_path / "a", progress=False).manifest == first.manifest
    with pytest.raises(ConfigurationError, match="holds something else"):
        synthesize_corpus(SynthConfig(**{**config.__dict__, "train_size": 3}), tmp_path / "a", progress=False)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]

    monkeypatch.undo()  # speak() works again; a new cache folder must be synthesized
    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(tmp_path / "cache"))
    cached = synth.cached_corpus(config)
    assert cached.root == tmp_path / "cache" / "synth" / config.key()
    assert _digest(cached.root) == _digest(first.root)


def test_long_form_recordings_with_transcripts_and_degradation(tmp_path):
    config = SynthConfig(
        languages=("es",), train_size=1, dev_size=1, test_size=1, lm_sentences=5, long_recordings=1,
        long_duration_s=(60.0, 61.0), audio_format="wav", sampling_rate=16000, noise_snr_db=5.0, reverb_rt60_s=0.4,
    )
    corpus = synthesize_corpus(config, tmp_path / "long", progress=False)
    folder = corpus.root / "es"
    (recording,) = read_tsv(folder / "long.tsv")
    audio = load_audio(folder / "long" / recording["path"])
    assert 60.0 <= audio.size / 16000 <= 80.0
    segments = [row for row in read_tsv(folder / "long_segments.tsv") if row["path"] == recording["path"]]
    assert len(segments) >= 10
    assert " ".join(row["sentence"] for row in segments) == recording["sentence"]
    starts = [float(row["start"]) for row in segments]
    assert starts == sorted(starts) and float(segments[-1]["end"]) <= audio.size / 16000 + 0.01
    # Degraded: the pauses between sentences are full of noise instead of digital silence.
    first_start = int(float(segments[0]["start"]) * 16000)
    assert np.abs(audio[: first_start - 800]).max() > 0.001
    # Only the degraded splits differ from what the voice says: train is clean, test is not.
    speakers = {row["client_id"]: row for row in read_tsv(folder / "speakers.tsv")}
    for split, degraded in [("train", False), ("test", True)]:
        (row,) = corpus.rows("es", split)
        voice = speakers[row["client_id"]]
        speaker = synth.Speaker(voice["client_id"], voice["voice"], voice["variant"], int(voice["speed"]), int(voice["pitch"]))
        spoken = synth.speak(row["sentence"], speaker, "es", 16000)
        stored = load_audio(folder / "clips" / row["path"])
        assert np.allclose(stored, spoken, atol=2e-4) != degraded, split


def test_noise_is_added_at_the_requested_snr():
    speech = tone(300, 2.0, 16000, amplitude=0.1)
    noisy = add_noise(speech, 10.0, np.random.default_rng(0), "pink")
    noise = noisy - speech
    snr = 10 * np.log10(np.mean(speech**2) / np.mean(noise**2))
    assert snr == pytest.approx(10.0, abs=0.2)


def test_reverb_keeps_length_and_adds_a_decaying_tail():
    burst = np.zeros(16000, dtype=np.float32)
    burst[:800] = tone(500, 0.05, 16000)
    wet = add_reverb(burst, 0.5, 16000, np.random.default_rng(0))
    assert wet.shape == burst.shape
    tail = wet[1600:3200]
    assert np.abs(tail).max() > 0.005 and np.abs(wet[12000:]).max() < np.abs(tail).max()


def test_bad_configs_are_refused():
    with pytest.raises(ConfigurationError, match="no sentence source"):
        SynthConfig(languages=("xx",))
    with pytest.raises(ConfigurationError, match="audio format"):
        SynthConfig(audio_format="aiff")
    with pytest.raises(ConfigurationError, match="degrade"):
        SynthConfig(degraded_splits=("validation",))


def test_wide_voices_vary_rate_pitch_and_word_gaps_and_speakers_tsv_says_who_spoke_each_clip(tmp_path):
    config = SynthConfig(languages=("en",), train_size=12, dev_size=3, test_size=3, lm_sentences=2, audio_format="wav",
                         sampling_rate=16000, speakers=9, voices="wide", speed_wpm=(110, 220), pitch=(0, 99),
                         word_gap=(0, 6), seed=4)
    assert config.key() != SynthConfig(languages=("en",), train_size=12, dev_size=3, test_size=3, lm_sentences=2,
                                       audio_format="wav", sampling_rate=16000, speakers=9, seed=4).key()
    corpus = synthesize_corpus(config, tmp_path / "wide", progress=False)
    speakers = {row["client_id"]: row for row in read_tsv(corpus.root / "en" / "speakers.tsv")}
    assert len(speakers) == 9
    assert {row["variant"] for row in speakers.values()} <= set(synth.WIDE_VOICE_VARIANTS)
    assert all(110 <= int(row["speed"]) <= 220 and 0 <= int(row["pitch"]) <= 99 and 0 <= int(row["word_gap"]) <= 6
               for row in speakers.values())
    assert len({row["word_gap"] for row in speakers.values()}) > 1
    # Every clip's speaker is in the table, with the splits it speaks in and its number of clips.
    spoken = {split: corpus.rows("en", split) for split in ("train", "dev", "test")}
    for split, rows in spoken.items():
        assert all(split in speakers[row["client_id"]]["splits"].split(",") for row in rows)
    assert sum(int(row["clips"]) for row in speakers.values()) == sum(len(rows) for rows in spoken.values())
    train = {row["client_id"] for row in spoken["train"]}
    assert train and not train & {row["client_id"] for split in ("dev", "test") for row in spoken[split]}
    # The word gap is spoken: a speaker with a gap says the same words more slowly than without it.
    voice = next(row for row in speakers.values() if int(row["word_gap"]) >= 3)
    speaker = synth.Speaker(voice["client_id"], voice["voice"], voice["variant"], int(voice["speed"]), int(voice["pitch"]),
                            int(voice["word_gap"]))
    without = synth.Speaker(voice["client_id"], voice["voice"], voice["variant"], int(voice["speed"]), int(voice["pitch"]))
    words = "one two three four five six seven eight nine ten"
    assert synth.speak(words, speaker, "en", 16000).size > synth.speak(words, without, "en", 16000).size + 0.1 * 16000 * 3


def test_corpora_cached_before_voice_ranges_existed_keep_their_key():
    import dataclasses
    import json

    # The hash of the default config as it was before `voices`, `speed_wpm`, `pitch` and `word_gap` were fields.
    config = SynthConfig(languages=("en",), train_size=3, dev_size=1, test_size=1, lm_sentences=2, seed=1)
    fields = {name: value for name, value in dataclasses.asdict(config).items()
              if name not in ("voices", "speed_wpm", "pitch", "word_gap", "held_out_splits")}
    payload = json.dumps({"version": synth.SYNTH_VERSION, **fields}, sort_keys=True)
    assert config.key() == hashlib.sha256(payload.encode()).hexdigest()[:16]
