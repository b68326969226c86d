"""The convolutional feature encoder of wav2vec2-family models (wav2vec2/XLS-R, HuBERT, WavLM, data2vec-audio,
...) as channels-last matrix products, on the CPU: for inference and for training.

transformers runs each of the seven layers as a Conv1d on (batch, channels, time), and XLS-R's layer norm between
two transposes that copy the whole activation. Here each layer is one matrix product of a strided window view of
(batch, time, channels) with the kernel reshaped to (kernel * channels_in, channels_out): the norm then runs on
the contiguous last axis and nothing is transposed. oneDNN's Conv1d has no fast path for these shapes (few input
channels, kernel 10 stride 5 on raw audio), so the products are faster, forward and backward (the numbers, here
and below: benchmarks/results/code_history.md; whole runs: benchmarks/eval_speed.py and training_speed.py).
Same arithmetic, other summation order: outputs and gradients agree to float32 rounding.

Installed by `install`, which checks on a probe input that the layers it found compute what their own forward
does, and leaves anything else (another layout, padding, dilation, an unknown norm) to transformers.

Without gradients, a stack whose every layer normalizes each frame on its own (XLS-R's layer norm, or no norm)
runs packed (`packed_forward`): an output frame depends only on the samples under its receptive field, so the
batch's utterances are laid end to end at multiples of the total stride, the stack runs once over that stream,
and each utterance's frames are cut back out. Told the rows' lengths (`packed_lengths`), no layer computes the
padding any more, which in batches of short clips of different lengths is a good part of the work. Over one
contiguous stream every layer is a few matrix products of views of it, nothing copied (`_stream_conv`).
In float32 the stream's layer norms come from kernels centered over their output channels and one reduction per
layer (`_normalize_centered_`) instead of ATen's per-row kernel, which is slow on narrow rows.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Sequence

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
    scatter), the faster of the two in training."""
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
    bound by memory traffic, and a fresh output costs a second buffer's worth. The output is bit-identical."""
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


def _frame_local(layers: Layers) -> bool:
    """Whether each output frame is computed from its own receptive field only (no norm over time)."""
    return all(norm is None or isinstance(norm, nn.LayerNorm) for _conv, norm, _activation in layers)


def output_frames(layers: Layers, samples: int) -> int:
    """Frames the stack gives for `samples` input samples (0 when shorter than its receptive field)."""
    for conv, _norm, _activation in layers:
        samples = (samples - conv.kernel_size[0]) // conv.stride[0] + 1
        if samples <= 0:
            return 0
    return samples


def _stream_conv(hidden: torch.Tensor, conv: nn.Conv1d, *, centered: bool = False) -> torch.Tensor:
    """(time, channels) -> (frames, out channels) of one valid strided convolution over one contiguous stream, as
    matrix products over views of it: nothing copied, whatever the kernel. `centered`: each output frame minus its
    mean over the output channels, from a kernel and bias with that mean taken out (a linear map's mean is the
    map of the mean): layer norm's centering without a pass over the output.

    The taps of a kernel are grouped by stride: taps q*s .. q*s+s-1 of every frame are the consecutive rows
    q*s + s*t of the stream, so each group is a (frames, taps * channels) view with row pitch s * channels, which
    BLAS reads in place; the groups' products add up in the output, several times faster than copying the
    windows into one matrix."""
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    time, channels = hidden.shape
    frames = (time - kernel) // stride + 1
    weight, bias = conv.weight.permute(2, 1, 0), conv.bias  # (kernel, channels in, channels out)
    if centered:
        weight = weight - weight.mean(2, keepdim=True)
        bias = None if bias is None else bias - bias.mean()
    if hidden.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        # Autocast casts each product's inputs but not those of the in-place accumulation: cast once, up front.
        dtype = torch.get_autocast_dtype("cpu")
        hidden, weight, bias = hidden.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)
    output = None
    for first in range(0, kernel, stride):
        taps = min(stride, kernel - first)
        view = hidden.as_strided((frames, taps * channels), (stride * channels, 1), hidden.storage_offset() + first * channels)
        part = weight[first : first + taps].reshape(taps * channels, conv.out_channels)
        if output is None:
            output = view @ part if bias is None else torch.addmm(bias, view, part)
        else:
            output.addmm_(view, part)
    return output


