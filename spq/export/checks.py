# SPDX-License-Identifier: MIT
"""Validate a :class:`~spq.ir.ModelIR` against the grammar and ranges of docs/semantics.md.

The exporter trusts nothing it did not check: a model that passes :func:`check_ir` can be
packed into a ``spq_layer_t`` table without truncating a field, and every integer the
runtimes compute fits the widths docs/semantics.md promises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spq.errors import SpqError
from spq.ir import ACC16_MAX, FRAC_BITS, QMAX, LayerIR, ModelIR, acc_bits, acc_bound

SYNAPSES = ("conv", "linear", "readout", "spike_readout")
READOUTS = ("readout", "spike_readout")
POOLS = ("maxpool", "sumpool")
U16 = 0xFFFF
U8 = 0xFF
I31 = 2**31 - 1


def _where(i: int, layer: LayerIR) -> str:
    return f"layer {i} ({layer.name}, {layer.type})"


def _check_int_array(what: str, arr: object, shape: tuple[int, ...], lo: int, hi: int) -> None:
    if not isinstance(arr, np.ndarray):
        raise SpqError(f"{what} is missing")
    if arr.shape != shape:
        raise SpqError(f"{what} has shape {tuple(arr.shape)}, expected {shape}")
    if arr.dtype.kind not in "iu":
        raise SpqError(f"{what} is not an integer array ({arr.dtype})")
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise SpqError(f"{what} has values outside [{lo}, {hi}]")


def conv_out_hw(h: int, w: int, kernel: int, stride: int, padding: int) -> tuple[int, int]:
    return (h + 2 * padding - kernel) // stride + 1, (w + 2 * padding - kernel) // stride + 1


def _fan_in(layer: LayerIR) -> int:
    assert layer.weight is not None
    return int(np.prod(layer.weight.shape[1:]))


def layer_acc_bound(layer: LayerIR) -> int:
    """:func:`spq.ir.acc_bound` of a synapse layer."""
    return acc_bound(_fan_in(layer), layer.weight_bits, layer.max_in)


def layer_acc_bits(layer: LayerIR) -> int:
    """:func:`spq.ir.acc_bits` of a synapse layer."""
    return acc_bits(_fan_in(layer), layer.weight_bits, layer.max_in)


@dataclass(frozen=True)
class _Data:
    """What flows into the next layer: its shape, the kind of its values and their largest."""

    shape: tuple[int, ...]
    kind: str
    max_in: int


def check_ir(ir: ModelIR) -> None:
    """Raise :class:`SpqError` naming the first layer that breaks the grammar or a range."""
    _check_model(ir)
    static = ir.input_kind == "static"
    data = _Data(tuple(int(d) for d in ir.input_shape), "u8" if static else "spike",
                 255 if static else 1)
    prev_type, seen_linear, last = "input", False, len(ir.layers) - 1
    for i, layer in enumerate(ir.layers):
        where = _where(i, layer)
        t = layer.type
        if t not in (*SYNAPSES, *POOLS):
            raise SpqError(f"{where}: unsupported layer type")
        if t in READOUTS and i != last:
            raise SpqError(f"{where}: the readout must be the last layer")
        if i == last and t not in READOUTS:
            raise SpqError(f"{where}: the last layer must be a readout (QuantLinear, no neuron, "
                           "or a spike-count readout)")
        if t in POOLS:
            if prev_type != "conv":
                raise SpqError(f"{where}: a pool may only follow a conv neuron layer")
            data = _check_pool(where, layer, data)
        else:
            if t == "conv" and seen_linear:
                raise SpqError(f"{where}: conv layers must all come before linear layers")
            seen_linear = seen_linear or t != "conv"
            data = _check_synapse(where, layer, data, ir)
        prev_type = t
    if ir.num_classes < 1 or ir.num_classes > U16:
        raise SpqError(f"num_classes {ir.num_classes} outside 1..65535")


def _check_model(ir: ModelIR) -> None:
    """The model's own fields: input kind and shape, T, layers, out_scale."""
    if ir.input_kind not in ("static", "events"):
        raise SpqError(f"unsupported input kind {ir.input_kind!r}")
    if len(ir.input_shape) != 3 or any(int(d) < 1 or int(d) > U16 for d in ir.input_shape):
        raise SpqError(f"input shape {tuple(ir.input_shape)} is not (C, H, W) within 1..65535")
    if not 1 <= ir.time_steps <= U16:
        raise SpqError(f"time_steps {ir.time_steps} outside 1..65535")
    if not ir.layers:
        raise SpqError("the model has no layers")
    if not np.isfinite(ir.out_scale):
        raise SpqError("out_scale is not finite")


