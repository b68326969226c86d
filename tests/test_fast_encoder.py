"""The channels-last feature encoder computes what transformers' convolutions compute, on every norm layout,
is installed only where it does, and leaves training with gradients to transformers; glibc malloc is tuned."""

import sys

import pytest
import torch
from model_folders import save_random_model
from transformers import HubertConfig, HubertForCTC, Wav2Vec2Config, Wav2Vec2ForCTC

from robust_speech.model import allocator, fast_encoder
from robust_speech.model.acoustic import load_acoustic_model
from robust_speech.model.random_models import MODEL_SHAPES

SMALL = {**MODEL_SHAPES["tiny"], "vocab_size": 12}


def trained_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Every norm's scale and shift away from the 1 and 0 of a fresh model, as training leaves them."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)) and module.weight is not None:
                module.weight.uniform_(0.5, 1.5)
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.2)
    return model


MODELS = {
    "layer norm (XLS-R)": lambda: trained_norms(Wav2Vec2ForCTC(Wav2Vec2Config(**SMALL))),
    "group norm (wav2vec2-base)": lambda: trained_norms(Wav2Vec2ForCTC(Wav2Vec2Config(
        **{**SMALL, "feat_extract_norm": "group", "do_stable_layer_norm": False}))),
    "conv bias": lambda: trained_norms(Wav2Vec2ForCTC(Wav2Vec2Config(**{**SMALL, "conv_bias": True}))),
    "HuBERT": lambda: trained_norms(HubertForCTC(HubertConfig(**SMALL))),
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
    for name in ("channels_last_forward", "stream_forward"):
        original = getattr(fast_encoder, name)
        monkeypatch.setattr(fast_encoder, name, lambda *args, name=name, original=original: calls.append(name) or original(*args))
    model.activation_checkpointing_enable()
    model.train()
    model(torch.randn(2, 8000)).logits.sum().backward()
    assert calls == []  # recomputing in backward is transformers' own feature
    model.activation_checkpointing_disable()
    model(torch.randn(2, 8000)).logits.sum().backward()
    model.eval()
    with torch.inference_mode():
        model(torch.randn(2, 8000))
    assert calls == ["channels_last_forward", "stream_forward"]  # without gradients: one packed stream


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
    from robust_speech.model.arguments import ModelArguments
    from robust_speech.model.building import build_model

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


FRAME_LOCAL = [name for name in MODELS if "group" not in name]


@pytest.mark.parametrize("name", FRAME_LOCAL)
def test_a_padded_batch_runs_packed_and_each_utterance_gets_its_own_frames(name):
    torch.manual_seed(5)
    model = MODELS[name]().eval()
    lengths = [16000, 9001, 12345, 400]  # off the total stride, and one receptive field exactly
    batch = torch.randn(len(lengths), max(lengths)) * 5  # padding full of loud noise: packing never reads it
    encoder = model.base_model.feature_extractor
    with torch.inference_mode():
        own = [encoder(batch[row : row + 1, :length])[0] for row, length in enumerate(lengths)]
        assert fast_encoder.install(model) and encoder.packs
        with fast_encoder.packed_lengths(model, lengths):
            packed = encoder(batch)
        assert encoder.packed_lengths is None  # told for that batch only
    assert packed.shape == (len(lengths), own[0].shape[0], own[0].shape[1])
    for row, frames in enumerate(own):
        count = frames.shape[1]
        assert count == fast_encoder.output_frames([fast_encoder._layer_parts(layer) for layer in encoder.conv_layers],
                                                   lengths[row])
        torch.testing.assert_close(packed[row, :, :count], frames, rtol=1e-4, atol=1e-4 * float(frames.abs().max()))
        assert not packed[row, :, count:].any()  # the padding's frames left empty: the model masks them


@pytest.mark.parametrize("name", FRAME_LOCAL)
def test_a_packed_padded_batch_gives_the_logits_of_the_padded_one(name):
    torch.manual_seed(6)
    model = MODELS[name]().eval()
    lengths = [16000, 7000, 11111]
    batch = torch.randn(len(lengths), max(lengths))
    mask = (torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]).long()
    for row, length in enumerate(lengths):
        batch[row, length:] = 0.0
    with torch.inference_mode():
        expected = model(batch, attention_mask=mask).logits
        assert fast_encoder.install(model)
        with fast_encoder.packed_lengths(model, lengths):
            found = model(batch, attention_mask=mask).logits
    for row, length in enumerate(lengths):
        frames = int(model._get_feat_extract_output_lengths(torch.tensor(length)))
        torch.testing.assert_close(found[row, :frames], expected[row, :frames], rtol=1e-4, atol=1e-4)


