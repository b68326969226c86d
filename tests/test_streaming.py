"""Long recordings transcribed while they are read: the same chunks and output as the whole array, in bounded
memory, and eval.py's groups hand a long file over undecoded."""

import tracemalloc

import numpy as np
import pytest
import soundfile
import torch
from conftest import white_noise
from ctc_logits import VOCABULARY

from robust_speech.data.sources import load_speech_split, parse_sources
from robust_speech.evaluation.groups import LongRecording, iter_groups, long_recording
from robust_speech.inference.chunking import Chunking
from robust_speech.inference.decoding import GreedyDecoder
from robust_speech.inference.streaming import FrameBuffer, stream_chunks
from robust_speech.inference.transcribe import Transcriber

RATE = 16000


@pytest.mark.parametrize("seed", range(40))
def test_streamed_chunks_are_the_plans_chunks_whatever_the_block_sizes(seed):
    rng = np.random.default_rng(seed)
    chunking = Chunking.from_seconds(float(rng.choice([0.5, 1.0, 5.0])), float(rng.choice([0.05, 0.1, 0.2])), RATE, 320)
    audio = rng.standard_normal(int(rng.integers(1, 250_000))).astype(np.float32)
    blocks = np.split(audio, np.sort(rng.integers(0, audio.size, int(rng.integers(0, 25)))))  # empty blocks too
    streamed = list(stream_chunks(blocks, chunking))
    assert [chunk for chunk, _samples in streamed] == chunking.plan(audio.size)
    for chunk, samples in streamed:
        assert np.array_equal(samples, audio[chunk.start : chunk.end])


def test_a_chunk_waits_for_the_sample_that_proves_it_is_not_the_last():
    chunking = Chunking.from_seconds(1.0, 0.2, RATE, 320)
    seen = []

    def blocks():
        yield np.zeros(chunking.chunk, np.float32)  # exactly one chunk so far: it might be the last
        seen.append("more")
        yield np.zeros(10, np.float32)

    first, _ = next(stream_chunks(blocks(), chunking))
    assert seen == ["more"] and first.right == chunking.right  # not the last: it keeps its right stride


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_streamed_log_probs_equal_the_whole_arrays(tiny_acoustic, batch_size):
    audio = white_noise(23.7, seed=batch_size)
    transcriber = Transcriber(tiny_acoustic, GreedyDecoder(VOCABULARY), chunk_length_s=2.0, stride_length_s=0.4,
                              batch_size=batch_size)
    whole = transcriber.log_probs([audio])[0]
    done = []
    streamed, samples = transcriber.log_probs_stream(np.array_split(audio, 7), audio.size // 2, progress=done.append)
    assert samples == audio.size and sum(done) == pytest.approx(audio.size / RATE)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-5)
    text, _ = transcriber.transcribe_stream(np.array_split(audio, 3))
    assert text.text == transcriber.transcribe([audio])[0].text


def test_streaming_needs_chunking(tiny_acoustic):
    with pytest.raises(Exception, match="--chunk_length_s"):
        Transcriber(tiny_acoustic, None).log_probs_stream([white_noise(1.0)])


def write_tone_file(path, minutes):
    minute = (0.3 * np.sin(2 * np.pi * 200 * np.arange(8000 * 60) / 8000)).astype(np.float32)
    with soundfile.SoundFile(path, "w", 8000, 1, subtype="PCM_16") as file:
        for _ in range(minutes):
            file.write(minute)


def streamed_peak(transcriber, path, minutes) -> tuple[int, int, int]:
    """(peak bytes numpy held, bytes of the log-probs, bytes of the recording decoded whole) for one file."""
    recording = long_recording(str(path), RATE, over_s=60.0)
    assert isinstance(recording, LongRecording) and recording.seconds == pytest.approx(60.0 * minutes)
    tracemalloc.start()
    try:
        log_probs, samples = transcriber.log_probs_stream(recording.blocks(), recording.expected_samples)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert samples == pytest.approx(60 * minutes * RATE, abs=64) and len(log_probs) == pytest.approx(60 * minutes * 50, abs=2)
    return peak, log_probs.nbytes, samples * 4


def test_a_long_file_is_transcribed_in_memory_that_does_not_grow_with_its_length(tiny_acoustic, tmp_path):
    """2 and 6 minutes at 8 kHz (7.7 and 23 MB once decoded at 16 kHz). Streamed, what numpy holds at its peak
    (traced by tracemalloc) is the log-probs plus a few blocks and chunks; the recording tripled in length adds
    only its log-probs, where decoding it whole would add 15 MB of samples."""
    transcriber = Transcriber(tiny_acoustic, GreedyDecoder(VOCABULARY), chunk_length_s=5.0, stride_length_s=1.0, batch_size=4)
    peaks = {}
    for minutes in (2, 6):
        write_tone_file(tmp_path / f"{minutes}.wav", minutes)
        peaks[minutes] = streamed_peak(transcriber, tmp_path / f"{minutes}.wav", minutes)
    (short_peak, short_frames, short_decoded), (long_peak, long_frames, long_decoded) = peaks[2], peaks[6]
    fixed_short, fixed_long = short_peak - short_frames, long_peak - long_frames
    assert fixed_long < fixed_short + 2**20, f"{fixed_short / 2**20:.1f} -> {fixed_long / 2**20:.1f} MiB beyond the log-probs"
    assert long_peak - short_peak < 0.25 * (long_decoded - short_decoded)


