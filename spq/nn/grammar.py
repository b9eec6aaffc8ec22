# SPDX-License-Identifier: MIT
"""The layer grammar of docs/semantics.md section 1, walked once.

:func:`parse` checks a layer list against the grammar and returns its :class:`Stage` list:
each block ``synapse [BN] neuron`` with the positions of its parts, each pool, each flatten
and the readout, with their shapes. Everything that needs the structure of a network reads
these stages: :class:`spq.nn.Sequential` (the training path, the integer plan),
:func:`spq.nn.fold`, the counters of :mod:`spq.nn.activity`, the pruning of
:mod:`spq.prune` and the memory report of :mod:`spq.train`.

The full-precision baseline (:mod:`spq.baseline`, plain torch synapses and pools) follows the
same grammar: :data:`BASELINE` is the vocabulary that accepts its layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from spq.errors import SpqError
from spq.nn.layers import (
    AvgPool2d,
    Flatten,
    MaxPool2d,
    QuantConv2d,
    QuantLIF,
    QuantLinear,
    SpikingNeuron,
)


@dataclass
class Stage:
    """One step of the parsed program: a block, a pool, a flatten or the readout."""

    kind: str  # "conv" | "linear" | "readout" | "spike_readout" | "maxpool" | "sumpool" |
    # "flatten"
    idx: int  # index of the synapse / pool / flatten in ``layers``
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    bn: int | None = None
    lif: int | None = None

    @property
    def is_synapse(self) -> bool:
        return self.kind in SYNAPSE_KINDS


SYNAPSE_KINDS = ("conv", "linear", "readout", "spike_readout")


@dataclass(frozen=True)
class Vocabulary:
    """The layer classes a grammar accepts in each role."""

    conv: tuple[type[nn.Module], ...]
    linear: tuple[type[nn.Module], ...]
    neuron: tuple[type[nn.Module], ...]
    maxpool: tuple[type[nn.Module], ...]
    sumpool: tuple[type[nn.Module], ...]


SPQ = Vocabulary((QuantConv2d,), (QuantLinear,), (QuantLIF,), (MaxPool2d,), (AvgPool2d,))
BASELINE = Vocabulary((nn.Conv2d,), (nn.Linear,), (SpikingNeuron,), (MaxPool2d, nn.MaxPool2d),
                      (AvgPool2d,))


class Network(Protocol):
    """What :func:`spq.nn.fold` and the counters read of a parsed network."""

    layers: nn.ModuleList
    stages: list[Stage]
    input_kind: str
    input_shape: tuple[int, ...]
    time_steps: int


def is_bn(layer: nn.Module) -> bool:
    return isinstance(layer, nn.modules.batchnorm._BatchNorm)


def _is_flatten(layer: nn.Module) -> bool:
    return isinstance(layer, (Flatten, nn.Flatten))


def _where(i: int, layer: nn.Module) -> str:
    return f"layer {i} ({type(layer).__name__})"


def _pool_size(pool: nn.Module) -> int:
    if isinstance(pool, (MaxPool2d, AvgPool2d)):
        return pool.k
    return int(pool.kernel_size)  # type: ignore[arg-type]


def parse(layers: Sequence[nn.Module], input_shape: tuple[int, ...],
          vocab: Vocabulary = SPQ) -> list[Stage]:
    """Check the grammar of docs/semantics.md section 1 and infer shapes."""
    n = len(layers)
    if n == 0:
        raise SpqError("Sequential needs at least a readout QuantLinear")
    if not isinstance(layers[-1], vocab.linear + vocab.neuron):
        raise SpqError(
            "the last layer must be the QuantLinear readout (or the QuantLIF of a spike-count "
            f"readout), not {type(layers[-1]).__name__}"
        )
    stages: list[Stage] = []
    shape = tuple(input_shape)
    i = 0
    while i < n:
        if _is_flatten(layers[i]):
            stages.append(Stage("flatten", i, shape, (math.prod(shape),)))
        else:
            kind, out = _synapse(i, layers[i], shape, vocab)
            if kind == "linear" and i == n - 1:
                stages.append(Stage("readout", i, shape, out))
                break
            stages += _block(layers, i, kind, shape, out, vocab)
        last = stages[-1]
        shape = last.out_shape
        i = (last.lif if last.lif is not None else last.idx) + 1
    return stages


def _synapse(i: int, L: nn.Module, shape: tuple[int, ...],
             vocab: Vocabulary) -> tuple[str, tuple[int, ...]]:
    """The kind (conv, linear) and output shape of the synapse that starts a block."""
    where = _where(i, L)
    if isinstance(L, vocab.conv):
        assert isinstance(L, nn.Conv2d)
        if len(shape) != 3:
            raise SpqError(
                f"{where}: conv needs an image input, but the data is already flat "
                "(conv blocks must come before linear blocks)"
            )
        if L.in_channels != shape[0]:
            raise SpqError(f"{where}: in_channels={L.in_channels} but the input has {shape[0]}")
        k, s, p = L.kernel_size[0], int(L.stride[0]), int(L.padding[0])  # type: ignore[index]
        ho = (shape[1] + 2 * p - k) // s + 1
        wo = (shape[2] + 2 * p - k) // s + 1
        if ho < 1 or wo < 1:
            raise SpqError(f"{where}: kernel {k} does not fit the {shape[1]}x{shape[2]} input")
        return "conv", (L.out_channels, ho, wo)
    if isinstance(L, vocab.linear):
        assert isinstance(L, nn.Linear)
        if len(shape) != 1:
            raise SpqError(f"{where}: insert Flatten() before the first QuantLinear")
        if L.in_features != shape[0]:
            raise SpqError(f"{where}: in_features={L.in_features} but the input has {shape[0]}")
        return "linear", (L.out_features,)
    if is_bn(L):
        raise SpqError(f"{where}: BatchNorm must directly follow a QuantConv2d/QuantLinear")
    if isinstance(L, vocab.neuron):
        raise SpqError(f"{where}: QuantLIF must follow a synapse (and its optional BatchNorm)")
    if isinstance(L, vocab.maxpool + vocab.sumpool):
        raise SpqError(f"{where}: a pool may only follow a QuantLIF")
    raise SpqError(f"{where}: not an spq layer")


def _block(layers: Sequence[nn.Module], i: int, kind: str, shape: tuple[int, ...],
           out: tuple[int, ...], vocab: Vocabulary) -> list[Stage]:
    """The rest of the block the synapse ``layers[i]`` starts: ``[BN] neuron [pool]``."""
    n = len(layers)
    j = i + 1
    bn_idx = None
    if j < n and is_bn(layers[j]):
        bn = layers[j]
        want = nn.BatchNorm2d if kind == "conv" else nn.BatchNorm1d
        if not isinstance(bn, want):
            raise SpqError(f"{_where(j, bn)}: use {want.__name__} after this synapse")
        if bn.num_features != out[0]:
            raise SpqError(f"{_where(j, bn)}: num_features must be {out[0]}")
        if not bn.track_running_stats:
            raise SpqError(f"{_where(j, bn)}: track_running_stats=False cannot be folded")
        bn_idx = j
        j += 1
    if j >= n or not isinstance(layers[j], vocab.neuron):
        raise SpqError(
            f"{_where(i, layers[i])} must be followed by [BatchNorm] QuantLIF "
            "(only the last QuantLinear is the readout)"
        )
    if j == n - 1:  # a block ends the model: its spikes are the logits
        if kind != "linear":
            raise SpqError(
                f"{_where(i, layers[i])}: a spike-count readout must be a linear block "
                "(Flatten, QuantLinear, [BatchNorm1d], QuantLIF)"
            )
        kind = "spike_readout"
    block = Stage(kind, i, shape, out, bn=bn_idx, lif=j)
    j += 1
    if j >= n or not isinstance(layers[j], vocab.maxpool + vocab.sumpool):
        return [block]
    P = layers[j]
    if len(out) != 3:
        raise SpqError(f"{_where(j, P)}: pooling needs an image (after a conv block)")
    k = _pool_size(P)
    if out[1] // k < 1 or out[2] // k < 1:
        raise SpqError(f"{_where(j, P)}: pool {k} larger than the {out[1]}x{out[2]} map")
    pooled = (out[0], out[1] // k, out[2] // k)
    kind_p = "maxpool" if isinstance(P, vocab.maxpool) else "sumpool"
    return [block, Stage(kind_p, j, out, pooled)]


def channel_mask(synapse: nn.Module) -> torch.Tensor:
    """Which output channels (features) of a synapse are unmasked: bool, on the CPU (all of
    them for a plain torch synapse of the baseline)."""
    if isinstance(synapse, (QuantConv2d, QuantLinear)):
        return synapse.out_mask.detach().cpu() != 0
    return torch.ones(int(synapse.weight.shape[0]), dtype=torch.bool)  # type: ignore[union-attr, index]


def blocks(net: Network) -> list[Stage]:
    """The spiking blocks ``synapse [BN] neuron`` in order, the last block of a spike-count
    readout included (its ``kind`` is ``spike_readout``)."""
    return [st for st in net.stages if st.lif is not None]
