"""The channels-last feature encoder computes what transformers' convolutions compute, on every norm layout,
is installed only where it does, and leaves training with gradients to transformers; glibc malloc is tuned."""

import sys

import pytest
import torch
from model_folders import save_random_model
from transformers import HubertConfig, HubertForCTC, Wav2Vec2Config, Wav2Vec2ForCTC

from robust_speech.core import allocator, fast_encoder
from robust_speech.inference.acoustic import load_acoustic_model
from robust_speech.training.random_models import MODEL_SHAPES

SMALL = {**MODEL_SHAPES["tiny"], "vocab_size": 12}


MODELS = {
    "layer norm (XLS-R)": lambda: Wav2Vec2ForCTC(Wav2Vec2Config(**SMALL)),
    "group norm (wav2vec2-base)": lambda: Wav2Vec2ForCTC(Wav2Vec2Config(**{**SMALL, "feat_extract_norm": "group",
                                                                           "do_stable_layer_norm": False})),
    "conv bias": lambda: Wav2Vec2ForCTC(Wav2Vec2Config(**{**SMALL, "conv_bias": True})),
    "HuBERT": lambda: HubertForCTC(HubertConfig(**SMALL)),
}


@pytest.mark.parametrize("name", MODELS)
def test_installed_encoder_gives_the_models_own_outputs(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    audio = torch.randn(3, 16000)
    with torch.inference_mode():
        encoder = model.base_model.feature_extractor
        expected_features, expected_logits = encoder(audio), model(audio).logits
        assert fast_encoder.install(model) and encoder.channels_last
        features, logits = encoder(audio), model(audio).logits
    assert features.shape == expected_features.shape
    torch.testing.assert_close(features, expected_features, rtol=1e-4, atol=1e-4 * float(expected_features.abs().max()))
    torch.testing.assert_close(logits, expected_logits, rtol=1e-4, atol=1e-4)


def test_an_encoder_it_does_not_know_is_left_alone():
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**SMALL))
    encoder = model.base_model.feature_extractor
    encoder.conv_layers[2].conv.padding = (1,)  # not the layout the matrix product reproduces
    assert not fast_encoder.install(model) and not hasattr(encoder, "channels_last")
    assert not fast_encoder.install(torch.nn.Linear(2, 2))


def test_a_probe_that_disagrees_keeps_transformers_forward(monkeypatch):
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**SMALL))
    original = fast_encoder.channels_last_forward
    monkeypatch.setattr(fast_encoder, "channels_last_forward", lambda layers, audio: original(layers, audio) * 1.01)
    assert not fast_encoder.install(model)


@pytest.mark.parametrize("name", MODELS)
def test_training_through_it_gives_transformers_gradients(name):
    import copy

    torch.manual_seed(1)
    model = MODELS[name]()
    reference = copy.deepcopy(model).train()
    assert fast_encoder.install(model)
    model.train()
    audio = torch.randn(2, 8000)
    for network in (reference, model):
        network.config.layerdrop = network.config.mask_time_prob = 0.0  # SpecAugment draws from numpy, unseeded
        torch.manual_seed(2)  # the same dropout masks in both
        network(audio).logits.pow(2).mean().backward()
    for (key, expected), (_, found) in zip(reference.base_model.feature_extractor.named_parameters(),
                                           model.base_model.feature_extractor.named_parameters()):
        torch.testing.assert_close(found.grad, expected.grad, rtol=1e-3, atol=1e-3 * float(expected.grad.abs().max()),
                                   msg=key)


def test_gradient_checkpointing_keeps_transformers_encoder(monkeypatch):
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**SMALL))
    assert fast_encoder.install(model)
    calls = []
    original = fast_encoder.channels_last_forward
    monkeypatch.setattr(fast_encoder, "channels_last_forward", lambda *args: calls.append(1) or original(*args))
    model.activation_checkpointing_enable()
    model.train()
    model(torch.randn(2, 8000)).logits.sum().backward()
    assert calls == []  # recomputing in backward is transformers' own feature
    model.activation_checkpointing_disable()
    model(torch.randn(2, 8000)).logits.sum().backward()
    model.eval()
    with torch.inference_mode():
        model(torch.randn(2, 8000))
    assert calls == [1, 1]


def test_cpu_inference_loads_with_the_fast_encoder(tmp_path):
    acoustic = load_acoustic_model(save_random_model(tmp_path / "model"), "cpu")
    assert acoustic.model.base_model.feature_extractor.channels_last


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_malloc_takes_the_settings():
    assert allocator.keep_freed_memory() is True
    assert allocator.keep_freed_memory() is True  # once per process, the same answer after


@pytest.mark.parametrize("wanted", [True, False])
def test_training_builds_the_model_with_it_unless_told_not_to(wanted):
    from robust_speech.data.arguments import DataTrainingArguments
    from robust_speech.training.arguments import ModelArguments
    from robust_speech.training.modeling import build_model

    tokenizer = type("Tokenizer", (), {"pad_token_id": 0, "__len__": lambda self: 12})()
    model = build_model(ModelArguments(channels_last_encoder=wanted, freeze_feature_encoder=False),
                        DataTrainingArguments(dataset_name="unused"), Wav2Vec2Config(**SMALL), tokenizer)
    assert getattr(model.base_model.feature_extractor, "channels_last", False) is wanted


def test_only_exact_gelu_runs_in_place():
    from transformers.activations import ACT2FN

    assert fast_encoder._exact_gelu(ACT2FN["gelu"]) and fast_encoder._exact_gelu(torch.nn.GELU())
    assert not any(fast_encoder._exact_gelu(activation) for activation in (
        ACT2FN["gelu_new"], ACT2FN["relu"], torch.nn.GELU(approximate="tanh"), ACT2FN["gelu_python"]))


@pytest.mark.parametrize("activation", ["gelu", "gelu_new", "relu"])
def test_other_activations_keep_their_own_function(activation):
    torch.manual_seed(4)
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**{**SMALL, "feat_extract_activation": activation})).eval()
    audio = torch.randn(2, 8000)
    with torch.inference_mode():
        expected = model.base_model.feature_extractor(audio)
        assert fast_encoder.install(model)
        found = model.base_model.feature_extractor(audio)
    torch.testing.assert_close(found, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