def test_an_encoder_that_normalizes_over_time_never_packs():
    torch.manual_seed(7)
    model = MODELS["group norm (wav2vec2-base)"]().eval()
    encoder = model.base_model.feature_extractor
    batch = torch.randn(2, 9000)
    with torch.inference_mode():
        expected = encoder(batch)
        assert fast_encoder.install(model) and not encoder.packs
        with fast_encoder.packed_lengths(model, [9000, 5000]):
            found = encoder(batch)  # group norm's statistics span the whole row, padding included: no packing
    torch.testing.assert_close(found, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_a_packed_probe_that_disagrees_keeps_the_padded_batches(monkeypatch):
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**SMALL))
    original = fast_encoder.stream_forward
    monkeypatch.setattr(fast_encoder, "stream_forward", lambda layers, stream: original(layers, stream) * 1.01)
    assert fast_encoder.install(model) and not model.base_model.feature_extractor.packs


def test_the_stream_convolution_is_the_conv1d_for_any_kernel_and_stride():
    torch.manual_seed(8)
    stream = torch.randn(1000, 6)
    for kernel, stride in [(10, 5), (3, 2), (2, 2), (1, 1), (7, 3), (4, 5)]:
        conv = torch.nn.Conv1d(6, 4, kernel, stride, bias=kernel % 2 == 1)
        expected = conv(stream.t()[None])[0].t()
        with torch.inference_mode():
            torch.testing.assert_close(fast_encoder._stream_conv(stream, conv), expected, rtol=1e-5, atol=1e-5)


def test_lengths_for_another_batch_are_refused():
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**SMALL)).eval()
    assert fast_encoder.install(model)
    with torch.inference_mode(), fast_encoder.packed_lengths(model, [8000, 4000]), pytest.raises(ValueError):
        model.base_model.feature_extractor(torch.randn(3, 8000))


@pytest.mark.parametrize("norm", [torch.nn.LayerNorm(8), torch.nn.LayerNorm(8, bias=False),
                                  torch.nn.LayerNorm(8, elementwise_affine=False)], ids=["affine", "no shift", "plain"])
@pytest.mark.parametrize("conv_bias", [False, True])
def test_a_layer_norm_after_a_centered_convolution_is_the_layer_norm(norm, conv_bias):
    torch.manual_seed(9)
    trained_norms(norm)
    conv = torch.nn.Conv1d(3, 8, 3, 2, bias=conv_bias)
    with torch.no_grad():
        conv.weight.add_(1.0)  # outputs far from zero mean: the centering has something to take out
    stream = torch.randn(500, 3)
    with torch.inference_mode():
        expected = torch.nn.functional.layer_norm(fast_encoder._stream_conv(stream, conv), (8,), norm.weight,
                                                  norm.bias, norm.eps)
        centered = fast_encoder._stream_conv(stream, conv, centered=True)
        torch.testing.assert_close(centered.mean(1), torch.zeros(len(centered)), rtol=0, atol=1e-5)
        found = fast_encoder._normalize_centered_(centered, norm)
    torch.testing.assert_close(found, expected, rtol=1e-5, atol=1e-5)


def test_under_autocast_the_stream_keeps_layer_norm(monkeypatch):
    model = MODELS["layer norm (XLS-R)"]().eval()
    layers = [fast_encoder._layer_parts(layer) for layer in model.base_model.feature_extractor.conv_layers]
    calls = []
    monkeypatch.setattr(fast_encoder, "_normalize_centered_", lambda hidden, norm: calls.append(1) or hidden)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast_encoder.stream_forward(layers, torch.randn(4000))
    assert not calls  # bf16 products: the statistics stay with layer_norm's float32 arithmetic
    with torch.inference_mode():
        fast_encoder.stream_forward(layers, torch.randn(4000))
    assert len(calls) == len(layers)


def test_a_model_it_cannot_run_is_built_with_transformers_layers_and_a_logged_note(monkeypatch):
    from log_records import logged

    from robust_speech.data.arguments import DataTrainingArguments
    from robust_speech.model.arguments import ModelArguments
    from robust_speech.model.building import build_model

    monkeypatch.setattr(fast_encoder, "install", lambda model: False)  # an encoder it does not know
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU path, where it would be installed
    tokenizer = type("Tokenizer", (), {"pad_token_id": 0, "__len__": lambda self: 12})()
    with logged() as messages:
        build_model(ModelArguments(freeze_feature_encoder=False), DataTrainingArguments(dataset_name="unused"),
                    Wav2Vec2Config(**SMALL), tokenizer)
    assert messages == ["note: this wav2vec2 model's feature encoder is not a stack of plain convolutions; "
                        "transformers' own layers run it"]
