"""Acoustic model inference: batched, length-sorted, and long audio cut into chunks with stride.

Chunking follows the transformers ASR pipeline exactly (`chunk_length_s`, `stride_length_s`, both rounded to
the model's samples-per-frame; stride defaults to chunk/6): chunk i covers [i*step, i*step + chunk) with
step = chunk - left - right, and the frames of its left/right stride are dropped before the chunks' frames
are joined. Unlike the pipeline, chunks of all utterances are run together in batches of similar length
under `torch.inference_mode`, each output cut to its own number of frames.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from robust_speech.decoding import Transcript, WordSpan
from robust_speech.errors import ConfigurationError


@dataclass
class AcousticModel:
    model: object
    processor: object
    device: torch.device
    dtype: torch.dtype = torch.float32
    cpu_bf16: bool = False  # bf16 autocast on a CPU (weights stay fp32); measured 1.9x on avx512_bf16

    @property
    def sampling_rate(self) -> int:
        return self.processor.feature_extractor.sampling_rate

    @property
    def samples_per_frame(self) -> int:
        return int(getattr(self.model.config, "inputs_to_logits_ratio", 1))

    @property
    def min_samples(self) -> int:
        """The shortest input that gives one output frame: the conv encoder's receptive field (400 samples for
        wav2vec2/XLS-R), else two frames' worth for filterbank models. Shorter audio holds nothing to hear."""
        config = self.model.config
        kernels, strides = getattr(config, "conv_kernel", None), getattr(config, "conv_stride", None)
        if not kernels or not strides:
            return 2 * self.samples_per_frame
        field = 1
        for kernel, stride in zip(reversed(kernels), reversed(strides)):
            field = (field - 1) * stride + kernel
        return field


