"""Processor and CTC model: from a pretrained checkpoint, or randomly initialized from a config.

Everything is built from transformers' own classes (`Wav2Vec2CTCTokenizer`, `AutoFeatureExtractor`,
`Wav2Vec2Processor`, `AutoModelForCTC`), so the output folder loads in plain transformers. The CTC head is
sized to the vocabulary, `pad_token_id` is the CTC blank, and `ctc_zero_infinity` is on by default.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModelForCTC,
    AutoTokenizer,
    PretrainedConfig,
    SeamlessM4TFeatureExtractor,
    Wav2Vec2Config,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Processor,
)

from robust_speech.audio.decode import TARGET_SAMPLING_RATE
from robust_speech.core.errors import ConfigurationError
from robust_speech.core.logs import LOGGER
from robust_speech.core.model_folder import VOCAB_FILE
from robust_speech.core.safe_loading import refused_pickle, weights_options
from robust_speech.data.arguments import DataTrainingArguments
from robust_speech.model.arguments import ModelArguments
from robust_speech.model.head_carry_over import finish_carry_over, plan_carry_over

# Config fields the recipe's flags set on any checkpoint's config (the reference recipe's list).
CONFIG_FLAGS = (
    "attention_dropout", "activation_dropout", "feat_proj_dropout", "hidden_dropout", "final_dropout",
    "mask_time_prob", "mask_time_length", "mask_feature_prob", "mask_feature_length", "layerdrop",
    "ctc_loss_reduction", "ctc_zero_infinity", "add_adapter",
)


def load_config(model_args: ModelArguments, data_args: DataTrainingArguments) -> PretrainedConfig:
    """The architecture: the checkpoint's config, `--config_name`'s, or `--model_config_json` alone."""
    overrides = _json_overrides(model_args.model_config_json)
    source = model_args.config_name or model_args.model_name_or_path
    if source is None:
        if overrides is None:
            raise ConfigurationError("give --model_name_or_path (pretrained), or --config_name / --model_config_json "
                                     "(random init)")
        overrides = dict(overrides)
        model_type = overrides.pop("model_type", None)
        if model_type is None:
            return Wav2Vec2Config(**overrides)
        try:
            return AutoConfig.for_model(model_type, **overrides)
        except ValueError as error:
            raise ConfigurationError(f"--model_config_json: {str(error).splitlines()[0]}") from None
    try:
        config = AutoConfig.from_pretrained(
            source, cache_dir=data_args.cache_dir, token=data_args.hub_token, trust_remote_code=data_args.trust_remote_code
        )
    except OSError as error:
        raise ConfigurationError(f"cannot load the model config {source!r}: {str(error).splitlines()[0]}") from None
    if overrides:
        config.update(overrides)
    return config


def _json_overrides(value: str | None) -> dict | None:
    if value is None:
        return None
    try:
        text = Path(value).read_text(encoding="utf-8") if os.path.isfile(value) else value
        overrides = json.loads(text)
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigurationError(f"--model_config_json: neither a readable JSON file nor JSON text ({error})") from None
    if not isinstance(overrides, dict):
        raise ConfigurationError("--model_config_json must hold a JSON object of config fields")
    return overrides


def load_feature_extractor(model_args: ModelArguments, data_args: DataTrainingArguments, config: PretrainedConfig):
    if model_args.model_name_or_path and not model_args.config_name:
        try:
            return AutoFeatureExtractor.from_pretrained(
                model_args.model_name_or_path, cache_dir=data_args.cache_dir, token=data_args.hub_token,
                trust_remote_code=data_args.trust_remote_code,
            )
        except OSError as error:
            raise ConfigurationError(
                f"cannot load the feature extractor of {model_args.model_name_or_path!r}: {str(error).splitlines()[0]}"
            ) from None
    if getattr(config, "model_type", None) == "wav2vec2-bert":
        # Filterbank input (80 log-mel bins, two frames stacked: 320 samples per frame), as w2v-BERT 2.0 uses: it
        # leaves the CTC blank plateau sooner than waveform input when trained from scratch (code_history.md).
        return SeamlessM4TFeatureExtractor(feature_size=80, num_mel_bins=80, sampling_rate=TARGET_SAMPLING_RATE, stride=2,
                                           padding_value=1.0, return_attention_mask=True)
    # A random-init model gets wav2vec2's standard extractor; layer-norm (XLS-R style) models use attention masks.
    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=TARGET_SAMPLING_RATE, padding_value=0.0, do_normalize=True,
        return_attention_mask=getattr(config, "feat_extract_norm", "group") == "layer",
    )


def build_tokenizer(
    model_args: ModelArguments, data_args: DataTrainingArguments, output_dir: str | os.PathLike, tokens: dict[str, int] | None
):
    """The given tokenizer, or a character tokenizer over `tokens` (written to `output_dir/vocab.json`)."""
    if model_args.tokenizer_name_or_path:
        return AutoTokenizer.from_pretrained(
            model_args.tokenizer_name_or_path, cache_dir=data_args.cache_dir, token=data_args.hub_token,
            trust_remote_code=data_args.trust_remote_code,
        )
    if tokens is None:
        raise ConfigurationError("no vocabulary: train on data (--do_train) or pass --tokenizer_name_or_path")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / VOCAB_FILE, "w", encoding="utf-8") as file:
        json.dump(tokens, file, ensure_ascii=False, indent=2)
    return Wav2Vec2CTCTokenizer(
        os.fspath(output_dir / VOCAB_FILE),
        unk_token=data_args.unk_token,
        pad_token=data_args.pad_token,
        word_delimiter_token=data_args.word_delimiter_token,
        # No <s>/</s>: CTC never emits them, and an LM decoder would print them as text.
        bos_token=None,
        eos_token=None,
    )


def tokenizer_vocabulary(model_args: ModelArguments, data_args: DataTrainingArguments) -> dict[str, int] | None:
    """The vocabulary of `--tokenizer_name_or_path`, read before the data so out-of-vocabulary examples are skipped."""
    if not model_args.tokenizer_name_or_path:
        return None
    return dict(build_tokenizer(model_args, data_args, ".", None).get_vocab())


def build_processor(feature_extractor, tokenizer) -> Wav2Vec2Processor:
    return Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer)


def check_masking(config: PretrainedConfig) -> None:
    """SpecAugment's feature mask must fit in the hidden size; transformers only fails at the first step."""
    hidden = getattr(config, "hidden_size", None)
    if hidden and getattr(config, "mask_feature_prob", 0) > 0 and config.mask_feature_length >= hidden:
        raise ConfigurationError(
            f"--mask_feature_length {config.mask_feature_length} must be smaller than the model's hidden size "
            f"{hidden}: lower it or set --mask_feature_prob 0"
        )






