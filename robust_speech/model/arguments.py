"""The model flags of the training script (which checkpoint or config, dropout, SpecAugment, the CTC loss,
the CPU encoder path), as a dataclass parsed by `transformers.HfArgumentParser`.

Field names are the reference recipe's (`run_speech_recognition_ctc.py`), so its commands work unchanged;
fields it lacks are ours and say so in their help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class ModelArguments:
    model_name_or_path: Optional[str] = field(
        default=None, metadata={"help": "pretrained checkpoint (Hub id or folder), e.g. facebook/wav2vec2-xls-r-300m"}
    )
    config_name: Optional[str] = field(
        default=None, metadata={"help": "ours: train a RANDOMLY INITIALIZED model of this config (Hub id, folder or "
                                "config.json) instead of loading weights"}
    )
    model_config_json: Optional[str] = field(
        default=None, metadata={"help": "ours: JSON (a file or inline) of config fields; with --config_name it edits "
                                "that config, alone it builds a random-init Wav2Vec2 of that shape"}
    )
    tokenizer_name_or_path: Optional[str] = field(
        default=None, metadata={"help": "use this tokenizer (its vocab.json) instead of building one from the data"}
    )
    freeze_feature_encoder: bool = field(default=True, metadata={"help": "freeze the convolutional feature encoder"})
    channels_last_encoder: bool = field(
        default=True, metadata={"help": "ours: on the CPU, run the convolutional feature encoder as channels-last matrix "
                                "products (the same results to float rounding, forward and backward about 2-3x faster); "
                                "false: transformers' Conv1d layers"}
    )
    attention_dropout: float = field(default=0.0, metadata={"help": "dropout on attention probabilities"})
    activation_dropout: float = field(default=0.0, metadata={"help": "dropout inside the feed-forward layers"})
    feat_proj_dropout: float = field(default=0.0, metadata={"help": "dropout on the feature projection"})
    hidden_dropout: float = field(default=0.0, metadata={"help": "dropout on hidden states"})
    final_dropout: float = field(default=0.0, metadata={"help": "dropout before the CTC head"})
    mask_time_prob: float = field(default=0.05, metadata={"help": "SpecAugment: share of time steps masked"})
    mask_time_length: int = field(default=10, metadata={"help": "SpecAugment: length of each time mask"})
    mask_feature_prob: float = field(default=0.0, metadata={"help": "SpecAugment: share of feature channels masked"})
    mask_feature_length: int = field(default=10, metadata={"help": "SpecAugment: length of each feature mask"})
    layerdrop: float = field(default=0.0, metadata={"help": "probability of skipping a transformer layer"})
    ctc_loss_reduction: str = field(default="mean", metadata={"help": "mean or sum"})
    attn_implementation: Optional[str] = field(
        default=None,
        metadata={"help": "attention kernel: sdpa (transformers' default where the model supports it) or eager"},
    )
    ctc_zero_infinity: bool = field(
        default=True, metadata={"help": "zero infinite CTC losses (clips too short for their transcript)"}
    )
    add_adapter: bool = field(default=False, metadata={"help": "add an adapter layer on top of the encoder"})
    allow_pickle_weights: bool = field(
        default=False, metadata={"help": "ours: also load pickle weights (pytorch_model.bin) when a checkpoint has no "
                                 "safetensors, with torch.load(weights_only=True); off: refused, as pickles can run code"}
    )
    # Parameter-efficient fine-tuning (training/adapters.py, training/lora.py; docs/new_language.md).
    adapter_attn_dim: Optional[int] = field(
        default=None, metadata={"help": "ours: MMS-style attention adapters of this bottleneck size in every encoder "
                                "layer (wav2vec2 models: XLS-R, MMS); the base model is frozen and only the adapters and "
                                "the CTC head train, saved as adapter.<--target_lang>.safetensors"}
    )
    target_lang: Optional[str] = field(
        default=None, metadata={"help": "ours: with --adapter_attn_dim, the language the adapter is saved for "
                                "(adapter.<target_lang>.safetensors; MMS uses ISO 639-3 codes such as pol)"}
    )
    lora_rank: Optional[int] = field(
        default=None, metadata={"help": "ours: train LoRA matrices of this rank (peft) on --lora_target_modules and the "
                                "CTC head, the rest frozen; the saved model is merged, a plain AutoModelForCTC"}
    )
    lora_alpha: float = field(default=16.0, metadata={"help": "ours: LoRA scaling numerator (updates scaled by "
                                                              "alpha / rank)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "ours: dropout on the LoRA branch's input"})
    lora_target_modules: Optional[str] = field(
        default=None, metadata={"help": "ours: comma-separated names of the Linear layers that get LoRA matrices "
                                "(default: the attention q/k/v/out and feed-forward projections the model has: "
                                "q_proj,k_proj,v_proj,out_proj or linear_q,linear_k,linear_v,linear_out, and "
                                "intermediate_dense,output_dense)"}
    )