def resolve_device(device: str | int | None) -> torch.device:
    """The reference's `--device` (-1 CPU, 0.. GPU index, None: GPU when there is one) or a torch device name."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int) or (isinstance(device, str) and device.lstrip("-").isdigit()):
        index = int(device)
        if index < 0:
            return torch.device("cpu")
        if not torch.cuda.is_available():
            raise ConfigurationError(f"--device {index} asks for a GPU and none is visible: use --device -1 (CPU)")
        return torch.device("cuda", index)
    return torch.device(device)


def load_acoustic_model(model_id: str | os.PathLike, device: str | int | None = None, *, bf16: bool = False,
                        token: str | bool | None = None, trust_remote_code: bool = False,
                        allow_pickle_weights: bool = False) -> AcousticModel:
    """The model and processor of a folder or Hub id; remote code and pickle weights only when asked (DESIGN.md)."""
    from transformers import AutoModelForCTC, AutoProcessor

    from robust_speech.modeling import refused_pickle, weights_options

    device = resolve_device(device)
    dtype = torch.bfloat16 if bf16 and device.type == "cuda" else torch.float32
    cpu_bf16 = bf16 and device.type == "cpu"
    check_processor_files(model_id)
    weights = weights_options(model_id, allow_pickle_weights)
    try:
        # trust_remote_code is passed even when False: left None, transformers asks on a terminal instead.
        processor = AutoProcessor.from_pretrained(model_id, token=token, trust_remote_code=trust_remote_code)
        model = AutoModelForCTC.from_pretrained(model_id, token=token, dtype=dtype, trust_remote_code=trust_remote_code,
                                                **weights).to(device).eval()
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot load a CTC model from {model_id}: {str(error).splitlines()[0]}") from None
    except pickle.UnpicklingError:
        raise refused_pickle(model_id) from None
    if not hasattr(processor, "feature_extractor"):
        raise ConfigurationError(f"{model_id}: its processor has no feature extractor; is this a speech CTC model?")
    tokenizer = getattr(processor, "tokenizer", None)
    head = getattr(model.config, "vocab_size", None)
    if tokenizer is not None and head is not None and head != len(tokenizer):
        # Ids without a token would decode to nothing or to the wrong characters, silently.
        raise ConfigurationError(
            f"{model_id}: the CTC head has {head} outputs but the tokenizer (vocab.json) has {len(tokenizer)} tokens; "
            "the processor files belong to another model: copy the model's own vocab.json and tokenizer files"
        )
    return AcousticModel(model, processor, device, dtype, cpu_bf16)


# A local model folder needs the feature extractor's settings and the tokenizer's vocabulary beside the weights
# (transformers 5 keeps the former in processor_config.json, earlier versions in preprocessor_config.json).
PROCESSOR_FILES = (("processor_config.json", "preprocessor_config.json"), ("vocab.json",))


def check_processor_files(model_id: str | os.PathLike) -> None:
    """A local folder with weights but no processor (e.g. a bare checkpoint-N/ folder) is named with what it lacks."""
    folder = Path(model_id)
    if not folder.is_dir():
        return
    missing = [" or ".join(names) for names in PROCESSOR_FILES if not any((folder / name).is_file() for name in names)]
    if missing:
        raise ConfigurationError(
            f"{folder}: no processor files ({', '.join(missing)} missing); copy them from the training output folder "
            "(run_speech_recognition_ctc.py writes them) or save the processor there with processor.save_pretrained"
        )


# ---------------------------------------------------------------------------------------------------------
# Chunks


@dataclass(frozen=True)
class Chunk:
    """Samples [start, end) of an utterance; `left`/`right` samples of stride are context only."""

    start: int
    end: int
    left: int
    right: int

    @property
    def kept(self) -> tuple[int, int]:
        return self.start + self.left, self.end - self.right


@dataclass(frozen=True)
class Chunking:
    """Chunk and stride lengths in samples, aligned to the model's samples per frame as the pipeline does."""

    chunk: int
    left: int
    right: int

    @classmethod
    def from_seconds(cls, chunk_length_s: float, stride_length_s: float | Sequence[float] | None, sampling_rate: int,
                     samples_per_frame: int) -> "Chunking":
        if chunk_length_s <= 0:
            raise ConfigurationError(f"--chunk_length_s {chunk_length_s}: give a positive number of seconds")
        if stride_length_s is None:
            stride_length_s = chunk_length_s / 6
        if isinstance(stride_length_s, (int, float)):
            stride_length_s = (stride_length_s, stride_length_s)
        align = samples_per_frame

        def samples(seconds: float) -> int:
            return int(round(seconds * sampling_rate / align) * align)

        chunking = cls(samples(chunk_length_s), samples(stride_length_s[0]), samples(stride_length_s[1]))
        if chunking.chunk <= chunking.left + chunking.right:
            raise ConfigurationError(
                f"--chunk_length_s {chunk_length_s} must be longer than the strides on both sides "
                f"({stride_length_s[0]} + {stride_length_s[1]} s): raise it or lower --stride_length_s"
            )
        return chunking

    def plan(self, num_samples: int) -> list[Chunk]:
        step = self.chunk - self.left - self.right
        chunks = []
        for start in range(0, max(num_samples, 1), step):
            end = min(start + self.chunk, num_samples)
            is_last = start + self.chunk >= num_samples
            left = 0 if start == 0 else self.left
            right = 0 if is_last else self.right
            if end - start > left:
                chunks.append(Chunk(start, end, left, right))
            if is_last:
                break
        return chunks


def kept_frames(chunk: Chunk, samples_per_frame: int) -> tuple[int, int]:
    """The frame range of the chunk's output to keep, rounded as the pipeline's `rescale_stride` does."""
    length = chunk.end - chunk.start
    frames = int(round(length / samples_per_frame))
    left = int(round(chunk.left / length * frames))
    right = int(round(chunk.right / length * frames))
    return left, frames - right


# ---------------------------------------------------------------------------------------------------------
# Inference


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
        from robust_speech.vad import speech_segments

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
