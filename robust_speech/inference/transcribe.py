"""Acoustic model inference: batched and length-sorted, long audio cut into chunks (chunking.py) or at pauses.

Unlike the transformers pipeline, the chunks of all utterances are run together in batches of similar length
under `torch.inference_mode`, each output cut to its own number of frames.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from robust_speech.core.errors import ConfigurationError
from robust_speech.inference.acoustic import AcousticModel
from robust_speech.inference.chunking import Chunking, kept_frames
from robust_speech.inference.decoding import Transcript, WordSpan


def log_probs_batch(acoustic: AcousticModel, audios: Sequence[np.ndarray], batch_size: int = 16) -> list[np.ndarray]:
    """(frames, vocab) float32 log-softmax for each 16 kHz mono array, in input order."""
    extractor = acoustic.processor.feature_extractor
    model = acoustic.model
    # Group-norm models (return_attention_mask False) saw no padding in training: only equal lengths share a batch.
    pads_safely = bool(getattr(extractor, "return_attention_mask", True)) and hasattr(model, "_get_feat_extract_output_lengths")
    outputs: list[np.ndarray | None] = [None] * len(audios)
    # Audio shorter than the encoder's receptive field (a 1-sample clip, a sliver of a last chunk) gives no
    # frame, so no text; alone in a batch it would stop the convolution.
    minimum = acoustic.min_samples
    order = []
    for index in sorted(range(len(audios)), key=lambda index: len(audios[index]), reverse=True):
        if len(audios[index]) < minimum:
            outputs[index] = np.zeros((0, model.config.vocab_size), np.float32)
        else:
            order.append(index)
    with torch.inference_mode():
        for batch in _batches(order, audios, batch_size, pads_safely):
            inputs = extractor([np.asarray(audios[i], dtype=np.float32) for i in batch], sampling_rate=extractor.sampling_rate,
                               padding=True, return_tensors="pt", return_attention_mask=True)
            lengths = inputs["attention_mask"].sum(dim=-1)
            if not getattr(extractor, "return_attention_mask", True) and len(batch) > 1:
                inputs.pop("attention_mask")
            inputs = {key: value.to(acoustic.device) for key, value in inputs.items()}
            main = model.main_input_name
            inputs[main] = inputs[main].to(acoustic.dtype)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=acoustic.cpu_bf16):
                logits = model(**inputs).logits
            log_probs = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
            if pads_safely:
                frames = model._get_feat_extract_output_lengths(lengths).tolist()
            else:
                frames = [log_probs.shape[1]] * len(batch)
            for row, index in enumerate(batch):
                outputs[index] = log_probs[row, : int(frames[row])]
    return outputs  # type: ignore[return-value]


def _batches(order: list[int], audios, batch_size: int, pads_safely: bool) -> Iterator[list[int]]:
    batch: list[int] = []
    for index in order:
        if batch and (len(batch) == batch_size or (not pads_safely and len(audios[index]) != len(audios[batch[0]]))):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


class Transcriber:
    """Audio arrays (at the model's rate) in, transcripts out: chunked as configured, decoded by `decoder`."""

    def __init__(self, acoustic: AcousticModel, decoder, *, chunk_length_s: float | None = None,
                 stride_length_s: float | Sequence[float] | None = None, batch_size: int = 16, vad: bool = False):
        self.acoustic = acoustic
        self.decoder = decoder
        self.batch_size = batch_size
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

    def log_probs(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per utterance, the joined log-probs of its chunks (or of the whole utterance without chunking)."""
        if self.chunking is None:
            return log_probs_batch(self.acoustic, audios, self.batch_size)
        pieces, owners, plans = [], [], []
        for index, audio in enumerate(audios):
            plan = self.chunking.plan(len(audio))
            plans.append(plan)
            for chunk in plan:
                pieces.append(audio[chunk.start : chunk.end])
                owners.append(index)
        outputs = log_probs_batch(self.acoustic, pieces, self.batch_size)
        joined: list[list[np.ndarray]] = [[] for _ in audios]
        position = 0
        for index, plan in enumerate(plans):
            for chunk in plan:
                first, last = kept_frames(chunk, self.acoustic.samples_per_frame)
                joined[index].append(outputs[position][first:last])
                position += 1
        vocab = outputs[0].shape[-1] if outputs else 0
        return [np.concatenate(parts) if parts else np.zeros((0, vocab), np.float32) for parts in joined]

    def transcribe(self, audios: Sequence[np.ndarray]) -> list[Transcript]:
        if self.vad:
            return self._transcribe_speech_segments(audios)
        return self.decoder.decode_batch(self.log_probs(audios))

    def _transcribe_speech_segments(self, audios: Sequence[np.ndarray]) -> list[Transcript]:
        from robust_speech.audio.vad import speech_segments

        rate = self.acoustic.sampling_rate
        segments = [speech_segments(audio, rate) for audio in audios]
        pieces = [audio[start:end] for audio, spans in zip(audios, segments) for start, end in spans]
        decoded = iter(self.decoder.decode_batch(self.log_probs(pieces)))
        results = []
        for spans in segments:
            words: list[WordSpan] = []
            for start, _end in spans:
                offset = int(round(start / self.acoustic.samples_per_frame))
                part = next(decoded)
                words.extend(WordSpan(w.word, w.start_frame + offset, w.end_frame + offset) for w in part.words)
            results.append(Transcript(" ".join(word.word for word in words), tuple(words)))
        return results
