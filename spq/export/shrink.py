# SPDX-License-Identifier: MIT
"""Remove pruned channels physically from a folded :class:`~spq.ir.ModelIR`.

``spq.nn.fold`` keeps every channel (a pruned one has zero weights and never spikes) and
lists the survivors of each neuron layer in ``kept_channels``. Here the other channels are
dropped: their weight rows and per-channel constants, and the matching inputs of the next
synapse, through pools, and through a flatten (a linear layer after an image drops the whole
``H*W`` feature block of the channel). No other integer changes (docs/semantics.md §5).
"""

from __future__ import annotations

import copy

import numpy as np

from spq.errors import SpqError
from spq.export.checks import layer_acc_bits
from spq.ir import LayerIR, ModelIR, NeuronIR


def _kept(layer: LayerIR, out_c: int, where: str) -> list[int]:
    if layer.kept_channels is None:
        return list(range(out_c))
    kept = [int(c) for c in layer.kept_channels]
    if sorted(set(kept)) != kept or (kept and (kept[0] < 0 or kept[-1] >= out_c)):
        raise SpqError(f"{where}: kept_channels must be increasing indices below {out_c}")
    if not kept:
        raise SpqError(
            f"{where}: all {out_c} channels are pruned; the network cannot carry any signal "
            "past this layer (lower the pruning ratio and retrain)"
        )
    return kept


def remove_pruned(ir: ModelIR) -> ModelIR:
    """Return a copy of ``ir`` without pruned channels (``ir`` itself is not changed).

    Each neuron layer's ``kept_channels`` in the result lists the original channel indices
    it kept (all of them when nothing was pruned), for reporting.
    """
    out = copy.deepcopy(ir)
    # channels of the current data tensor that survive, as indices into the original tensor
    keep: np.ndarray = np.arange(ir.input_shape[0])
    full_c = int(ir.input_shape[0])
    for i, layer in enumerate(out.layers):
        where = f"layer {i} ({layer.name}, {layer.type})"
        in_shape = tuple(int(d) for d in layer.in_shape)
        if layer.type in ("maxpool", "sumpool"):
            layer.in_shape = (len(keep), *in_shape[1:])
            layer.out_shape = (len(keep), *tuple(int(d) for d in layer.out_shape)[1:])
            continue
        w = layer.weight
        assert w is not None
        if layer.type == "conv":
            cols = keep
        else:
            # flattened input: channel c of a (C, H, W) map owns features c*H*W .. (c+1)*H*W-1
            block = int(in_shape[0]) // full_c
            cols = (keep[:, None] * block + np.arange(block)[None, :]).reshape(-1)
            layer.in_shape = (len(cols),)
        w = w[:, cols]
        out_c = int(w.shape[0])
        if layer.type == "readout":
            rows = np.arange(out_c)
        else:
            # classes are never removed: a masked class of a spike readout never spikes
            rows = (np.arange(out_c) if layer.type == "spike_readout"
                    else np.asarray(_kept(layer, out_c, where), dtype=np.int64))
            n = layer.neuron
            assert n is not None
            layer.neuron = NeuronIR(
                mult=np.ascontiguousarray(n.mult[rows]),
                shift=np.ascontiguousarray(n.shift[rows]),
                bias=np.ascontiguousarray(n.bias[rows]),
                leak=n.leak, levels=n.levels, lo=n.lo, hi=n.hi, reset=n.reset,
            )
            layer.kept_channels = [int(r) for r in rows]
        layer.weight = np.ascontiguousarray(w[rows])
        if layer.type == "conv":
            layer.in_shape = (len(keep), *in_shape[1:])
        layer.out_shape = (len(rows), *tuple(int(d) for d in layer.out_shape)[1:])
        layer.acc_bits = layer_acc_bits(layer)
        keep = rows
        full_c = out_c
    return out
