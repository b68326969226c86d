"""MMS-style attention adapters (`--adapter_attn_dim D --target_lang L`): a small bottleneck after every encoder
layer and the CTC head train, the rest of the model stays as it was.

This is transformers' own mechanism (`Wav2Vec2Config.adapter_attn_dim`, `Wav2Vec2ForCTC.load_adapter`), which
MMS uses to teach a 1B-parameter model a language with about 2M trainable parameters; only wav2vec2 models
have it. The folder keeps working everywhere: `model.safetensors` holds the whole model with this adapter in
place (so every plain loader gets it), and `adapter.<L>.safetensors` holds the adapter and head alone, so that
`Wav2Vec2ForCTC.from_pretrained(folder, target_lang=L)` (and `load_adapter(L)` on another copy of the base
model) loads them. robust-speech's loaders and eval.py load the folder's adapter for its language
(model/acoustic.py `adapter_language`).
"""

from __future__ import annotations

import re
from pathlib import Path

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.files import atomic_write
from robust_speech.core.model_folder import ADAPTER_FILE
from robust_speech.model.arguments import ModelArguments

# What transformers gives attention adapters to (the configs with an adapter_attn_dim field), for the refusal.
ADAPTER_ARCHITECTURES = "wav2vec2 models (Wav2Vec2ForCTC: wav2vec2, XLS-R, MMS)"
# The language becomes part of a file name that transformers looks up by it: letters, digits, - and _.
LANGUAGE_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


def refuse_adapter_flags(given: set[str], config, model_args: ModelArguments, do_train: bool) -> None:
    """One line for adapter flags this run would ignore or cannot honour, before any data is read."""
    dim = model_args.adapter_attn_dim
    if dim is None:
        if "target_lang" in given:
            raise ConfigurationError("--target_lang names the language an attention adapter is saved for: give "
                                     "--adapter_attn_dim too, or drop it (the model card's language is --language)")
        return
    model_type = getattr(config, "model_type", "this")
    if not hasattr(config, "adapter_attn_dim"):
        raise ConfigurationError(f"--adapter_attn_dim: a {model_type} model has no attention adapters; transformers "
                                 f"has them for {ADAPTER_ARCHITECTURES} only (use --lora_rank for this model)")
    if dim < 1:
        raise ConfigurationError(f"--adapter_attn_dim must be a positive size (MMS uses 16), got {dim}")
    if not model_args.target_lang:
        raise ConfigurationError("--adapter_attn_dim needs --target_lang: the adapter is saved as "
                                 f"{ADAPTER_FILE.format('<target_lang>')} (e.g. --target_lang pol)")
    if not LANGUAGE_PATTERN.fullmatch(model_args.target_lang):
        raise ConfigurationError(f"--target_lang {model_args.target_lang!r}: use letters, digits, - and _ only (it "
                                 "becomes part of the adapter's file name)")
    if model_args.lora_rank is not None:
        raise ConfigurationError("--adapter_attn_dim and --lora_rank are two ways to train few parameters: give one")
    if not do_train:
        raise ConfigurationError("--adapter_attn_dim trains an adapter, and this run does not train: add --do_train, "
                                 "or drop the flag to evaluate the model as it is")


def configure_adapters(config, model_args: ModelArguments) -> str | None:
    """Give the config its adapter size (before the model is built); what happens to the adapter, as a line."""
    dim = model_args.adapter_attn_dim
    if dim is None:
        return None
    had = getattr(config, "adapter_attn_dim", None)
    config.adapter_attn_dim = dim
    if had == dim and model_args.model_name_or_path and not model_args.config_name:
        start = f"starting from {model_args.model_name_or_path}'s own adapter weights (dimension {dim})"
    else:
        start = f"new adapters of dimension {dim}"
    return f"attention adapters for {model_args.target_lang}: {start}; the base model is frozen"


def train_only_adapters(model) -> None:
    """Freeze everything but the attention adapters and the CTC head."""
    for parameter in model.parameters():
        parameter.requires_grad = False
    for parameter in adapter_weights(model).values():
        parameter.requires_grad = True


def adapter_weights(model) -> dict:
    """The adapter layers' and the CTC head's parameters by name. transformers' private `_get_adapters` is used
    rather than a list of our own because it is exactly the set of names `load_adapter` requires in the file."""
    return model._get_adapters()


def save_adapter(model, output_dir: str | Path, target_lang: str) -> Path:
    """`adapter.<target_lang>.safetensors` in `output_dir`: the adapters and head, as transformers loads them."""
    from safetensors.torch import save

    path = Path(output_dir) / ADAPTER_FILE.format(target_lang)
    tensors = {name: weight.detach().cpu().contiguous() for name, weight in adapter_weights(model).items()}
    with atomic_write(path, "wb") as file:
        file.write(save(tensors, metadata={"format": "pt"}))
    return path