def test_eval_groups_hand_over_a_long_file_undecoded_in_order(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    soundfile.write(folder / "a.wav", white_noise(1.0), RATE)
    soundfile.write(folder / "long.wav", white_noise(40.0), RATE)  # 1.3 MB: past the size at which headers are read
    soundfile.write(folder / "c.wav", white_noise(2.0), RATE)
    (folder / "metadata.csv").write_text("file_name,sentence\na.wav,one\nlong.wav,two\nc.wav,three\n", encoding="utf-8")
    dataset = load_speech_split(parse_sources(str(folder), "default", None), "train")
    groups = list(iter_groups(dataset, RATE, "sentence", None, stream_over_s=30.0))
    assert [[(index, type(audio).__name__, text) for index, audio, text in group] for group in groups] == [
        [(0, "ndarray", "one")], [(1, "LongRecording", "two")], [(2, "ndarray", "three")]]
    assert groups[1][0][1].seconds == pytest.approx(40.0)
    assert len(list(iter_groups(dataset, RATE, "sentence", None))) == 1  # without it, everything decoded
    assert long_recording(str(folder / "long.wav"), RATE, over_s=60.0) is None  # shorter than asked
    # A Hub dataset's row holds the file's bytes: read from memory, the same samples.
    in_memory = long_recording({"bytes": (folder / "long.wav").read_bytes(), "path": "long.wav"}, RATE, over_s=30.0)
    assert in_memory is not None and in_memory.seconds == pytest.approx(40.0)
    assert np.array_equal(np.concatenate(list(in_memory.blocks())), np.concatenate(list(groups[1][0][1].blocks())))


def test_frame_buffer_grows_past_a_wrong_estimate():
    buffer = FrameBuffer(3, expected_frames=2)
    for value in range(5):
        buffer.append(np.full((7, 3), value, np.float32))
    result = buffer.finish()
    assert result.shape == (35, 3) and result[-1, 0] == 4 and result[0, 0] == 0


def test_cpu_batches_stop_before_the_first_convolutions_output_outgrows_the_caches(tiny_acoustic):
    """The first conv layer writes conv_dim[0] / conv_stride[0] floats per input sample: on the CPU a batch holds
    at most CPU_ACTIVATION_BYTES of them (bf16 ones take half the bytes) unless that is less audio than
    MIN_CPU_BATCH_SECONDS, and never fewer than one input; a GPU has no such bound."""
    import dataclasses
    from types import SimpleNamespace

    from robust_speech.inference import transcribe

    config = tiny_acoustic.model.config
    per_sample = config.conv_dim[0] / config.conv_stride[0] * 4
    limit = transcribe.max_batch_samples(tiny_acoustic)
    assert limit == int(transcribe.CPU_ACTIVATION_BYTES / per_sample) > transcribe.MIN_CPU_BATCH_SECONDS * RATE
    assert transcribe.batch_count(16, 5 * RATE, limit) == 8  # the tiny shape: 8 chunks of 5 s fit
    wide_config = SimpleNamespace(conv_dim=[512] * len(config.conv_dim), conv_stride=config.conv_stride)
    wide = dataclasses.replace(tiny_acoustic, model=SimpleNamespace(config=wide_config))  # wav2vec2-base's channels
    assert transcribe.max_batch_samples(wide) == int(transcribe.MIN_CPU_BATCH_SECONDS * RATE)
    assert transcribe.batch_count(16, 5 * RATE, transcribe.max_batch_samples(wide)) == 2
    assert transcribe.batch_count(16, limit // 3, limit) == 3
    assert transcribe.batch_count(16, 10 * limit, limit) == 1
    assert transcribe.batch_count(16, 10 * limit, None) == 16
    under_bf16 = dataclasses.replace(tiny_acoustic, cpu_bf16=True)  # 2-byte activations: twice the audio
    assert transcribe.max_batch_samples(under_bf16) == int(transcribe.CPU_ACTIVATION_BYTES / (per_sample / 2))
    on_gpu = dataclasses.replace(tiny_acoustic, device=torch.device("cuda"))
    assert transcribe.max_batch_samples(on_gpu) is None
    batches = list(transcribe._batches(list(range(7)), [np.zeros(limit // 3)] * 7, 16, True, limit))
    assert [len(batch) for batch in batches] == [3, 3, 1]


def test_padded_batches_pack_their_utterances_and_give_each_its_own_log_probs(tiny_acoustic, monkeypatch):
    """A batch of clips of other lengths runs its conv encoder over the clips laid end to end, told their lengths;
    a batch of equal chunks needs no mask and no lengths; each output is the clip's own, as alone in a batch."""
    from robust_speech.inference import transcribe
    from robust_speech.model import fast_encoder

    audios = [white_noise(seconds, seed=index) for index, seconds in enumerate([2.0, 1.3, 0.7, 2.0, 2.0])]
    alone = [transcribe.log_probs_batch(tiny_acoustic, [audio])[0] for audio in audios]
    told, masks = [], []
    original = fast_encoder.packed_forward
    monkeypatch.setattr(fast_encoder, "packed_forward", lambda layers, values, lengths=None: told.append(lengths) or
                        original(layers, values, lengths))
    forward = tiny_acoustic.model.forward
    monkeypatch.setattr(tiny_acoustic.model, "forward", lambda **inputs: masks.append(
        None if inputs.get("attention_mask") is None else inputs["attention_mask"].dtype) or forward(**inputs))
    together = transcribe.log_probs_batch(tiny_acoustic, audios, batch_size=3)
    assert told == [None, [int(1.3 * RATE), int(0.7 * RATE)]]  # 3 x 2 s unpadded, then 1.3 s and 0.7 s packed
    assert masks == [None, torch.int64]  # nothing padded, no mask; a padded batch's mask as int64
    for own, batched in zip(alone, together):
        np.testing.assert_allclose(batched, own, rtol=1e-4, atol=1e-4)