def attention_option(model_args: ModelArguments) -> dict:
    return {"attn_implementation": model_args.attn_implementation} if model_args.attn_implementation else {}


def _plan_carry_over(model_args: ModelArguments, data_args: DataTrainingArguments, config: PretrainedConfig, tokenizer,
                     checkpoint_rows: int | None):
    """The head carry-over from the checkpoint to `tokenizer`, with `config` set to load the checkpoint's head as
    saved; None where loading by index is right (the same vocabulary) or no tokenizer tells the characters."""
    if not checkpoint_rows:
        return None
    carry = plan_carry_over(model_args.model_name_or_path, checkpoint_rows, tokenizer, cache_dir=data_args.cache_dir,
                            token=data_args.hub_token, trust_remote_code=data_args.trust_remote_code)
    if carry is not None:
        config.vocab_size = checkpoint_rows
    return carry


def build_model(model_args: ModelArguments, data_args: DataTrainingArguments, config: PretrainedConfig, tokenizer):
    """The CTC model with the recipe's config flags applied and its head sized to `tokenizer` (a fine-tuned
    checkpoint's head rows follow the characters both vocabularies share: model/head_carry_over.py)."""
    checkpoint_rows = getattr(config, "vocab_size", None)
    config.update({name: getattr(model_args, name) for name in CONFIG_FLAGS})
    check_masking(config)
    config.update({"pad_token_id": tokenizer.pad_token_id, "vocab_size": len(tokenizer)})
    if model_args.model_name_or_path and not model_args.config_name:
        carry = _plan_carry_over(model_args, data_args, config, tokenizer, checkpoint_rows)
        try:
            model, loading_info = AutoModelForCTC.from_pretrained(
                model_args.model_name_or_path,
                config=config,
                cache_dir=data_args.cache_dir,
                token=data_args.hub_token,
                trust_remote_code=data_args.trust_remote_code,
                # A head of another size that no checkpoint tokenizer matches by character: start it afresh.
                ignore_mismatched_sizes=True,
                output_loading_info=True,
                **weights_options(model_args.model_name_or_path, model_args.allow_pickle_weights),
                **attention_option(model_args),
            )
        except OSError as error:
            raise ConfigurationError(
                f"cannot load the model {model_args.model_name_or_path!r}: {str(error).splitlines()[0]}"
            ) from None
        except pickle.UnpicklingError:
            raise refused_pickle(model_args.model_name_or_path) from None
        if carry is not None:
            finish_carry_over(model, carry, model_args.model_name_or_path, loading_info)
            config.vocab_size = carry.new_size
    else:
        model = AutoModelForCTC.from_config(config, **attention_option(model_args))
    if model_args.freeze_feature_encoder and hasattr(model, "freeze_feature_encoder"):
        model.freeze_feature_encoder()
    if model_args.channels_last_encoder and not torch.cuda.is_available() and hasattr(model, "freeze_feature_encoder"):
        from robust_speech.model import fast_encoder

        if not fast_encoder.install(model):
            LOGGER.warning(f"note: this {config.model_type} model's feature encoder is not a stack of plain "
                           "convolutions; transformers' own layers run it")
    return model
