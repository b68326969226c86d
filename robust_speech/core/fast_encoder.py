"""The convolutional feature encoder of wav2vec2-family models (wav2vec2/XLS-R, HuBERT, WavLM, data2vec-audio,
...) as channels-last matrix products, on the CPU: for inference and for training.

transformers runs each of the seven layers as a Conv1d on (batch, channels, time), and XLS-R's layer norm between
two transposes that copy the whole activation. Here each layer is one matrix product of a strided window view of
(batch, time, channels) with the kernel reshaped to (kernel * channels_in, channels_out): the norm then runs on
the contiguous last axis and nothing is transposed. oneDNN's Conv1d has no such path for these shapes (few input
channels, kernel 10 stride 5 on raw audio); measured on a 2-core AMD EPYC, the encoder alone: tiny shape 82 -> 47
ms per batch of 16 x 3 s, wav2vec2-base 1.45 -> 0.96 s per 4 x 5 s; forward and backward of a batch of 8 x 4 s,
tiny 179 -> 62 ms, base (8 x 3 s) 6.2 -> 3.5 s (benchmarks/eval_speed.py and training_speed.py show whole runs).
Same arithmetic, other summation order: outputs and gradients agree to float32 rounding.

Installed by `install`, which checks on a probe input that the layers it found compute what their own forward
does, and leaves anything else (another layout, padding, dilation, an unknown norm) to transformers.
"""

from __future__ import annotations

import torch
from torch import nn

# The probe's agreement needed to install (relative to the output's scale): float32 rounding is ~1e-6.
_PROBE_TOLERANCE = 1e-4


def _layer_parts(layer: nn.Module) -> tuple[nn.Conv1d, nn.Module | None, nn.Module] | None:
    conv, norm, activation = getattr(layer, "conv", None), getattr(layer, "layer_norm", None), getattr(layer, "activation", None)
    if not isinstance(conv, nn.Conv1d) or activation is None:
        return None
    if conv.padding != (0,) or conv.dilation != (1,) or conv.groups != 1:
        return None
    if norm is None or (isinstance(norm, nn.LayerNorm) and tuple(norm.normalized_shape) == (conv.out_channels,)):
        return conv, norm, activation
    if isinstance(norm, nn.GroupNorm) and norm.num_groups == norm.num_channels == conv.out_channels:
        return conv, norm, activation  # one group per channel: each channel normalized over time
    return None


def _windows(hidden: torch.Tensor, conv: nn.Conv1d) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, frames, kernel * channels) windows of (batch, time, channels) and the kernel as a matching matrix.

    Without gradients, a strided view in (kernel, channels) order: no copy before the product. With them,
    `unfold`'s (channels, kernel) order, whose backward is a dedicated kernel (the strided view's is a generic
    scatter): measured fwd+bwd of the tiny encoder 84 ms strided, 62 ms unfolded, 179 ms transformers'."""
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    batch, time, channels = hidden.shape
    frames = (time - kernel) // stride + 1
    if torch.is_grad_enabled() and (hidden.requires_grad or conv.weight.requires_grad):
        windows = hidden.unfold(1, kernel, stride).reshape(batch, frames, channels * kernel)
        return windows, conv.weight.reshape(conv.out_channels, channels * kernel).t()
    hidden = hidden.contiguous()
    windows = hidden.as_strided((batch, frames, kernel * channels), (hidden.stride(0), stride * channels, 1))
    return windows, conv.weight.permute(2, 1, 0).reshape(kernel * channels, conv.out_channels)


Layers = list[tuple[nn.Conv1d, "nn.Module | None", nn.Module]]


def _exact_gelu(activation: nn.Module) -> bool:
    """transformers' GELUActivation or nn.GELU without approximation: what aten's in-place gelu_ computes."""
    if isinstance(activation, nn.GELU):
        return activation.approximate == "none"
    return getattr(activation, "act", None) is nn.functional.gelu


def channels_last_forward(layers: Layers, input_values: torch.Tensor) -> torch.Tensor:
    """(batch, samples) -> (batch, channels, frames), as the encoder's own forward returns it.

    Without gradients the bias and GELU write into the product's own memory: these elementwise passes are
    bound by memory traffic, and a fresh output costs a second buffer's worth. The output is bit-identical;
    measured with core/allocator.py's tuning, median of 40 interleaved runs: wav2vec2-base encoder 4 x 5 s
    703 -> 653 ms, the tiny shape's 16 x 4.8 s unchanged at 39 ms."""
    in_place = not torch.is_grad_enabled()
    hidden = input_values[:, :, None]  # (batch, time, channels)
    for conv, norm, activation in layers:
        windows, weight = _windows(hidden, conv)
        hidden = windows @ weight
        if conv.bias is not None:
            hidden = hidden.add_(conv.bias) if in_place else hidden + conv.bias
        if isinstance(norm, nn.LayerNorm):
            hidden = nn.functional.layer_norm(hidden, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        elif isinstance(norm, nn.GroupNorm):
            variance, mean = torch.var_mean(hidden, dim=1, unbiased=False, keepdim=True)
            hidden = (hidden - mean) * torch.rsqrt(variance + norm.eps)
            if norm.affine:
                hidden = hidden * norm.weight + norm.bias
        hidden = torch.ops.aten.gelu_(hidden) if in_place and _exact_gelu(activation) else activation(hidden)
    return hidden.transpose(1, 2)


def install(model: nn.Module) -> bool:
    """Route the model's feature encoder through `channels_last_forward` when it is a stack of plain conv layers
    and a probe agrees with its own forward (which keeps gradient checkpointing). True when installed."""
    encoder = getattr(getattr(model, "base_model", model), "feature_extractor", None)
    conv_layers = getattr(encoder, "conv_layers", None)
    if not isinstance(encoder, nn.Module) or not isinstance(conv_layers, nn.ModuleList) or not len(conv_layers):
        return False
    layers = [_layer_parts(layer) for layer in conv_layers]
    if any(parts is None for parts in layers) or layers[0][0].in_channels != 1:
        return False
    original = encoder.forward
    probe = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0)).to(layers[0][0].weight)
    training = encoder.training
    encoder.train(False)
    try:
        with torch.no_grad():
            expected, found = original(probe), channels_last_forward(layers, probe)
    finally:
        encoder.train(training)
    scale = float(expected.abs().max())
    if expected.shape != found.shape or not torch.allclose(found, expected, atol=_PROBE_TOLERANCE * scale, rtol=0):
        return False

    def forward(input_values: torch.Tensor) -> torch.Tensor:
        # transformers' own forward for what this one does not reproduce: recomputing activations in backward.
        if encoder.training and getattr(encoder, "gradient_checkpointing", False) and torch.is_grad_enabled():
            return original(input_values)
        return channels_last_forward(layers, input_values)

    encoder.forward = forward
    encoder.channels_last = True  # what tests and reports look for
    return True
