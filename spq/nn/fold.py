# SPDX-License-Identifier: MIT
"""Fold a :class:`spq.nn.Sequential` into the integer IR (:class:`spq.ir.ModelIR`).

The integers come from :mod:`spq.nn.quant`; eval mode runs exactly these integers (it
interprets the same fold), so ``fold(net)`` is by construction what ``net.int_logits``
computes. Pruned channels are still present (zero weights, ``M = S = B = 0``); each
neuron layer lists its unmasked channels in ``kept_channels`` for the exporter.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from spq.errors import SpqError
from spq.ir import LayerIR, ModelIR, NeuronIR, acc_bits, layer_names
from spq.nn.grammar import Network, Stage
from spq.nn.layers import AvgPool2d, MaxPool2d, QuantConv2d, QuantLIF, QuantLinear
from spq.nn.quant import fold_neuron, quantize_weight, readout_bias


def _floats(t: object) -> list[float]:
    return [float(v) for v in t.detach().double().cpu().reshape(-1).tolist()]  # type: ignore[attr-defined]


def _bn_params(
    bn: nn.modules.batchnorm._BatchNorm | None,
) -> tuple[list[float], list[float], list[float], list[float], float] | None:
    if bn is None:
        return None
    C = bn.num_features
    if bn.running_mean is None or bn.running_var is None:
        raise SpqError("BatchNorm without running statistics cannot be folded")
    gamma = _floats(bn.weight) if bn.weight is not None else [1.0] * C
    beta = _floats(bn.bias) if bn.bias is not None else [0.0] * C
    return gamma, beta, _floats(bn.running_mean), _floats(bn.running_var), float(bn.eps)


def _synapse(net: Network, st: Stage, mod: QuantConv2d | QuantLinear, s_in: float,
             in_kind: str, max_in: int) -> tuple[LayerIR, float]:
    """The IR layer of one synapse (with its folded neuron, or the readout bias) fed by an
    input of scale ``s_in``, kind ``in_kind`` and bound ``max_in``; and its weight scale."""
    mask = _floats(mod.out_mask)
    qw = quantize_weight(mod.weight, mod.weight_bits, mod.out_mask)
    bias = _floats(mod.bias) if mod.bias is not None else None
    if isinstance(mod, QuantConv2d):
        k, stride, pad = mod.k, int(mod.stride[0]), int(mod.padding[0])  # type: ignore[index]
        fan_in = mod.in_channels * k * k
    else:
        k, stride, pad = 1, 1, 0
        fan_in = mod.in_features
    layer = LayerIR(
        type=st.kind,  # type: ignore[arg-type]
        name="",
        in_shape=tuple(st.in_shape),
        out_shape=tuple(st.out_shape),
        weight=qw.w.numpy().astype(np.int8),
        weight_bits=mod.weight_bits,
        in_kind=in_kind,  # type: ignore[arg-type]
        max_in=max_in,
        kernel=k,
        stride=stride,
        padding=pad,
        acc_bits=acc_bits(fan_in, mod.weight_bits, max_in),
    )
    if st.kind == "readout":
        layer.readout_bias = np.array(readout_bias(bias, qw.scale, s_in, mask), dtype=np.int32)
        return layer, qw.scale
    lif = net.layers[st.lif]  # type: ignore[index]
    assert isinstance(lif, QuantLIF)
    bn = net.layers[st.bn] if st.bn is not None else None
    np_ = fold_neuron(
        s_w=qw.scale,
        s_in=s_in,
        theta=float(lif.theta().detach()),
        bias=bias,
        bn=_bn_params(bn),  # type: ignore[arg-type]
        beta=lif.beta,
        levels=lif.levels,
        out_mask=mask,
        threshold_level=lif.threshold_level,
        strict=lif.strict,
    )
    layer.neuron = NeuronIR(
        mult=np.array(np_.mult, dtype=np.int32),
        shift=np.array(np_.shift, dtype=np.int32),
        bias=np.array(np_.bias, dtype=np.int32),
        leak=np_.leak,
        levels=lif.levels,
        lo=np_.lo,
        hi=np_.hi,
        reset=lif.reset,  # type: ignore[arg-type]
    )
    layer.kept_channels = [i for i, m in enumerate(mask) if m != 0]
    return layer, qw.scale


def fold(net: Network, name: str = "model") -> ModelIR:
    """The integer parameters eval mode uses, as a :class:`spq.ir.ModelIR`, of a
    :class:`spq.nn.Sequential` (any parsed network of spq.nn layers).

    Pools become ``maxpool``/``sumpool`` layers, the last QuantLinear a ``readout`` layer (or,
    when a QuantLIF ends the model, its last block a ``spike_readout`` layer), Flatten
    disappears. Pruned channels stay in (zero weights, ``M = S = B = 0``);
    ``LayerIR.kept_channels`` lists the unmasked output channels of each neuron layer.
    Uses BN running statistics whatever the module's mode. A fresh IR each call (eval mode
    keeps its own, :meth:`Sequential.int_plan`)."""
    static = net.input_kind == "static"
    s_in = 1.0 / 255.0 if static else 1.0  # the scale, kind and bound of each layer's input
    in_kind = "u8" if static else "spike"
    max_in = 255 if static else 1
    layers: list[LayerIR] = []
    readout_scale = 1.0  # a spike readout: logits are spike counts, out_scale 1 / T
    for st in net.stages:
        mod = net.layers[st.idx]
        if st.is_synapse:
            assert isinstance(mod, (QuantConv2d, QuantLinear))
            layer, s_w = _synapse(net, st, mod, s_in, in_kind, max_in)
            if st.kind == "readout":
                readout_scale = s_w * s_in
            else:
                s_in, in_kind, max_in = 1.0, "spike", 1
            layers.append(layer)
        elif st.kind in ("maxpool", "sumpool"):
            assert isinstance(mod, (MaxPool2d, AvgPool2d))
            layers.append(
                LayerIR(
                    type=st.kind,  # type: ignore[arg-type]
                    name="",
                    in_shape=tuple(st.in_shape),
                    out_shape=tuple(st.out_shape),
                    in_kind="spike",
                    max_in=1,
                    kernel=mod.k,
                    stride=mod.k,
                    pool=mod.k,
                )
            )
            if st.kind == "sumpool":
                s_in, in_kind, max_in = 1.0 / (mod.k * mod.k), "count", mod.k * mod.k
        # flatten: no layer
    for layer, layer_name in zip(layers, layer_names([la.type for la in layers]), strict=True):
        layer.name = layer_name
    head = net.layers[net.stages[-1].idx]
    assert isinstance(head, QuantLinear)
    return ModelIR(
        name=name,
        input_kind=net.input_kind,  # type: ignore[arg-type]
        input_shape=tuple(net.input_shape),  # type: ignore[arg-type]
        time_steps=net.time_steps,
        num_classes=head.out_features,
        out_scale=readout_scale / net.time_steps,
        layers=layers,
    )
