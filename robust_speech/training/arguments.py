"""The model and recipe flags of the training script, as dataclasses parsed by `transformers.HfArgumentParser`
(the data flags are data/arguments.py's).

Field names are the reference recipe's (`run_speech_recognition_ctc.py`), so its commands work unchanged;
fields it lacks are ours and say so in their help. Old spellings users paste from the challenge era
(`--use_auth_token`) are accepted with a note.
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
        default=True, metadata={"help": "zero infinite CTC losses (clips too short for their transcript); default on"}
    )
    add_adapter: bool = field(default=False, metadata={"help": "add an adapter layer on top of the encoder"})
    allow_pickle_weights: bool = field(
        default=False, metadata={"help": "ours: also load pickle weights (pytorch_model.bin) when a checkpoint has no "
                                 "safetensors, with torch.load(weights_only=True); off: refused, as pickles can run code"}
    )


@dataclass
class RecipeArguments:
    """Ours: what the reference recipe does not have."""

    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "start from scratch even if output_dir holds checkpoints (else: resume)"}
    )
    max_batch_duration_s: Optional[float] = field(
        default=None, metadata={"help": "form training batches by total padded audio seconds from duration buckets "
                                "instead of a fixed --per_device_train_batch_size"}
    )
    bucket_buffer_size: int = field(
        default=500, metadata={"help": "with --streaming and --max_batch_duration_s or --group_by_length: decoded "
                               "examples read ahead and bucketed by duration (memory: this many clips of audio)"}
    )
    augment: Optional[str] = field(
        default=None, metadata={"help": "multi-condition training: any of speed,pitch,rir,reverb,babble,noise,gain,clip,"
                                "codec,bandlimit, each optionally with its probability (rir:0.3)"}
    )
    augment_prob: float = field(default=0.5, metadata={"help": "probability of each --augment condition given without one"})
    augment_snr_db: str = field(default="5,20", metadata={"help": "noise SNR range in dB, low,high"})
    augment_babble_snr_db: str = field(default="5,20", metadata={"help": "babble SNR range in dB, low,high"})
    augment_speeds: str = field(default="0.9,1.1", metadata={"help": "speed factor range, low,high"})
    augment_semitones: str = field(default="-3,3", metadata={"help": "pitch shift range in semitones, low,high "
                                   "(--augment_semitones=-2,2: a leading minus needs the =)"})
    augment_rt60_s: str = field(default="0.2,1.0", metadata={"help": "reverberation time range of rir/reverb, low,high"})
    augment_copies: int = field(
        default=0, metadata={"help": "render this many degraded copies of the training set once, before training, "
                             "and train on them with the clean set (features cached); 0: degrade on the fly, in the "
                             "collator (dataloader workers)"}
    )
    feature_cache_mb: int = field(
        default=1024, metadata={"help": "filterbank models: keep each example's input features in memory (up to "
                                "this many MB per process) instead of recomputing them every epoch; 0: off. Unused "
                                "with on-the-fly --augment"}
    )
    language: Optional[str] = field(
        default=None, metadata={"help": "ISO code for the model card (default: from --dataset_config_name)"}
    )