def _check_pool(where: str, layer: LayerIR, data: _Data) -> _Data:
    shape, k = data.shape, layer.pool
    if not 1 <= k <= 15:
        raise SpqError(f"{where}: pool size {k} outside 1..15")
    if len(shape) != 3 or shape[1] < k or shape[2] < k:
        raise SpqError(f"{where}: pool {k} does not fit input {shape}")
    expect = (shape[0], shape[1] // k, shape[2] // k)
    _shape_is(where, layer, shape, expect)
    if layer.weight is not None or layer.neuron is not None:
        raise SpqError(f"{where}: a pool has no weights or neuron")
    if layer.type == "sumpool":
        return _Data(expect, "count", k * k)
    return _Data(expect, "spike", 1)


def _check_synapse(where: str, layer: LayerIR, data: _Data, ir: ModelIR) -> _Data:
    """A conv, linear or readout layer: input, weights, output shape, accumulator, then its
    readout bias or neuron."""
    t = layer.type
    shape = data.shape
    if t == "conv" and len(shape) != 3:
        raise SpqError(f"{where}: conv needs an image input, got {shape}")
    if t != "conv":
        shape = (int(np.prod(shape)),)
    if layer.in_kind != data.kind or layer.max_in != data.max_in:
        raise SpqError(
            f"{where}: input kind {layer.in_kind}/max {layer.max_in}, "
            f"expected {data.kind}/max {data.max_in}"
        )
    if layer.weight_bits not in QMAX:
        raise SpqError(f"{where}: weight_bits {layer.weight_bits} not one of 2, 4, 8")
    qmax = QMAX[layer.weight_bits]
    w = layer.weight
    if t == "conv":
        k, s, p = layer.kernel, layer.stride, layer.padding
        if not (1 <= k <= U8 and 1 <= s <= U8 and 0 <= p <= U8):
            raise SpqError(f"{where}: kernel/stride/padding {k}/{s}/{p} out of range")
        oh, ow = conv_out_hw(shape[1], shape[2], k, s, p)
        if oh < 1 or ow < 1 or p >= k:
            raise SpqError(f"{where}: kernel {k} pad {p} does not fit input {shape}")
        out_c = int(w.shape[0]) if isinstance(w, np.ndarray) and w.ndim == 4 else -1
        _check_int_array(f"{where}: weight", w, (out_c, shape[0], k, k), -qmax, qmax)
        expect: tuple[int, ...] = (out_c, oh, ow)
    else:
        out_f = int(w.shape[0]) if isinstance(w, np.ndarray) and w.ndim == 2 else -1
        _check_int_array(f"{where}: weight", w, (out_f, shape[0]), -qmax, qmax)
        expect = (out_f,)
    _shape_is(where, layer, shape, expect)
    if expect[0] < 1:
        raise SpqError(f"{where}: no output channels")
    if layer.acc_bits not in (16, 32):
        raise SpqError(f"{where}: acc_bits {layer.acc_bits} not 16 or 32")
    bound = layer_acc_bound(layer)
    if bound > I31:
        raise SpqError(f"{where}: accumulator bound {bound} does not fit in int32")
    if layer.acc_bits == 16 and bound > ACC16_MAX:
        raise SpqError(f"{where}: acc_bits 16 but the accumulator bound is {bound}")
    if t == "readout":
        _check_readout(where, layer, bound, ir)
    else:
        _check_neuron(where, layer, ir)
    return _Data(expect, "spike", 1)


def _check_readout(where: str, layer: LayerIR, bound: int, ir: ModelIR) -> None:
    c = int(layer.out_shape[0])
    if layer.neuron is not None:
        raise SpqError(f"{where}: the readout has no neuron")
    _check_int_array(f"{where}: readout bias", layer.readout_bias, (c,), -I31, I31)
    assert layer.readout_bias is not None
    worst = ir.time_steps * (int(np.abs(layer.readout_bias.astype(np.int64)).max()) + bound)
    if worst >= 2**31:
        raise SpqError(f"{where}: logits could overflow int32 (T * (|bias| + bound) = {worst})")
    if c != ir.num_classes:
        raise SpqError(f"{where}: {c} outputs but num_classes is {ir.num_classes}")


def _check_neuron(where: str, layer: LayerIR, ir: ModelIR) -> None:
    c = int(layer.out_shape[0])
    if layer.type == "spike_readout" and c != ir.num_classes:
        raise SpqError(f"{where}: {c} outputs but num_classes is {ir.num_classes}")
    n = layer.neuron
    if n is None:
        raise SpqError(f"{where}: a {layer.type} block needs a neuron (QuantLIF) after it")
    if not 2 <= n.levels <= 256:
        raise SpqError(f"{where}: membrane levels {n.levels} outside 2..256")
    if not 1 <= n.hi < n.levels or n.lo != n.hi + 1 - n.levels:
        raise SpqError(f"{where}: membrane range [{n.lo}, {n.hi}] is not [D + 1 - L, D] "
                       "with a threshold level D in 1..L-1")
    if n.reset not in ("hard", "soft"):
        raise SpqError(f"{where}: reset {n.reset!r} is not hard or soft")
    if not 0 <= n.leak <= 2**FRAC_BITS:
        raise SpqError(f"{where}: leak {n.leak} outside 0..{2**FRAC_BITS}")
    _check_int_array(f"{where}: mult", n.mult, (c,), -I31, I31)
    _check_int_array(f"{where}: shift", n.shift, (c,), 0, 62)
    _check_int_array(f"{where}: bias", n.bias, (c,), -(2**29), 2**29)


def _shape_is(where: str, layer: LayerIR, in_shape: tuple[int, ...],
              out_shape: tuple[int, ...]) -> None:
    got_in = tuple(int(d) for d in layer.in_shape)
    got_out = tuple(int(d) for d in layer.out_shape)
    if got_in != in_shape:
        raise SpqError(f"{where}: input shape {got_in}, expected {in_shape}")
    if got_out != out_shape:
        raise SpqError(f"{where}: output shape {got_out}, expected {out_shape}")
    if any(d < 1 or d > U16 for d in out_shape):
        raise SpqError(f"{where}: output shape {out_shape} outside 1..65535")
