"""Tiny model folders the way training writes them: a processor (vocab.json, tokenizer and feature extractor
configs, text_normalizer.json) and, for inference tests, a random-init XLS-R-shaped CTC model."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY_XLSR_CONFIG
from ctc_logits import VOCABULARY


def save_processor(folder: Path, vocabulary=VOCABULARY, *, attention_mask: bool = False) -> Path:
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

    from robust_speech.lm import save_normalizer
    from robust_speech.text import TextNormalizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocabulary), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), unk_token="[UNK]", pad_token="[PAD]",
                                     word_delimiter_token="|", bos_token=None, eos_token=None)
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=attention_mask)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    save_normalizer(folder, TextNormalizer())
    return folder


def save_random_model(folder: Path, vocabulary=VOCABULARY, *, head_size: int | None = None,
                      processor: bool = True) -> Path:
    """A random-init model with XLS-R's architecture; it never emits [UNK] (the pipeline would print it).
    `head_size` other than the vocabulary's plants a CTC head that does not fit the tokenizer."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    if processor:
        save_processor(folder, vocabulary, attention_mask=True)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = Wav2Vec2Config(**TINY_XLSR_CONFIG, vocab_size=head_size or len(vocabulary), pad_token_id=0)
    model = Wav2Vec2ForCTC(config)
    with torch.no_grad():
        model.lm_head.bias[vocabulary["[UNK]"]] = -100.0
        model.lm_head.bias[vocabulary["|"]] = 2.0  # some words, not one endless one
        model.lm_head.weight.mul_(8.0)  # spread the logits so the random path changes often
    model.save_pretrained(folder)
    return folder
