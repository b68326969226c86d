"""Acoustic model inference: batched and length-sorted, long audio cut into chunks (chunking.py) or at pauses.

Unlike the transformers pipeline, the chunks of all utterances are run together in batches of similar length
under `torch.inference_mode`, each output cut to its own number of frames.

Long audio without chunking: one forward pass over a whole recording costs more per second the longer it is
(the encoder's self-attention is quadratic in frames). `progress` callbacks report audio seconds as the encoder's
layers finish, so even a single two-hour forward shows it is moving, and `Transcriber(note=...)` is told once
when an unchunked input is longer than `LONG_UNCHUNKED_S`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from robust_speech.audio.fbank import fast_spectrograms
from robust_speech.core.errors import ConfigurationError
from robust_speech.core.logs import progress_bar
from robust_speech.inference.chunking import Chunking, kept_frames
from robust_speech.inference.confidence import utterance_confidence
from robust_speech.inference.decoding import Transcript, WordSpan
from robust_speech.inference.options import DEFAULT_BATCH_SIZE
from robust_speech.inference.streaming import FrameBuffer, stream_chunks
from robust_speech.model import fast_encoder, waveform_inputs
from robust_speech.model.acoustic import AcousticModel

# Above this length an unchunked forward pass costs about twice as much per audio second as the same audio in
# 20 s chunks, on the wav2vec2-base shape (benchmarks/long_audio.py; the numbers: benchmarks/results/
# long_audio_cpu.md and code_history.md). Smaller models reach that later, so for them the note comes early; it
# is a hint, not a limit.
LONG_UNCHUNKED_S = 420.0
# Chunk length the note suggests: the chunked cost per audio second stays flat at any recording length.
SUGGESTED_CHUNK_S = 20.0

Progress = Callable[[float], None]  # called with audio seconds done since the last call

# On the CPU a batch also ends before the first convolution's output (batch x frames x channels, the largest
# activation) passes CPU_ACTIVATION_BYTES: past it every layer's activations stream through memory instead of the
# caches. But it always holds MIN_CPU_BATCH_SECONDS of audio if batch_size allows, since a batch's fixed costs
# (Python, the transformer's small operations) then outweigh the cache misses. Both values were chosen with the
# Transcriber on small and base shapes (the runs: benchmarks/results/code_history.md).
CPU_ACTIVATION_BYTES = 16 << 20
MIN_CPU_BATCH_SECONDS = 12.8


def log_probs_batch(acoustic: AcousticModel, audios: Sequence[np.ndarray], batch_size: int = DEFAULT_BATCH_SIZE,
                    progress: Progress | None = None) -> list[np.ndarray]:
    """(frames, vocab) float32 log-softmax for each 16 kHz mono array, in input order.

    `progress` gets audio seconds as they are processed: each batch's seconds are spread over its encoder stages
    (the convolutional feature encoder, then every transformer layer), reported as each stage finishes."""
    extractor = acoustic.processor.feature_extractor
    model = acoustic.model
    # Group-norm models (return_attention_mask False) saw no padding in training: only equal lengths share a batch.
    pads_safely = bool(getattr(extractor, "return_attention_mask", True)) and hasattr(model, "_get_feat_extract_output_lengths")
    outputs: list[np.ndarray | None] = [None] * len(audios)
    # Audio shorter than the encoder's receptive field (a 1-sample clip, a sliver of a last chunk) gives no
    # frame, so no text; alone in a batch it would stop the convolution.
    minimum = acoustic.min_samples
    rate = extractor.sampling_rate
    order = []
    for index in sorted(range(len(audios)), key=lambda index: len(audios[index]), reverse=True):
        if len(audios[index]) < minimum:
            outputs[index] = np.zeros((0, model.config.vocab_size), np.float32)
            if progress is not None:
                progress(len(audios[index]) / rate)
        else:
            order.append(index)
    stages = _encoder_stages(model) if progress is not None else []
    max_samples = max_batch_samples(acoustic)
    with torch.inference_mode():
        for batch in _batches(order, audios, batch_size, pads_safely, max_samples):
            seconds = sum(len(audios[i]) for i in batch) / rate
            handles = [stage.register_forward_hook(lambda *_hook, share=seconds / (len(stages) + 1): progress(share))
                       for stage in stages]
            arrays = [np.asarray(audios[i], dtype=np.float32) for i in batch]
            if waveform_inputs.handles(extractor):  # the extractor's own values, without its copies
                sizes = [array.size for array in arrays]
                # Equal lengths leave nothing padded: without a mask the model skips building its frame mask
                # from one (the same logits, bit for bit), a noticeable share of a small model's time.
                prepared = waveform_inputs.waveform_inputs(extractor, arrays, attention_mask=min(sizes) != max(sizes))
                inputs = {key: torch.from_numpy(value) for key, value in prepared.items()}
                lengths = torch.tensor(sizes)
            else:
                with fast_spectrograms(extractor):  # filterbank extractors: the library's features, sooner
                    inputs = extractor(arrays, sampling_rate=extractor.sampling_rate, padding=True, return_tensors="pt",
                                       return_attention_mask=True)
                lengths = inputs["attention_mask"].sum(dim=-1)
            if "attention_mask" in inputs:
                if not getattr(extractor, "return_attention_mask", True) and len(batch) > 1:
                    inputs.pop("attention_mask")
                else:  # the model's running sum over an int32 mask widens it first, several times int64's cost
                    inputs["attention_mask"] = inputs["attention_mask"].to(torch.int64)
            inputs = {key: value.to(acoustic.device) for key, value in inputs.items()}
            main = model.main_input_name
            inputs[main] = inputs[main].to(acoustic.dtype)
            # A padded batch's conv encoder runs over its utterances end to end, without the padding (fast_encoder.py).
            packed = lengths.tolist() if "attention_mask" in inputs and pads_safely else None
            try:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=acoustic.cpu_bf16), \
                        fast_encoder.packed_lengths(model, packed):
                    logits = model(**inputs).logits
            finally:
                for handle in handles:
                    handle.remove()
            if progress is not None:
                progress(seconds / (len(stages) + 1))  # the CTC head and the rest of the batch
            log_probs = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
            if pads_safely:
                frames = model._get_feat_extract_output_lengths(lengths).tolist()
            else:
                frames = [log_probs.shape[1]] * len(batch)
            for row, index in enumerate(batch):
                outputs[index] = log_probs[row, : int(frames[row])]
    return outputs  # type: ignore[return-value]


def _scaled(progress: Progress, factor: float) -> Progress:
    return lambda seconds: progress(seconds * factor)


def _encoder_stages(model) -> list[torch.nn.Module]:
    """The modules a forward pass runs one after another: the feature encoder (if any) and each encoder layer."""
    base = getattr(model, "base_model", model)
    stages = [base.feature_extractor] if isinstance(getattr(base, "feature_extractor", None), torch.nn.Module) else []
    layers = getattr(getattr(base, "encoder", None), "layers", None)
    if isinstance(layers, torch.nn.ModuleList):
        stages.extend(layers)
    return stages


def max_batch_samples(acoustic: AcousticModel) -> int | None:
    """Padded samples per batch within CPU_ACTIVATION_BYTES on the CPU, but at least MIN_CPU_BATCH_SECONDS' worth
    (None: no bound, as on a GPU); float32 or, with `cpu_bf16`, bf16 activations."""
    config = acoustic.model.config
    channels, stride = getattr(config, "conv_dim", None), getattr(config, "conv_stride", None)
    if acoustic.device.type != "cpu" or not channels or not stride:
        return None
    # Under bf16 autocast the activations take 2 bytes, so twice the audio fits the same bytes: counting them as
    # float32's would halve bf16 batches for nothing (benchmarks/results/code_history.md).
    element_bytes = 2 if acoustic.cpu_bf16 else 4
    return max(int(CPU_ACTIVATION_BYTES * stride[0] / (channels[0] * element_bytes)),
               int(MIN_CPU_BATCH_SECONDS * acoustic.sampling_rate))


def batch_count(batch_size: int, samples: int, max_samples: int | None) -> int:
    """How many inputs of `samples` each one batch holds."""
    return batch_size if max_samples is None else max(1, min(batch_size, max_samples // max(1, samples)))


def _batches(order: list[int], audios, batch_size: int, pads_safely: bool, max_samples: int | None) -> Iterator[list[int]]:
    batch: list[int] = []
    for index in order:
        # Sorted longest first: the first of a batch is the length all are padded to.
        full = batch and len(batch) >= batch_count(batch_size, len(audios[batch[0]]), max_samples)
        if batch and (full or (not pads_safely and len(audios[index]) != len(audios[batch[0]]))):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


class Transcriber:
    """Audio arrays (at the model's rate) in, transcripts out: chunked as configured, decoded by `decoder`."""

    def __init__(self, acoustic: AcousticModel, decoder, *, chunk_length_s: float | None = None,
                 stride_length_s: float | Sequence[float] | None = None, batch_size: int = DEFAULT_BATCH_SIZE, vad: bool = False,
                 note: Callable[[str], None] | None = None):
        self.acoustic = acoustic
        self.decoder = decoder
        self.batch_size = batch_size
        self.note = note  # told once when an unchunked input is long (see LONG_UNCHUNKED_S)
        self._noted_long = False
        self.chunking = None
        if chunk_length_s:
            self.chunking = Chunking.from_seconds(chunk_length_s, stride_length_s, acoustic.sampling_rate,
                                                  acoustic.samples_per_frame)
        elif stride_length_s:
            raise ConfigurationError("--stride_length_s needs --chunk_length_s")
        self.vad = vad

    @property
    def seconds_per_frame(self) -> float:
        return self.acoustic.samples_per_frame / self.acoustic.sampling_rate

    def long_audio_note(self, audios: Sequence[np.ndarray]) -> str:
        """The note for unchunked inputs longer than LONG_UNCHUNKED_S ("" when chunked or all shorter)."""
        if self.chunking is not None or not len(audios):
            return ""
        longest = max(len(audio) for audio in audios) / self.acoustic.sampling_rate
        if longest <= LONG_UNCHUNKED_S:
            return ""
        what = "speech segment" if self.vad else "recording"
        # Not chunked automatically: chunks change the transcript slightly at their borders, and without
        # --chunk_length_s eval.py scores what the reference eval.py scores, the whole utterance in one pass;
        # so the run goes on as asked, and the user learns at once why it is slow and what to pass instead.
        return (f"note: a {longest:.0f} s {what} without --chunk_length_s: one forward pass over it costs more per "
                f"second the longer it is (self-attention is quadratic: beyond about {LONG_UNCHUNKED_S:.0f} s about "
                "twice the chunked cost) and holds all of it in memory at once, so this can take very long or run "
                f"out of memory; --chunk_length_s {SUGGESTED_CHUNK_S:g} keeps the cost per second flat and the memory "
                "bounded")

    def log_probs(self, audios: Sequence[np.ndarray], progress: Progress | None = None) -> list[np.ndarray]:
        """Per utterance, the joined log-probs of its chunks (or of the whole utterance without chunking)."""
        if self.chunking is None:
            note = self.long_audio_note(audios) if self.note is not None and not self._noted_long else ""
            if note:
                self._noted_long = True
                self.note(note)
            return log_probs_batch(self.acoustic, audios, self.batch_size, progress)
        pieces, owners, plans = [], [], []
        for index, audio in enumerate(audios):
            plan = self.chunking.plan(len(audio))
            plans.append(plan)
            for chunk in plan:
                pieces.append(audio[chunk.start : chunk.end])
                owners.append(index)
        if progress is not None:  # chunks overlap by their strides: report seconds of the recordings, not of chunks
            scale = sum(len(audio) for audio in audios) / max(1, sum(len(piece) for piece in pieces))
            progress = _scaled(progress, scale)
        outputs = log_probs_batch(self.acoustic, pieces, self.batch_size, progress)
        joined: list[list[np.ndarray]] = [[] for _ in audios]
        position = 0
        for index, plan in enumerate(plans):
            for chunk in plan:
                first, last = kept_frames(chunk, self.acoustic.samples_per_frame)
                joined[index].append(outputs[position][first:last])
                position += 1
        vocab = outputs[0].shape[-1] if outputs else 0
        return [np.concatenate(parts) if parts else np.zeros((0, vocab), np.float32) for parts in joined]

    def log_probs_stream(self, blocks: Iterable[np.ndarray], expected_samples: int | None = None,
                         progress: Progress | None = None) -> tuple[np.ndarray, int]:
        """The joined log-probs of one recording arriving as consecutive blocks, and its length in samples.

        The chunks and batches are those `log_probs` makes of the whole array (batches of `batch_count` chunks
        in order, the shorter last chunk in the last batch), so the result is the same while only a batch of chunks
        is in memory. `expected_samples` (from the file's header) sizes the output once."""
        if self.chunking is None:
            raise ConfigurationError("transcribing a recording while it is read needs --chunk_length_s")
        per_frame, rate = self.acoustic.samples_per_frame, self.acoustic.sampling_rate
        frames: FrameBuffer | None = None
        pending: list = []
        samples = 0

        def run_pending() -> None:
            nonlocal frames
            outputs = log_probs_batch(self.acoustic, [audio for _chunk, audio in pending], self.batch_size)
            for (chunk, _audio), output in zip(pending, outputs):
                if frames is None:
                    frames = FrameBuffer(output.shape[-1], expected_samples // per_frame if expected_samples else None)
                first, last = kept_frames(chunk, per_frame)
                frames.append(output[first:last])
                if progress is not None:
                    kept_start, kept_end = chunk.kept
                    progress((kept_end - kept_start) / rate)
            pending.clear()

        per_batch = batch_count(self.batch_size, self.chunking.chunk, max_batch_samples(self.acoustic))
        for chunk, audio in stream_chunks(blocks, self.chunking):
            pending.append((chunk, audio))
            samples = max(samples, chunk.end)
            if len(pending) == per_batch:
                run_pending()
        if pending:
            run_pending()
        if frames is None:
            return np.zeros((0, self.acoustic.model.config.vocab_size), np.float32), samples
        return frames.finish(), samples

    def transcribe_stream(self, blocks: Iterable[np.ndarray], expected_samples: int | None = None,
                          progress: Progress | None = None) -> tuple[Transcript, int]:
        """One recording transcribed while it is read (see `log_probs_stream`), and its length in samples."""
        log_probs, samples = self.log_probs_stream(blocks, expected_samples, progress)
        return self.decoder.decode_batch([log_probs])[0], samples

    def transcribe(self, audios: Sequence[np.ndarray], progress: Progress | None = None) -> list[Transcript]:
        if self.vad:
            return self._transcribe_speech_segments(audios, progress)
        return self.decoder.decode_batch(self.log_probs(audios, progress))

    def _transcribe_speech_segments(self, audios: Sequence[np.ndarray], progress: Progress | None) -> list[Transcript]:
        from robust_speech.audio.vad import speech_segments

        rate = self.acoustic.sampling_rate
        segments = [speech_segments(audio, rate) for audio in audios]
        pieces = [audio[start:end] for audio, spans in zip(audios, segments) for start, end in spans]
        if progress is not None:  # the pauses between segments are not run through the model
            progress((sum(len(audio) for audio in audios) - sum(len(piece) for piece in pieces)) / rate)
        decoded = iter(self.decoder.decode_batch(self.log_probs(pieces, progress)))
        results = []
        for spans in segments:
            words: list[WordSpan] = []
            parts = []
            for start, _end in spans:
                offset = int(round(start / self.acoustic.samples_per_frame))
                parts.append(part := next(decoded))
                words.extend(replace(w, start_frame=w.start_frame + offset, end_frame=w.end_frame + offset)
                             for w in part.words)
            results.append(Transcript(" ".join(word.word for word in words), tuple(words),
                                      confidence=_joined_confidence(words, parts, self.decoder)))
        return results


def _joined_confidence(words: Sequence[WordSpan], parts: Sequence[Transcript], decoder) -> float | None:
    """The confidence of a transcript joined from speech segments: of its words as one utterance's; without
    words, the least of the segments' (each then sure that nothing was said), 1 when the VAD found no speech at
    all; None when the decoder was not asked for confidences."""
    if not getattr(decoder, "confidence", False):
        return None
    if not parts:
        return 1.0
    if words:
        return utterance_confidence([word.confidence for word in words])
    return min(part.confidence for part in parts)


class AudioProgress:
    """Inference progress in audio seconds on stderr: a tqdm bar on a terminal, else a line per tenth done (a log
    file gets a few lines, not thousands of carriage returns). Usable as a `Progress` callback."""

    def __init__(self, total_s: float, description: str = "inference", stream=None):
        self.total_s = total_s
        self.done_s = 0.0
        self.description = description
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.perf_counter()
        self._next_tenth = 1
        self._bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            self._bar = progress_bar(total=round(total_s, 1), desc=description, unit="audio s", leave=False,
                                     file=self.stream)

    def __call__(self, seconds: float) -> None:
        self.done_s = min(self.total_s, self.done_s + seconds)
        if self._bar is not None:
            self._bar.update(round(self.done_s, 1) - self._bar.n)
            return
        while self.total_s and self.done_s / self.total_s >= self._next_tenth / 10 - 1e-9 and self._next_tenth <= 10:
            elapsed = time.perf_counter() - self.started
            print(f"{self.description}: {self._next_tenth * 10}% of {self.total_s:.0f} s of audio ({elapsed:.0f} s)",
                  file=self.stream, flush=True)
            self._next_tenth += 1

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def long_audio_progress(audios: Sequence[np.ndarray], sampling_rate: int) -> AudioProgress | None:
    """A progress display in audio seconds for inputs holding a recording longer than LONG_UNCHUNKED_S (an
    utterance counter would sit still for its whole forward pass), else None."""
    longest = max((len(audio) for audio in audios), default=0) / sampling_rate
    if longest <= LONG_UNCHUNKED_S:
        return None
    return AudioProgress(sum(len(audio) for audio in audios) / sampling_rate, "inference")
