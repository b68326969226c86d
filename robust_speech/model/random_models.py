"""Random-init CTC model folders of named shapes: what the tests, the benchmarks and `--model_config_json` users
build when no pretrained checkpoint is wanted (or, offline, none can be downloaded).

A folder holds what training writes: vocab.json, the tokenizer and feature extractor configs, the model.
"""

from __future__ import annotations

import json
from pathlib import Path

from robust_speech.core.model_folder import VOCAB_FILE
from robust_speech.text.normalizer import TextNormalizer, save_normalizer
from robust_speech.text.vocabulary import PAD_TOKEN, UNK_TOKEN, WORD_DELIMITER

# Wav2Vec2Config fields per shape; everything not named is the config's default (wav2vec2-base's size).
MODEL_SHAPES = {
    # XLS-R's architecture (7-layer conv encoder, stable layer norm, layer-norm features) scaled down to 2 layers
    # of width 32: a training step takes a fraction of a second on a CPU.
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "conv_dim": [32] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
             "do_stable_layer_norm": True, "feat_extract_norm": "layer"},
    # The demo's encoder size (4 layers of width 128, robust_speech/demo/recipe.py) in wav2vec2's architecture, for
    # what needs wav2vec2 (attention adapters); a narrow conv encoder keeps its step as cheap as the demo's.
    "small": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 256,
              "conv_dim": [64] * 7, "num_conv_pos_embeddings": 32, "num_conv_pos_embedding_groups": 8,
              "do_stable_layer_norm": True, "feat_extract_norm": "layer"},
    # wav2vec2-base's size (94M) with XLS-R's norms, so padded batches are exact as for XLS-R.
    "base": {"do_stable_layer_norm": True, "feat_extract_norm": "layer"},
    "xlsr300m": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
                 "do_stable_layer_norm": True, "feat_extract_norm": "layer", "conv_bias": True},
}


def save_ctc_processor(folder: Path, vocabulary: dict[str, int], *, attention_mask: bool = True) -> Path:
    """vocab.json, a Wav2Vec2 CTC tokenizer and feature extractor, and the reference text normalizer."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

    folder.mkdir(parents=True, exist_ok=True)
    (folder / VOCAB_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / VOCAB_FILE), unk_token=UNK_TOKEN, pad_token=PAD_TOKEN,
                                     word_delimiter_token=WORD_DELIMITER, bos_token=None, eos_token=None)
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=attention_mask)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    save_normalizer(folder, TextNormalizer())
    return folder


def save_random_model(folder: Path, vocabulary: dict[str, int], shape: str = "tiny", *, head_size: int | None = None,
                      logit_scale: float = 1.0, processor: bool = True, seed: int = 0) -> Path:
    """A seeded random-init Wav2Vec2ForCTC of `shape` that never writes [UNK] (its random text is letters) and
    often writes word breaks. `logit_scale` spreads the logits so the random path changes more often;
    `head_size` other than the vocabulary's plants a CTC head that does not fit the tokenizer."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    layer_norm = MODEL_SHAPES[shape].get("feat_extract_norm") == "layer"
    if processor:
        save_ctc_processor(folder, vocabulary, attention_mask=layer_norm)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = Wav2Vec2Config(**MODEL_SHAPES[shape], vocab_size=head_size or len(vocabulary), pad_token_id=0)
    model = Wav2Vec2ForCTC(config)
    with torch.no_grad():
        model.lm_head.bias[vocabulary[UNK_TOKEN]] = -100.0
        model.lm_head.bias[vocabulary[WORD_DELIMITER]] = 2.0  # some words, not one endless one
        model.lm_head.weight.mul_(logit_scale)
    model.save_pretrained(folder)
    return folder
