"""Multi-condition augmentation: each condition is seeded, keeps the length contract the collator relies on,
and is measurably applied; pre-rendered copies are reproducible; dataloader workers degrade differently."""

import logging

import numpy as np
import pytest
from conftest import dominant_frequency, tone

from robust_speech.audio import codecs
from robust_speech.audio.augment import AUGMENTATIONS, Augmenter, AugmentOptions, parse_kinds
from robust_speech.audio.effects import FULL_SCALE, add_babble, apply_gain, change_speed, clip, shift_pitch
from robust_speech.audio.rooms import RoomBankSpec, measure_rt60, room_bank
from robust_speech.core.errors import ConfigurationError

RATE = 16000


def speech_like(seconds=1.5, seed=0):
    """A voiced, amplitude-modulated harmonic signal: energy where speech has it, and pauses."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * RATE)) / RATE
    pitch = 120 + 40 * rng.random()
    voiced = sum(np.sin(2 * np.pi * pitch * k * time) / k for k in range(1, 20))
    envelope = np.clip(np.sin(2 * np.pi * 3 * time), 0, None)
    fricative = 0.05 * rng.standard_normal(time.size)  # broadband, as /s/ and /f/ are
    return ((0.2 * voiced / np.abs(voiced).max() + fricative) * envelope).astype(np.float32)


def only(kind, **options):
    return Augmenter(AugmentOptions({kind: 1.0}, sampling_rate=RATE, seed=3, rooms=6, **options))


def snr_db(clean, degraded):
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((degraded - clean).astype(np.float64) ** 2))


def band_energy(audio, low, high):
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    frequencies = np.fft.rfftfreq(audio.size, 1 / RATE)
    return spectrum[(frequencies >= low) & (frequencies < high)].sum() / spectrum.sum()


@pytest.mark.parametrize("kind", AUGMENTATIONS)
def test_each_condition_is_seeded_keeps_the_length_contract_and_changes_the_audio(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(tmp_path))
    audio, others = speech_like(), [speech_like(2.0, seed) for seed in (1, 2, 3)]
    augmenter = only(kind)
    first = augmenter.apply(audio, np.random.default_rng(7), others)
    again = augmenter.apply(audio, np.random.default_rng(7), others)
    assert np.array_equal(first, again)
    assert first.dtype == np.float32 and first.ndim == 1 and np.isfinite(first).all()
    assert np.abs(first).max() <= FULL_SCALE + 1e-6
    assert first.size == audio.size or kind == "speed"  # only speed changes the duration
    assert first.size != audio.size or not np.allclose(first, audio, atol=1e-4)
    if kind not in ("clip", "bandlimit", "gain"):  # strengths drawn from a range: another seed, another result
        assert not np.array_equal(first, augmenter.apply(audio, np.random.default_rng(8), others))
    fresh = only(kind)
    degraded, applied = fresh.degrade(audio, np.random.default_rng(7), others)
    assert np.array_equal(degraded, first) and applied == (kind,)
    assert fresh.counts == {} and fresh.summary() == "augmentation applied: nothing"  # degrade() does not count
    fresh.apply(audio, np.random.default_rng(7), others)
    assert fresh.counts == {kind: 1} and fresh.summary(10) == f"augmentation applied (of 10 examples): {kind} 1"


def test_conditions_apply_in_recording_order_and_each_keeps_its_own_draws(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(tmp_path))
    audio = speech_like()
    forward = Augmenter(AugmentOptions(parse_kinds("noise,gain,speed", 1.0), seed=1))
    backward = Augmenter(AugmentOptions(parse_kinds("speed,gain,noise", 1.0), seed=1))
    assert np.array_equal(forward.apply(audio, np.random.default_rng(4)), backward.apply(audio, np.random.default_rng(4)))
    # A condition that never applies leaves the others' draws unchanged.
    with_never = Augmenter(AugmentOptions(parse_kinds("noise,codec:0,speed", 1.0), seed=1))
    without = Augmenter(AugmentOptions(parse_kinds("noise,speed", 1.0), seed=1))
    assert np.array_equal(with_never.apply(audio, np.random.default_rng(4)), without.apply(audio, np.random.default_rng(4)))
    assert parse_kinds("noise, rir:0.25", 0.5) == {"noise": 0.5, "rir": 0.25}
    with pytest.raises(ConfigurationError, match="choose from speed,pitch,rir"):
        AugmentOptions(parse_kinds("noise,echo", 0.5))
    with pytest.raises(ConfigurationError, match="condition:probability"):
        parse_kinds("rir:often", 0.5)
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        AugmentOptions({"rir": 1.5})


def test_noise_and_babble_land_in_the_asked_snr_range():
    audio = speech_like()
    for seed in range(5):
        noisy = only("noise", snr_db=(3.0, 6.0)).apply(audio, np.random.default_rng(seed))
        assert 3.0 - 0.2 <= snr_db(audio, noisy) <= 6.0 + 0.2
    talkers = [speech_like(2.0, seed) for seed in (1, 2)]
    for seed in range(5):
        babbled = only("babble", babble_snr_db=(0.0, 2.0)).apply(audio, np.random.default_rng(seed), talkers)
        assert 0.0 - 0.2 <= snr_db(audio, babbled) <= 2.0 + 0.2
    # Babble is the other talkers: their harmonics appear in the mixture.
    mixed = add_babble(audio, [tone(1700, 2.0, RATE)], 0.0, np.random.default_rng(0))
    assert band_energy(mixed, 1650, 1750) > 0.3 > band_energy(audio, 1650, 1750)
    lonely = only("babble")
    assert np.array_equal(lonely.apply(audio, np.random.default_rng(0)), audio)  # nobody else to talk
    assert lonely.counts == {"babble_without_talkers": 1}


def test_simulated_rooms_lengthen_the_energy_decay_as_their_rt60_says(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(tmp_path))
    spec = RoomBankSpec(count=4, rt60_s=(0.3, 0.9), seed=2)
    bank = room_bank(spec)
    assert list(tmp_path.glob("rooms/*.npz"))  # simulated once, then read back
    again = room_bank(spec)
    assert all(np.array_equal(a, b) for a, b in zip(bank.responses, again.responses))
    assert np.all((bank.rt60_s > 0.2) & (bank.rt60_s < 1.3)) and bank.rt60_s[-1] > bank.rt60_s[0]
    for response, rt60 in zip(bank.responses, bank.rt60_s):
        assert measure_rt60(response, RATE) == pytest.approx(rt60, rel=1e-6)
    # A click followed by silence: in the room, the silence after it holds a decaying tail whose length grows
    # with the room's RT60.
    click = np.zeros(RATE, dtype=np.float32)
    click[100:110] = 0.5
    tails = []
    for response in (bank.responses[0], bank.responses[-1]):
        wet = np.convolve(click, response)[: click.size]
        energy = wet.astype(np.float64) ** 2
        tails.append(np.argmax(np.cumsum(energy) >= 0.999 * energy.sum()))
    assert 200 < tails[0] < tails[1]


def test_pitch_speed_gain_and_clipping_do_what_they_say():
    audio = tone(440, 1.0, RATE)
    shifted = shift_pitch(audio, 3.0, RATE)
    assert shifted.size == audio.size and abs(dominant_frequency(shifted, RATE) - 440 * 2 ** (3 / 12)) < 8
    faster = change_speed(audio, 1.25, RATE)
    assert faster.size == int(RATE / 1.25) and abs(dominant_frequency(faster, RATE) - 550) < 5
    quiet = 0.1 * audio
    assert 20 * np.log10(np.abs(apply_gain(quiet, -12.0)).max() / np.abs(quiet).max()) == pytest.approx(-12.0, abs=0.01)
    assert np.abs(apply_gain(audio, 30.0)).max() <= FULL_SCALE + 1e-6  # limited, never clipped
    clipped = clip(quiet, 6.0)
    assert np.abs(clipped).max() == pytest.approx(FULL_SCALE)
    assert np.mean(np.abs(clipped) >= FULL_SCALE - 1e-6) > 0.2  # flat tops: 6 dB over full scale


def test_codecs_are_time_aligned_and_take_away_what_a_channel_does():
    audio = tone(1000, 2.0, RATE) + tone(6500, 2.0, RATE, amplitude=0.2) + tone(150, 2.0, RATE, amplitude=0.2)
    for name, coded in [("mp3 32", codecs.mp3(audio, 32, RATE)), ("opus 33", codecs.opus(audio, 33, RATE))]:
        assert coded.size == audio.size, name
        assert np.corrcoef(audio[4000:-4000], coded[4000:-4000])[0, 1] > 0.9, name  # aligned, not shifted
    low_rate = codecs.mp3(audio, 8, RATE)
    assert band_energy(low_rate, 6000, 7000) < 0.2 * band_energy(audio, 6000, 7000)  # 8 kbit/s drops the highs
    phone = codecs.telephone(audio, RATE)
    assert phone.size == audio.size
    assert band_energy(phone, 6000, 8000) < 1e-3 and band_energy(phone, 100, 200) < 0.05 * band_energy(audio, 100, 200)
    assert band_energy(phone, 950, 1050) > 0.8
    with pytest.raises(ValueError, match="one of"):
        codecs.mp3(audio, 64, RATE)


def _prepared(count=6):
    import datasets

    from robust_speech.data.preprocess import DURATION_COLUMN

    audios = [speech_like(1.0 + 0.1 * index, seed=index) for index in range(count)]
    return datasets.Dataset.from_dict({
        "audio": [{"array": audio, "sampling_rate": RATE, "path": f"clip{index}.wav"} for index, audio in enumerate(audios)],
        "sentence": [f"sentence {index}" for index in range(count)],
        DURATION_COLUMN: [audio.size / RATE for audio in audios],
    })


def test_pre_rendered_copies_are_reproducible_whatever_the_processes(tmp_path, monkeypatch):
    from robust_speech.data.preprocess import DURATION_COLUMN
    from robust_speech.training.multi_condition import APPLIED_COLUMN, render_copies

    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(tmp_path))
    dataset, lines = _prepared(), []
    augmenter = Augmenter(AugmentOptions(parse_kinds("speed,noise,babble", 1.0), rooms=2, seed=5))
    one = render_copies(dataset, augmenter, 2, num_workers=1, log=lines.append)
    two = render_copies(dataset, augmenter, 2, num_workers=2, log=lambda line: None)
    assert len(one) == 3 * len(dataset)
    assert list(one["sentence"]) == list(dataset["sentence"]) * 3  # the clean set, then each copy, same transcripts
    clean = [np.asarray(row["array"]) for row in list(dataset["audio"])]
    for index in range(len(one)):
        a, b = np.asarray(one[index]["audio"]["array"]), np.asarray(two[index]["audio"]["array"])
        assert np.array_equal(a, b)
        assert one[index][DURATION_COLUMN] == pytest.approx(a.size / RATE, abs=1e-4)  # speed changed it
        if index < len(dataset):
            assert np.array_equal(a, clean[index]) and one[index][APPLIED_COLUMN] == ""
        else:
            assert one[index][APPLIED_COLUMN] == "speed,babble,noise" and a.size != clean[index % len(dataset)].size
    copy_one, copy_two = (np.asarray(one[len(dataset) * k]["audio"]["array"]) for k in (1, 2))
    assert not np.array_equal(copy_one, copy_two)  # each copy draws anew
    assert "2 degraded copies of 6 training examples" in lines[0] and "speed 12, babble 12, noise 12" in lines[0]


class _ThreadCountingAugmenter(Augmenter):
    """Names, in place of the conditions it applied, the native threads its process runs."""

    def degrade(self, audio, rng, others=()):
        from robust_speech.core.threads import native_threads

        return audio, [f"threads{native_threads()}"]


@pytest.mark.parametrize("workers", [1, 2])
def test_rendering_workers_run_one_native_thread_each_and_the_main_process_keeps_its_own(tmp_path, monkeypatch, workers):
    from robust_speech.core.threads import native_threads
    from robust_speech.training.multi_condition import APPLIED_COLUMN, render_copies

    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(tmp_path))
    before = native_threads()
    rendered = render_copies(_prepared(), _ThreadCountingAugmenter(AugmentOptions({"gain": 1.0})), 1,
                             num_workers=workers, log=lambda line: None)
    seen = set(rendered[APPLIED_COLUMN][len(rendered) // 2:])
    # In the main process rendering keeps the threads it had (so does the main process after the workers).
    assert seen == ({"threads1"} if workers > 1 else {f"threads{before}"})
    assert native_threads() == before


def test_dataloader_workers_degrade_differently_and_the_main_process_keeps_its_seed(monkeypatch):
    import torch

    from robust_speech.training.batching import CTCCollator

    class Extractor:
        sampling_rate, return_attention_mask = RATE, False

        def __call__(self, audios, **kwargs):
            return {"input_values": torch.tensor(np.stack(audios))}

    class Tokenizer:
        def __call__(self, texts, **kwargs):
            return {"input_ids": torch.ones(len(texts), 2, dtype=torch.long), "attention_mask": torch.ones(len(texts), 2)}

    class Processor:
        feature_extractor, tokenizer = Extractor(), Tokenizer()

    rows = [{"audio": {"array": speech_like(1.0, seed)}, "sentence": "a"} for seed in range(3)]
    options = AugmentOptions({"noise": 1.0}, seed=11)

    def batch_in(worker):
        info = None if worker is None else type("WorkerInfo", (), {"id": worker})
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: info)
        return CTCCollator(Processor(), Augmenter(options))(rows)["input_values"]

    main, worker_0, worker_1 = batch_in(None), batch_in(0), batch_in(1)
    assert not torch.equal(worker_0, worker_1)
    assert torch.equal(worker_0, batch_in(0))
    expected = Augmenter(options)
    audios = [np.asarray(row["audio"]["array"]) for row in rows]
    degraded = [expected(audio, audios[:i] + audios[i + 1:]) for i, audio in enumerate(audios)]
    assert torch.equal(main, torch.tensor(np.stack(degraded)))


def test_rooms_are_simulated_even_where_the_cache_cannot_be_written(tmp_path, monkeypatch):
    from log_records import logged

    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(blocked))
    with logged(logging.WARNING) as messages:
        bank = room_bank(RoomBankSpec(count=2, rt60_s=(0.3, 0.4), seed=1))
    assert len(bank.responses) == 2 and all(response.size > 100 for response in bank.responses)
    assert any("could not be cached" in message for message in messages)
