"""LoRA (`--lora_rank R`): low-rank updates on the attention and feed-forward projections, trained with the CTC
head while the rest of the model stays frozen, through peft (the library transformers users already use for
it, rather than LoRA layers of our own).

The saved folder is the merged model: `W + (alpha / R) * B @ A` folded into every projection, peft's wrappers
removed, so the folder is a plain `AutoModelForCTC` that eval.py, the pipeline and a Hugging Face Space load
without peft. Checkpoints written during training are peft's (the LoRA matrices and the head), which the
Trainer resumes from.
"""

from __future__ import annotations

import functools

from robust_speech.core.errors import ConfigurationError
from robust_speech.model.arguments import ModelArguments

# The attention and feed-forward projections of transformers' CTC encoders: wav2vec2, XLS-R, HuBERT, WavLM and
# data2vec name them q/k/v/out_proj, w2v-BERT and the conformer linear_q/k/v/out; all name the feed-forward
# layers intermediate_dense and output_dense. The default targets are those of them the model has.
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj", "linear_q", "linear_k", "linear_v", "linear_out",
               "intermediate_dense", "output_dense")
HEAD = "lm_head"  # the CTC head of every transformers *ForCTC model: trained whole, beside the LoRA matrices
LORA_FLAGS = ("lora_alpha", "lora_dropout", "lora_target_modules")


def refuse_lora_flags(given: set[str], model_args: ModelArguments, do_train: bool) -> None:
    """One line for LoRA flags this run would ignore or cannot honour, before any data is read."""
    if model_args.lora_rank is None:
        for flag in LORA_FLAGS:
            if flag in given:
                raise ConfigurationError(f"--{flag} configures LoRA: give --lora_rank too, or drop it")
        return
    if model_args.lora_rank < 1:
        raise ConfigurationError(f"--lora_rank must be a positive rank (8 or 16 are usual), got {model_args.lora_rank}")
    if model_args.lora_alpha <= 0:
        raise ConfigurationError(f"--lora_alpha must be positive, got {model_args.lora_alpha}")
    if not 0 <= model_args.lora_dropout < 1:
        raise ConfigurationError(f"--lora_dropout must be at least 0 and below 1, got {model_args.lora_dropout}")
    if not do_train:
        raise ConfigurationError("--lora_rank trains LoRA matrices, and this run does not train: add --do_train, or "
                                 "drop the flag to evaluate the model as it is")


def target_modules(model, model_args: ModelArguments) -> list[str]:
    """The Linear layer names that get LoRA matrices: the ones asked for (each must exist), else the model's
    attention and feed-forward projections."""
    import torch

    linear = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    if model_args.lora_target_modules is None:
        found = [name for name in PROJECTIONS if name in linear]
        if not found:
            raise ConfigurationError(f"--lora_rank: this {model.config.model_type} model has none of the projections "
                                     f"LoRA targets by default ({', '.join(PROJECTIONS)}); name its Linear layers "
                                     "with --lora_target_modules")
        return found
    asked = [name.strip() for name in model_args.lora_target_modules.split(",") if name.strip()]
    missing = [name for name in asked if name not in linear]
    if missing or not asked:
        raise ConfigurationError(f"--lora_target_modules: {', '.join(missing) or 'nothing given'}: not a Linear layer "
                                 f"of this {model.config.model_type} model (it has {', '.join(sorted(linear))})")
    return asked


def add_lora(model, model_args: ModelArguments):
    """The model wrapped by peft: LoRA matrices on the target projections and a trainable copy of the CTC head
    (peft saves both in checkpoints), everything else frozen; `model` itself if --lora_rank is not given."""
    if model_args.lora_rank is None:
        return model
    from peft import LoraConfig, get_peft_model

    if not hasattr(model, HEAD):
        raise ConfigurationError(f"--lora_rank: this {model.config.model_type} model has no {HEAD} CTC head to train")
    config = LoraConfig(r=model_args.lora_rank, lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout,
                        target_modules=target_modules(model, model_args), modules_to_save=[HEAD], bias="none")
    wrapped = get_peft_model(model, config)
    # A speech model has no token embeddings: peft's "auto" compares the vocabulary with the base checkpoint's (asking
    # the Hub for a Hub id) and, the CTC head being resized, asks for input embeddings that wav2vec2 lacks. The head
    # is saved as a module to save instead.
    wrapped.save_pretrained = functools.partial(wrapped.save_pretrained, save_embedding_layers=False)
    return wrapped


def merged(model):
    """The plain transformers model with the LoRA updates folded into its weights and the trained head in place."""
    return model.merge_and_unload(progressbar=False)
