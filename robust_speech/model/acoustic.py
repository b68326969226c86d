"""The acoustic model of a folder or Hub id, loaded safely, on the device asked for (bf16 where asked)."""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.logs import LOGGER
from robust_speech.core.model_folder import ADAPTER_FILE, PROCESSOR_FILES


@dataclass
class AcousticModel:
    model: object
    processor: object
    device: torch.device
    dtype: torch.dtype = torch.float32
    cpu_bf16: bool = False  # bf16 autocast on a CPU, Linear weights stored in bf16 (model/precision.py)

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
    """The model and processor of a folder or Hub id; remote code and pickle weights only when asked."""
    from transformers import AutoModelForCTC, AutoProcessor, Wav2Vec2Processor

    from robust_speech.core.safe_loading import refused_pickle, weights_options

    device = resolve_device(device)
    dtype = torch.bfloat16 if bf16 and device.type == "cuda" else torch.float32
    cpu_bf16 = bf16 and device.type == "cpu"
    check_processor_files(model_id)
    weights = weights_options(model_id, allow_pickle_weights)
    try:
        # trust_remote_code is passed even when False: left None, transformers asks on a terminal instead.
        # A folder with an LM names Wav2Vec2ProcessorWithLM, which would load the LM into pyctcdecode here too;
        # our decoders load it themselves, so the acoustic side takes the processor without it.
        loader = Wav2Vec2Processor if names_processor_with_lm(model_id) else AutoProcessor
        processor = loader.from_pretrained(model_id, token=token, trust_remote_code=trust_remote_code)
        language = adapter_language(model_id)
        adapter = {"target_lang": language} if language else {}  # Wav2Vec2ForCTC loads adapter.<language>.safetensors
        model = AutoModelForCTC.from_pretrained(model_id, token=token, dtype=dtype, trust_remote_code=trust_remote_code,
                                                **weights, **adapter).to(device).eval()
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot load a CTC model from {model_id}: {str(error).splitlines()[0]}") from None
    except pickle.UnpicklingError:
        raise refused_pickle(model_id) from None
    check_weight_values(model, model_id)
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
    if bf16:
        from robust_speech.model.precision import emulated_bf16_note, store_linear_weights_in_bf16

        note = emulated_bf16_note(device)
        if note:
            LOGGER.warning(f"note: {note}")
        if cpu_bf16:
            store_linear_weights_in_bf16(model)  # what autocast would cast on every forward pass, cast once
    if device.type == "cpu":
        from robust_speech.model import fast_encoder
        from robust_speech.model.allocator import keep_freed_memory

        fast_encoder.install(model)  # measured on the CPU only; CUDA keeps cuDNN's convolutions
        keep_freed_memory()  # activations reuse freed heap memory instead of faulting in fresh pages
    return AcousticModel(model, processor, device, dtype, cpu_bf16)


def adapter_language(model_id: str | os.PathLike) -> str | None:
    """The language of a local folder's attention adapter (`adapter.<language>.safetensors`, training's
    --adapter_attn_dim): the only one it holds. A folder of several (MMS's) names none: its model.safetensors
    then applies, as in plain transformers, with a note. eval.py's `adapter_language` is the twin without
    robust-speech."""
    folder = Path(model_id)
    prefix, suffix = ADAPTER_FILE.split("{}")
    languages = sorted(path.name[len(prefix):-len(suffix)] for path in folder.glob(ADAPTER_FILE.format("*"))
                       if path.is_file()) if folder.is_dir() else []
    if len(languages) > 1:
        LOGGER.warning(f"note: {folder} holds attention adapters for {len(languages)} languages ({', '.join(languages[:5])}"
                       f"{', ...' if len(languages) > 5 else ''}); the weights of its model.safetensors are used")
    return languages[0] if len(languages) == 1 else None


def check_weight_values(model, model_id: str | os.PathLike) -> None:
    """Garbage bytes in the weights' data pass every header check and decode to NaN or absurd values, which
    would give empty or random transcripts (or fail deep inside the encoder): refused here, naming the file."""
    from robust_speech.core.folder_check import DamagedFileError, weights_problem

    files = sorted(Path(model_id).glob("*.safetensors")) if Path(model_id).is_dir() else []
    damaged = weights_problem(model.named_parameters(), files[0] if len(files) == 1 else model_id)
    if damaged:
        raise DamagedFileError(damaged)


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


def names_processor_with_lm(model_id: str | os.PathLike) -> bool:
    """Whether a local folder's processor config names `Wav2Vec2ProcessorWithLM` (see lm/install.py)."""
    path = Path(model_id) / PROCESSOR_FILES[0][0]
    if not path.is_file():
        return False
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("processor_class", "")).endswith("WithLM")
    except ValueError:
        return False