def _normalize_centered_(hidden: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """`norm` of (frames, channels) rows whose mean over the channels is already zero (`_stream_conv(centered=
    True)`), in place: each row scaled by the reciprocal of its root mean square, then the norm's own scale and
    shift.

    ATen's layer norm pays a fixed cost per row that dominates on narrow rows (the tiny shape's 32 channels);
    here the statistics are one reduction and each pass vectorizes across rows."""
    scale = torch.linalg.vector_norm(hidden, dim=1, keepdim=True)
    hidden.mul_(scale.square_().div_(hidden.shape[1]).add_(norm.eps).rsqrt_())
    if norm.weight is not None and norm.bias is not None:
        return torch.addcmul(norm.bias, hidden, norm.weight, out=hidden)
    if norm.weight is not None:
        return hidden.mul_(norm.weight)
    return hidden if norm.bias is None else hidden.add_(norm.bias)


def stream_forward(layers: Layers, stream: torch.Tensor) -> torch.Tensor:
    """(samples,) -> (frames, channels): the frame-local stack without gradients over one contiguous stream."""
    hidden = stream.contiguous()[:, None]
    # Under autocast the products come out in bf16, where the statistics keep to layer_norm's float32.
    float32 = stream.dtype == torch.float32 and not torch.is_autocast_enabled(stream.device.type)
    for conv, norm, activation in layers:
        centered = float32 and norm is not None
        hidden = _stream_conv(hidden, conv, centered=centered)
        if centered:
            hidden = _normalize_centered_(hidden, norm)
        elif norm is not None:
            hidden = nn.functional.layer_norm(hidden, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        hidden = torch.ops.aten.gelu_(hidden) if _exact_gelu(activation) else activation(hidden)
    return hidden


def packed_forward(layers: Layers, input_values: torch.Tensor, lengths: Sequence[int] | None = None) -> torch.Tensor:
    """`channels_last_forward` of a right-padded batch whose row i holds `lengths[i]` samples (all of it when
    None), computed without gradients over the rows laid end to end (frame-local layers only, see the module's
    note) instead of over the padding.

    Each utterance starts at a multiple of the total stride, so the frames of the stream under it are its own
    frames; frames that straddle two utterances are dropped. Frames past an utterance's own are zeros, where the
    padded batch has values computed from its padding: the model masks those frames."""
    batch, width = input_values.shape
    lengths = [width] * batch if lengths is None else [int(length) for length in lengths]
    step = math.prod(conv.stride[0] for conv, _norm, _activation in layers)
    slots = [-(-length // step) * step for length in lengths]
    if width % step == 0 and all(length == width for length in lengths):
        stream = input_values.reshape(-1)  # full rows on the stride: the batch is the stream already
    else:
        stream = input_values.new_zeros(max(1, sum(slots)))
        start = 0
        for row, (slot, length) in enumerate(zip(slots, lengths)):
            stream[start : start + length] = input_values[row, :length]
            start += slot
    frames = stream_forward(layers, stream)
    output = frames.new_zeros(batch, output_frames(layers, width), frames.shape[1])
    start = 0
    for row, (slot, length) in enumerate(zip(slots, lengths)):
        count = output_frames(layers, length)
        output[row, :count] = frames[start // step : start // step + count]
        start += slot
    return output.transpose(1, 2)


@contextlib.contextmanager
def packed_lengths(model: nn.Module, lengths: Sequence[int] | None) -> Iterator[None]:
    """Within the block, the installed encoder runs the model's padded batch packed (`packed_forward`), told each
    row's length; a no-op where the encoder is not installed, not frame-local, or `lengths` is None."""
    encoder = getattr(getattr(model, "base_model", model), "feature_extractor", None)
    if lengths is None or not getattr(encoder, "packs", False):
        yield
        return
    encoder.packed_lengths = [int(length) for length in lengths]
    try:
        yield
    finally:
        encoder.packed_lengths = None


def install(model: nn.Module) -> bool:
    """Route the model's feature encoder through `channels_last_forward` when it is a stack of plain conv layers
    and a probe agrees with its own forward (which keeps gradient checkpointing), and without gradients through
    `packed_forward` where its layers are frame-local and a probe of two utterances of other lengths agrees with
    each one's own frames. True when installed."""
    encoder = getattr(getattr(model, "base_model", model), "feature_extractor", None)
    conv_layers = getattr(encoder, "conv_layers", None)
    if not isinstance(encoder, nn.Module) or not isinstance(conv_layers, nn.ModuleList) or not len(conv_layers):
        return False
    layers = [_layer_parts(layer) for layer in conv_layers]
    if any(parts is None for parts in layers) or layers[0][0].in_channels != 1:
        return False
    original = encoder.forward
    probe = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0)).to(layers[0][0].weight)
    lengths = [8000, 5001]  # the second ends off the total stride: the stream leaves a gap after it
    training = encoder.training
    encoder.train(False)
    try:
        with torch.no_grad():
            expected, found = original(probe), channels_last_forward(layers, probe)
            packs = _frame_local(layers)
            if packs:
                short = original(probe[1:, : lengths[1]])[0]
                packed = packed_forward(layers, probe, lengths)
                packs = _agrees(packed[0], expected[0]) and _agrees(packed[1, :, : short.shape[1]], short)
    finally:
        encoder.train(training)
    if not _agrees(found, expected):
        return False

    def forward(input_values: torch.Tensor) -> torch.Tensor:
        # transformers' own forward for what this one does not reproduce: recomputing activations in backward.
        if encoder.training and getattr(encoder, "gradient_checkpointing", False) and torch.is_grad_enabled():
            return original(input_values)
        if encoder.packs and not torch.is_grad_enabled():
            lengths = encoder.packed_lengths
            if lengths is not None and len(lengths) != len(input_values):
                raise ValueError(f"packed_lengths names {len(lengths)} rows for a batch of {len(input_values)}")
            return packed_forward(layers, input_values, lengths)
        return channels_last_forward(layers, input_values)

    encoder.forward = forward
    encoder.channels_last = True  # what tests and reports look for
    encoder.packs = packs  # whether inference runs packed, and `packed_lengths` may leave the padding out
    encoder.packed_lengths = None
    return True


def _agrees(found: torch.Tensor, expected: torch.Tensor) -> bool:
    scale = float(expected.abs().max())
    return found.shape == expected.shape and torch.allclose(found, expected, atol=_PROBE_TOLERANCE * scale, rtol=0)
